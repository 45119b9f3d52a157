package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pkRun(data []byte) (any, error) {
	vm := &pkVM{data: data, findClass: ptFindClass}
	return vm.unpickle()
}

func TestPickleValues(t *testing.T) {
	le := func(v uint64, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	op := func(b ...byte) []byte { return b }
	f := make([]byte, 8)
	binary.BigEndian.PutUint64(f, math.Float64bits(-2.5))
	cases := []struct {
		name string
		data []byte
		want any
	}{
		{"BININT1", op(pkBININT1, 200, pkSTOP), int64(200)},
		{"BININT2", op(pkBININT2, 0x34, 0x12, pkSTOP), int64(0x1234)},
		{"BININT negative", cat(op(pkBININT), le(uint64(0xfffffffe), 4), op(pkSTOP)), int64(-2)},
		{"LONG1 0", op(pkLONG1, 0, pkSTOP), int64(0)},
		{"LONG1 -1", op(pkLONG1, 1, 0xff, pkSTOP), int64(-1)},
		{"LONG1 2^40", cat(op(pkLONG1, 6), le(1<<40, 6), op(pkSTOP)), int64(1 << 40)},
		{"LONG1 -2^63", cat(op(pkLONG1, 8), le(1<<63, 8), op(pkSTOP)), int64(math.MinInt64)},
		{"LONG1 big", cat(op(pkLONG1, 9), make([]byte, 8), op(1, pkSTOP)), pkBigInt{string(cat(make([]byte, 8), op(1)))}},
		{"LONG4", cat(op(pkLONG4), le(2, 4), op(0x00, 0x80, pkSTOP)), int64(-32768)},
		{"INT", []byte("I42\n."), int64(42)},
		{"INT true", []byte("I01\n."), true},
		{"LONG", []byte("L-7L\n."), int64(-7)},
		{"LONG big", []byte("L123456789012345678901234567890L\n."), pkBigInt{"123456789012345678901234567890"}},
		{"FLOAT", []byte("F0.5\n."), 0.5},
		{"BINFLOAT", cat(op(pkBINFLOAT), f, op(pkSTOP)), -2.5},
		{"NONE", op(pkNONE, pkSTOP), nil},
		{"NEWTRUE", op(pkNEWTRUE, pkSTOP), true},
		{"NEWFALSE", op(pkNEWFALSE, pkSTOP), false},
		{"SHORT_BINUNICODE", op(pkSHORTBINUNICODE, 2, 'h', 'i', pkSTOP), "hi"},
		{"BINUNICODE8", cat(op(pkBINUNICODE8), le(2, 8), []byte("é"), op(pkSTOP)), "é"},
		{"SHORT_BINSTRING", op(pkSHORTBINSTRING, 1, 'x', pkSTOP), "x"},
		{"BINSTRING", cat(op(pkBINSTRING), le(1, 4), op('y', pkSTOP)), "y"},
		{"SHORT_BINBYTES", op(pkSHORTBINBYTES, 1, 0, pkSTOP), pkBytes("\x00")},
		{"BINBYTES", cat(op(pkBINBYTES), le(1, 4), op(9, pkSTOP)), pkBytes("\x09")},
		{"BINBYTES8", cat(op(pkBINBYTES8), le(1, 8), op(9, pkSTOP)), pkBytes("\x09")},
		{"BYTEARRAY8", cat(op(pkBYTEARRAY8), le(0, 8), op(pkSTOP)), pkBytes("")},
		{"PROTO 5 + FRAME", cat(op(pkPROTO, 5, pkFRAME), le(3, 8), op(pkBININT1, 5, pkSTOP)), int64(5)},
		{"memo", op(pkBININT1, 7, pkBINPUT, 3, pkPOP, pkBINGET, 3, pkSTOP), int64(7)},
		{"long memo", cat(op(pkBININT1, 8, pkLONGBINPUT), le(70000, 4), op(pkPOP, pkLONGBINGET), le(70000, 4), op(pkSTOP)), int64(8)},
		{"MEMOIZE", op(pkBININT1, 9, pkMEMOIZE, pkPOP, pkBINGET, 0, pkSTOP), int64(9)},
		{"memo out of order", op(pkBININT1, 5, pkBINPUT, 1, pkPOP, pkBININT1, 6, pkBINPUT, 0, pkPOP, pkBINGET, 1, pkSTOP), int64(5)},
		{"memo out of order, replaced", op(pkBININT1, 5, pkBINPUT, 1, pkBININT1, 6, pkBINPUT, 0, pkBININT1, 7, pkBINPUT, 1, pkBINGET, 1, pkSTOP), int64(7)},
		{"MEMOIZE after an out-of-order PUT", op(pkBININT1, 5, pkBINPUT, 1, pkBININT1, 9, pkMEMOIZE, pkBINGET, 1, pkSTOP), int64(9)},
		{"text memo", []byte("I3\np12\n0g12\n."), int64(3)},
		{"DUP", op(pkBININT1, 1, pkDUP, pkTUPLE2, pkSTOP), nil},
		{"POP_MARK", op(pkBININT1, 1, pkMARK, pkBININT1, 2, pkPOPMARK, pkSTOP), int64(1)},
		{"POP of a MARK", op(pkBININT1, 1, pkMARK, pkPOP, pkSTOP), int64(1)},
	}
	for _, c := range cases {
		got, err := pkRun(c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.name == "DUP" {
			tp := got.(*pkTuple)
			if len(tp.items) != 2 || tp.items[0] != int64(1) || tp.items[1] != int64(1) {
				t.Errorf("DUP: %v", tp.items)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestPickleContainers(t *testing.T) {
	// {'a': [1, 2, 3], 'b': (frozenset, set), 1: 'int key'} via DICT,
	// LIST/APPEND/APPENDS, sets, and a replaced key keeping its place.
	p := &ptPickle{}
	p.op(pkPROTO, 4, pkMARK)
	p.str("a").op(pkMARK, pkBININT1, 1, pkLIST, pkBININT1, 2, pkAPPEND, pkMARK, pkBININT1, 3, pkAPPENDS)
	p.str("b").op(pkMARK, pkBININT1, 1, pkFROZENSET, pkEMPTYSET, pkMARK, pkBININT1, 2, pkADDITEMS, pkTUPLE2)
	p.op(pkBININT1, 1).str("int key")
	p.str("a").op(pkEMPTYLIST)
	p.op(pkDICT, pkSTOP)
	v, err := pkRun(p.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*pkDict)
	if len(d.keys) != 3 || d.keys[0] != "a" || d.keys[1] != "b" || d.keys[2] != int64(1) {
		t.Fatalf("keys %v", d.keys)
	}
	if l := d.vals[0].(*pkList); len(l.items) != 0 {
		t.Errorf("replaced value: %v", l.items)
	}
	tp := d.vals[1].(*pkTuple)
	if len(tp.items[0].(*pkSet).items) != 1 || len(tp.items[1].(*pkSet).items) != 1 {
		t.Errorf("sets: %v", tp.items)
	}
	// Unhashable-in-Python keys must not panic here either.
	p = &ptPickle{}
	p.op(pkEMPTYDICT, pkEMPTYLIST, pkBININT1, 1, pkSETITEM, pkEMPTYTUPLE, pkBININT1, 2, pkSETITEM)
	p.op(pkSHORTBINBYTES, 1, 'k', pkNONE, pkSETITEM, pkBINFLOAT, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1, pkNONE, pkSETITEM, pkSTOP)
	if v, err := pkRun(p.Bytes()); err != nil || len(v.(*pkDict).keys) != 4 {
		t.Errorf("odd keys: %v %v", v, err)
	}
}

func TestPickleErrors(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "without a STOP"},
		{"unknown opcode", []byte{0xff}, "unknown opcode 0xff"},
		{"INST", []byte("ios\nsystem\n."), "INST"},
		{"EXT1", []byte{pkEXT1, 1, pkSTOP}, "EXT1"},
		{"STRING", []byte("S'x'\n."), "STRING"},
		{"PERSID", []byte("P1\n."), "PERSID"},
		{"NEXT_BUFFER", []byte{pkNEXTBUFFER, pkSTOP}, "NEXT_BUFFER"},
		{"protocol 6", []byte{pkPROTO, 6, pkNONE, pkSTOP}, "protocol 6"},
		{"stack underflow", []byte{pkSTOP}, "stack underflow"},
		{"TUPLE3 underflow", []byte{pkNONE, pkTUPLE3, pkSTOP}, "stack underflow"},
		{"no mark", []byte{pkTUPLE, pkSTOP}, "no MARK"},
		{"missing memo", []byte{pkBINGET, 4, pkSTOP}, "memo entry 4"},
		{"negative PUT", []byte("Np-1\n."), "negative memo"},
		{"BINUNICODE past end", []byte{pkBINUNICODE, 0xff, 0xff, 0xff, 0xff, 'a'}, "wants 4294967295 bytes"},
		{"BINBYTES8 huge", []byte{pkBINBYTES8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "ends early"},
		{"FRAME past end", []byte{pkFRAME, 0xff, 0, 0, 0, 0, 0, 0, 0, pkNONE, pkSTOP}, "FRAME"},
		{"LONG4 negative", []byte{pkLONG4, 0xff, 0xff, 0xff, 0xff}, "negative length"},
		{"truncated BININT", []byte{pkBININT, 1}, "ends early"},
		{"GLOBAL without newline", []byte("cos\nsystem"), "no end of line"},
		{"bad INT", []byte("Ixyz\n."), "bad INT"},
		{"APPEND to dict", []byte{pkEMPTYDICT, pkNONE, pkAPPEND, pkSTOP}, "not a list"},
		{"SETITEM on list", []byte{pkEMPTYLIST, pkNONE, pkNONE, pkSETITEM, pkSTOP}, "not a dict"},
		{"odd SETITEMS", []byte{pkEMPTYDICT, pkMARK, pkNONE, pkSETITEMS, pkSTOP}, "odd number"},
		{"REDUCE on int", []byte{pkBININT1, 1, pkEMPTYTUPLE, pkREDUCE, pkSTOP}, "cannot be called"},
		{"REDUCE with list args", []byte("ccollections\nOrderedDict\n]R."), "want a tuple"},
		{"OrderedDict with args", []byte("ccollections\nOrderedDict\nN\x85R."), "want none"},
		{"NEWOBJ on a function", []byte("ctorch._utils\n_rebuild_tensor_v2\n)\x81."), "not a class"},
		{"NEWOBJ_EX with kwargs", []byte("ccollections\nOrderedDict\n)}N\x85\x92."), "keyword"},
		{"BUILD on int", []byte{pkBININT1, 1, pkNONE, pkBUILD, pkSTOP}, "BUILD on a int"},
		{"STACK_GLOBAL of ints", []byte{pkBININT1, 1, pkBININT1, 2, pkSTACKGLOBAL, pkSTOP}, "want two str"},
		{"os.system", []byte("cos\nsystem\n."), "asks for os.system"},
		{"posix.system", []byte("\x80\x04\x8c\x05posix\x8c\x06system\x93."), "asks for posix.system"},
		{"subprocess", []byte("csubprocess\nPopen\n."), "asks for subprocess.Popen"},
		{"numpy", []byte("cnumpy.core.multiarray\n_reconstruct\n."), "asks for numpy.core.multiarray._reconstruct"},
		{"getattr", []byte("cbuiltins\ngetattr\n."), "asks for builtins.getattr"},
		{"persistent id without torch", []byte{pkNONE, pkBINPERSID, pkSTOP}, "persistent id"},
	}
	for _, c := range cases {
		_, err := pkRun(c.data)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		if strings.Contains(c.want, "asks for") != errors.Is(err, ErrUnsafePickle) {
			t.Errorf("%s: errors.Is(ErrUnsafePickle) wrong for %v", c.name, err)
		}
	}
}

// pkDecodeInMemory runs the torch decoder on a pickle with storages from a
// map, as FuzzPickle does.
func pkDecodeInMemory(pkl []byte, st map[string][]byte) (*StateDict, error) {
	d := &ptDecoder{budget: int64(len(pkl)) + 1<<16, load: func(key string, es int) ([]byte, error) {
		b, ok := st[key]
		if !ok {
			return nil, errors.New("no storage " + key)
		}
		return b, nil
	}}
	return d.decode(pkl)
}

func TestPickleDecodeSample(t *testing.T) {
	items, _, st, want := ptSample()
	sd, err := pkDecodeInMemory(ptPickleOf(items), st)
	if err != nil {
		t.Fatal(err)
	}
	ptCheck(t, "in memory", sd, want)
}

// TestFixturePickle decodes the fixture's data.pkl with fake storages of
// the right sizes: the real opcode mix (memo, BUILD of _metadata, ...).
func TestFixturePickle(t *testing.T) {
	pkl := pkFixturePickle(t, "clip/clip_tiny_openai.pt")
	// Record the storage sizes the pickle asks for.
	d := &ptDecoder{storages: map[ptStorage]*ptStorage{}}
	vm := &pkVM{data: pkl, findClass: ptFindClass, persistentLoad: d.persistentLoad}
	if _, err := vm.unpickle(); err != nil {
		t.Fatal(err)
	}
	st := map[string][]byte{}
	for s := range d.storages {
		st[s.key] = make([]byte, s.numel*int64(s.typ.dtype.Size()))
	}
	if len(st) != 62 {
		t.Errorf("%d storages, want 62", len(st))
	}
	sd, err := pkDecodeInMemory(pkl, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Order) != 62 || sd.Order[0] != "positional_embedding" {
		t.Errorf("%d tensors, first %q", len(sd.Order), sd.Order[0])
	}
}

func pkFixturePickle(t testing.TB, name string) []byte {
	data, err := os.ReadFile(ptFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s has no data.pkl", name)
	return nil
}

func FuzzPickle(f *testing.F) {
	items, _, st, _ := ptSample()
	f.Add(ptPickleOf(items))
	f.Add(ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{1 << 40, 1 << 20}, []int64{0, 0}, ""}))
	f.Add(ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{3, 2}, []int64{1, 3}, "fromtype"}))
	f.Add(ptOne(ptSpec{"BoolStorage", "7", 5, 0, []int64{5}, []int64{1}, "parameter"}))
	f.Add([]byte("cos\nsystem\n(S'ls'\ntR."))
	f.Add([]byte("\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a."))
	f.Add([]byte("I01\nL5L\nF1.5\n\x87."))
	script, _, _, _ := ptScriptSample()
	f.Add(script)
	for _, name := range []string{"clip4clip/seqLSTM/pytorch_model.bin", "clip4clip/meanP_3d/pytorch_model.bin"} {
		if _, err := os.Stat(filepath.Join(ptFixtures, name)); err == nil {
			f.Add(pkFixturePickle(f, name))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := pkDecodeInMemory(data, st)
		if err != nil {
			return
		}
		ptCheckConsistent(t, sd)
	})
}
