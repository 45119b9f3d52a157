//go:build !amd64 || purego

package train

// kernels lists the micro-kernels this CPU runs: the portable one.
func kernels() []microKernel { return []microKernel{kern} }

// geluForward32 has no fast path here: it does 0 elements.
func geluForward32(out, inp []float32) int { return 0 }

// geluBackward32 has no fast path here: it does 0 elements.
func geluBackward32(d, inp []float32) int { return 0 }
