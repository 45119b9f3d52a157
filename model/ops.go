package model

import (
	"math"

	"clip4clip/quant"
)

// layerNorm normalises each of the n rows of x (n, d) into dst with weight w
// and bias b: nn.LayerNorm (eps 1e-5 in CLIP) and CLIP4Clip's until_module
// LayerNorm (eps 1e-12) alike. See quant.LayerNorm (float32 moments, shifted
// by each row's first value).
func layerNorm(dst, x []float32, n, d int, w, b []float32, eps float64) {
	quant.LayerNorm(dst, x, n, d, w, b, float32(eps))
}

// quickGELU applies x * sigmoid(1.702 x) in place (CLIP's QuickGELU).
func quickGELU(x []float32) { quant.QuickGELU(x) }

// softmax normalises x in place, subtracting the max for stability.
func softmax(x []float32) { quant.Softmax(x) }

// add adds src to dst element-wise.
func add(dst, src []float32) { quant.Add(dst, src) }

// L2Normalize scales x in place to unit length (x / ||x||, as torch's
// x.norm(), summed in float64). A zero vector stays zero.
func L2Normalize(x []float32) {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i, v := range x {
		x[i] = float32(float64(v) * inv)
	}
}

// dot returns sum a[i]*b[i], accumulated in float64.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return float32(s)
}
