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
	"reflect"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
)

// ptFixtures is where the reference fixtures live, seen from this package.
const ptFixtures = "../../shared/fixtures"

// ptFixture returns the path of a fixture, or reports it missing
// (testenv.Missing).
func ptFixture(t testing.TB, name string) string {
	t.Helper()
	return testenv.Fixture(t, ptFixtures, name)
}

// ptPickle writes pickle opcodes by hand, the way torch.save does.
type ptPickle struct{ bytes.Buffer }

func (p *ptPickle) op(ops ...byte) *ptPickle { p.Write(ops); return p }

func (p *ptPickle) str(s string) *ptPickle {
	p.WriteByte(pkBINUNICODE)
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *ptPickle) int(n int64) *ptPickle {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		p.WriteByte(pkBININT)
		binary.Write(p, binary.LittleEndian, int32(n))
	} else {
		p.op(pkLONG1, 8)
		binary.Write(p, binary.LittleEndian, n)
	}
	return p
}

func (p *ptPickle) global(module, name string) *ptPickle {
	p.WriteByte(pkGLOBAL)
	p.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *ptPickle) ints(v []int64) *ptPickle {
	p.op(pkMARK)
	for _, x := range v {
		p.int(x)
	}
	return p.op(pkTUPLE)
}

func (p *ptPickle) emptyOrderedDict() *ptPickle {
	return p.global("collections", "OrderedDict").op(pkEMPTYTUPLE, pkREDUCE)
}

// ptSpec describes one _rebuild_tensor_v2 call.
type ptSpec struct {
	storage      string // "FloatStorage", ...
	key          string
	numel        int64
	offset       int64
	size, stride []int64
	wrap         string // "", "parameter" or "fromtype"
}

func (p *ptPickle) tensor(s ptSpec) *ptPickle {
	switch s.wrap {
	case "parameter":
		p.global("torch._utils", "_rebuild_parameter").op(pkMARK)
	case "fromtype":
		p.global("torch._tensor", "_rebuild_from_type_v2").op(pkMARK)
	}
	p.global("torch._utils", "_rebuild_tensor_v2")
	if s.wrap == "fromtype" {
		p.global("torch.nn.parameter", "Parameter")
	}
	p.op(pkMARK)
	p.op(pkMARK).str("storage").global("torch", s.storage).str(s.key).str("cpu").int(s.numel).op(pkTUPLE, pkBINPERSID)
	p.int(s.offset).ints(s.size).ints(s.stride).op(pkNEWFALSE).emptyOrderedDict()
	p.op(pkTUPLE)
	switch s.wrap {
	case "parameter":
		p.op(pkREDUCE, pkNEWTRUE).emptyOrderedDict().op(pkTUPLE, pkREDUCE)
	case "fromtype":
		p.op(pkEMPTYDICT, pkTUPLE, pkREDUCE)
	default:
		p.op(pkREDUCE)
	}
	return p
}

// ptItem is one key of a state dict pickle: a tensor or any value that
// raw writes.
type ptItem struct {
	key  string
	spec *ptSpec
	raw  func(p *ptPickle)
}

// ptStateDict writes an OrderedDict of items, with a _metadata attribute
// set by BUILD as torch.save does.
func ptStateDict(p *ptPickle, items []ptItem) *ptPickle {
	p.emptyOrderedDict().op(pkMARK)
	for _, it := range items {
		p.str(it.key)
		if it.spec != nil {
			p.tensor(*it.spec)
		} else {
			it.raw(p)
		}
	}
	p.op(pkSETITEMS)
	p.op(pkEMPTYDICT).str("_metadata").emptyOrderedDict().str("").op(pkEMPTYDICT).str("version").int(1).op(pkSETITEM, pkSETITEM, pkSETITEM, pkBUILD)
	return p
}

func ptPickleOf(items []ptItem) []byte {
	p := &ptPickle{}
	p.op(pkPROTO, 2)
	ptStateDict(p, items)
	return p.op(pkSTOP).Bytes()
}

// ptEntry is one zip entry.
type ptEntry struct {
	name    string
	data    []byte
	deflate bool
}

func ptZipOf(t testing.TB, entries []ptEntry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Store
		if e.deflate {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ptFileOf lays out a torch.save archive: data.pkl, the storages in key
// order, version.
func ptFileOf(t testing.TB, stem string, pkl []byte, keys []string, storages map[string][]byte) []byte {
	entries := []ptEntry{{name: stem + "/data.pkl", data: pkl}}
	for _, k := range keys {
		entries = append(entries, ptEntry{name: stem + "/data/" + k, data: storages[k]})
	}
	entries = append(entries, ptEntry{name: stem + "/version", data: []byte("3\n")})
	return ptZipOf(t, entries)
}

func ptF32Bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func ptSeq(n int, size int) []byte {
	b := make([]byte, n*size)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// ptSample is a small state dict with every dtype, views, a scalar, an
// empty tensor and a non-tensor value, as items, storages and the
// expected tensors.
func ptSample() ([]ptItem, []string, map[string][]byte, []*Tensor) {
	s0 := ptF32Bytes(0, 1, 2, 3, 4, 5)
	st := map[string][]byte{
		"0": s0, "1": ptSeq(4, 2), "2": ptSeq(4, 2), "3": ptSeq(2, 8), "4": ptSeq(3, 8),
		"5": ptSeq(3, 4), "6": ptSeq(5, 1), "7": ptSeq(5, 1),
	}
	keys := []string{"0", "1", "2", "3", "4", "5", "6", "7"}
	f32 := func(name string, shape []int, v ...float32) *Tensor {
		return &Tensor{Name: name, DType: F32, Shape: shape, Data: ptF32Bytes(v...)}
	}
	items := []ptItem{
		{key: "w", spec: &ptSpec{"FloatStorage", "0", 6, 0, []int64{2, 3}, []int64{3, 1}, ""}},
		{key: "epoch", raw: func(p *ptPickle) { p.int(3) }},
		{key: "w.T", spec: &ptSpec{"FloatStorage", "0", 6, 0, []int64{3, 2}, []int64{1, 3}, ""}},
		{key: "tail", spec: &ptSpec{"FloatStorage", "0", 6, 3, []int64{3}, []int64{1}, "parameter"}},
		{key: "scalar", spec: &ptSpec{"FloatStorage", "0", 6, 5, nil, nil, "fromtype"}},
		{key: "empty", spec: &ptSpec{"FloatStorage", "0", 6, 0, []int64{0, 3}, []int64{3, 1}, ""}},
		{key: "bcast", spec: &ptSpec{"FloatStorage", "0", 6, 1, []int64{2, 3}, []int64{0, 1}, ""}},
		{key: "half", spec: &ptSpec{"HalfStorage", "1", 4, 0, []int64{2, 2}, []int64{2, 1}, ""}},
		{key: "bf16", spec: &ptSpec{"BFloat16Storage", "2", 4, 0, []int64{4}, []int64{1}, ""}},
		{key: "double", spec: &ptSpec{"DoubleStorage", "3", 2, 0, []int64{2}, []int64{1}, ""}},
		{key: "long", spec: &ptSpec{"LongStorage", "4", 3, 0, []int64{1, 3}, []int64{3, 1}, ""}},
		{key: "int", spec: &ptSpec{"IntStorage", "5", 3, 0, []int64{3}, []int64{1}, ""}},
		{key: "char", spec: &ptSpec{"CharStorage", "6", 5, 0, []int64{5}, []int64{1}, ""}},
		{key: "byte", spec: &ptSpec{"ByteStorage", "7", 5, 1, []int64{2, 2}, []int64{1, 2}, ""}},
		{key: "name", raw: func(p *ptPickle) { p.str("not a tensor") }},
	}
	b7 := st["7"]
	want := []*Tensor{
		f32("w", []int{2, 3}, 0, 1, 2, 3, 4, 5),
		f32("w.T", []int{3, 2}, 0, 3, 1, 4, 2, 5),
		f32("tail", []int{3}, 3, 4, 5),
		f32("scalar", []int{}, 5),
		{Name: "empty", DType: F32, Shape: []int{0, 3}, Data: []byte{}},
		f32("bcast", []int{2, 3}, 1, 2, 3, 1, 2, 3),
		{Name: "half", DType: F16, Shape: []int{2, 2}, Data: st["1"]},
		{Name: "bf16", DType: BF16, Shape: []int{4}, Data: st["2"]},
		{Name: "double", DType: F64, Shape: []int{2}, Data: st["3"]},
		{Name: "long", DType: I64, Shape: []int{1, 3}, Data: st["4"]},
		{Name: "int", DType: I32, Shape: []int{3}, Data: st["5"]},
		{Name: "char", DType: I8, Shape: []int{5}, Data: st["6"]},
		{Name: "byte", DType: U8, Shape: []int{2, 2}, Data: []byte{b7[1], b7[3], b7[2], b7[4]}},
	}
	return items, keys, st, want
}

func ptCheck(t *testing.T, what string, sd *StateDict, want []*Tensor) {
	t.Helper()
	var names []string
	for _, w := range want {
		names = append(names, w.Name)
	}
	if !reflect.DeepEqual(sd.Order, names) {
		t.Fatalf("%s: order %q, want %q", what, sd.Order, names)
	}
	for _, w := range want {
		g := sd.Tensors[w.Name]
		if g.Name != w.Name || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: tensor %q = %v %v %x, want %v %v %x", what, w.Name, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Data)
		}
	}
}

func ptSampleFile(t testing.TB) []byte {
	items, keys, st, _ := ptSample()
	return ptFileOf(t, "sample", ptPickleOf(items), keys, st)
}

func TestReadTorchSynthetic(t *testing.T) {
	items, keys, st, want := ptSample()
	pkl := ptPickleOf(items)
	file := ptFileOf(t, "sample", pkl, keys, st)
	sd, err := ReadTorch(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	ptCheck(t, "stored", sd, want)
	if f, err := sd.Tensors["w.T"].Float32(); err != nil || f[1] != 3 {
		t.Errorf("w.T as float32: %v %v", f, err)
	}

	// Deflated entries, another top folder, extra entries of newer torch,
	// entries in another order.
	entries := []ptEntry{{name: "archive/version", data: []byte("3\n")}, {name: "archive/.data/serialization_id", data: []byte("123")},
		{name: "archive/byteorder", data: []byte("little")}}
	for _, k := range keys {
		entries = append(entries, ptEntry{name: "archive/data/" + k, data: st[k], deflate: true})
	}
	entries = append(entries, ptEntry{name: "archive/data.pkl", data: pkl, deflate: true})
	file = ptZipOf(t, entries)
	sd, err = ReadTorch(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	ptCheck(t, "deflated", sd, want)

	// Big-endian files are swapped to little-endian.
	_, _, _, want = ptSample()
	sizes := map[string]int{"0": 4, "1": 2, "2": 2, "3": 8, "4": 8, "5": 4, "6": 1, "7": 1}
	entries = []ptEntry{{name: "be/data.pkl", data: pkl}, {name: "be/byteorder", data: []byte("big")}}
	for _, k := range keys {
		b := append([]byte(nil), st[k]...)
		es := sizes[k]
		for i := 0; i < len(b); i += es {
			for j, l := i, i+es-1; j < l; j, l = j+1, l-1 {
				b[j], b[l] = b[l], b[j]
			}
		}
		entries = append(entries, ptEntry{name: "be/data/" + k, data: b})
	}
	file = ptZipOf(t, entries)
	sd, err = ReadTorch(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	ptCheck(t, "big-endian", sd, want)
}

func TestReadTorchNested(t *testing.T) {
	_, keys, st, _ := ptSample()
	inner := func(p *ptPickle) {
		ptStateDict(p, []ptItem{
			{key: "a", spec: &ptSpec{"FloatStorage", "0", 6, 0, []int64{6}, []int64{1}, ""}},
			{key: "b", spec: &ptSpec{"IntStorage", "5", 3, 0, []int64{3}, []int64{1}, ""}},
		})
	}
	for _, under := range []string{"state_dict", "model"} {
		p := &ptPickle{}
		p.op(pkPROTO, 2, pkEMPTYDICT, pkMARK)
		p.str("epoch").int(7)
		p.str("optimizer").op(pkEMPTYDICT)
		p.str(under)
		inner(p)
		p.op(pkSETITEMS, pkSTOP)
		file := ptFileOf(t, "ckpt", p.Bytes(), keys, st)
		sd, err := ReadTorch(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			t.Fatalf("%s: %v", under, err)
		}
		if !reflect.DeepEqual(sd.Order, []string{"a", "b"}) || sd.Tensors["b"].DType != I32 {
			t.Errorf("%s: got %v", under, sd.Order)
		}
	}
	// An empty state dict is empty, not an error.
	p := (&ptPickle{}).op(pkPROTO, 2).emptyOrderedDict().op(pkSTOP)
	file := ptFileOf(t, "empty", p.Bytes(), nil, nil)
	sd, err := ReadTorch(bytes.NewReader(file), int64(len(file)))
	if err != nil || len(sd.Order) != 0 {
		t.Errorf("empty state dict: %v, %v", sd, err)
	}
}

func TestReadTorchFixture(t *testing.T) {
	sd, err := ReadTorchFile(ptFixture(t, "clip/clip_tiny_openai.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Order) != 62 {
		t.Errorf("%d tensors, want 62", len(sd.Order))
	}
	if !reflect.DeepEqual(sd.Order[:3], []string{"positional_embedding", "text_projection", "logit_scale"}) {
		t.Errorf("first keys %q are not the pickle's order", sd.Order[:3])
	}
	shapes := map[string][]int{
		"visual.conv1.weight":                            {128, 3, 32, 32},
		"positional_embedding":                           {77, 128},
		"text_projection":                                {128, 128},
		"logit_scale":                                    {},
		"visual.proj":                                    {128, 128},
		"token_embedding.weight":                         {49408, 128},
		"visual.class_embedding":                         {128},
		"visual.positional_embedding":                    {50, 128},
		"transformer.resblocks.1.attn.in_proj_weight":    {384, 128},
		"visual.transformer.resblocks.0.mlp.c_fc.weight": {512, 128},
		"ln_final.bias":                                  {128},
	}
	for k, s := range shapes {
		tn, ok := sd.Tensors[k]
		if !ok {
			t.Errorf("no tensor %q", k)
			continue
		}
		if !reflect.DeepEqual(tn.Shape, s) || tn.DType != F32 || len(tn.Data) != tn.Numel()*4 {
			t.Errorf("%s: %v %v (%d bytes), want f32 %v", k, tn.DType, tn.Shape, len(tn.Data), s)
		}
	}
	ls, err := sd.Tensors["logit_scale"].Float32()
	if err != nil || ls[0] != 2.66015625 { // clip/scalars.json
		t.Errorf("logit_scale = %v, %v; want 2.66015625", ls, err)
	}
}

func TestReadCLIP4ClipFixtures(t *testing.T) {
	counts := map[string]int{"seqTransf": 25, "seqLSTM": 5, "tightTransf": 31, "meanP_3d": 1}
	for _, head := range []string{"seqTransf", "seqLSTM", "tightTransf", "meanP_3d"} {
		sd, err := ReadTorchFile(ptFixture(t, "clip4clip/"+head+"/pytorch_model.bin"))
		if err != nil {
			t.Fatalf("%s: %v", head, err)
		}
		if len(sd.Order) != counts[head] {
			t.Errorf("%s: %d tensors, want %d", head, len(sd.Order), counts[head])
		}
		for _, k := range sd.Order {
			tn := sd.Tensors[k]
			t.Logf("%s: %s %v %v", head, k, tn.DType, tn.Shape)
			if len(tn.Data) != tn.Numel()*tn.DType.Size() {
				t.Errorf("%s: %s has %d bytes for %v", head, k, len(tn.Data), tn.Shape)
			}
		}
	}
	sd, err := ReadTorchFile(ptFixture(t, "clip4clip/meanP_3d/pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	w := sd.Tensors["clip.visual.conv2.weight"]
	if w == nil || !reflect.DeepEqual(w.Shape, []int{128, 3, 3, 32, 32}) {
		t.Fatalf("meanP_3d: conv2 weight %v", w)
	}
	v, _ := w.Float32()
	var maxAbs float32
	for _, x := range v {
		maxAbs = max(maxAbs, float32(math.Abs(float64(x))))
	}
	if maxAbs != 0.01041412353515625 { // meanP_3d/result.json conv2_weight_maxabs
		t.Errorf("conv2 max |w| = %v", maxAbs)
	}
	sd, err = ReadTorchFile(ptFixture(t, "clip4clip/seqLSTM/pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if s := sd.Tensors["lstm_visual.weight_ih_l0"]; s == nil || !reflect.DeepEqual(s.Shape, []int{512, 128}) {
		t.Errorf("seqLSTM weight_ih_l0: %v", s)
	}
}

// ptMust builds a torch file from a pickle and the sample storages.
func ptWithPickle(t testing.TB, pkl []byte) []byte {
	_, keys, st, _ := ptSample()
	return ptFileOf(t, "bad", pkl, keys, st)
}

func ptOne(spec ptSpec) []byte {
	return ptPickleOf([]ptItem{{key: "t", spec: &spec}})
}

// ptBadCases are torch files that must fail, with a substring the error
// must contain.
func ptBadCases(t testing.TB) []struct {
	name, want string
	data       []byte
} {
	good := ptSampleFile(t)
	type bc = struct {
		name, want string
		data       []byte
	}
	var cases []bc
	for _, cut := range []int{0, 1, 4, 30, len(good) / 3, len(good) / 2, len(good) - 30, len(good) - 1} {
		cases = append(cases, bc{"truncated", "not a readable zip archive", good[:cut]})
	}
	cases = append(cases, bc{"truncated storage", "sample/data/0", func() []byte {
		// A zip whose central directory is intact but whose storage
		// entry's header claims more bytes than the file holds.
		b := append([]byte(nil), good...)
		i := bytes.Index(b, []byte("PK\x01\x02"))
		for ; i >= 0; i = ptNextCentral(b, i) {
			if strings.HasSuffix(ptCentralName(b, i), "data/0") {
				binary.LittleEndian.PutUint32(b[i+20:], 1<<30)
				binary.LittleEndian.PutUint32(b[i+24:], 1<<30)
			}
		}
		return b
	}()})
	flip := func(name string, field int, want string) {
		b := append([]byte(nil), good...)
		i := bytes.Index(b, []byte("PK\x01\x02"))
		for ; i >= 0; i = ptNextCentral(b, i) {
			if n := ptCentralName(b, i); strings.HasSuffix(n, name) {
				if field < 0 {
					field = 46 + len(n) + field
				}
				b[i+field] ^= 0xff
				break
			}
		}
		cases = append(cases, bc{"corrupt central directory " + name, want, b})
	}
	flip("data.pkl", 0, "not a readable zip archive") // signature
	flip("data.pkl", 16, "checksum error")            // CRC-32
	flip("data/0", 42, "sample/data/0")               // local header offset
	flip("data.pkl", -1, "no data.pkl")               // last byte of the name
	cases = append(cases,
		bc{"not a zip", "not a readable zip archive", []byte("hello, world; this is not a zip file at all")},
		bc{"legacy format", "legacy format", append([]byte{0x80, 0x02, 0x8a, 0x0a}, make([]byte, 64)...)},
		bc{"no data.pkl", "no data.pkl", ptZipOf(t, []ptEntry{{name: "x/version", data: []byte("3\n")}, {name: "x/data/0", data: make([]byte, 4)}})},
		bc{"bad byteorder", "want \"little\" or \"big\"", ptZipOf(t, []ptEntry{{name: "x/data.pkl", data: ptPickleOf(nil)}, {name: "x/byteorder", data: []byte("middle")}})},
		bc{"os.system", "asks for os.system, which a state dict never needs; refusing", ptWithPickle(t,
			(&ptPickle{}).op(pkPROTO, 2).global("os", "system").str("echo pwned").op(pkTUPLE1, pkREDUCE, pkSTOP).Bytes())},
		bc{"builtins.eval", "asks for builtins.eval", ptWithPickle(t,
			(&ptPickle{}).op(pkPROTO, 4, pkSHORTBINUNICODE, 8).op([]byte("builtins")...).op(pkSHORTBINUNICODE, 4).op([]byte("eval")...).
				op(pkSTACKGLOBAL).str("1+1").op(pkTUPLE1, pkREDUCE, pkSTOP).Bytes())},
		bc{"eval inside a state dict", "asks for builtins.eval", ptWithPickle(t, ptPickleOf([]ptItem{
			{key: "w", spec: &ptSpec{"FloatStorage", "0", 6, 0, []int64{6}, []int64{1}, ""}},
			{key: "x", raw: func(p *ptPickle) { p.global("builtins", "eval").str("1").op(pkTUPLE1, pkREDUCE) }},
		}))},
		bc{"_load_from_bytes", "torch.storage._load_from_bytes", ptWithPickle(t,
			(&ptPickle{}).op(pkPROTO, 2).global("torch.storage", "_load_from_bytes").op(pkSHORTBINBYTES, 0, pkTUPLE1, pkREDUCE, pkSTOP).Bytes())},
		bc{"TorchScript", "asks for builtins.eval", ptWithPickle(t,
			(&ptPickle{}).op(pkPROTO, 2).global("__torch__.model", "CLIP").op(pkEMPTYTUPLE, pkNEWOBJ, pkEMPTYDICT).
				str("x").global("builtins", "eval").str("1").op(pkTUPLE1, pkREDUCE, pkSETITEM, pkBUILD, pkSTOP).Bytes())},
		bc{"missing storage", "storage entry bad/data/9 is missing", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "9", 6, 0, []int64{6}, []int64{1}, ""}))},
		bc{"storage entry too short", "too short", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 7, 0, []int64{7}, []int64{1}, ""}))},
		bc{"tensor past storage", "too short", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 6, 2, []int64{2, 3}, []int64{3, 1}, ""}))},
		bc{"strides past storage", "too short", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{3, 3}, []int64{1, 3}, ""}))},
		bc{"bool storage", "unsupported dtype", ptWithPickle(t, ptOne(ptSpec{"BoolStorage", "7", 5, 0, []int64{5}, []int64{1}, ""}))},
		bc{"complex storage", "torch.ComplexFloatStorage", ptWithPickle(t, ptOne(ptSpec{"ComplexFloatStorage", "0", 3, 0, []int64{3}, []int64{1}, ""}))},
		bc{"huge broadcast", "more than the file can justify", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{1 << 40, 1 << 20}, []int64{0, 0}, ""}))},
		bc{"overflowing shape", "too large", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{1 << 62, 1 << 62}, []int64{0, 0}, ""}))},
		bc{"overflowing stride", "overflows", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{4, 4}, []int64{1 << 62, 1 << 62}, ""}))},
		bc{"huge storage numel", "too short", ptWithPickle(t, ptOne(ptSpec{"DoubleStorage", "0", 1 << 59, 0, []int64{1 << 40}, []int64{1}, ""}))},
		bc{"overflowing storage numel", "claims", ptWithPickle(t, ptOne(ptSpec{"DoubleStorage", "0", 1 << 61, 0, []int64{1 << 40}, []int64{1}, ""}))},
		bc{"size/stride mismatch", "differ in length", ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "0", 6, 0, []int64{2, 3}, []int64{1}, ""}))},
		bc{"unknown opcode", "unknown opcode 0xff", ptWithPickle(t, []byte{pkPROTO, 2, 0xff})},
		bc{"no STOP", "without a STOP", ptWithPickle(t, (&ptPickle{}).op(pkPROTO, 2).emptyOrderedDict().Bytes())},
		bc{"top-level list", "not a dict of tensors", ptWithPickle(t, []byte{pkPROTO, 2, pkEMPTYLIST, pkSTOP})},
		bc{"no tensors", "no tensors", ptWithPickle(t, (&ptPickle{}).op(pkPROTO, 2, pkEMPTYDICT).str("epoch").int(3).op(pkSETITEM, pkSTOP).Bytes())},
		bc{"bad persistent id", "persistent id", ptWithPickle(t, (&ptPickle{}).op(pkPROTO, 2).str("x").op(pkBINPERSID, pkSTOP).Bytes())},
		bc{"storage as offset", "storage offset", ptWithPickle(t, ptPickleOf([]ptItem{{key: "t", raw: func(p *ptPickle) {
			p.global("torch._utils", "_rebuild_tensor").op(pkMARK).op(pkMARK).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(6).op(pkTUPLE, pkBINPERSID)
			p.str("zero").ints([]int64{6}).ints([]int64{1}).op(pkTUPLE, pkREDUCE)
		}}}))},
	)
	// A zip bomb: a deflated entry far larger than the file.
	cases = append(cases, bc{"zip bomb", "refusing", ptZipOf(t, []ptEntry{{name: "x/data.pkl", data: ptPickleOf(nil)}, {name: "x/data/0", data: make([]byte, 4<<20), deflate: true}})})
	return cases
}

func ptNextCentral(b []byte, i int) int {
	n := int(binary.LittleEndian.Uint16(b[i+28:])) + int(binary.LittleEndian.Uint16(b[i+30:])) + int(binary.LittleEndian.Uint16(b[i+32:]))
	j := i + 46 + n
	if j+46 > len(b) || string(b[j:j+4]) != "PK\x01\x02" {
		return -1
	}
	return j
}

func ptCentralName(b []byte, i int) string {
	n := int(binary.LittleEndian.Uint16(b[i+28:]))
	return string(b[i+46 : i+46+n])
}

func TestReadTorchBadInput(t *testing.T) {
	for _, c := range ptBadCases(t) {
		data := c.data
		if c.name == "zip bomb" {
			// Make the pickle use the bomb's storage.
			data = ptZipOf(t, []ptEntry{{name: "x/data.pkl", data: ptOne(ptSpec{"FloatStorage", "0", 1 << 20, 0, []int64{1 << 20}, []int64{1}, ""})}, {name: "x/data/0", data: make([]byte, 4<<20), deflate: true}})
		}
		sd, err := ReadTorch(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			t.Errorf("%s: no error (%d tensors)", c.name, len(sd.Order))
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "weights: ") {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		switch {
		case strings.Contains(c.want, "asks for"), c.name == "_load_from_bytes", c.name == "TorchScript":
			if !errors.Is(err, ErrUnsafePickle) {
				t.Errorf("%s: %v is not ErrUnsafePickle", c.name, err)
			}
		case c.want == "unsupported dtype", c.name == "complex storage":
			if !errors.Is(err, ErrUnsupportedDType) {
				t.Errorf("%s: %v is not ErrUnsupportedDType", c.name, err)
			}
		default:
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: %v is not ErrMalformed", c.name, err)
			}
		}
	}
}

func TestReadTorchErrorsNameTensorAndFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "foo.pt")
	if err := os.WriteFile(path, ptWithPickle(t, ptOne(ptSpec{"FloatStorage", "9", 6, 0, []int64{6}, []int64{1}, ""})), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadTorchFile(path)
	if err == nil || !strings.Contains(err.Error(), "foo.pt") || !strings.Contains(err.Error(), `tensor "t"`) {
		t.Errorf("error %q should name foo.pt and tensor t", err)
	}
	os.WriteFile(path, ptWithPickle(t, (&ptPickle{}).op(pkPROTO, 2).global("os", "system").op(pkSTOP).Bytes()), 0o644)
	_, err = ReadTorchFile(path)
	if err == nil || !strings.Contains(err.Error(), "weights: pickle in "+path+" asks for os.system") {
		t.Errorf("error %q", err)
	}
	if _, err := ReadTorchFile(filepath.Join(dir, "missing.pt")); err == nil || !strings.Contains(err.Error(), "missing.pt") {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadTorchFixtureTruncated cuts the real file at several points
// without reading it all.
func TestReadTorchFixtureTruncated(t *testing.T) {
	f, err := os.Open(ptFixture(t, "clip/clip_tiny_openai.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	for _, cut := range []int64{100, fi.Size() / 2, fi.Size() - 100, fi.Size() - 1} {
		_, err := ReadTorch(io.NewSectionReader(f, 0, cut), cut)
		if err == nil || !strings.Contains(err.Error(), "zip") {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
}

func FuzzReadTorch(f *testing.F) {
	f.Add(ptSampleFile(f))
	for _, c := range ptBadCases(f) {
		if len(c.data) < 1<<16 {
			f.Add(c.data)
		}
	}
	f.Add(ptScriptSampleFile(f))
	for _, c := range ptScriptBadCases(f) {
		f.Add(c.data)
	}
	for _, name := range ptScriptFixtures {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	if p := filepath.Join(ptFixtures, "clip4clip/seqLSTM/pytorch_model.bin"); true {
		if sd, err := os.ReadFile(p); err == nil {
			if zr, err := zip.NewReader(bytes.NewReader(sd), int64(len(sd))); err == nil {
				for _, e := range zr.File {
					if strings.HasSuffix(e.Name, "data.pkl") {
						rc, _ := e.Open()
						pkl, _ := io.ReadAll(rc)
						f.Add(ptFileOf(f, "fixture", pkl, nil, nil))
					}
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := ReadTorch(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "weights: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		ptCheckConsistent(t, sd)
	})
}

// ptCheckConsistent checks that every tensor's data matches its shape.
func ptCheckConsistent(t *testing.T, sd *StateDict) {
	if len(sd.Order) != len(sd.Tensors) {
		t.Fatalf("%d names in Order, %d tensors", len(sd.Order), len(sd.Tensors))
	}
	for _, k := range sd.Order {
		tn := sd.Tensors[k]
		if tn == nil || tn.Name != k || tn.DType.Size() == 0 || len(tn.Data) != tn.Numel()*tn.DType.Size() {
			t.Fatalf("inconsistent tensor %q: %+v", k, tn)
		}
	}
}
