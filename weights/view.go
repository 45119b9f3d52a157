package weights

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// littleEndian reports whether the host stores integers little-endian, as
// every file this package reads does; views alias the file's bytes only then.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// F32View returns the elements of an F32 tensor as []float32, aliasing Data
// when it is 4-byte aligned (model files align tensor data for this) and
// copying otherwise.
func (t *Tensor) F32View() ([]float32, error) {
	if t.DType != F32 {
		return nil, fmt.Errorf("weights: tensor %q is %v, not f32", t.Name, t.DType)
	}
	n := t.Numel()
	if len(t.Data) != 4*n {
		return nil, fmt.Errorf("weights: tensor %q: %d bytes for shape %v of f32", t.Name, len(t.Data), t.Shape)
	}
	if n == 0 {
		return []float32{}, nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	return t.Float32()
}

// U16View returns the raw elements of an F16 or BF16 tensor, aliasing Data
// when it is 2-byte aligned and copying otherwise.
func (t *Tensor) U16View() ([]uint16, error) {
	if t.DType != F16 && t.DType != BF16 {
		return nil, fmt.Errorf("weights: tensor %q is %v, not f16", t.Name, t.DType)
	}
	n := t.Numel()
	if len(t.Data) != 2*n {
		return nil, fmt.Errorf("weights: tensor %q: %d bytes for shape %v of %v", t.Name, len(t.Data), t.Shape, t.DType)
	}
	if n == 0 {
		return []uint16{}, nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&t.Data[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return out, nil
}

// I8View returns the elements of an I8 tensor, aliasing Data.
func (t *Tensor) I8View() ([]int8, error) {
	if t.DType != I8 {
		return nil, fmt.Errorf("weights: tensor %q is %v, not i8", t.Name, t.DType)
	}
	n := t.Numel()
	if len(t.Data) != n {
		return nil, fmt.Errorf("weights: tensor %q: %d bytes for shape %v of i8", t.Name, len(t.Data), t.Shape)
	}
	if n == 0 {
		return []int8{}, nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&t.Data[0])), n), nil
}
