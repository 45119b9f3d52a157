package quant

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Linear computes dst = x @ m^T + bias: x is (n, Cols), dst is (n, Rows),
// bias is nil or (Rows). It is nn.Linear's forward for any dtype, split over
// the package's worker goroutines when the product is large enough. Where a
// platform kernel runs (kernels_amd64.go, linear_wasm.go), int8 weights
// multiply x quantized per row to int8 (dynamic quantization), as
// onnxruntime's MatMulInteger, except for the few outlier columns of x that
// would set the step, which are multiplied in float32 (outlier.go).
func (m *Matrix) Linear(dst, x []float32, n int, bias []float32) {
	if len(x) < n*m.Cols || len(dst) < n*m.Rows || (bias != nil && len(bias) != m.Rows) {
		panic(fmt.Sprintf("quant: Linear of (%d, %d) by %d rows: x %d, dst %d, bias %d", m.Rows, m.Cols, n, len(x), len(dst), len(bias)))
	}
	if n == 0 || m.Rows == 0 {
		return
	}
	c := getCall()
	c.m, c.dst, c.x, c.n, c.bias, c.total = m, dst, x, n, bias, m.Rows
	c.kern, c.align = goKernel, 4
	if m.DType == Int8 && quantizesX != nil && quantizesX(m) {
		c.splitOutliers() // may point c.x at a copy without the outlier columns
	}
	if platformKernel != nil {
		if k, align := platformKernel(c); k != nil {
			c.kern, c.align = k, align
		}
	}
	if cap(c.scratch) < m.Cols {
		c.scratch = make([]float32, m.Cols)
	}
	scratch := c.scratch[:m.Cols]
	workers := Threads()
	if workers <= 1 || n*m.Rows*m.Cols < 1<<17 || m.Rows < 2*workers {
		c.work(0, m.Rows, scratch)
	} else {
		// Ranges of about Rows/(4*workers) columns, claimed in turn, so a
		// goroutine slowed by other work on its core takes fewer of them.
		chunk := (m.Rows + 4*workers - 1) / (4 * workers)
		chunk = max(c.align, (chunk+c.align-1)/c.align*c.align)
		c.chunk = chunk
		c.next.Store(0)
		helpers := claimIdle(min(workers-1, (m.Rows+chunk-1)/chunk-1))
		c.wg.Add(helpers)
		for range helpers {
			pool.jobs <- c
		}
		c.run(scratch)
		c.wg.Wait()
	}
	c.m, c.dst, c.x, c.bias, c.nout = nil, nil, nil, nil, 0
	putCall(c)
}

// work computes output columns [lo, hi): the kernel, then the outlier
// columns' float32 product if splitOutliers found any.
func (c *linearCall) work(lo, hi int, scratch []float32) {
	c.kern(c, lo, hi, scratch)
	if c.nout > 0 {
		c.addOutliers(lo, hi)
	}
}

// A linearCall is one Linear in flight, shared by the goroutines that
// compute its ranges of output columns.
type linearCall struct {
	m            *Matrix
	dst, x, bias []float32
	n            int
	total        int              // items to share out: output columns, or Parallel's items
	fn           func(lo, hi int) // Parallel's work on items [lo, hi), instead of kern
	kern         rangeKernel      // computes output columns [lo, hi)
	align        int              // column block of kern; ranges are multiples of it
	chunk        int              // columns claimed at a time
	next         atomic.Int64
	wg           sync.WaitGroup

	// What a platform kernel prepares once per call, before the split.
	xq     []byte    // x quantized per row, (n, ldq) bytes
	ldq    int       // row stride of xq
	xscale []float32 // (n) scale of each row of xq
	xinv   []float32 // (n) 1/scale, or 0 for a zero row

	scratch []float32 // the calling goroutine's scratch for linearRows

	// Outlier columns of x (splitOutliers), for the int8 kernels.
	nout        int              // how many; 0: none, x goes to the kernels whole
	outCols     [maxOutliers]int // which, in increasing order
	rsum, ramax []float32        // (n) sum and max of |x| per row
	score       []float32        // (Cols) scratch of outlierColumns, kept zero
	xz          []float32        // (n, Cols) x with the outlier columns zeroed
	xo          []float32        // (n, maxOutliers) the outlier columns of x, zero-padded
	wo          []float32        // (Rows, maxOutliers) their dequantized weights, zero-padded
	otmp        []float32        // (n, Rows) xo @ wo^T
}

// rangeKernel computes output columns [lo, hi) of c's product. scratch holds
// at least c.m.Cols floats private to the calling goroutine.
type rangeKernel func(c *linearCall, lo, hi int, scratch []float32)

// platformKernel, set by a platform file's init (kernels_amd64.go), returns a
// kernel for c.m and the column block it works in, after preparing c (for
// example quantizing x into c.xq); nil means linearRows.
var platformKernel func(c *linearCall) (rangeKernel, int)

// linearKernel, when a platform file sets it (linear_wasm.go), computes
// output columns [lo, hi) as linearRows does and reports whether it did;
// false (a format it does not handle, no SIMD) leaves them to linearRows.
var linearKernel func(m *Matrix, dst, x []float32, n int, bias []float32, lo, hi int, scratch []float32) bool

// goKernel is the rangeKernel of linearRows (which asks linearKernel first).
func goKernel(c *linearCall, lo, hi int, scratch []float32) {
	linearRows(c.m, c.dst, c.x, c.n, c.bias, lo, hi, scratch)
}

// freeCalls keeps finished calls with their buffers (a sync.Pool would drop
// them at every GC, and the quantized x with them).
var freeCalls = make(chan *linearCall, 64)

func getCall() *linearCall {
	select {
	case c := <-freeCalls:
		return c
	default:
		return new(linearCall)
	}
}

func putCall(c *linearCall) {
	select {
	case freeCalls <- c:
	default:
	}
}

// run claims ranges of c.chunk columns until none are left.
func (c *linearCall) run(scratch []float32) {
	for {
		lo := int(c.next.Add(int64(c.chunk))) - c.chunk
		if lo >= c.total {
			return
		}
		hi := min(lo+c.chunk, c.total)
		if c.fn != nil {
			c.fn(lo, hi)
		} else {
			c.work(lo, hi, scratch)
		}
	}
}

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

// The worker pool: Threads()-1 goroutines that help with the Linear calls
// sent to them; the calling goroutine works on its own call too.
var pool struct {
	mu      sync.Mutex
	threads atomic.Int32
	jobs    chan *linearCall
	started int

	// idle counts the workers free to take a call, less the calls sent
	// to them and not yet received. A call goes only to a worker claimed
	// here (claimIdle), so every call sent has a worker that will take it:
	// a Linear or Parallel run from inside a Parallel item (or from a
	// worker's range) gets the workers that are idle, and runs inline if
	// none is, instead of waiting for the busy worker that is running it.
	idle atomic.Int32
}

// claimIdle claims up to want idle workers and returns how many it got;
// the caller must send one call to pool.jobs for each.
func claimIdle(want int) int {
	for want > 0 {
		n := pool.idle.Load()
		if n <= 0 {
			return 0
		}
		got := min(int32(want), n)
		if pool.idle.CompareAndSwap(n, n-got) {
			return int(got)
		}
	}
	return 0
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
		pool.jobs = make(chan *linearCall, 64)
	}
	for ; pool.started < n-1; pool.started++ {
		go worker()
	}
}

// Threads returns the number set by SetThreads (GOMAXPROCS by default).
func Threads() int { return int(pool.threads.Load()) }

func worker() {
	var scratch []float32
	pool.idle.Add(1)
	for {
		c := nextJob()
		if c.fn != nil {
			c.run(nil)
		} else {
			if cap(scratch) < c.m.Cols {
				scratch = make([]float32, c.m.Cols)
			}
			c.run(scratch[:c.m.Cols])
		}
		// Idle again before Done, so the caller's next call, which may
		// come the moment Wait returns, finds this worker free.
		pool.idle.Add(1)
		c.wg.Done()
	}
}

// Parallel runs f(0), ..., f(n-1), each once, shared out over the package's
// threads (SetThreads) when n items of about work multiply-adds each are
// worth it; on one thread, in order on the calling goroutine. The items
// must be independent. An item may call Linear or Parallel: the nested
// call shares its work with the workers idle at the time, and runs on the
// item's goroutine alone if none is.
func Parallel(n, work int, f func(i int)) {
	threads := min(Threads(), n)
	if threads <= 1 || n*work < 1<<16 {
		for i := range n {
			f(i)
		}
		return
	}
	// The Linear pool's idle workers take the items, one at a time: they
	// are polling for work right after a Linear, so no goroutine has to
	// wake.
	c := getCall()
	c.total, c.chunk = n, 1
	c.fn = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	}
	c.next.Store(0)
	helpers := claimIdle(threads - 1)
	c.wg.Add(helpers)
	for range helpers {
		pool.jobs <- c
	}
	c.run(nil)
	c.wg.Wait()
	c.fn = nil
	putCall(c)
}

// spinFor is how long an idle worker polls for the next call before it
// blocks on the channel. The Linear calls of one forward pass come tens to
// hundreds of microseconds apart, and waking a blocked goroutine costs the
// caller a futex call and the worker about as long again: in an int8
// ViT-B/32 image on 2 threads that was 3 ms of the caller's 19 (and the
// worker came too late for most columns). Polling took the image from
// 18.4-18.9 to 16.3-16.9 ms on an idle machine; on a loaded one the spin is
// bounded by spinFor after each call.
const spinFor = 200 * time.Microsecond

// nextJob returns the next call for a worker, polling for up to spinFor
// (yielding to the process's other goroutines now and then) before it
// blocks.
func nextJob() *linearCall {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case c := <-pool.jobs:
			return c
		default:
		}
		if i%32 == 31 {
			if time.Since(start) > spinFor {
				return <-pool.jobs
			}
			runtime.Gosched()
		}
	}
}
