package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMatMulT compares MatMulT with a float64 reference on seeded random
// strided views with ragged shapes, and checks that it writes nothing
// outside dst's (m, n) view.
func TestMatMulT(t *testing.T) { testMatMulT(t, "") }

func testMatMulT(t *testing.T, prefix string) {
	r := rand.New(rand.NewPCG(11, 12))
	shapes := [][3]int{{1, 1, 1}, {50, 50, 64}, {50, 64, 50}, {77, 77, 64}, {3, 7, 17}, {4, 6, 16}, {5, 13, 33}, {9, 2, 100}, {2, 9, 1030}, {1, 20, 5}}
	for len(shapes) < 30 {
		shapes = append(shapes, [3]int{1 + r.IntN(60), 1 + r.IntN(60), 1 + r.IntN(130)})
	}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		lda, ldb, ldd := k+r.IntN(40), k+r.IntN(40), n+r.IntN(10)
		a, b := randSlice(r, (m-1)*lda+k), randSlice(r, (n-1)*ldb+k)
		dst := randSlice(r, m*ldd)
		want := append([]float32(nil), dst...)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for t := 0; t < k; t++ {
					s += float64(a[i*lda+t]) * float64(b[j*ldb+t])
				}
				want[i*ldd+j] = float32(s)
			}
		}
		MatMulT(dst, ldd, a, lda, b, ldb, m, n, k)
		requireClose(t, fmt.Sprintf("%sm%d_n%d_k%d", prefix, m, n, k), want, dst, 1e-4*math.Sqrt(float64(k)))
	}
	require.Panics(t, func() { MatMulT(make([]float32, 3), 2, make([]float32, 4), 2, make([]float32, 4), 2, 2, 2, 2) })
}

// BenchmarkMatMulT measures one ViT-B/32 attention head: q @ k^T for 50
// tokens, head width 64, on the packed qkv buffer (row stride 3*768).
func BenchmarkMatMulT(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n, d, w := 50, 64, 768
	qkv := randSlice(r, n*3*w)
	dst := make([]float32, n*n)
	b.ReportAllocs()
	for b.Loop() {
		MatMulT(dst, n, qkv, 3*w, qkv[w:], 3*w, n, n, d)
	}
	b.ReportMetric(2*float64(n*n*d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func TestParallel(t *testing.T) {
	defer SetThreads(Threads())
	for _, threads := range []int{1, 2, 4} {
		SetThreads(threads)
		for _, c := range []struct{ n, work int }{{0, 1 << 20}, {1, 1 << 20}, {12, 1 << 20}, {100, 1}, {7, 1 << 16}} {
			var count [100]atomic.Int32
			Parallel(c.n, c.work, func(i int) { count[i].Add(1) })
			for i := range count {
				want := int32(0)
				if i < c.n {
					want = 1
				}
				if got := count[i].Load(); got != want {
					t.Fatalf("threads %d, n %d, work %d: item %d ran %d times, want %d", threads, c.n, c.work, i, got, want)
				}
			}
		}
	}
}

// TestParallelNested runs Linear and Parallel inside Parallel's items, as a
// model run inside a Parallel would: at 2 threads the pool's one worker is
// busy with an item, so nested work must not wait for it. The results must
// be the serial run's, and a deadlock fails the test instead of hanging it.
func TestParallelNested(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(13, 14))
	items, n, rows, cols := 8, 9, 64, 300 // each Linear is 9*64*300 > 1<<17 multiply-adds: split
	var ms []*Matrix
	for _, dt := range []DType{F32, F16, Int8} {
		m, err := Quantize(rows, cols, randSlice(r, rows*cols), dt, 0)
		require.NoError(t, err)
		ms = append(ms, m)
	}
	x := randSlice(r, items*n*cols)
	run := func() []float32 {
		out := make([]float32, items*len(ms)*n*rows)
		sums := make([]float32, items*rows)
		Parallel(items, 1<<20, func(i int) {
			for k, m := range ms {
				dst := out[(i*len(ms)+k)*n*rows : (i*len(ms)+k+1)*n*rows]
				m.Linear(dst, x[i*n*cols:(i+1)*n*cols], n, nil)
			}
			// A nested Parallel over the item's first output.
			Parallel(rows, 1<<16, func(j int) {
				for row := range n {
					sums[i*rows+j] += out[i*len(ms)*n*rows+row*rows+j]
				}
			})
		})
		return append(out, sums...)
	}
	SetThreads(1)
	want := run()
	for _, threads := range []int{2, 4} {
		SetThreads(threads)
		done := make(chan []float32, 1)
		go func() {
			var got []float32
			for range 10 {
				got = run()
			}
			done <- got
		}()
		select {
		case got := <-done:
			requireClose(t, fmt.Sprintf("threads%d", threads), want, got, 0)
		case <-time.After(30 * time.Second):
			t.Fatalf("threads %d: nested Parallel and Linear did not finish in 30 s (deadlock)", threads)
		}
	}
}
