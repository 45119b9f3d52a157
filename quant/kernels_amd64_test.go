//go:build !purego

package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// paths returns the kernel paths this CPU runs, the Go kernel first.
func paths() []kernelPath { return cpuPaths }

// withPath runs f with the kernels of p, then restores the default.
func withPath(p kernelPath, f func()) {
	old := path
	setPath(p)
	defer setPath(old)
	f()
}

// linearQ8Ref is what the amd64 int8 kernels compute: x quantized per row
// by quantizeRowRef, exact integer dots per block, scaled in float32.
func linearQ8Ref(m *Matrix, dst, x []float32, n int, bias []float32) {
	nb := (m.Cols + m.Block - 1) / m.Block
	q := make([]int8, m.Cols)
	for i := 0; i < n; i++ {
		xs := quantizeRowRef(q, x[i*m.Cols:(i+1)*m.Cols])
		for j := 0; j < m.Rows; j++ {
			var d float32
			if bias != nil {
				d = bias[j]
			}
			for b := 0; b < nb; b++ {
				var acc int32
				for k := b * m.Block; k < min((b+1)*m.Block, m.Cols); k++ {
					acc += int32(q[k]) * int32(m.I8[j*m.Cols+k])
				}
				d += float32(acc) * m.Scales[j*nb+b] * xs
			}
			dst[i*m.Rows+j] = d
		}
	}
}

// kernelShapes are seeded random (n, out, in) with every edge of the
// kernels' blocks: n around multiples of 4, out around multiples of 3, 4
// and 6, in around multiples of 8, 16, 32 and 64, and ones.
func kernelShapes() [][3]int {
	shapes := [][3]int{{1, 1, 1}, {1, 7, 3}, {2, 6, 16}, {3, 5, 9}, {4, 16, 16}, {5, 33, 65}, {9, 130, 67},
		{50, 96, 128}, {77, 64, 200}, {1, 13, 64}, {4, 6, 63}, {7, 12, 129}, {10, 50, 768}, {3, 9, 1}}
	r := rand.New(rand.NewPCG(7, 8))
	for len(shapes) < 40 {
		shapes = append(shapes, [3]int{1 + r.IntN(20), 1 + r.IntN(40), 1 + r.IntN(300)})
	}
	return shapes
}

// TestKernelsMatchRef runs every dtype through every kernel path the CPU
// has, at 1 and 3 threads, with K split into small column blocks (so the
// accumulating calls run) and whole: f32 and f16 against LinearRef, int8
// against linearQ8Ref (the Go path against LinearRef).
func TestKernelsMatchRef(t *testing.T) {
	defer SetThreads(Threads())
	defer func(a, b int) { kcF32, kcF16 = a, b }(kcF32, kcF16)
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range paths() {
		for _, kc := range []int{32, 2048} {
			kcF32, kcF16 = kc, kc
			for _, threads := range []int{1, 3} {
				SetThreads(threads)
				for _, dt := range []DType{F32, F16, Int8} {
					for _, block := range []int{0, 32, 64, 128} {
						if dt != Int8 && block != 0 {
							continue
						}
						for _, sh := range kernelShapes() {
							n, rows, cols := sh[0], sh[1], sh[2]
							name := fmt.Sprintf("%v/kc%d/threads%d/%v/block%d/n%d_%dx%d", p, kc, threads, dt, block, n, rows, cols)
							m, err := Quantize(rows, cols, randSlice(r, rows*cols), dt, block)
							require.NoError(t, err)
							x, bias := randSlice(r, n*cols), randSlice(r, rows)
							if r.IntN(4) == 0 {
								bias = nil
							}
							got, want := make([]float32, n*rows+1), make([]float32, n*rows+1)
							got[n*rows], want[n*rows] = 42, 42 // nothing past dst
							withPath(p, func() { m.Linear(got[:n*rows], x, n, bias) })
							if dt == Int8 && p != pathGo {
								linearQ8Ref(m, want, x, n, bias)
								requireClose(t, name, want, got, 2e-5*math.Sqrt(float64(cols)))
							} else {
								LinearRef(m, want, x, n, bias)
								requireClose(t, name, want, got, 1e-4*math.Sqrt(float64(cols)))
							}
						}
					}
				}
			}
		}
	}
}

// TestQuantizeKernels checks the assembly activation quantizers against
// quantizeRowRef bit for bit, zero rows and ragged lengths included.
func TestQuantizeKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 768, 3072} {
		n := 5
		x := randSlice(r, n*k)
		for i := range x {
			x[i] *= float32(1 + r.IntN(100)) // wide ranges, and ties after scaling
		}
		clear(x[2*k : 3*k]) // a zero row
		want := make([]int8, n*k)
		wantS := make([]float32, n)
		for i := 0; i < n; i++ {
			wantS[i] = quantizeRowRef(want[i*k:(i+1)*k], x[i*k:(i+1)*k])
		}
		c := &linearCall{m: &Matrix{Rows: 1, Cols: k}, x: x, n: n}
		for _, p := range paths()[1:] {
			c.ldq = (k + 63) &^ 63
			c.growQ()
			switch p {
			case pathAVX512:
				quantizeAVX512(&c.xq[0], c.ldq, &x[0], k, n, k, &c.xscale[0])
				for i := range c.xq {
					c.xq[i] ^= 0x80
				}
			case pathAVXVNNI:
				quantize2(c, 0x80808080)
				for i := range c.xq {
					c.xq[i] ^= 0x80
				}
			default:
				quantize2(c, 0)
			}
			for i := 0; i < n; i++ {
				require.Equal(t, wantS[i], c.xscale[i], "%v k %d row %d scale", p, k, i)
				for j := 0; j < k; j++ {
					require.Equal(t, want[i*k+j], int8(c.xq[i*c.ldq+j]), "%v k %d row %d col %d (x %g)", p, k, i, j, x[i*k+j])
				}
			}
		}
	}
}

// BenchmarkKernels measures each path on the ViT-B/32 matrix products:
// image (50 tokens, width 768) and text (77 tokens, width 512), one thread.
func BenchmarkKernels(b *testing.B) {
	defer SetThreads(Threads())
	SetThreads(1)
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range []struct {
		name          string
		n, rows, cols int
	}{{"qkv50", 50, 2304, 768}, {"fc50", 50, 3072, 768}, {"proj50", 50, 768, 3072}, {"fc77", 77, 2048, 512}} {
		w := randSlice(r, sh.rows*sh.cols)
		x := randSlice(r, sh.n*sh.cols)
		bias := randSlice(r, sh.rows)
		dst := make([]float32, sh.n*sh.rows)
		for _, dt := range []DType{F32, F16, Int8} {
			m, _ := Quantize(sh.rows, sh.cols, w, dt, 0)
			for _, p := range paths() {
				b.Run(fmt.Sprintf("%s/%v/%v", sh.name, dt, p), func(b *testing.B) {
					withPath(p, func() {
						b.ReportAllocs()
						for b.Loop() {
							m.Linear(dst, x, sh.n, bias)
						}
					})
					b.ReportMetric(2*float64(sh.n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkKernelsCold cycles through 400 MB of weights, as a model forward
// does, so W comes from memory rather than the last-level cache.
func BenchmarkKernelsCold(b *testing.B) {
	defer SetThreads(Threads())
	SetThreads(1)
	r := rand.New(rand.NewPCG(5, 6))
	n, rows, cols := 50, 3072, 768
	w := randSlice(r, rows*cols)
	x := randSlice(r, n*cols)
	dst := make([]float32, n*rows)
	for _, dt := range []DType{F32, F16, Int8} {
		copies := 400 << 20 / (rows * cols * map[DType]int{F32: 4, F16: 2, Int8: 1}[dt])
		ms := make([]*Matrix, copies)
		for i := range ms {
			ms[i], _ = Quantize(rows, cols, w, dt, 0)
		}
		b.Run(dt.String(), func(b *testing.B) {
			i := 0
			for b.Loop() {
				ms[i%len(ms)].Linear(dst, x, n, nil)
				i++
			}
			b.ReportMetric(2*float64(n*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestMatMulTPaths runs TestMatMulT's cases on every kernel path.
func TestMatMulTPaths(t *testing.T) {
	for _, p := range paths() {
		withPath(p, func() { testMatMulT(t, p.String()+"/") })
	}
}

// TestLinearConcurrent runs Linear from several goroutines at once on shared
// matrices (one engine per goroutine), the int8 sums built by whichever
// call comes first; each result must equal the one computed alone.
func TestLinearConcurrent(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	r := rand.New(rand.NewPCG(9, 10))
	n, rows, cols := 13, 70, 150
	w := randSlice(r, rows*cols)
	var ms []*Matrix
	for _, dt := range []DType{F32, F16, Int8} {
		m, err := Quantize(rows, cols, w, dt, 0)
		require.NoError(t, err)
		ms = append(ms, m)
	}
	x := randSlice(r, n*cols)
	want := make([][]float32, len(ms))
	done := make(chan []float32)
	for g := 0; g < 4; g++ {
		go func() {
			for _, m := range ms {
				for range 20 {
					dst := make([]float32, n*rows)
					m.Linear(dst, x, n, nil)
					done <- dst
				}
			}
		}()
	}
	got := make([][]float32, 0, 4*20*len(ms))
	for range cap(got) {
		got = append(got, <-done)
	}
	for i, m := range ms {
		want[i] = make([]float32, n*rows)
		m.Linear(want[i], x, n, nil)
	}
	for _, g := range got {
		ok := false
		for _, w := range want {
			ok = ok || fmt.Sprint(g) == fmt.Sprint(w)
		}
		require.True(t, ok, "a concurrent result differs from every serial one")
	}
}

// TestSumI8 checks the assembly byte sum, used for the int8 corrections.
func TestSumI8(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{32, 33, 64, 100, 768, 3072} {
		w := make([]int8, n)
		for i := range w {
			w[i] = int8(r.IntN(255) - 127)
		}
		if n == 64 {
			for i := range w {
				w[i] = -127
			}
		}
		var want int64
		for _, v := range w[:n&^31] {
			want += int64(v)
		}
		require.Equal(t, want, sumI8AVX2(&w[0], n), "n %d", n)
	}
}

// TestInt8PanelsMatchDotForm checks i8AVX512P (per-row int8 weights,
// packed in panels of 64 columns) against i8AVX512, the dot form it
// replaced there: the same integer sums and the same float32 epilogue, so
// the outputs must agree bit for bit, at 1 and 3 threads, with and without
// bias, rows and columns on both sides of every panel and quad edge, n on
// both sides of the 5-row tiles.
func TestInt8PanelsMatchDotForm(t *testing.T) {
	if !slices.Contains(cpuPaths, pathAVX512) || !hasVNNI512 {
		t.Skip("this CPU has no AVX-512 VNNI: i8AVX512P cannot run here")
	}
	defer SetThreads(Threads())
	defer func(v bool) { packedI8 = v }(packedI8)
	r := rand.New(rand.NewPCG(11, 12))
	shapes := append(kernelShapes(), [3]int{6, 64, 4}, [3]int{11, 65, 5}, [3]int{5, 127, 255}, [3]int{50, 768, 768}, [3]int{16, 200, 3072})
	for _, threads := range []int{1, 3} {
		SetThreads(threads)
		for _, sh := range shapes {
			n, rows, cols := sh[0], sh[1], sh[2]
			m, err := Quantize(rows, cols, randSlice(r, rows*cols), Int8, 0)
			require.NoError(t, err)
			x, bias := randSlice(r, n*cols), randSlice(r, rows)
			if r.IntN(3) == 0 {
				bias = nil
			}
			got, want := make([]float32, n*rows+1), make([]float32, n*rows+1)
			got[n*rows], want[n*rows] = 42, 42
			withPath(pathAVX512, func() {
				packedI8 = false
				m.Linear(want[:n*rows], x, n, bias)
				packedI8 = true
				m.Linear(got[:n*rows], x, n, bias)
			})
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("threads %d, n%d_%dx%d: dst[%d] = %v from the panels, %v from the dot form", threads, n, rows, cols, i, got[i], want[i])
				}
			}
		}
	}
}
