package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// TestLinearMatchesRef runs every dtype's kernel against LinearRef on seeded
// random shapes with ragged edges (n not a multiple of 4, odd Cols, one row).
func TestLinearMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {1, 7, 3}, {3, 5, 9}, {4, 16, 16}, {5, 33, 65}, {9, 130, 67}, {50, 96, 128}, {77, 64, 200}}
	for _, threads := range []int{1, 3} {
		SetThreads(threads)
		for _, dt := range []DType{F32, F16, Int8} {
			for _, block := range []int{0, 32} {
				if dt != Int8 && block != 0 {
					continue
				}
				for _, sh := range shapes {
					n, rows, cols := sh[0], sh[1], sh[2]
					name := fmt.Sprintf("%v/block%d/threads%d/n%d_%dx%d", dt, block, threads, n, rows, cols)
					w := randSlice(r, rows*cols)
					m, err := Quantize(rows, cols, w, dt, block)
					require.NoError(t, err)
					require.NoError(t, m.Validate())
					x, bias := randSlice(r, n*cols), randSlice(r, rows)
					got, want := make([]float32, n*rows), make([]float32, n*rows)
					m.Linear(got, x, n, bias)
					LinearRef(m, want, x, n, bias)
					atol := 1e-4 * math.Sqrt(float64(cols))
					if dt == Int8 {
						atol += int8ActivationBound(m, x, n)
					}
					requireClose(t, name, want, got, atol)
				}
			}
		}
	}
	SetThreads(1)
}

// TestQuantizeError bounds what each format loses against the f32 weights.
func TestQuantizeError(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows, cols := 64, 256
	w := randSlice(r, rows*cols)
	for _, tc := range []struct {
		dt    DType
		block int
		rel   float64 // max |w - deq| / max|row|
	}{{F32, 0, 0}, {F16, 0, 1e-3}, {Int8, 0, 0.5 / 127}, {Int8, 64, 0.5 / 127}} {
		m, err := Quantize(rows, cols, w, tc.dt, tc.block)
		require.NoError(t, err)
		deq := m.Float32()
		for rr := 0; rr < rows; rr++ {
			var amax, emax float64
			for c := 0; c < cols; c++ {
				i := rr*cols + c
				amax = max(amax, math.Abs(float64(w[i])))
				emax = max(emax, math.Abs(float64(w[i]-deq[i])))
			}
			require.LessOrEqual(t, emax, tc.rel*amax+1e-7, "%v block %d row %d", tc.dt, tc.block, rr)
		}
	}
}

func TestValidateRejectsBadShapes(t *testing.T) {
	bad := []*Matrix{
		{Rows: 2, Cols: 3, DType: F32, F32: make([]float32, 5)},
		{Rows: 2, Cols: 3, DType: F16, F16: make([]uint16, 7)},
		{Rows: 2, Cols: 3, DType: Int8, I8: make([]int8, 6), Block: 3, Scales: make([]float32, 1)},
		{Rows: 2, Cols: 3, DType: Int8, I8: make([]int8, 6), Block: 0, Scales: make([]float32, 2)},
		{Rows: 2, Cols: 3, DType: 9},
	}
	for i, m := range bad {
		require.Error(t, m.Validate(), "case %d", i)
	}
}

// int8ActivationBound bounds how far x @ m^T moves when each row of x is
// quantized to int8 (step max|x|/127), as the platform int8 kernels do:
// every term by at most |w| * max|x|/254.
func int8ActivationBound(m *Matrix, x []float32, n int) float64 {
	w := m.Float32()
	var l1, amax float64
	for r := 0; r < m.Rows; r++ {
		var s float64
		for _, v := range w[r*m.Cols : (r+1)*m.Cols] {
			s += math.Abs(float64(v))
		}
		l1 = max(l1, s)
	}
	for _, v := range x[:n*m.Cols] {
		amax = max(amax, math.Abs(float64(v)))
	}
	return l1 * amax / 254 * 127 / int8XSteps()
}

// int8XSteps is how many steps the host's int8 kernel quantises x in:
// 127, or 63 for wasm's paired relaxed-SIMD kernel (linear_wasm_test.go).
var int8XSteps = func() float64 { return 127 }

func requireClose(t *testing.T, name string, want, got []float32, atol float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), name)
	worst, at := 0.0, 0
	for i := range want {
		if d := math.Abs(float64(want[i] - got[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > atol || math.IsNaN(worst) {
		n := min(4, len(want))
		t.Fatalf("%s: max |diff| %.3g at %d > %.3g\nwant %v\ngot  %v", name, worst, at, atol, want[:n], got[:n])
	}
}

// BenchmarkLinear measures a ViT-B/32 MLP matmul, (50, 768) x (3072, 768)^T.
func BenchmarkLinear(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n, rows, cols := 50, 3072, 768
	w := randSlice(r, rows*cols)
	x := randSlice(r, n*cols)
	dst := make([]float32, n*rows)
	for _, dt := range []DType{F32, F16, Int8} {
		m, _ := Quantize(rows, cols, w, dt, 0)
		b.Run(dt.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Linear(dst, x, n, nil)
			}
			b.ReportMetric(2*float64(n*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
