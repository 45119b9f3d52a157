package quant

import (
	"fmt"
	"math"
)

// The element-wise steps of a transformer block, in float32: QuickGELU,
// Softmax, LayerNorm and Add (and Exp, under the first two). Each has a
// plain reference (the *Ref functions, float64 where PyTorch's fp32 result
// is best approached that way) that the tests compare it to, a portable
// float32 Go version, and where a platform file sets the hook a faster one:
// elementwise_wasm.go (the SIMD module's kernels, all five),
// elementwise_amd64.go (AVX2 assembly for exp, QuickGELU and Softmax's exp).

// Platform kernels of the element-wise ops, set by a platform file's init;
// each reports whether it ran (false: no SIMD in the host, too short to pay
// for the call) and leaves the work to the Go version when it did not.
var (
	quickGELUKernel func(x []float32) bool
	softmaxKernel   func(x []float32) bool
	layerNormKernel func(dst, x []float32, n, d int, w, b []float32, eps float32) bool
	addKernel       func(dst, src []float32) bool
	expKernel       func(x []float32) bool
)

// Exp sets x[i] = e^x[i] in place, in float32 (see expSlice).
func Exp(x []float32) {
	if len(x) == 0 || expKernel != nil && expKernel(x) {
		return
	}
	expSlice(x)
}

// QuickGELU applies x * sigmoid(1.702 x) in place: CLIP's QuickGELU
// (clip/model.py), with e^x from expSlice.
func QuickGELU(x []float32) {
	if len(x) == 0 || quickGELUKernel != nil && quickGELUKernel(x) {
		return
	}
	quickGELUGo(x)
}

func quickGELUGo(x []float32) {
	var e [64]float32
	for len(x) > 0 {
		c := x[:min(len(x), len(e))]
		for i, v := range c {
			e[i] = -1.702 * v
		}
		expSlice(e[:len(c)])
		for i, v := range c {
			c[i] = v / (1 + e[i])
		}
		x = x[len(c):]
	}
}

// Softmax normalises the row x in place: e^(x - max x) / sum, the max
// subtracted for stability, as torch.softmax.
func Softmax(x []float32) {
	if len(x) == 0 || softmaxKernel != nil && softmaxKernel(x) {
		return
	}
	softmaxGo(x)
}

func softmaxGo(x []float32) { softmaxWith(x, expSlice) }

// softmaxWith is Softmax with exp as e^x in place.
func softmaxWith(x []float32, exp func([]float32)) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	for i := range x {
		x[i] -= m
	}
	exp(x)
	var s0, s1 float32 // two chains: half the add latency
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += x[i]
		s1 += x[i+1]
	}
	if i < len(x) {
		s0 += x[i]
	}
	inv := 1 / (s0 + s1)
	for i := range x {
		x[i] *= inv
	}
}

// LayerNorm normalises each of the n rows of x (n, d) into dst (n, d) with
// weight w and bias b (d): (x - mean) / sqrt(var + eps) * w + b with the
// biased variance, as nn.LayerNorm (eps 1e-5 in CLIP) and CLIP4Clip's
// until_module.LayerNorm (eps 1e-12). dst may be x.
//
// The moments are float32 sums over the row shifted by its first element
// x0, in two passes: m = mean(x - x0), then var = mean((x - x0 - m)^2), and
// the output takes x - x0 - m too. Shifted, the sums keep their precision
// when the row sits far from zero (the mean itself is never rounded to
// float32), and a row of equal values gives exactly 0 before w and b.
func LayerNorm(dst, x []float32, n, d int, w, b []float32, eps float32) {
	if n < 0 || d < 0 || len(x) < n*d || len(dst) < n*d || len(w) < d || len(b) < d {
		panic(fmt.Sprintf("quant: LayerNorm of (%d, %d): x %d, dst %d, w %d, b %d", n, d, len(x), len(dst), len(w), len(b)))
	}
	if n == 0 || d == 0 || layerNormKernel != nil && layerNormKernel(dst, x, n, d, w, b, eps) {
		return
	}
	layerNormGo(dst, x, n, d, w, b, eps)
}

func layerNormGo(dst, x []float32, n, d int, w, b []float32, eps float32) {
	w, b = w[:d], b[:d]
	for i := 0; i < n; i++ {
		row, out := x[i*d:(i+1)*d], dst[i*d:(i+1)*d]
		x0 := row[0]
		var s0, s1, s2, s3 float32
		k := 0
		for ; k+4 <= d; k += 4 {
			s0 += row[k] - x0
			s1 += row[k+1] - x0
			s2 += row[k+2] - x0
			s3 += row[k+3] - x0
		}
		for ; k < d; k++ {
			s0 += row[k] - x0
		}
		mean := ((s0 + s1) + (s2 + s3)) / float32(d) // minus x0
		s0, s1, s2, s3 = 0, 0, 0, 0
		k = 0
		for ; k+4 <= d; k += 4 {
			d0, d1, d2, d3 := row[k]-x0-mean, row[k+1]-x0-mean, row[k+2]-x0-mean, row[k+3]-x0-mean
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
		for ; k < d; k++ {
			d0 := row[k] - x0 - mean
			s0 += d0 * d0
		}
		inv := 1 / float32(math.Sqrt(float64(((s0+s1)+(s2+s3))/float32(d)+eps)))
		for k, v := range row {
			out[k] = (v-x0-mean)*inv*w[k] + b[k]
		}
	}
}

// Add adds src to dst element-wise (len(src) >= len(dst)).
func Add(dst, src []float32) {
	if len(src) < len(dst) {
		panic(fmt.Sprintf("quant: Add of %d values to %d", len(src), len(dst)))
	}
	if len(dst) == 0 || addKernel != nil && addKernel(dst, src) {
		return
	}
	addGo(dst, src)
}

// addGo is Add's plain loop, its portable version and its tests' reference
// (Go's compiler leaves nothing to gain in it).
func addGo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// expSlice sets x[k] = e^x[k] in float32, as expf in Cephes: x = t ln2 + r
// with t an integer and |r| <= ln2/2 (ln2 split in two so that t*ln2Hi is
// exact), e^r = 1 + r + r^2 P(r) with Cephes' degree-5 P, times 2^t. 2^t is
// built in the exponent bits as 2^(t>>1) * 2^(t-t>>1), so that results in
// the subnormal range round as a product would and e^x above 88.72
// overflows to +Inf; x is first clamped to [-104, 89], where e^x is already
// 0 and +Inf. NaN stays NaN. Maximum relative error against math.Exp on
// normal results: 8e-8, under one float32 ulp (TestExp measures it, here
// and for the SIMD module's exp in quant/simd/gen.mjs, the same computation
// four lanes at a time). The loop is written out over a slice: as a
// function of one value, Go would not inline it.
func expSlice(x []float32) {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375 // 9 bits: t*ln2Hi is exact for |t| < 2^15
		ln2Lo = -2.12194440e-4
		round = 0x1.8p23 // adding it rounds a float32 below 2^22 to an integer
		p0    = 1.9875691500e-4
		p1    = 1.3981999507e-3
		p2    = 8.3334519073e-3
		p3    = 4.1665795894e-2
		p4    = 1.6666665459e-1
		p5    = 5.0000001201e-1
	)
	for i, v := range x {
		if v < -104 { // branches, not min and max: faster in Go, and NaN passes
			v = -104
		} else if v > 89 {
			v = 89
		}
		t := v*log2e + round
		n := int32(math.Float32bits(t)) - int32(math.Float32bits(round))
		t -= round
		r := v - t*ln2Hi
		r -= t * ln2Lo
		p := ((((p0*r+p1)*r+p2)*r+p3)*r+p4)*r + p5
		y := (p*(r*r) + r) + 1
		n1 := n >> 1
		x[i] = y * math.Float32frombits(uint32(n1+127)<<23) * math.Float32frombits(uint32(n-n1+127)<<23)
	}
}
