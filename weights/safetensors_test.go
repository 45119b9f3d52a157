package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// stFile builds a safetensors file from a JSON header and a data section.
func stFile(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func stSampleFile() []byte {
	// Keys listed out of offset order; "b" comes first in the data.
	h := `{"__metadata__": {"format": "pt"},
	 "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]},
	 "b": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]},
	 "scalar": {"dtype": "I64", "shape": [], "data_offsets": [24, 32]},
	 "empty": {"dtype": "BF16", "shape": [0, 5], "data_offsets": [32, 32]},
	 "u": {"dtype": "U8", "shape": [3], "data_offsets": [32, 35]},
	 "i8": {"dtype": "I8", "shape": [1], "data_offsets": [35, 36]},
	 "i32": {"dtype": "I32", "shape": [1], "data_offsets": [36, 40]},
	 "f64": {"dtype": "F64", "shape": [1, 1], "data_offsets": [40, 48]}}`
	return stFile(h, ptSeq(48, 1))
}

func TestReadSafetensorsSynthetic(t *testing.T) {
	file := stSampleFile()
	sd, err := ReadSafetensors(file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sd.Order, []string{"b", "a", "scalar", "empty", "u", "i8", "i32", "f64"}) {
		t.Errorf("order %q is not by data offset", sd.Order)
	}
	data := file[len(file)-48:]
	for _, c := range []struct {
		name  string
		dt    DType
		shape []int
		b, e  int
	}{{"b", F16, []int{4}, 0, 8}, {"a", F32, []int{2, 2}, 8, 24}, {"scalar", I64, []int{}, 24, 32}, {"empty", BF16, []int{0, 5}, 32, 32},
		{"u", U8, []int{3}, 32, 35}, {"i8", I8, []int{1}, 35, 36}, {"i32", I32, []int{1}, 36, 40}, {"f64", F64, []int{1, 1}, 40, 48}} {
		tn := sd.Tensors[c.name]
		if tn.DType != c.dt || !reflect.DeepEqual(tn.Shape, c.shape) || string(tn.Data) != string(data[c.b:c.e]) {
			t.Errorf("%s: %v %v %x", c.name, tn.DType, tn.Shape, tn.Data)
		}
	}
	// Data aliases the input.
	if unsafe.SliceData(sd.Tensors["b"].Data) != &data[0] {
		t.Error("tensor data does not alias the input")
	}
	if cap(sd.Tensors["b"].Data) != 8 {
		t.Error("appending to a tensor's data could overwrite the next tensor")
	}
}

func TestReadSafetensorsFixture(t *testing.T) {
	sd, err := ReadSafetensorsFile(ptFixture(t, "hf/model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Order) != 78 {
		t.Errorf("%d tensors, want 78", len(sd.Order))
	}
	for _, k := range sd.Order {
		if sd.Tensors[k].DType != F16 {
			t.Errorf("%s is %v, want f16", k, sd.Tensors[k].DType)
		}
	}
	if s := sd.Tensors["vision_model.embeddings.patch_embedding.weight"]; s == nil || !reflect.DeepEqual(s.Shape, []int{128, 3, 32, 32}) {
		t.Errorf("patch embedding: %v", s)
	}
	if s := sd.Tensors["logit_scale"]; s == nil || len(s.Shape) != 0 {
		t.Errorf("logit_scale: %v", s)
	}
}

// TestHFMatchesOpenAI maps every HF tensor back to the OpenAI state dict
// with hf/key_mapping.json and expects the very same values.
func TestHFMatchesOpenAI(t *testing.T) {
	hf, err := ReadSafetensorsFile(ptFixture(t, "hf/model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	oa, err := ReadTorchFile(ptFixture(t, "clip/clip_tiny_openai.pt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(ptFixture(t, "hf/key_mapping.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mapping [][3]string
	if err := json.Unmarshal(raw, &mapping); err != nil {
		t.Fatal(err)
	}
	if len(mapping) != len(hf.Order) {
		t.Errorf("%d mappings for %d HF tensors", len(mapping), len(hf.Order))
	}
	seen := map[string]bool{}
	for _, m := range mapping {
		hk, ok, transform := m[0], m[1], m[2]
		seen[hk] = true
		h, o := hf.Tensors[hk], oa.Tensors[ok]
		if h == nil || o == nil {
			t.Errorf("%s -> %s: missing tensor (%v, %v)", hk, ok, h != nil, o != nil)
			continue
		}
		hv, err := h.Float32()
		if err != nil {
			t.Fatal(err)
		}
		ov, err := o.Float32()
		if err != nil {
			t.Fatal(err)
		}
		var want []float32
		var shape []int
		switch {
		case transform == "":
			want, shape = ov, o.Shape
		case transform == "transpose":
			r, c := o.Shape[0], o.Shape[1]
			want, shape = make([]float32, r*c), []int{c, r}
			for i := 0; i < r; i++ {
				for j := 0; j < c; j++ {
					want[j*r+i] = ov[i*c+j]
				}
			}
		case strings.HasPrefix(transform, "rows of in_proj"):
			part := map[string]int{"q_proj": 0, "k_proj": 1, "v_proj": 2}[strings.Split(hk, ".")[len(strings.Split(hk, "."))-2]]
			rows := o.Shape[0] / 3
			per := len(ov) / 3
			want = ov[part*per : (part+1)*per]
			shape = append([]int{rows}, o.Shape[1:]...)
		default:
			t.Fatalf("unknown transform %q", transform)
		}
		if !reflect.DeepEqual(h.Shape, shape) {
			t.Errorf("%s: shape %v, want %v (from %s %v, %q)", hk, h.Shape, shape, ok, o.Shape, transform)
			continue
		}
		for i := range want {
			if hv[i] != want[i] {
				t.Errorf("%s: element %d = %v, OpenAI %s gives %v", hk, i, hv[i], ok, want[i])
				break
			}
		}
	}
	for _, k := range hf.Order {
		if !seen[k] {
			t.Errorf("HF tensor %s has no mapping", k)
		}
	}
}

func stBadCases() []struct {
	name, want string
	data       []byte
} {
	type bc = struct {
		name, want string
		data       []byte
	}
	long := make([]byte, 16)
	binary.LittleEndian.PutUint64(long, 1<<62)
	past := make([]byte, 16)
	binary.LittleEndian.PutUint64(past, 9)
	ok := `"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}`
	return []bc{
		{"empty", "too short", nil},
		{"short", "too short", []byte{1, 2, 3}},
		{"header past EOF", "runs past the end", long},
		{"header one past EOF", "runs past the end", past},
		{"truncated", "outside the", stFile("{"+ok+"}", make([]byte, 7))},
		{"bad JSON", "not valid JSON", stFile(`{"a": {"dtype": "F32",`, nil)},
		{"JSON array", "not a JSON object", stFile(`[1, 2]`, nil)},
		{"blank header", "not a JSON object", stFile(``, nil)},
		{"entry not an object", "bad header entry", stFile(`{"a": 5}`, nil)},
		{"unknown dtype", `dtype "BOOL"`, stFile(`{"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}`, make([]byte, 2))},
		{"float8", `"F8_E4M3"`, stFile(`{"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}`, make([]byte, 2))},
		{"out of range", "outside the 8-byte data section", stFile(`{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, make([]byte, 8))},
		{"negative offset", "outside", stFile(`{"a": {"dtype": "U8", "shape": [1], "data_offsets": [-1, 0]}}`, make([]byte, 8))},
		{"end before begin", "outside", stFile(`{"a": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}}`, make([]byte, 8))},
		{"huge offset", "bad header entry", stFile(`{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 99999999999999999999]}}`, make([]byte, 8))},
		{"one offset", "want [begin, end]", stFile(`{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}}`, make([]byte, 8))},
		{"size mismatch", "needs 12", stFile(`{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}`, make([]byte, 8))},
		{"overlap", "overlap", stFile(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}`, make([]byte, 8))},
		{"same range", "overlap", stFile(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}`, make([]byte, 8))},
		{"negative dim", "negative dimension", stFile(`{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}`, make([]byte, 8))},
		{"huge shape", "too large", stFile(`{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}`, make([]byte, 8))},
		{"float shape", "bad header entry", stFile(`{"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}`, make([]byte, 8))},
	}
}

func TestReadSafetensorsBadInput(t *testing.T) {
	for _, c := range stBadCases() {
		_, err := ReadSafetensors(c.data)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "weights: safetensors: ") {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		wantKind := ErrMalformed
		if strings.Contains(c.want, "dtype") || c.name == "float8" {
			wantKind = ErrUnsupportedDType
		}
		if !errors.Is(err, wantKind) {
			t.Errorf("%s: %v is not %v", c.name, err, wantKind)
		}
	}
	// Zero-size tensors may sit anywhere, even inside another's range.
	if _, err := ReadSafetensors(stFile(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "z": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}}`, make([]byte, 8))); err != nil {
		t.Errorf("zero-size tensor: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(path, []byte{1, 2}, 0o644)
	if _, err := ReadSafetensorsFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadSafetensorsFile error %q should name the file", err)
	}
	if _, err := ReadSafetensorsFile(path + ".missing"); err == nil || !strings.Contains(err.Error(), ".missing") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzReadSafetensors(f *testing.F) {
	f.Add(stSampleFile())
	for _, c := range stBadCases() {
		f.Add(c.data)
	}
	if b, err := os.ReadFile(filepath.Join(ptFixtures, "hf/model.safetensors")); err == nil && len(b) > 8 {
		n := binary.LittleEndian.Uint64(b)
		if n < 1<<20 && int(n)+8 <= len(b) {
			f.Add(b[:8+n]) // the real header, without the data
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := ReadSafetensors(data)
		if err != nil {
			return
		}
		ptCheckConsistent(t, sd)
	})
}
