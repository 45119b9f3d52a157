package quant

import "math"

// The plain references the kernels are tested against: slow and obviously
// right, float64 where it matters. They live with the tests, as the
// standard library keeps its reference implementations, not in the
// package's API.

// LinearRef is the reference for Linear: one float64-accumulated dot per
// output, weights dequantized element by element. Slow and obviously right.
// For int8 it is the product the kernels approximate: x is not quantized,
// as Linear's outlier columns are not (the others are, by the kernels).
func LinearRef(m *Matrix, dst, x []float32, n int, bias []float32) {
	w := m.Float32()
	for i := 0; i < n; i++ {
		for j := 0; j < m.Rows; j++ {
			var s float64
			for k := 0; k < m.Cols; k++ {
				s += float64(x[i*m.Cols+k]) * float64(w[j*m.Cols+k])
			}
			if bias != nil {
				s += float64(bias[j])
			}
			dst[i*m.Rows+j] = float32(s)
		}
	}
}

// QuickGELURef is QuickGELU with e^x from math.Exp in float64.
func QuickGELURef(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + float32(math.Exp(float64(-1.702*v))))
	}
}

// SoftmaxRef is Softmax with math.Exp and the sum in float64.
func SoftmaxRef(x []float32) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		x[i] = float32(e)
		s += e
	}
	inv := float32(1 / s)
	for i := range x {
		x[i] *= inv
	}
}

// LayerNormRef is LayerNorm with the moments accumulated in float64.
func LayerNormRef(dst, x []float32, n, d int, w, b []float32, eps float32) {
	for i := 0; i < n; i++ {
		row, out := x[i*d:(i+1)*d], dst[i*d:(i+1)*d]
		var mean float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(d)
		var variance float64
		for _, v := range row {
			dv := float64(v) - mean
			variance += dv * dv
		}
		variance /= float64(d)
		inv := 1 / math.Sqrt(variance+float64(eps))
		for k, v := range row {
			out[k] = float32((float64(v)-mean)*inv)*w[k] + b[k]
		}
	}
}
