//go:build js && wasm

package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The kernels' variants as simdUse numbers them. Run the tests under
// tools/wasmexec/go_js_wasm_exec (Node) or tools/wasmbrowser (headless
// Chromium); each provides both where its engine runs relaxed SIMD (Node
// 20 only with CLIP4CLIP_SIMD=relaxed, which turns off the baseline
// compiler that miscompiles it: see wasm_exec_node.js).
//
// top is how the int8 kernel quantises x (quantRow): 0 to int16 (SIMD128),
// else to 0..top with a zero point (relaxed SIMD 127, its paired kernel 63).
type simdKernels struct {
	code int32
	name string
	top  int32
}

var simdVariants = []simdKernels{{1, "simd", 0}, {2, "relaxed", 127}, {3, "pair", 63}}

// hostVariant is the variant the host chose at start-up.
var hostVariant = simdVariant()

func init() {
	int8XSteps = func() float64 {
		if simdVariant() == 3 {
			return 63
		}
		return 127
	}
}

// inBrowser: tools/wasmbrowser runs the tests in Chromium, the engine
// that runs the kernels for users, and says so.
var inBrowser = os.Getenv("CLIP4CLIP_WASM_HOST") == "chromium"

// browserWants reports whether the host is the browser and must provide
// variant code: every variant a browser picks (relaxed SIMD, and SIMD128
// where the engine lacks relaxed), less those above an explicit
// CLIP4CLIP_SIMD (simd: SIMD128 only, none: none).
func browserWants(code int32) bool {
	limit := map[string]int32{"": 3, "auto": 3, "pair": 3, "relaxed": 2, "simd": 1}[os.Getenv("CLIP4CLIP_SIMD")]
	return inBrowser && code <= limit
}

// useVariant selects variant code for the test and restores the host's
// choice afterwards. If the host lacks that variant it skips, or fails in
// the browser (browserWants): there a skip would hide a kernel users run.
func useVariant(t testing.TB, code int32, name string) {
	t.Helper()
	prev := simdVariant()
	if simdUse(code) == 0 {
		if browserWants(code) {
			t.Fatalf("the browser has no %s kernels: kernels.js could not validate or self-test them (CLIP4CLIP_SIMD=%q)", name, os.Getenv("CLIP4CLIP_SIMD"))
		}
		t.Skipf("the host has no %s kernels", name)
	}
	t.Cleanup(func() { simdUse(prev) })
}

// TestSIMDHostHasKernels fails when the host (tools/wasmexec, a browser
// loader) links the fallback only: then every test below would pass on Go's
// kernel without running a SIMD one. In the browser (tools/wasmbrowser)
// every variant a browser picks must be there and be selected when asked,
// and the host must have started on the best of them, as users' pages do.
func TestSIMDHostHasKernels(t *testing.T) {
	require.NotZero(t, hostVariant, "the host provides clip4clip_simd without SIMD kernels (CLIP4CLIP_SIMD=none, or an engine without SIMD)")
	if !inBrowser {
		return
	}
	defer simdUse(simdVariant())
	var best int32
	for _, v := range simdVariants {
		if !browserWants(v.code) {
			t.Logf("CLIP4CLIP_SIMD=%s: not requiring the %s kernels", os.Getenv("CLIP4CLIP_SIMD"), v.name)
			continue
		}
		best = v.code
		require.EqualValues(t, 1, simdUse(v.code), "the browser has no %s kernels: kernels.js could not validate or self-test them", v.name)
		require.Equal(t, v.code, simdVariant(), "use(%d) returned 1 but the %s kernels are not selected", v.code, v.name)
	}
	// Under CLIP4CLIP_SIMD=auto kernels.js starts on the faster of the two
	// on this CPU (timeInt8), so either is right; a forced variant must be
	// the one started on.
	if v := os.Getenv("CLIP4CLIP_SIMD"); v != "" && v != "auto" {
		require.Equal(t, best, hostVariant, "CLIP4CLIP_SIMD=%s, but the browser started on variant %d", v, hostVariant)
	}
	require.True(t, hostVariant >= 1 && hostVariant <= 3, "the browser started on variant %d", hostVariant)
	t.Logf("the browser started on %s (kernels.js timed them)", map[int32]string{1: "SIMD128", 2: "relaxed SIMD", 3: "relaxed SIMD, paired int8"}[hostVariant])
}

// TestSIMDLinearMatchesRef runs every SIMD kernel directly (so a kernel that
// declines fails the test instead of falling back) on seeded random shapes
// with ragged edges: n = 1 and not a multiple of the register block, out
// not a multiple of 4, in not a multiple of 4, 8 or 16, column ranges
// [lo, hi) inside the matrix. Columns outside [lo, hi) must be untouched.
// f32 and f16 are compared with LinearRef; int8 with linearI8Ref, which
// quantises x as the kernel does (exactly, up to float32 rounding), and
// with LinearRef within the bound that quantising x allows.
func TestSIMDLinearMatchesRef(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {1, 7, 3}, {3, 5, 9}, {4, 16, 16}, {5, 33, 65}, {9, 130, 67},
		{2, 9, 17}, {6, 4, 33}, {1, 3, 1000}, {7, 12, 48}, {50, 96, 128}, {77, 64, 200}, {13, 37, 768}, {3, 9, 3072}}
	for _, v := range simdVariants {
		t.Run(v.name, func(t *testing.T) {
			useVariant(t, v.code, v.name)
			r := rand.New(rand.NewPCG(7, 8))
			for _, dt := range []DType{F32, F16, Int8} {
				for _, block := range []int{0, 16, 32, 24, 7} {
					if dt != Int8 && block != 0 {
						continue
					}
					for _, sh := range shapes {
						n, rows, cols := sh[0], sh[1], sh[2]
						for _, withBias := range []bool{true, false} {
							name := fmt.Sprintf("%v/block%d/n%d_%dx%d/bias%v", dt, block, n, rows, cols, withBias)
							checkSIMD(t, r, name, v.top, n, rows, cols, dt, block, withBias)
						}
					}
				}
			}
		})
	}
}

func checkSIMD(t *testing.T, r *rand.Rand, name string, top int32, n, rows, cols int, dt DType, block int, withBias bool) {
	t.Helper()
	m, err := Quantize(rows, cols, randSlice(r, rows*cols), dt, block)
	require.NoError(t, err)
	x := randSlice(r, n*cols)
	var bias []float32
	if withBias {
		bias = randSlice(r, rows)
	}
	// A column range inside the matrix, and the whole of it.
	lo, hi := r.IntN(rows), rows
	hi = lo + 1 + r.IntN(hi-lo)
	for _, span := range [][2]int{{lo, hi}, {0, rows}} {
		lo, hi := span[0], span[1]
		got := make([]float32, n*rows)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		step := 8
		if top != 0 {
			step = 16
		}
		declines := dt == Int8 && m.Block < cols && m.Block%step != 0
		ran := linearSIMD(m, got, x, n, bias, lo, hi, nil)
		if declines {
			require.False(t, ran, "%s: int8 block %d should be declined", name, m.Block)
			continue
		}
		require.True(t, ran, "%s: the kernel declined", name)
		want := make([]float32, n*rows)
		LinearRef(m, want, x, n, bias)
		for i := 0; i < n; i++ {
			for j := 0; j < rows; j++ {
				if (j < lo || j >= hi) && !math.IsNaN(float64(got[i*rows+j])) {
					t.Fatalf("%s [%d, %d): wrote dst[%d, %d] outside its columns", name, lo, hi, i, j)
				}
				if j < lo || j >= hi {
					got[i*rows+j], want[i*rows+j] = 0, 0
				}
			}
		}
		switch dt {
		case F32, F16:
			requireClose(t, name, want, got, 1e-4*math.Sqrt(float64(cols)))
		case Int8:
			exact := make([]float32, n*rows)
			linearI8Ref(m, exact, x, n, bias, top)
			for i := 0; i < n; i++ {
				for j := 0; j < rows; j++ {
					if j < lo || j >= hi {
						exact[i*rows+j] = 0
					}
				}
			}
			requireClose(t, name+" vs linearI8Ref", exact, got, 1e-5*math.Sqrt(float64(cols)))
			requireWithinQuantBound(t, name, m, x, n, want, got, lo, hi, top)
		}
	}
}

// i16Limit is the int8 SIMD128 kernel's quantisation range for x: as large
// as possible such that one block's integer dot, blk*127*lim, fits in int32.
func i16Limit(blk int) int32 {
	return int32(min(32767, 2147483647/(127*blk)))
}

// quantRow is the kernel's quantisation of one row of x: q (len(x) values),
// the scale and the zero point, with x[k] ~= (q[k] - zp) * scale.
//   - SIMD128: q = round(x * lim/amax), zp = 0.
//   - relaxed (top 127; its paired kernel: 63): q = clamp(round(x/s) + zp,
//     0, top) with s = (max - min)/top
//     over the range [min(x, 0), max(x, 0)] and zp = round(-min/s).
//
// Every step is float32 as in the kernel, round to nearest even.
func quantRow(q []int32, x []float32, lim int32, top int32) (scale float32, zp int32) {
	var inv float32
	if top != 0 {
		var lo, hi float32
		for _, v := range x {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale = (hi - lo) / float32(top)
		if scale > 0 {
			inv = 1 / scale
		}
		zp = int32(math.RoundToEven(float64(-(lo * inv))))
	} else {
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		scale = amax / float32(lim)
		if amax > 0 {
			inv = float32(lim) / amax
		}
	}
	for k, v := range x {
		qq := int32(math.RoundToEven(float64(v * inv)))
		if top != 0 {
			qq = max(0, min(top, qq+zp))
		}
		q[k] = qq
	}
	return scale, zp
}

// linearI8Ref is what the int8 SIMD kernels compute: x quantised per row
// by quantRow, exact integer dots per block of W's row, each block's sum
// scaled by its weight scale in float32, the total by the row's x scale.
func linearI8Ref(m *Matrix, dst, x []float32, n int, bias []float32, top int32) {
	in, nb := m.Cols, (m.Cols+m.Block-1)/m.Block
	q := make([]int32, in)
	for i := 0; i < n; i++ {
		sx, zp := quantRow(q, x[i*in:(i+1)*in], i16Limit(min(m.Block, in)), top)
		for j := 0; j < m.Rows; j++ {
			var f float32
			for b := 0; b < nb; b++ {
				var s int64
				for k := b * m.Block; k < min((b+1)*m.Block, in); k++ {
					s += int64(q[k]-zp) * int64(m.I8[j*in+k])
				}
				f += float32(s) * m.Scales[j*nb+b]
			}
			dst[i*m.Rows+j] = f * sx
			if bias != nil {
				dst[i*m.Rows+j] += bias[j]
			}
		}
	}
}

// requireWithinQuantBound checks got against the exact product with the
// dequantised weights: quantising x moves each x[k] by at most one step,
// so an output moves by at most step * sum_k |w[k]|.
func requireWithinQuantBound(t *testing.T, name string, m *Matrix, x []float32, n int, want, got []float32, lo, hi int, top int32) {
	t.Helper()
	in := m.Cols
	w := m.Float32()
	q := make([]int32, in)
	for i := 0; i < n; i++ {
		step, _ := quantRow(q, x[i*in:(i+1)*in], i16Limit(min(m.Block, in)), top)
		for j := lo; j < hi; j++ {
			var wabs float64
			for k := 0; k < in; k++ {
				wabs += math.Abs(float64(w[j*in+k]))
			}
			d := math.Abs(float64(got[i*m.Rows+j] - want[i*m.Rows+j]))
			if bound := float64(step)*wabs + 1e-4*math.Sqrt(float64(in)); d > bound {
				t.Fatalf("%s: dst[%d, %d] = %g, exact %g: |diff| %.3g > bound %.3g", name, i, j, got[i*m.Rows+j], want[i*m.Rows+j], d, bound)
			}
		}
	}
}

// TestSIMDLinearThreads runs Linear itself (worker goroutines splitting the
// columns, Go's kernel as the fallback) with every variant, none included.
func TestSIMDLinearThreads(t *testing.T) {
	defer SetThreads(1)
	for _, v := range append([]simdKernels{{0, "none", 0}}, simdVariants...) {
		t.Run(v.name, func(t *testing.T) {
			useVariant(t, v.code, v.name)
			r := rand.New(rand.NewPCG(9, 10))
			for _, threads := range []int{1, 3} {
				SetThreads(threads)
				for _, dt := range []DType{F32, F16, Int8} {
					n, rows, cols := 50, 96, 128
					m, err := Quantize(rows, cols, randSlice(r, rows*cols), dt, 0)
					require.NoError(t, err)
					x, bias := randSlice(r, n*cols), randSlice(r, rows)
					got, want := make([]float32, n*rows), make([]float32, n*rows)
					m.Linear(got, x, n, bias)
					if dt == Int8 && v.code != 0 {
						linearI8Ref(m, want, x, n, bias, v.top)
					} else {
						LinearRef(m, want, x, n, bias)
					}
					requireClose(t, fmt.Sprintf("%s/threads%d/%v", v.name, threads, dt), want, got, 1e-4*math.Sqrt(float64(cols)))
				}
			}
		})
	}
}

// TestSIMDDeclines: with no SIMD kernels the hook leaves Linear to Go.
func TestSIMDDeclines(t *testing.T) {
	useVariant(t, 0, "none")
	m := NewF32(4, 4, make([]float32, 16))
	require.False(t, linearSIMD(m, make([]float32, 4), make([]float32, 4), 1, nil, 0, 4, nil))
}

// BenchmarkSIMDLinear is BenchmarkLinear's ViT-B/32 MLP product,
// (50, 768) x (3072, 768)^T, per kernel variant (go: Go's kernel) and dtype.
func BenchmarkSIMDLinear(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n, rows, cols := 50, 3072, 768
	w := randSlice(r, rows*cols)
	x := randSlice(r, n*cols)
	dst := make([]float32, n*rows)
	for _, v := range append([]simdKernels{{0, "go", 0}}, simdVariants...) {
		for _, dt := range []DType{F32, F16, Int8} {
			m, _ := Quantize(rows, cols, w, dt, 0)
			b.Run(v.name+"/"+dt.String(), func(b *testing.B) {
				useVariant(b, v.code, v.name)
				b.ReportAllocs()
				for b.Loop() {
					m.Linear(dst, x, n, nil)
				}
				b.ReportMetric(2*float64(n*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestSIMDMatMulT runs TestMatMulT's strided ragged shapes under every
// variant (go: the host's none), after checking that the kernel does not
// decline.
func TestSIMDMatMulT(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		if simdVariant() != 0 {
			a, b, dst := make([]float32, 3*7), make([]float32, 2*7), make([]float32, 3*2)
			require.True(t, matMulTKernel(dst, 2, a, 7, b, 7, 3, 2, 5), "matmul_t declined")
		}
		testMatMulT(t, "")
	})
}

// TestSIMDLinearI8NaN: a NaN in a row of x makes that row's outputs NaN
// (the quantisation's range scan keeps it) and leaves the other rows alone.
func TestSIMDLinearI8NaN(t *testing.T) {
	for _, v := range simdVariants {
		t.Run(v.name, func(t *testing.T) {
			useVariant(t, v.code, v.name)
			r := rand.New(rand.NewPCG(13, 14))
			n, rows, cols := 3, 8, 37
			m, err := Quantize(rows, cols, randSlice(r, rows*cols), Int8, 0)
			require.NoError(t, err)
			x := randSlice(r, n*cols)
			x[cols+5] = float32(math.NaN())
			dst := make([]float32, n*rows)
			require.True(t, linearSIMD(m, dst, x, n, nil, 0, rows, nil))
			for i := 0; i < n; i++ {
				for j := 0; j < rows; j++ {
					if got := math.IsNaN(float64(dst[i*rows+j])); got != (i == 1) {
						t.Fatalf("dst[%d, %d] = %g: want NaN only in row 1", i, j, dst[i*rows+j])
					}
				}
			}
		})
	}
}

// TestSIMDLinearI8Extremes gives the int8 kernels the largest products a
// model file allows: weights of -128 (which Quantize never writes, a file
// may) and 127, against x rows whose every element quantises to the top of
// its range (and to the bottom, with a zero point). The paired kernel sums
// two steps of pair products in int16 before widening: 2 * 2 * 128 * 63 =
// 32256 must not saturate or wrap, so it must equal linearI8Ref exactly,
// as the other variants do.
func TestSIMDLinearI8Extremes(t *testing.T) {
	for _, v := range simdVariants {
		t.Run(v.name, func(t *testing.T) {
			useVariant(t, v.code, v.name)
			rows, cols := 8, 96
			m := &Matrix{Rows: rows, Cols: cols, DType: Int8, Block: cols, I8: make([]int8, rows*cols), Scales: make([]float32, rows)}
			for j := 0; j < rows; j++ {
				m.Scales[j] = 1
				for k := 0; k < cols; k++ {
					switch j % 4 {
					case 0:
						m.I8[j*cols+k] = -128
					case 1:
						m.I8[j*cols+k] = 127
					case 2:
						m.I8[j*cols+k] = int8(-128 + 255*(k%2))
					default:
						m.I8[j*cols+k] = int8(-128 + (k*37)%256)
					}
				}
			}
			require.NoError(t, m.Validate())
			// rows of x: all at the top, all at the bottom (then only a
			// zero point is at 0), and alternating extremes.
			n := 3
			x := make([]float32, n*cols)
			for k := 0; k < cols; k++ {
				x[k] = 1
				x[cols+k] = -1
				x[2*cols+k] = float32(1 - 2*(k%2))
			}
			got, want := make([]float32, n*rows), make([]float32, n*rows)
			require.True(t, linearSIMD(m, got, x, n, nil, 0, rows, nil))
			linearI8Ref(m, want, x, n, nil, v.top)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("dst[%d, %d] = %g, linearI8Ref %g", i/rows, i%rows, got[i], want[i])
				}
			}
		})
	}
}

// BenchmarkSIMDLinearNarrow is an int8 product that the quantisation of x
// dominates: (50, 3072) x (8, 3072)^T, 50 rows of 3072 quantised for 8
// outputs each.
func BenchmarkSIMDLinearNarrow(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n, rows, cols := 50, 8, 3072
	m, _ := Quantize(rows, cols, randSlice(r, rows*cols), Int8, 0)
	x := randSlice(r, n*cols)
	dst := make([]float32, n*rows)
	for _, v := range simdVariants {
		b.Run(v.name, func(b *testing.B) {
			useVariant(b, v.code, v.name)
			for b.Loop() {
				m.Linear(dst, x, n, nil)
			}
		})
	}
}
