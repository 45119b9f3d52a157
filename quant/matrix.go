// Package quant holds weight matrices in f32, f16 or int8 and the kernels
// that multiply activations by them. The model calls Matrix.Linear and never
// looks at the dtype; every optimised kernel here has a plain reference
// (the *Ref functions) that the tests compare it to on seeded random data.
package quant

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/x448/float16"
)

// DType is the storage type of a Matrix's weights.
type DType uint8

// The weight formats a Matrix may hold.
const (
	F32  DType = 1 // float32, exact
	F16  DType = 2 // IEEE half, widened to float32 in the kernel
	Int8 DType = 3 // symmetric int8 with one float32 scale per row or per block of a row
)

// String returns "f32", "f16" or "int8".
func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Int8:
		return "int8"
	}
	return fmt.Sprintf("quant.DType(%d)", uint8(d))
}

// ParseDType returns the DType named s: "f32", "f16" or "int8".
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32":
		return F32, nil
	case "f16":
		return F16, nil
	case "int8", "i8":
		return Int8, nil
	}
	return 0, fmt.Errorf("quant: unknown weight dtype %q (want f32, f16 or int8)", s)
}

// Matrix is a row-major (Rows, Cols) weight matrix, (out, in) as nn.Linear
// stores it. Exactly one of F32, F16 or I8 is set, according to DType.
// For Int8, Scales holds Rows * ceil(Cols/Block) float32 scales, row-major:
// w[r][c] = I8[r*Cols+c] * Scales[r*nb + c/Block], nb = ceil(Cols/Block).
// Block == Cols means one scale per row.
type Matrix struct {
	Rows, Cols int
	DType      DType
	F32        []float32 // (Rows, Cols)
	F16        []uint16  // (Rows, Cols), IEEE half bits
	I8         []int8    // (Rows, Cols)
	Scales     []float32 // (Rows, ceil(Cols/Block)), Int8 only
	Block      int       // Int8 only: elements of a row sharing one scale

	sums atomic.Pointer[int8Sums] // derived by the amd64 int8 kernels on first use
}

// int8Sums is what the amd64 int8 kernels derive from the weights, kept in
// the Matrix: per block b (of Block columns) and row r, the scale
// (block-major: scales[b*Rows+r]) and corr = 128 * the sum of the block's
// weights, which the VNNI kernel subtracts because it multiplies q+128 (u8)
// by w (s8).
type int8Sums struct {
	i8     *int8 // the weights they were built from
	scales []float32
	corr   []int32
	panels atomic.Pointer[[]int8] // the weights packed for i8AVX512P (amd64)
}

// NewF32 wraps data (rows*cols values) as an f32 Matrix without copying.
func NewF32(rows, cols int, data []float32) *Matrix {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("quant: NewF32(%d, %d) with %d values", rows, cols, len(data)))
	}
	return &Matrix{Rows: rows, Cols: cols, DType: F32, F32: data}
}

// Quantize converts f32 weights (rows*cols values) to dtype. block applies
// to Int8 only: 0 means one scale per row, otherwise the number of
// consecutive elements of a row that share a scale.
func Quantize(rows, cols int, data []float32, dtype DType, block int) (*Matrix, error) {
	if len(data) != rows*cols {
		return nil, fmt.Errorf("quant: %d values for a (%d, %d) matrix", len(data), rows, cols)
	}
	m := &Matrix{Rows: rows, Cols: cols, DType: dtype}
	switch dtype {
	case F32:
		m.F32 = append([]float32(nil), data...)
	case F16:
		m.F16 = make([]uint16, len(data))
		for i, v := range data {
			m.F16[i] = float16.Fromfloat32(v).Bits()
		}
	case Int8:
		if block <= 0 || block > cols {
			block = cols
		}
		m.Block = block
		nb := (cols + block - 1) / block
		m.I8 = make([]int8, len(data))
		m.Scales = make([]float32, rows*nb)
		for r := 0; r < rows; r++ {
			for b := 0; b < nb; b++ {
				lo, hi := r*cols+b*block, r*cols+min((b+1)*block, cols)
				var amax float32
				for _, v := range data[lo:hi] {
					amax = max(amax, float32(math.Abs(float64(v))))
				}
				scale := amax / 127
				m.Scales[r*nb+b] = scale
				if scale == 0 {
					continue
				}
				inv := 1 / scale
				for i := lo; i < hi; i++ {
					q := math.Round(float64(data[i] * inv))
					m.I8[i] = int8(max(-127, min(127, q)))
				}
			}
		}
	default:
		return nil, fmt.Errorf("quant: cannot quantize to %v", dtype)
	}
	return m, nil
}

// Validate checks that the slices match the shape and dtype; loaders call it
// so that a corrupt file is an error and never an out-of-range panic later.
func (m *Matrix) Validate() error {
	n := m.Rows * m.Cols
	if m.Rows < 0 || m.Cols < 0 {
		return fmt.Errorf("quant: negative shape (%d, %d)", m.Rows, m.Cols)
	}
	switch m.DType {
	case F32:
		if len(m.F32) != n {
			return fmt.Errorf("quant: f32 matrix (%d, %d) holds %d values", m.Rows, m.Cols, len(m.F32))
		}
	case F16:
		if len(m.F16) != n {
			return fmt.Errorf("quant: f16 matrix (%d, %d) holds %d values", m.Rows, m.Cols, len(m.F16))
		}
	case Int8:
		if len(m.I8) != n {
			return fmt.Errorf("quant: int8 matrix (%d, %d) holds %d values", m.Rows, m.Cols, len(m.I8))
		}
		if m.Block <= 0 || m.Block > max(m.Cols, 1) {
			return fmt.Errorf("quant: int8 matrix (%d, %d) has block %d", m.Rows, m.Cols, m.Block)
		}
		nb := (m.Cols + m.Block - 1) / m.Block
		if len(m.Scales) != m.Rows*nb {
			return fmt.Errorf("quant: int8 matrix (%d, %d) with block %d needs %d scales, has %d", m.Rows, m.Cols, m.Block, m.Rows*nb, len(m.Scales))
		}
	default:
		return fmt.Errorf("quant: unknown dtype %v", m.DType)
	}
	return nil
}

// Row writes row r of the matrix, as float32, into dst (len Cols). It is how
// an embedding table stored as a Matrix is read.
func (m *Matrix) Row(dst []float32, r int) {
	dst = dst[:m.Cols]
	off := r * m.Cols
	switch m.DType {
	case F32:
		copy(dst, m.F32[off:off+m.Cols])
	case F16:
		f16ToF32(dst, m.F16[off:off+m.Cols])
	case Int8:
		nb := (m.Cols + m.Block - 1) / m.Block
		q := m.I8[off : off+m.Cols]
		for c := range dst {
			dst[c] = float32(q[c]) * m.Scales[r*nb+c/m.Block]
		}
	}
}

// Float32 returns the whole matrix as float32 (dequantized), row-major.
func (m *Matrix) Float32() []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		m.Row(out[r*m.Cols:(r+1)*m.Cols], r)
	}
	return out
}

// Bytes returns the storage the weights take, scales included.
func (m *Matrix) Bytes() int {
	return 4*len(m.F32) + 2*len(m.F16) + len(m.I8) + 4*len(m.Scales)
}

// f16Table maps every half-precision bit pattern to its float32 value; a
// lookup is cheaper than the bit manipulation in the inner loop.
var f16Table = func() *[65536]float32 {
	var t [65536]float32
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return &t
}()

func f16ToF32(dst []float32, src []uint16) {
	t := f16Table
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = t[h]
	}
}
