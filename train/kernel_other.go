//go:build !amd64 || purego

package train

// The micro-kernels gemm uses, and the name of the set for logs.
var (
	kernel     = kernelGo
	kernelName = "go"
)

// geluForward32 has no fast path here: it does 0 elements.
func geluForward32(out, inp []float32) int { return 0 }

// geluBackward32 has no fast path here: it does 0 elements.
func geluBackward32(d, inp []float32) int { return 0 }
