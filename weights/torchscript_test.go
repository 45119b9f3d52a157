package weights

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ptScriptFixtures are TorchScript archives that torch.jit.save wrote
// (testdata/make_torchscript.py, with torch 1.13), with the state_dict()
// that torch.jit.load gives for each in torchscript_expected.json.
var ptScriptFixtures = []string{"script_net.pt", "traced_seq.pt", "traced_masked.pt"}

type ptScriptExpected struct {
	Name   string    `json:"name"`
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

func TestReadTorchScriptFixtures(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "torchscript_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	dtypes := map[string]DType{"float32": F32, "float16": F16, "int64": I64}
	for _, name := range ptScriptFixtures {
		var want []ptScriptExpected
		if err := json.Unmarshal(all[name], &want); err != nil || len(want) == 0 {
			t.Fatalf("%s: expected tensors: %v", name, err)
		}
		sd, err := ReadTorchFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var names []string
		for _, w := range want {
			names = append(names, w.Name)
		}
		if !reflect.DeepEqual(sd.Order, names) {
			t.Fatalf("%s: keys %q, want state_dict() keys %q", name, sd.Order, names)
		}
		for _, w := range want {
			g := sd.Tensors[w.Name]
			if g.DType != dtypes[w.DType] || !reflect.DeepEqual(g.Shape, append([]int{}, w.Shape...)) {
				t.Errorf("%s: %s is %v %v, want %s %v", name, w.Name, g.DType, g.Shape, w.DType, w.Shape)
				continue
			}
			v, err := g.Float32()
			if err != nil || len(v) != len(w.Values) {
				t.Errorf("%s: %s: %d values (%v), want %d", name, w.Name, len(v), err, len(w.Values))
				continue
			}
			for i := range v {
				if v[i] != float32(w.Values[i]) {
					t.Errorf("%s: %s[%d] = %v, want %v", name, w.Name, i, v[i], w.Values[i])
					break
				}
			}
		}
	}
	// pos_t is a transposed view of pos's storage: gathered, not shared.
	sd, _ := ReadTorchFile(filepath.Join("testdata", "script_net.pt"))
	pos, _ := sd.Tensors["pos"].Float32()
	posT, _ := sd.Tensors["pos_t"].Float32()
	if pos[1] != posT[5] || pos[4] != posT[1] {
		t.Errorf("pos_t is not pos transposed: %v / %v", pos, posT)
	}
}

// ptScriptObj writes an instance of a TorchScript class as torch's
// pickler does: GLOBAL, EMPTY_TUPLE, NEWOBJ, then BUILD with a dict of
// attributes that attrs writes.
func (p *ptPickle) scriptObj(module, name string, attrs func(p *ptPickle)) *ptPickle {
	p.global(module, name).op(pkEMPTYTUPLE, pkNEWOBJ, pkEMPTYDICT, pkMARK)
	attrs(p)
	return p.op(pkSETITEMS, pkBUILD)
}

// scriptTensor writes a tensor as the TorchScript pickler of newer torch
// does: _rebuild_tensor_v2 with a seventh argument, the tensor's math bits
// as a dict wrapped in restore_type_tag.
func (p *ptPickle) scriptTensor(s ptSpec) *ptPickle {
	p.global("torch._utils", "_rebuild_tensor_v2").op(pkMARK)
	p.op(pkMARK).str("storage").global("torch", s.storage).str(s.key).str("cpu").int(s.numel).op(pkTUPLE, pkBINPERSID)
	p.int(s.offset).ints(s.size).ints(s.stride).op(pkNEWTRUE).emptyOrderedDict()
	p.global("torch.jit._pickle", "restore_type_tag").op(pkEMPTYDICT, pkMARK, pkSETITEMS).str("Dict[int, bool]").op(pkTUPLE2, pkREDUCE)
	return p.op(pkTUPLE, pkREDUCE)
}

// ptScriptSample is a synthetic TorchScript data.pkl laid out like
// OpenAI's CLIP archives, with the tensors it must give.
func ptScriptSample() ([]byte, []string, map[string][]byte, []*Tensor) {
	st := map[string][]byte{"0": ptSeq(6, 2), "1": ptSeq(1, 8), "2": ptF32Bytes(0, 1, 2, 3, 4, 5), "3": ptF32Bytes(6, 7, 8), "4": ptF32Bytes(4.5)}
	keys := []string{"0", "1", "2", "3", "4"}
	const clip = "__torch__.multimodal.model.multimodal_transformer"
	p := &ptPickle{}
	p.op(pkPROTO, 2)
	p.scriptObj(clip, "Multimodal", func(p *ptPickle) {
		p.str("positional_embedding").scriptTensor(ptSpec{"HalfStorage", "0", 6, 0, []int64{3, 2}, []int64{2, 1}, ""})
		p.str("training").op(pkNEWFALSE)
		p.str("input_resolution").tensor(ptSpec{"LongStorage", "1", 1, 0, nil, nil, ""})
		p.str("visual").scriptObj(clip, "VisualTransformer", func(p *ptPickle) {
			p.str("conv1").scriptObj("__torch__.torch.nn.modules.conv.___torch_mangle_0", "Conv2d", func(p *ptPickle) {
				p.str("weight").tensor(ptSpec{"FloatStorage", "2", 6, 0, []int64{2, 3}, []int64{1, 2}, ""})
				p.str("bias").op(pkNONE)
				p.str("padding").global("torch.jit._pickle", "build_intlist").op(pkMARK, pkEMPTYLIST, pkMARK).int(0).int(0).op(pkAPPENDS, pkTUPLE, pkREDUCE)
				p.str("scales").global("torch.jit._pickle", "build_doublelist").op(pkMARK, pkEMPTYLIST, pkMARK, pkAPPENDS, pkTUPLE, pkREDUCE)
				p.str("flags").global("torch.jit._pickle", "build_boollist").op(pkMARK, pkEMPTYLIST, pkMARK, pkNEWTRUE, pkAPPENDS, pkTUPLE, pkREDUCE)
				p.str("extra").global("torch.jit._pickle", "build_tensorlist").op(pkMARK, pkEMPTYLIST, pkMARK).tensor(ptSpec{"FloatStorage", "3", 3, 0, []int64{3}, []int64{1}, ""}).op(pkAPPENDS, pkTUPLE, pkREDUCE)
				p.str("device").global("torch", "device").str("cpu").op(pkTUPLE1, pkREDUCE)
			})
		})
		p.str("transformer").scriptObj(clip, "Transformer", func(p *ptPickle) {
			p.str("width").int(128)
			p.str("resblocks").scriptObj("__torch__.torch.nn.modules.container", "Sequential", func(p *ptPickle) {
				p.str("0").scriptObj(clip, "ResidualAttentionBlock", func(p *ptPickle) {
					p.str("attn").scriptObj("__torch__.torch.nn.modules.activation", "MultiheadAttention", func(p *ptPickle) {
						p.str("in_proj_weight").tensor(ptSpec{"FloatStorage", "3", 3, 1, []int64{2}, []int64{1}, "parameter"})
					})
				}).op(pkBINPUT, 200)
				p.str("1").op(pkBINGET, 200) // the same block again
			})
		})
		p.str("mode").global("__torch__", "Mode").int(1).op(pkTUPLE1, pkREDUCE) // an enum
		p.str("packed").global("__torch__", "Packed").op(pkEMPTYTUPLE, pkNEWOBJ).tensor(ptSpec{"FloatStorage", "3", 3, 0, []int64{3}, []int64{1}, ""}).op(pkTUPLE1, pkBUILD)
		p.str("names").global("torch.jit._pickle", "restore_type_tag").op(pkEMPTYLIST).str("List[str]").op(pkTUPLE2, pkREDUCE)
		p.str("logit_scale").tensor(ptSpec{"FloatStorage", "4", 1, 0, nil, nil, ""})
	})
	p.op(pkSTOP)
	want := []*Tensor{
		{Name: "positional_embedding", DType: F16, Shape: []int{3, 2}, Data: st["0"]},
		{Name: "input_resolution", DType: I64, Shape: []int{}, Data: st["1"]},
		{Name: "visual.conv1.weight", DType: F32, Shape: []int{2, 3}, Data: ptF32Bytes(0, 2, 4, 1, 3, 5)},
		{Name: "transformer.resblocks.0.attn.in_proj_weight", DType: F32, Shape: []int{2}, Data: ptF32Bytes(7, 8)},
		{Name: "transformer.resblocks.1.attn.in_proj_weight", DType: F32, Shape: []int{2}, Data: ptF32Bytes(7, 8)},
		{Name: "logit_scale", DType: F32, Shape: []int{}, Data: ptF32Bytes(4.5)},
	}
	return p.Bytes(), keys, st, want
}

func ptScriptSampleFile(t testing.TB) []byte {
	pkl, keys, st, _ := ptScriptSample()
	entries := []ptEntry{{name: "ViT-B-32/data.pkl", data: pkl}}
	entries = append(entries, ptEntry{name: "ViT-B-32/code/__torch__/multimodal/model/multimodal_transformer.py", data: []byte("class Multimodal(Module):\n  pass\n")},
		ptEntry{name: "ViT-B-32/constants.pkl", data: []byte{pkPROTO, 2, pkEMPTYTUPLE, pkSTOP}})
	for _, k := range keys {
		entries = append(entries, ptEntry{name: "ViT-B-32/data/" + k, data: st[k]})
	}
	entries = append(entries, ptEntry{name: "ViT-B-32/version", data: []byte("3\n")})
	return ptZipOf(t, entries)
}

func TestReadTorchScriptSynthetic(t *testing.T) {
	file := ptScriptSampleFile(t)
	sd, err := ReadTorch(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, want := ptScriptSample()
	ptCheck(t, "synthetic TorchScript", sd, want)

	// An object without a dict state has nothing state_dict() shows.
	p := (&ptPickle{}).op(pkPROTO, 2).global("__torch__.model", "CLIP").op(pkEMPTYTUPLE, pkNEWOBJ, pkSTOP)
	file = ptWithPickle(t, p.Bytes())
	if sd, err := ReadTorch(bytes.NewReader(file), int64(len(file))); err != nil || len(sd.Order) != 0 {
		t.Errorf("bare object: %v, %v", sd, err)
	}
}

// ptScriptBadCases are TorchScript archives that must fail, with a
// substring of the error and whether it must be ErrUnsafePickle.
func ptScriptBadCases(t testing.TB) []struct {
	name, want string
	unsafe     bool
	data       []byte
} {
	type bc = struct {
		name, want string
		unsafe     bool
		data       []byte
	}
	obj := func(attrs func(p *ptPickle)) []byte {
		p := (&ptPickle{}).op(pkPROTO, 2)
		return ptWithPickle(t, p.scriptObj("__torch__", "Net", attrs).op(pkSTOP).Bytes())
	}
	cycle := (&ptPickle{}).op(pkPROTO, 2).global("__torch__", "Net").op(pkEMPTYTUPLE, pkNEWOBJ, pkBINPUT, 1, pkEMPTYDICT, pkMARK).
		str("self").op(pkBINGET, 1, pkSETITEMS, pkBUILD, pkSTOP)
	// 100 levels of objects whose two attributes are one object: 2^100
	// paths from the root.
	dag := (&ptPickle{}).op(pkPROTO, 2).global("__torch__", "Net").op(pkBINPUT, 0, pkEMPTYTUPLE, pkNEWOBJ, pkEMPTYDICT, pkBUILD, pkBINPUT, 1)
	for i := 2; i < 102; i++ {
		dag.op(pkBINGET, 0, pkEMPTYTUPLE, pkNEWOBJ, pkEMPTYDICT, pkMARK).str("a").op(pkBINGET, byte(i-1)).str("b").op(pkBINGET, byte(i-1), pkSETITEMS, pkBUILD, pkBINPUT, byte(i))
	}
	dag.op(pkSTOP)
	deep := (&ptPickle{}).op(pkPROTO, 2)
	for range 300 {
		deep.global("__torch__", "Net").op(pkEMPTYTUPLE, pkNEWOBJ, pkEMPTYDICT, pkMARK).str("m")
	}
	deep.op(pkNONE)
	for range 300 {
		deep.op(pkSETITEMS, pkBUILD)
	}
	deep.op(pkSTOP)
	return []bc{
		{"cycle", "contains itself", false, ptWithPickle(t, cycle.Bytes())},
		{"shared exponentially", "-byte pickle can", false, ptWithPickle(t, dag.Bytes())},
		{"too deep", "nest more than 200 deep", false, ptWithPickle(t, deep.Bytes())},
		{"os.system in a module", "asks for os.system", true, obj(func(p *ptPickle) {
			p.str("x").global("os", "system").str("echo pwned").op(pkTUPLE1, pkREDUCE)
		})},
		{"Python class in a module", "asks for clip.model.CLIP", true, obj(func(p *ptPickle) {
			p.str("x").global("clip.model", "CLIP").op(pkEMPTYTUPLE, pkNEWOBJ)
		})},
		{"quantized", "quantized tensors are not supported", true, obj(func(p *ptPickle) {
			p.str("w").global("torch._utils", "_rebuild_qtensor")
		})},
		{"missing storage", `tensor "sub.w"`, false, obj(func(p *ptPickle) {
			p.str("sub").scriptObj("__torch__", "Sub", func(p *ptPickle) {
				p.str("w").tensor(ptSpec{"FloatStorage", "9", 6, 0, []int64{6}, []int64{1}, ""})
			})
		})},
		{"restore_type_tag with one argument", "restore_type_tag: 1 arguments, want 2", false, obj(func(p *ptPickle) {
			p.str("x").global("torch.jit._pickle", "restore_type_tag").op(pkEMPTYLIST, pkTUPLE1, pkREDUCE)
		})},
		{"device of an int", "device is a int", false, obj(func(p *ptPickle) {
			p.str("x").global("torch", "device").int(0).op(pkTUPLE1, pkREDUCE)
		})},
		{"tensor from id", "asks for torch.jit._pickle.build_tensor_from_id", true, obj(func(p *ptPickle) {
			p.str("x").global("torch.jit._pickle", "build_tensor_from_id").int(0).op(pkTUPLE1, pkREDUCE)
		})},
		{"old TorchScript format", "old TorchScript archive", false, ptZipOf(t, []ptEntry{{name: "m/model.json", data: []byte("{}")}, {name: "m/attributes.pkl", data: []byte{pkPROTO, 2, pkEMPTYTUPLE, pkSTOP}}})},
	}
}

func TestReadTorchScriptBadInput(t *testing.T) {
	for _, c := range ptScriptBadCases(t) {
		sd, err := ReadTorch(bytes.NewReader(c.data), int64(len(c.data)))
		if err == nil {
			t.Errorf("%s: no error (%d tensors)", c.name, len(sd.Order))
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "weights: ") {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		if errors.Is(err, ErrUnsafePickle) != c.unsafe {
			t.Errorf("%s: errors.Is(%v, ErrUnsafePickle) != %v", c.name, err, c.unsafe)
		}
		if !c.unsafe && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v is not ErrMalformed", c.name, err)
		}
	}
}
