//go:build !amd64 || purego

package train

// kernels lists the micro-kernels this CPU runs: the portable one.
func kernels() []microKernel { return []microKernel{kern} }

// geluBackward32 has no fast path here: it does 0 elements.
func geluBackward32(d, inp []float32) int { return 0 }
