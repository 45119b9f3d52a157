package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
)

// Hostile pickles: each is small, or compresses to almost nothing, and
// asks the VM for far more memory or work than its size. The reader must
// refuse every one with an error that names the problem, having allocated
// no more than pkAllocBound of its length.

// pkRepeat is op repeated to n bytes, after a prefix and before a suffix.
func pkRepeat(prefix []byte, op []byte, n int, suffix []byte) []byte {
	b := make([]byte, 0, len(prefix)+n+len(suffix))
	b = append(b, prefix...)
	for len(b)-len(prefix)+len(op) <= n {
		b = append(b, op...)
	}
	return append(b, suffix...)
}

// pkBigString is a BINUNICODE of n bytes memoized as entry 0.
func pkBigString(prefix string, n int) []byte {
	p := &ptPickle{}
	p.op(pkPROTO, 4)
	p.str(prefix + strings.Repeat("x", n-len(prefix)))
	return p.op(pkBINPUT, 0).Bytes()
}

type pkHostile struct {
	name string
	pkl  []byte // the pickle
	// zip, if set, wraps pkl in a torch.save archive, deflated or stored.
	zip, deflate bool
	want         string // the error names this
}

func pkHostileCases(t testing.TB) []pkHostile {
	const mb = 1 << 20
	le4 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	proto := []byte{pkPROTO, 2}
	// Memo'd args of a _rebuild_tensor_v2 call with 64-dimension sizes,
	// then the call repeated: each 5 bytes would copy 1 kB of ints.
	rebuild := func() []byte {
		p := &ptPickle{}
		p.op(pkPROTO, 2).global("torch._utils", "_rebuild_tensor_v2").op(pkBINPUT, 0, pkPOP)
		p.op(pkMARK).op(pkMARK).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(1).op(pkTUPLE, pkBINPERSID)
		p.int(0).ints(make([]int64, 64)).ints(make([]int64, 64)).op(pkNEWFALSE, pkNONE, pkTUPLE, pkBINPUT, 1, pkPOP)
		return pkRepeat(p.Bytes(), []byte{pkBINGET, 0, pkBINGET, 1, pkREDUCE}, 8*mb, []byte{pkSTOP})
	}
	// A 1 MB string memoized, then used again and again as a dict key:
	// every SETITEM would hash all of it.
	hashKey := append(pkBigString("", mb), pkEMPTYDICT)
	// A 1 MB TorchScript module name given to STACK_GLOBAL again and
	// again: each would be copied into a qualified name.
	longGlobal := append(pkBigString("__torch__.", mb), pkSHORTBINUNICODE, 1, 'M', pkBINPUT, 1, pkPOP)
	// A 1 MB storage key in a persistent id used again and again.
	// One tensor of 64 dimensions under 1M names.
	names := func() []byte {
		p := &ptPickle{}
		p.op(pkPROTO, 2, pkEMPTYDICT).global("torch._utils", "_rebuild_tensor_v2")
		p.op(pkMARK).op(pkMARK).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(1).op(pkTUPLE, pkBINPERSID)
		p.int(0).ints(make([]int64, 64)).ints(make([]int64, 64)).op(pkNEWFALSE, pkNONE, pkTUPLE, pkREDUCE, pkBINPUT, 0, pkPOP)
		for i := 0; p.Len() < 8*mb; i++ {
			p.op(pkSHORTBINUNICODE, 3, byte(i), byte(i>>8), byte(i>>16), pkBINGET, 0, pkSETITEM)
		}
		return p.op(pkSTOP).Bytes()
	}()
	longKey := func() []byte {
		p := &ptPickle{}
		p.op(pkPROTO, 2, pkMARK).str("storage").global("torch", "FloatStorage").str(strings.Repeat("7", mb)).str("cpu").int(1)
		p.op(pkTUPLE, pkBINPUT, 0)
		return p.Bytes()
	}()
	return []pkHostile{
		{name: "EMPTY_LIST x 1M, deflated", pkl: pkRepeat(proto, []byte{pkEMPTYLIST}, mb, []byte{pkSTOP}), zip: true, deflate: true, want: "EMPTY_LIST: the pickle needs more memory"},
		{name: "EMPTY_LIST 8 MB, stored", pkl: pkRepeat(proto, []byte{pkEMPTYLIST}, 8*mb, []byte{pkSTOP}), zip: true, want: "x/data.pkl is 8388611 bytes, more than the 2097152"},
		{name: "EMPTY_LIST 8 MB, deflated", pkl: pkRepeat(proto, []byte{pkEMPTYLIST}, 8*mb, []byte{pkSTOP}), zip: true, deflate: true, want: "x/data.pkl is 8388611 bytes, more than the 2097152"},
		{name: "MARK 2 MB, stored", pkl: pkRepeat(proto, []byte{pkMARK}, 2*mb-3, []byte{pkSTOP}), zip: true, want: "MARK"},
		{name: "MEMOIZE x 1M, deflated", pkl: pkRepeat([]byte{pkPROTO, 4, pkNONE}, []byte{pkMEMOIZE}, mb, []byte{pkSTOP}), zip: true, deflate: true, want: ""}, // within the budget
		{name: "EMPTY_LIST 8 MB", pkl: pkRepeat(proto, []byte{pkEMPTYLIST}, 8*mb, []byte{pkSTOP}), want: "EMPTY_LIST"},
		{name: "MARK 8 MB", pkl: pkRepeat(proto, []byte{pkMARK}, 8*mb, []byte{pkSTOP}), want: "MARK"},
		{name: "MEMOIZE 8 MB", pkl: pkRepeat([]byte{pkPROTO, 4, pkNONE}, []byte{pkMEMOIZE}, 8*mb, []byte{pkSTOP}), want: ""}, // 32 bytes a byte: within the budget
		{name: "LONG_BINPUT distinct 8 MB", pkl: func() []byte {
			b := []byte{pkPROTO, 2, pkNONE}
			for i := uint32(0); len(b) < 8*mb; i++ {
				b = append(append(b, pkLONGBINPUT), le4(i*2654435761)...)
			}
			return append(b, pkSTOP)
		}(), want: ""}, // within the budget: bounded, refused later
		{name: "DUP 8 MB", pkl: pkRepeat([]byte{pkPROTO, 2, pkNONE}, []byte{pkDUP}, 8*mb, []byte{pkSTOP}), want: "DUP"},
		{name: "TUPLE1 nesting 8 MB", pkl: pkRepeat([]byte{pkPROTO, 2, pkNONE}, []byte{pkTUPLE1}, 8*mb, []byte{pkSTOP}), want: "TUPLE1"},
		{name: "lists nested 4M deep", pkl: append(pkRepeat(proto, []byte{pkEMPTYLIST}, 4*mb, nil), pkRepeat(nil, []byte{pkAPPEND}, 4*mb-1, []byte{pkSTOP})...), want: "APPEND: the pickle needs more memory"},
		{name: "tuples nested 4M deep", pkl: append(pkRepeat(proto, []byte{pkMARK}, 4*mb, nil), pkRepeat(nil, []byte{pkTUPLE}, 4*mb, []byte{pkSTOP})...), want: "MARK: the pickle needs more memory"},
		{name: "1 MB dict key set 2M times", pkl: pkRepeat(hashKey, []byte{pkBINGET, 0, pkNONE, pkSETITEM}, 8*mb, []byte{pkSTOP}), want: "SETITEM"},
		{name: "1 MB global name 1.4M times", pkl: pkRepeat(longGlobal, []byte{pkBINGET, 0, pkBINGET, 1, pkSTACKGLOBAL, pkPOP}, 8*mb, []byte{pkSTOP}), want: "STACK_GLOBAL"},
		{name: "1 MB storage key 2M times", pkl: pkRepeat(longKey, []byte{pkBINGET, 0, pkBINPERSID, pkPOP}, 8*mb, []byte{pkSTOP}), want: "storage key"},
		{name: "64-dim tensor rebuilt 1.6M times", pkl: rebuild(), want: "REDUCE"},
		{name: "64-dim tensor under 1M names", pkl: names, want: "more tensors than the pickle can justify"},
		{name: "8 MB INT line", pkl: pkRepeat([]byte{pkINT}, []byte{0xff}, 8*mb, []byte{'\n', pkSTOP}), want: "bad INT"},
	}
}

// pkMeasure runs f and returns the bytes it allocated (TotalAlloc) and by
// how much the heap grew (HeapSys), the latter only meaningful when the
// case runs alone in a fresh process.
func pkMeasure(f func() error) (alloc uint64, heap int64, err error) {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	err = f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc, int64(b.HeapSys) - int64(a.HeapSys), err
}

// pkAllocBound is how many bytes reading a hostile pickle of n bytes may
// allocate in all: twice its budget (a slice just doubled), and 2 MiB for
// the zip, the inflated pickle and the error.
func pkAllocBound(n int) uint64 {
	return 2*(pkBytesPerByte*uint64(n)+pkSlack) + 2<<20
}

func TestPickleHostile(t *testing.T) {
	for _, c := range pkHostileCases(t) {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			var data []byte
			if c.zip {
				data = ptZipOf(t, []ptEntry{{name: "x/data.pkl", data: c.pkl, deflate: c.deflate}, {name: "x/version", data: []byte("3\n")}})
			}
			size, n := len(c.pkl), len(c.pkl)
			if data != nil {
				size, n = len(data), min(n, ptMaxPickle)
			}
			for _, how := range []string{"ReadTorch", "OpenTorch"} {
				if data == nil && how == "OpenTorch" {
					break
				}
				alloc, heap, err := pkMeasure(func() error {
					var err error
					switch {
					case data == nil:
						_, err = pkDecodeInMemory(c.pkl, nil)
					case how == "ReadTorch":
						_, err = ReadTorch(bytes.NewReader(data), int64(len(data)))
					default:
						_, err = OpenTorch(bytes.NewReader(data), int64(len(data)), "x.pt")
					}
					return err
				})
				if data != nil {
					t.Logf("%s", how)
				}
				t.Logf("%d-byte file, %d-byte pickle: allocated %.1f MB (heap grew %.1f MB): %.200v", size, len(c.pkl), float64(alloc)/1e6, float64(heap)/1e6, err)
				if os.Getenv("CLIP4CLIP_MEASURE") != "" {
					continue
				}
				if err == nil {
					t.Fatal("no error")
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %q does not name %q", err, c.want)
				}
				if len(err.Error()) > 1000 {
					t.Errorf("error of %d bytes", len(err.Error()))
				}
				if data != nil && !errors.Is(err, ErrMalformed) {
					t.Errorf("%v is not ErrMalformed", err)
				}
				if bound := pkAllocBound(n); alloc > bound {
					t.Errorf("allocated %d bytes for a %d-byte pickle, more than %d", alloc, len(c.pkl), bound)
				}
			}
		})
	}
}

// TestPickleCost checks that real pickles stay well within their budget:
// what the VM charges them and what Go allocates, per pickle byte.
func TestPickleCost(t *testing.T) {
	items, _, _, _ := ptSample()
	pickles := map[string][]byte{"sample": ptPickleOf(items)}
	for _, name := range []string{"clip/clip_tiny_openai.pt", "clip4clip/tightTransf/pytorch_model.bin", "clip4clip/seqLSTM/pytorch_model.bin", "clip4clip/meanP_3d/pytorch_model.bin"} {
		if _, err := os.Stat(ptFixtures + "/" + name); err == nil {
			pickles[name] = pkFixturePickle(t, name)
		} else {
			t.Run(name, func(t *testing.T) { testenv.Fixture(t, ptFixtures, name) })
		}
	}
	for name, pkl := range pickles {
		run := func() *pkVM {
			d := &ptDecoder{storages: map[ptStorage]*ptStorage{}}
			vm := &pkVM{data: pkl, findClass: ptFindClass, persistentLoad: d.persistentLoad}
			if _, err := vm.unpickle(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return vm
		}
		vm := run()
		charged := pkBytesPerByte*int64(len(pkl)) + pkSlack - vm.left
		alloc, _, _ := pkMeasure(func() error {
			for range 20 {
				run()
			}
			return nil
		})
		perByte := float64(charged) / float64(len(pkl))
		t.Logf("%s: %d bytes, charged %.1f and allocated %.1f per byte", name, len(pkl), perByte, float64(alloc)/20/float64(len(pkl)))
		if perByte > 0.75*pkBytesPerByte {
			t.Errorf("%s: charged %.1f bytes per byte, too close to the budget's %d", name, perByte, pkBytesPerByte)
		}
	}
}
