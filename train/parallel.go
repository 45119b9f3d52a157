package train

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threads is how many goroutines the training kernels split work over.
var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines the training kernels use (GOMAXPROCS
// by default). Results depend only on this number, not on scheduling.
func SetThreads(n int) { threads.Store(int32(max(1, n))) }

// Threads returns the number set by SetThreads.
func Threads() int { return int(threads.Load()) }

// minParallelWork is the work (about one unit per multiply-add) below which
// starting goroutines costs more than it saves.
const minParallelWork = 1 << 15

// parallelFor calls fn over [0, n) split into one contiguous chunk per
// thread, and waits. cost estimates the work of one index. The chunks
// depend only on n and Threads, so every reduction an op does per chunk
// comes out the same from run to run.
func parallelFor(n, cost int, fn func(lo, hi int)) {
	w := min(Threads(), n)
	if w <= 1 || n*cost < minParallelWork {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for t := 1; t < w; t++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(n*t/w, n*(t+1)/w)
	}
	fn(0, n/w)
	wg.Wait()
}

// KernelName says which matrix micro-kernel runs: "avx512", "avx2" or "go".
func KernelName() string { return kern.name }
