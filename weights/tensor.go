// Package weights reads and writes model weights: the project's own model
// file, PyTorch state dicts as torch.save writes them, and Hugging Face
// safetensors files. It knows tensors, names and shapes; what the tensors
// mean is the model package's business.
package weights

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// DType is the element type of a stored tensor.
type DType uint8

// The element types a tensor may hold.
const (
	F32  DType = 1
	F16  DType = 2
	BF16 DType = 3
	I8   DType = 4
	I32  DType = 5
	I64  DType = 6
	U8   DType = 7
	F64  DType = 8
)

var dtypeNames = map[DType]string{F32: "f32", F16: "f16", BF16: "bf16", I8: "i8", I32: "i32", I64: "i64", U8: "u8", F64: "f64"}
var dtypeSizes = map[DType]int{F32: 4, F16: 2, BF16: 2, I8: 1, I32: 4, I64: 8, U8: 1, F64: 8}

// String returns the dtype's short name, e.g. "f16".
func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// Size returns the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// ParseDType returns the dtype named s ("f32", "f16", ...).
func ParseDType(s string) (DType, error) {
	for d, n := range dtypeNames {
		if n == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("weights: unknown dtype %q (want f32, f16, bf16, i8, i32, i64, u8 or f64)", s)
}

// Tensor is one named array as a file stores it: little-endian elements of
// DType in row-major (C) order.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // len = Numel() * DType.Size()
	Block int    // I8 only: elements of a row that share one scale (see quant.Matrix)
}

// Numel returns the number of elements the shape describes.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 converts the tensor's elements to float32. Integer tensors convert
// by value; the data length must match the shape.
func (t *Tensor) Float32() ([]float32, error) {
	n := t.Numel()
	if t.DType.Size() == 0 {
		return nil, fmt.Errorf("weights: tensor %q has unknown dtype %v", t.Name, t.DType)
	}
	if len(t.Data) != n*t.DType.Size() {
		return nil, fmt.Errorf("weights: tensor %q: %d bytes of data for shape %v of %v (want %d)", t.Name, len(t.Data), t.Shape, t.DType, n*t.DType.Size())
	}
	out := make([]float32, n)
	b := t.Data
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case I8:
		for i := range out {
			out[i] = float32(int8(b[i]))
		}
	case U8:
		for i := range out {
			out[i] = float32(b[i])
		}
	case I32:
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case I64:
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
	return out, nil
}

// FromFloat32 makes an F32 tensor holding a copy of data.
func FromFloat32(name string, shape []int, data []float32) *Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return &Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), Data: b}
}

// StateDict is a set of named tensors, in the order the source file lists
// them.
type StateDict struct {
	Tensors map[string]*Tensor
	Order   []string
}

// Add puts t into the dict under t.Name, keeping first-seen order.
func (s *StateDict) Add(t *Tensor) {
	if s.Tensors == nil {
		s.Tensors = map[string]*Tensor{}
	}
	if _, ok := s.Tensors[t.Name]; !ok {
		s.Order = append(s.Order, t.Name)
	}
	s.Tensors[t.Name] = t
}
