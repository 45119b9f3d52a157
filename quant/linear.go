package quant

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Linear computes dst = x @ m^T + bias: x is (n, Cols), dst is (n, Rows),
// bias is nil or (Rows). It is nn.Linear's forward for any dtype, split over
// the package's worker goroutines when the product is large enough.
func (m *Matrix) Linear(dst, x []float32, n int, bias []float32) {
	if len(x) < n*m.Cols || len(dst) < n*m.Rows || (bias != nil && len(bias) != m.Rows) {
		panic(fmt.Sprintf("quant: Linear of (%d, %d) by %d rows: x %d, dst %d, bias %d", m.Rows, m.Cols, n, len(x), len(dst), len(bias)))
	}
	work := n * m.Rows * m.Cols
	workers := Threads()
	sp := getScratch(m.Cols)
	defer scratchPool.Put(sp)
	if workers <= 1 || work < 1<<17 || m.Rows < 2*workers {
		linearRows(m, dst, x, n, bias, 0, m.Rows, *sp)
		return
	}
	var wg sync.WaitGroup
	chunk := (m.Rows + workers - 1) / workers
	chunk = (chunk + 3) &^ 3
	for lo := chunk; lo < m.Rows; lo += chunk {
		wg.Add(1)
		pool.jobs <- job{m: m, dst: dst, x: x, bias: bias, n: n, lo: lo, hi: min(lo+chunk, m.Rows), wg: &wg}
	}
	linearRows(m, dst, x, n, bias, 0, min(chunk, m.Rows), *sp)
	wg.Wait()
}

// linearKernel, when a platform file sets it (linear_wasm.go), computes
// output columns [lo, hi) as linearRows does and reports whether it did;
// false (a format it does not handle, no SIMD) leaves them to linearRows.
var linearKernel func(m *Matrix, dst, x []float32, n int, bias []float32, lo, hi int, scratch []float32) bool

// linearRows computes output columns [lo, hi) of dst. scratch (len >= Cols)
// receives one widened weight row at a time for f16 and int8.
func linearRows(m *Matrix, dst, x []float32, n int, bias []float32, lo, hi int, scratch []float32) {
	if linearKernel != nil && linearKernel(m, dst, x, n, bias, lo, hi, scratch) {
		return
	}
	in, out := m.Cols, m.Rows
	w := scratch[:in]
	for j := lo; j < hi; j++ {
		switch m.DType {
		case F32:
			w = m.F32[j*in : (j+1)*in]
		default:
			m.Row(w, j)
		}
		var b float32
		if bias != nil {
			b = bias[j]
		}
		i := 0
		for ; i+4 <= n; i += 4 {
			s0, s1, s2, s3 := dot4(w, x[i*in:(i+1)*in], x[(i+1)*in:(i+2)*in], x[(i+2)*in:(i+3)*in], x[(i+3)*in:(i+4)*in])
			dst[i*out+j] = s0 + b
			dst[(i+1)*out+j] = s1 + b
			dst[(i+2)*out+j] = s2 + b
			dst[(i+3)*out+j] = s3 + b
		}
		for ; i < n; i++ {
			dst[i*out+j] = dot(w, x[i*in:(i+1)*in]) + b
		}
	}
}

// dot returns sum_k a[k]*b[k], four partial sums to shorten the dependency chain.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(a); k += 4 {
		s0 += a[k] * b[k]
		s1 += a[k+1] * b[k+1]
		s2 += a[k+2] * b[k+2]
		s3 += a[k+3] * b[k+3]
	}
	for ; k < len(a); k++ {
		s0 += a[k] * b[k]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4 returns the dots of w with four rows at once, so each weight load
// serves four multiply-adds.
func dot4(w, x0, x1, x2, x3 []float32) (s0, s1, s2, s3 float32) {
	n := len(w)
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	var t0, t1, t2, t3 float32
	k := 0
	for ; k+2 <= n; k += 2 {
		a, b := w[k], w[k+1]
		s0 += a * x0[k]
		s1 += a * x1[k]
		s2 += a * x2[k]
		s3 += a * x3[k]
		t0 += b * x0[k+1]
		t1 += b * x1[k+1]
		t2 += b * x2[k+1]
		t3 += b * x3[k+1]
	}
	if k < n {
		a := w[k]
		s0 += a * x0[k]
		s1 += a * x1[k]
		s2 += a * x2[k]
		s3 += a * x3[k]
	}
	return s0 + t0, s1 + t1, s2 + t2, s3 + t3
}

// LinearRef is the reference for Linear: one float64-accumulated dot per
// output, weights dequantized element by element. Slow and obviously right.
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

// The worker pool: Threads()-1 goroutines that take row ranges of a Linear;
// the calling goroutine does the first range itself.
type job struct {
	m            *Matrix
	dst, x, bias []float32
	n, lo, hi    int
	wg           *sync.WaitGroup
}

var pool struct {
	mu      sync.Mutex
	threads atomic.Int32
	jobs    chan job
	started int
}

var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns a buffer of n floats for the calling goroutine, to be
// put back in scratchPool when done: Linear may run on many goroutines at
// once (one engine each), so the scratch cannot be global.
func getScratch(n int) *[]float32 {
	p := scratchPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func init() { SetThreads(runtime.GOMAXPROCS(0)) }

// SetThreads sets how many goroutines (the caller included) share one
// Linear. 1 makes every kernel run on the calling goroutine.
func SetThreads(n int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	n = max(1, n)
	pool.threads.Store(int32(n))
	if pool.jobs == nil {
		pool.jobs = make(chan job, 64)
	}
	for ; pool.started < n-1; pool.started++ {
		go worker()
	}
}

// Threads returns the number set by SetThreads (GOMAXPROCS by default).
func Threads() int { return int(pool.threads.Load()) }

func worker() {
	var scratch []float32
	for j := range pool.jobs {
		if cap(scratch) < j.m.Cols {
			scratch = make([]float32, j.m.Cols)
		}
		linearRows(j.m, j.dst, j.x, j.n, j.bias, j.lo, j.hi, scratch)
		j.wg.Done()
	}
}
