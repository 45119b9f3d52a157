package weights

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// readPlan copies the plan's ranges out of the file's bytes into a fresh
// buffer, as the browser worker does from a Blob, and returns the tensors.
func readPlan(t *testing.T, p *Plan, data []byte) *StateDict {
	t.Helper()
	buf := make([]byte, p.Size)
	for _, r := range p.Ranges {
		require.Zero(t, r.Dst%Align, "range at %d", r.Dst)
		copy(buf[r.Dst:r.Dst+r.Len], data[r.Off:r.Off+r.Len])
	}
	sd, err := p.Tensors(buf)
	require.NoError(t, err)
	for _, name := range sd.Order {
		if d := sd.Tensors[name].Data; len(d) > 0 {
			require.Zero(t, (uintptr(unsafe.Pointer(&d[0]))-uintptr(unsafe.Pointer(&buf[0])))%Align, "%s is not aligned in the buffer", name)
		}
	}
	return sd
}

// TestPlanModelMatchesReadModel: a plan of any subset of the tensors gives
// them as ReadModel does, in a buffer no larger than they need.
func TestPlanModelMatchesReadModel(t *testing.T) {
	data := sampleModel(t)
	f, err := ReadModel(data)
	require.NoError(t, err)
	n, err := HeaderSize(data[:16])
	require.NoError(t, err)
	p, err := PlanModel(data[:n], int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, f.Vocab, p.File.Vocab)
	require.Equal(t, f.Config, p.File.Config)
	require.Equal(t, f.Meta, p.File.Meta)
	require.Len(t, p.Ranges, 1, "all tensors: one range")
	require.Equal(t, int64(len(data))-p.Ranges[0].Off, p.Size)

	for _, keep := range [][]string{
		{"a.weight", "b.weight", "c.weight", "c.weight.scales", "scalar"},
		{"c.weight", "c.weight.scales"},
		{"a.weight", "scalar"},
		{"b.weight"},
		{},
	} {
		p.Keep(func(name string) bool {
			for _, k := range keep {
				if k == name {
					return true
				}
			}
			return false
		})
		sd := readPlan(t, p, data)
		require.Equal(t, keep, append([]string{}, sd.Order...))
		var want int64
		for _, name := range keep {
			w, g := f.Tensors.Tensors[name], sd.Tensors[name]
			require.Equal(t, w.Data, g.Data, name)
			require.Equal(t, w.DType, g.DType, name)
			require.Equal(t, w.Shape, g.Shape, name)
			require.Equal(t, w.Block, g.Block, name)
			want += alignUp(int64(len(w.Data)))
		}
		require.LessOrEqual(t, p.Size, want, "keep %v", keep)
	}
	// a.weight and scalar are not neighbours in the file: two ranges.
	p.Keep(func(name string) bool { return name == "a.weight" || name == "scalar" })
	require.Len(t, p.Ranges, 2)
	// c.weight and its scales are: one.
	p.Keep(func(name string) bool { return strings.HasPrefix(name, "c.") })
	require.Len(t, p.Ranges, 1)

	_, err = p.Tensors(make([]byte, p.Size-1))
	require.ErrorContains(t, err, "a buffer of")
}

// TestPlanModelErrors: a truncated or inconsistent header is refused with
// a FormatError that says what is wrong.
func TestPlanModelErrors(t *testing.T) {
	good := sampleModel(t)
	hlen := int(binary.LittleEndian.Uint32(good[12:]))
	n := 16 + hlen
	// edit rewrites the header's JSON; the data follows at its new offset.
	edit := func(f func(h map[string]any)) []byte {
		var h map[string]any
		require.NoError(t, json.Unmarshal(good[16:n], &h))
		f(h)
		js, err := json.Marshal(h)
		require.NoError(t, err)
		out := append([]byte(nil), good[:12]...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(js)))
		out = append(out, js...)
		for int64(len(out)) < alignUp(int64(len(out))) {
			out = append(out, 0)
		}
		return append(out, good[alignUp(int64(n)):]...)
	}
	tensor := func(h map[string]any, i int) map[string]any {
		return h["tensors"].([]any)[i].(map[string]any)
	}
	for _, c := range []struct {
		name   string
		header []byte
		size   int64
		want   string
	}{
		{"no bytes", nil, 0, "only 0 bytes: too short to be a model file"},
		{"a prelude cut short", good[:10], int64(len(good)), "only 10 bytes"},
		{"not a model", []byte("RIFF....WEBMVP8 not a model"), 100, "not a clip4clip model file"},
		{"the header cut short", good[:n-1], int64(len(good)), "truncated: the header needs"},
		{"a file shorter than its header", good[:n], int64(n - 1), "the file has"},
		{"a file cut in its data", good[:n], int64(len(good) - 5), "outside the"},
		{"a header that is not JSON", append(append([]byte(nil), good[:16]...), strings.Repeat("{", hlen)...), int64(len(good)), "header is not valid JSON"},
		{"overlapping tensors", edit(func(h map[string]any) { tensor(h, 1)["offset"] = tensor(h, 0)["offset"] }), int64(len(good)), `tensors "a.weight" (bytes`},
		{"a size that does not fit the shape", edit(func(h map[string]any) { tensor(h, 0)["shape"] = []int{3, 3} }), int64(len(good)), `tensor "a.weight": 24 bytes for shape [3 3] of f32 (want 36)`},
		{"an unknown dtype", edit(func(h map[string]any) { tensor(h, 1)["dtype"] = "f8" }), int64(len(good)), `unknown dtype "f8"`},
		{"a repeated name", edit(func(h map[string]any) { tensor(h, 1)["name"] = "a.weight" }), int64(len(good)), `tensor name "a.weight" is empty or repeated`},
		{"a misaligned tensor", edit(func(h map[string]any) { tensor(h, 1)["offset"] = 65.0 + 1 }), int64(len(good)), `tensor "b.weight" lies at bytes`},
		{"an int8 tensor without blocks", edit(func(h map[string]any) { delete(tensor(h, 2), "block") }), int64(len(good)), "has no block size"},
	} {
		_, err := PlanModel(c.header, c.size)
		var fe *FormatError
		require.ErrorAs(t, err, &fe, c.name)
		require.ErrorContains(t, err, c.want, c.name)
	}
}
