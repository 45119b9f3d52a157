package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The element-wise kernels against their references, under every kernel
// the platform has (eachKernel: the Go versions natively; under js/wasm
// also the SIMD128 and relaxed SIMD modules), on seeded random data with
// ragged lengths and extreme values.

// elementSizes are lengths around the SIMD widths (4, 8, 16) and the
// model's (50 and 77 tokens, 768 wide, 3072 in the MLP).
var elementSizes = []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 50, 77, 768, 3077}

// extremes are inputs at exp's edges: overflow and underflow of e^x (and of
// e^(-1.702 x) in QuickGELU), signed zeros, infinities, NaN.
var extremes = []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 0.5, -0.5, 5, -5, 30, -30, 51, -51, 52, -52,
	52.2, -52.2, 60, -60, 87, -87, 87.4, -87.4, 88.7, -88.7, 88.8, -88.8, 103, -103, 105, -105, 1e3, -1e3, 1e30, -1e30,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}

// requireRel fails when got and want differ by more than rtol*|want| + atol
// anywhere (equal infinities and NaN against NaN pass), printing the first
// values and the worst difference.
func requireRel(t *testing.T, name string, in, want, got []float32, rtol, atol float64) {
	t.Helper()
	worst, at := -1.0, 0
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		if w == g || math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if d := math.Abs(w-g) - rtol*math.Abs(w); d > atol || math.IsNaN(d) {
			if math.IsNaN(d) || d > worst {
				worst, at = d, i
			}
		}
	}
	if worst != -1 {
		n := min(4, len(want))
		var x float32
		if in != nil {
			x = in[at]
		}
		t.Fatalf("%s: at %d (input %g) want %g, got %g (|diff| %.3g > %g |want| + %g)\nwant %v\ngot  %v",
			name, at, x, want[at], got[at], math.Abs(float64(want[at]-got[at])), rtol, atol, want[:n], got[:n])
	}
}

func TestExp(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		// Every 1009th float32 from -104 to 89 (and beyond), then the extremes.
		var x []float32
		for b := math.Float32bits(-110); b > 0x80000000; b -= 1009 {
			x = append(x, math.Float32frombits(b))
		}
		for b := uint32(0); math.Float32frombits(b) < 95; b += 1009 {
			x = append(x, math.Float32frombits(b))
		}
		x = append(x, extremes...)
		got := append([]float32(nil), x...)
		Exp(got)
		worst := 0.0
		for i, v := range x {
			want := math.Exp(float64(v))
			if want >= 0x1p-126 && want <= math.MaxFloat32 {
				worst = max(worst, math.Abs(float64(got[i])-want)/want)
			}
		}
		t.Logf("exp: max relative error %.3g over %d normal results", worst, len(x))
		if worst > 2e-7 {
			t.Fatalf("exp: max relative error %.3g > 2e-7", worst)
		}
		want := make([]float32, len(x))
		for i, v := range x {
			want[i] = float32(math.Exp(float64(v)))
		}
		// Subnormal results: within a few of their ulps (2^-149).
		requireRel(t, "exp", x, want, got, 2e-7, 0x1p-147)
	})
}

func TestQuickGELU(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, n := range append(elementSizes, len(extremes)) {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(3 * r.NormFloat64())
			}
			if n == len(extremes) {
				copy(x, extremes)
			}
			want, got := append([]float32(nil), x...), append([]float32(nil), x...)
			QuickGELURef(want)
			QuickGELU(got)
			requireRel(t, fmt.Sprintf("QuickGELU n%d", n), x, want, got, 3e-7, 1e-36)
		}
	})
}

func TestSoftmax(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, n := range elementSizes {
			for _, kind := range []string{"normal", "wide", "equal", "masked", "peak"} {
				x := make([]float32, n)
				for i := range x {
					switch kind {
					case "normal":
						x[i] = float32(r.NormFloat64())
					case "wide":
						x[i] = float32(30 * r.NormFloat64())
					case "equal":
						x[i] = 3.25
					case "masked": // CLIP4Clip's key mask: -1e6 on padding
						x[i] = float32(r.NormFloat64())
						if r.IntN(3) == 0 {
							x[i] -= 1e6
						}
					case "peak":
						x[i] = float32(r.NormFloat64())
						if i == n/2 {
							x[i] = 1e30
						}
					}
				}
				want, got := append([]float32(nil), x...), append([]float32(nil), x...)
				SoftmaxRef(want)
				Softmax(got)
				// The float32 sum's rounding grows with the row.
				requireRel(t, fmt.Sprintf("Softmax n%d %s", n, kind), x, want, got, 3e-7+6e-8*math.Sqrt(float64(n)), 1e-37)
			}
		}
	})
}

func TestLayerNorm(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(25, 26))
		for _, d := range elementSizes {
			for _, n := range []int{1, 3, 50} {
				for _, eps := range []float32{1e-5, 1e-12} {
					x := make([]float32, n*d)
					for i := range x {
						x[i] = float32(2*r.NormFloat64() + 3)
					}
					// Row 1 of equal values, row 2 with a large offset.
					if n > 2 {
						for k := 0; k < d; k++ {
							x[d+k] = -7.3
							x[2*d+k] = 1e4 + x[2*d+k]
						}
					}
					w, b := randSlice(r, d), randSlice(r, d)
					want, got := make([]float32, n*d), make([]float32, n*d)
					LayerNormRef(want, x, n, d, w, b, eps)
					LayerNorm(got, x, n, d, w, b, eps)
					name := fmt.Sprintf("LayerNorm n%d d%d eps%g", n, d, eps)
					// An output is (x - x0 - m)/std * w + b, x0 the row's first
					// value (LayerNorm's shift) and m = mean - x0: allow 1e-6
					// of each term's magnitude, for float32 rounding.
					var mean, std float64
					for i := range want {
						row, k := x[i/d*d:i/d*d+d], i%d
						if k == 0 {
							mean, std = 0, 0
							for _, v := range row {
								mean += float64(v)
							}
							mean /= float64(d)
							for _, v := range row {
								std += (float64(v) - mean) * (float64(v) - mean)
							}
							std = math.Sqrt(std/float64(d) + float64(eps))
						}
						x0 := float64(row[0])
						tol := 1e-6*math.Abs(float64(w[k]))*(math.Abs(float64(row[k])-x0)+math.Abs(mean-x0))/std + 1e-6*math.Abs(float64(b[k])) + 1e-7
						if dd := math.Abs(float64(want[i] - got[i])); !(dd <= tol) {
							t.Fatalf("%s: [%d, %d] want %g, got %g (|diff| %.3g > %.3g)\nwant %v\ngot  %v", name, i/d, k, want[i], got[i], dd, tol, want[:min(4, len(want))], got[:min(4, len(got))])
						}
					}
					if n > 2 {
						for k := 0; k < d; k++ {
							if got[d+k] != b[k] {
								t.Fatalf("%s: a row of equal values gives %g at %d, want the bias %g", name, got[d+k], k, b[k])
							}
						}
					}
					// In place.
					LayerNorm(x, x, n, d, w, b, eps)
					requireRel(t, name+" in place", nil, got, x, 0, 0)
				}
			}
		}
	})
}

func TestAdd(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(27, 28))
		for _, n := range elementSizes {
			dst, src := randSlice(r, n), randSlice(r, n+3)
			want, got := append([]float32(nil), dst...), append([]float32(nil), dst...)
			addGo(want, src)
			Add(got, src)
			requireRel(t, fmt.Sprintf("Add n%d", n), nil, want, got, 0, 0)
		}
	})
}

// BenchmarkElementwise times the element-wise ops on one ViT-B/32 block's
// shapes: QuickGELU over (50, 3072), Softmax over 50 rows of 50 (one
// head), LayerNorm over (50, 768), Add of (50, 768).
func BenchmarkElementwise(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n, w := 50, 768
	mlp, x, dst := randSlice(r, n*4*w), randSlice(r, n*w), make([]float32, n*w)
	att := randSlice(r, n*n)
	lw, lb := randSlice(r, w), randSlice(r, w)
	ops := func(gelu, softmax func([]float32), ln func(dst, x []float32, n, d int, w, b []float32, eps float32), add func(dst, src []float32)) func(b *testing.B) {
		return func(b *testing.B) {
			b.Run("QuickGELU", func(b *testing.B) {
				for b.Loop() {
					gelu(mlp)
				}
			})
			b.Run("Softmax", func(b *testing.B) {
				for b.Loop() {
					for i := 0; i < n; i++ {
						softmax(att[i*n : (i+1)*n])
					}
				}
			})
			b.Run("LayerNorm", func(b *testing.B) {
				for b.Loop() {
					ln(dst, x, n, w, lw, lb, 1e-5)
				}
			})
			b.Run("Add", func(b *testing.B) {
				for b.Loop() {
					add(dst, x)
				}
			})
		}
	}
	b.Run("ref", ops(QuickGELURef, SoftmaxRef, LayerNormRef, addGo))
	eachKernel(b, ops(QuickGELU, Softmax, LayerNorm, Add))
}
