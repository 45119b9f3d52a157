package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
)

// stDTypes maps safetensors dtype names to DTypes.
var stDTypes = map[string]DType{
	"F32": F32, "F16": F16, "BF16": BF16, "F64": F64,
	"I64": I64, "I32": I32, "I8": I8, "U8": U8,
}

// ReadSafetensorsFile reads the safetensors file at path; see
// ReadSafetensors.
func ReadSafetensorsFile(path string) (*StateDict, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	return readSafetensors(data, path)
}

// ReadSafetensors reads a Hugging Face safetensors file held in data: an
// 8-byte little-endian header length, a JSON header mapping each tensor
// name to its dtype (F32, F16, BF16, F64, I64, I32, I8 or U8), shape and
// data_offsets [begin, end) relative to the data section that follows, then
// the data section. The "__metadata__" entry is ignored.
//
// The tensors' Data slices alias data (no copy is made): modifying data
// modifies them and the other way round. The result lists the tensors in
// the order of their data offsets. Every tensor is checked: offsets inside
// the data section, no two tensors overlapping, and end-begin equal to the
// shape's size; any problem gives an error wrapping ErrMalformed (or
// ErrUnsupportedDType for other dtypes) that names the tensor.
func ReadSafetensors(data []byte) (*StateDict, error) {
	return readSafetensors(data, "safetensors")
}

type stEntry struct {
	name    string
	DType   string  `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

func readSafetensors(data []byte, file string) (*StateDict, error) {
	if len(data) < 8 {
		return nil, wtWrap(file+": ", fmt.Errorf("%d bytes, too short for the 8-byte header length (truncated file?)", len(data)))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, wtWrap(file+": ", fmt.Errorf("header length %d runs past the end of the %d-byte file (truncated or not a safetensors file)", n, len(data)))
	}
	body := data[8+n:]
	entries, err := parseSafetensorsHeader(data[8:8+n], int64(len(body)), file)
	if err != nil {
		return nil, err
	}
	sd := &StateDict{Tensors: make(map[string]*Tensor, len(entries))}
	for _, e := range entries {
		begin, end := e.Offsets[0], e.Offsets[1]
		sd.Add(&Tensor{Name: e.name, DType: stDTypes[e.DType], Shape: e.shape(), Data: body[begin:end:end]})
	}
	return sd, nil
}

func (e *stEntry) shape() []int {
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		shape[i] = int(d)
	}
	return shape
}

// parseSafetensorsHeader checks a safetensors JSON header against a data
// section of bodyLen bytes and returns its tensors in data order.
func parseSafetensorsHeader(header []byte, bodyLen int64, file string) ([]stEntry, error) {
	fail := func(format string, args ...any) ([]stEntry, error) {
		return nil, wtWrap(file+": ", fmt.Errorf(format, args...))
	}
	if len(bytes.TrimSpace(header)) == 0 || bytes.TrimSpace(header)[0] != '{' {
		return fail("header is not a JSON object (not a safetensors file?)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return fail("header is not valid JSON: %v", err)
	}
	entries := make([]stEntry, 0, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		e := stEntry{name: name}
		if err := json.Unmarshal(msg, &e); err != nil {
			return fail("tensor %q: bad header entry: %v", name, err)
		}
		entries = append(entries, e)
	}
	for i := range entries {
		e := &entries[i]
		dt, ok := stDTypes[e.DType]
		if !ok {
			return nil, wtWrap(file+": ", fmt.Errorf("tensor %q has dtype %q: %w (want F32, F16, BF16, F64, I64, I32, I8 or U8); convert it first", e.name, e.DType, ErrUnsupportedDType))
		}
		if len(e.Offsets) != 2 {
			return fail("tensor %q: data_offsets has %d numbers, want [begin, end]", e.name, len(e.Offsets))
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > bodyLen {
			return fail("tensor %q: data_offsets [%d, %d] are outside the %d-byte data section (truncated file?)", e.name, begin, end, bodyLen)
		}
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return fail("tensor %q: negative dimension in shape %v", e.name, e.Shape)
			}
			if d != 0 && numel > math.MaxInt64/8/d {
				return fail("tensor %q: shape %v is too large", e.name, e.Shape)
			}
			numel *= d
		}
		if want := numel * int64(dt.Size()); end-begin != want {
			return fail("tensor %q: data_offsets [%d, %d] hold %d bytes, but shape %v of %s needs %d", e.name, begin, end, end-begin, e.Shape, e.DType, want)
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.Offsets[0] != b.Offsets[0] {
			return a.Offsets[0] < b.Offsets[0]
		}
		if a.Offsets[1] != b.Offsets[1] {
			return a.Offsets[1] < b.Offsets[1]
		}
		return a.name < b.name
	})
	var prevEnd int64
	prev := ""
	for _, e := range entries {
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < prevEnd && begin < end {
			return fail("tensors %q and %q overlap in the data section ([%d, %d) starts before %d)", prev, e.name, begin, end, prevEnd)
		}
		if end > prevEnd {
			prevEnd, prev = end, e.name
		}
	}
	return entries, nil
}
