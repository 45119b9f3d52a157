package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDotsInt8 checks DotsInt8 against int64 sums at the extremes DotsLimit
// allows (every product at its largest, both signs) and on random rows,
// with ragged row counts and column counts, on every set of kernels.
func TestDotsInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	start := Kernel()
	defer UseKernel(start)
	for _, name := range Kernels() {
		UseKernel(name)
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			for _, sh := range [][2]int{{1, 1}, {3, 7}, {5, 16}, {17, 33}, {300, 512}, {1000, 516}, {257, 768}, {9, 1024}, {600, 100}} {
				rows, cols := sh[0], sh[1]
				lim := DotsLimit(cols)
				require.Less(t, int64(127)*int64(cols)*int64(lim), int64(1)<<31)
				for _, extreme := range []bool{true, false} {
					w, q := make([]int8, rows*cols), make([]int16, cols)
					for k := range q {
						q[k] = int16(r.IntN(2*lim+1) - lim)
						if extreme {
							q[k] = int16(lim)
						}
					}
					for i := range w {
						w[i] = int8(r.IntN(255) - 127)
						if extreme {
							w[i] = int8(127 * (1 - 2*(i/cols%2))) // rows of +127, then -127
						}
					}
					got := make([]int32, rows)
					DotsInt8(got, w, cols, q)
					for i := range rows {
						var want int64
						for k := range cols {
							want += int64(w[i*cols+k]) * int64(q[k])
						}
						if int64(got[i]) != want {
							t.Fatalf("%s, %d threads, %dx%d (extreme %v): row %d = %d, want %d", name, threads, rows, cols, extreme, i, got[i], want)
						}
					}
				}
			}
		}
	}
	SetThreads(1)
}

func BenchmarkDotsInt8(b *testing.B) {
	const rows, cols = 90000, 512 // the site index of 100 hours
	r := rand.New(rand.NewPCG(1, 2))
	w, q := make([]int8, rows*cols), make([]int16, cols)
	for i := range w {
		w[i] = int8(r.IntN(255) - 127)
	}
	for k := range q {
		q[k] = int16(r.IntN(60000) - 30000)
	}
	dst := make([]int32, rows)
	for b.Loop() {
		DotsInt8(dst, w, cols, q)
	}
}

// BenchmarkDotsLinear is the same product through Matrix.Linear's int8
// kernels (x rounded per platform), for comparison.
func BenchmarkDotsLinear(b *testing.B) {
	const rows, cols = 90000, 512
	r := rand.New(rand.NewPCG(1, 2))
	m := &Matrix{Rows: rows, Cols: cols, DType: Int8, Block: cols, I8: make([]int8, rows*cols), Scales: make([]float32, rows)}
	for i := range m.I8 {
		m.I8[i] = int8(r.IntN(255) - 127)
	}
	for i := range m.Scales {
		m.Scales[i] = 1
	}
	x := randSlice(r, cols)
	dst := make([]float32, rows)
	for b.Loop() {
		m.Linear(dst, x, 1, nil)
	}
}
