package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func sampleModel(t testing.TB) []byte {
	sd := &StateDict{}
	sd.Add(FromFloat32("a.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
	sd.Add(&Tensor{Name: "b.weight", DType: F16, Shape: []int{3}, Data: []byte{0, 0x3c, 0, 0x40, 0, 0x42}})
	sd.Add(&Tensor{Name: "c.weight", DType: I8, Shape: []int{1, 4}, Data: []byte{1, 0xff, 2, 0x80}, Block: 4})
	sd.Add(FromFloat32("c.weight.scales", []int{1, 1}, []float32{0.5}))
	sd.Add(FromFloat32("scalar", []int{}, []float32{7}))
	var buf bytes.Buffer
	err := WriteModel(&buf, &ModelFile{
		Config:  json.RawMessage(`{"embed_dim": 4}`),
		Meta:    map[string]string{"source": "test"},
		Vocab:   []string{"a", "b", "ab"},
		Merges:  [][2]string{{"a", "b"}},
		Tensors: sd,
	})
	require.NoError(t, err)
	return buf.Bytes()
}

func TestModelFileRoundTrip(t *testing.T) {
	data := sampleModel(t)
	f, err := ReadModel(data)
	require.NoError(t, err)
	require.JSONEq(t, `{"embed_dim": 4}`, string(f.Config))
	require.Equal(t, "test", f.Meta["source"])
	require.Equal(t, []string{"a", "b", "ab"}, f.Vocab)
	require.Equal(t, [][2]string{{"a", "b"}}, f.Merges)
	require.Equal(t, []string{"a.weight", "b.weight", "c.weight", "c.weight.scales", "scalar"}, f.Tensors.Order)
	a, err := f.Tensors.Tensors["a.weight"].F32View()
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3, 4, 5, 6}, a)
	b, err := f.Tensors.Tensors["b.weight"].Float32()
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3}, b)
	c := f.Tensors.Tensors["c.weight"]
	require.Equal(t, 4, c.Block)
	ci, err := c.I8View()
	require.NoError(t, err)
	require.Equal(t, []int8{1, -1, 2, -128}, ci)
	// every tensor starts on an Align boundary of the file
	for _, name := range f.Tensors.Order {
		tt := f.Tensors.Tensors[name]
		if len(tt.Data) > 0 {
			off := uintptr(unsafe.Pointer(&tt.Data[0])) - uintptr(unsafe.Pointer(&data[0]))
			require.Zero(t, off%Align, "%s at %d", name, off)
		}
	}
	h, err := DecodeModelHeader(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, f.Vocab, h.Vocab)
}

func TestModelFileErrors(t *testing.T) {
	good := sampleModel(t)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	hlen := int(binary.LittleEndian.Uint32(good[12:]))
	header := func(b []byte, edit func(h map[string]any)) []byte {
		var h map[string]any
		require.NoError(t, json.Unmarshal(b[16:16+hlen], &h))
		edit(h)
		js, _ := json.Marshal(h)
		out := append([]byte(nil), b[:12]...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(js)))
		out = append(out, js...)
		start := alignUp(int64(len(out)))
		for int64(len(out)) < start {
			out = append(out, 0)
		}
		return append(out, b[alignUp(int64(16+hlen)):]...)
	}
	tensor := func(h map[string]any, i int) map[string]any {
		return h["tensors"].([]any)[i].(map[string]any)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"not a model", []byte("PK\x03\x04 this is a zip file, not a model"), "not a clip4clip model file"},
		{"newer version", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], ModelVersion+1); return b }), "newer than this build"},
		{"corrupt version", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 358335877); return b }), "far beyond any release (this build reads up to"},
		{"truncated header", good[:40], "truncated"},
		{"truncated data", good[:len(good)-3], "outside the"},
		{"huge header", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<31); return b }), "exceeds"},
		{"bad json", mutate(func(b []byte) []byte { b[16] = '!'; return b }), "not valid JSON"},
		{"unknown dtype", header(good, func(h map[string]any) { tensor(h, 0)["dtype"] = "q4" }), `unknown dtype "q4"`},
		{"size mismatch", header(good, func(h map[string]any) { tensor(h, 0)["shape"] = []int{3, 3} }), "bytes for shape"},
		{"negative dim", header(good, func(h map[string]any) { tensor(h, 0)["shape"] = []int{-2, -3} }), "invalid shape"},
		{"misaligned", header(good, func(h map[string]any) { tensor(h, 1)["offset"] = 3 }), "outside the"},
		{"duplicate", header(good, func(h map[string]any) { tensor(h, 1)["name"] = "a.weight" }), "repeated"},
		{"int8 without block", header(good, func(h map[string]any) { delete(tensor(h, 2), "block") }), "no block size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadModel(c.data)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
		})
	}
}

// FuzzReadModel: no input makes the model file reader panic, and what it
// accepts has tensors inside the input.
func FuzzReadModel(f *testing.F) {
	good := sampleModel(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(ModelMagic))
	f.Add(append([]byte(ModelMagic), 1, 0, 0, 0, 2, 0, 0, 0, '{', '}'))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadModel(data)
		if err != nil {
			return
		}
		for _, name := range m.Tensors.Order {
			tt := m.Tensors.Tensors[name]
			if len(tt.Data) != tt.Numel()*tt.DType.Size() {
				t.Fatalf("%s: %d bytes for %v", name, len(tt.Data), tt.Shape)
			}
			if _, err := tt.Float32(); err != nil && tt.DType != I8 {
				t.Fatal(err)
			}
		}
	})
}
