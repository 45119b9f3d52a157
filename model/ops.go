package model

import "math"

// layerNorm normalises each of the n rows of x (n, d) into dst with weight w
// and bias b: nn.LayerNorm (eps 1e-5 in CLIP) and CLIP4Clip's until_module
// LayerNorm (eps 1e-12) alike. Moments are accumulated in float64.
func layerNorm(dst, x []float32, n, d int, w, b []float32, eps float64) {
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
		inv := 1 / math.Sqrt(variance+eps)
		for k, v := range row {
			out[k] = float32((float64(v)-mean)*inv)*w[k] + b[k]
		}
	}
}

// quickGELU applies x * sigmoid(1.702 x) in place (CLIP's QuickGELU).
func quickGELU(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + float32(math.Exp(float64(-1.702*v))))
	}
}

// softmax normalises x in place, subtracting the max for stability.
func softmax(x []float32) {
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

// add adds src to dst element-wise.
func add(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

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
