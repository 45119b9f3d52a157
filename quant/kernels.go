package quant

import (
	"fmt"
	"slices"
	"strings"
)

// Kernels lists the sets of kernels this machine runs, Go's own first and
// the fastest last (the one chosen at start-up, unless CLIP4CLIP_KERNEL or
// CLIP4CLIP_SIMD asked for another): on amd64 "go", "avx2", "avxvnni" and
// "avx512" as the CPU has them; under js/wasm "go", "simd128", "relaxed"
// and "relaxed-pair" (relaxed SIMD with the int8 kernel that rounds x to 6
// bits, see quant/simd/gen.mjs) as the host provides them. Each set computes the same
// products; the int8 ones differ in how they round the activations (see
// Matrix.Linear), so their results agree to within that rounding.
func Kernels() []string { return kernelNames() }

// Kernel names the set of kernels in use.
func Kernel() string { return kernelName() }

// UseKernel selects the set of kernels name (one of Kernels) for every
// later product and returns the name of the set it replaces. It must not
// be called while a product runs; tests and benchmarks use it to compare
// the sets on one machine.
func UseKernel(name string) (old string, err error) {
	old = Kernel()
	if !slices.Contains(Kernels(), name) {
		return old, fmt.Errorf("quant: this machine has no %q kernels; it has %s", name, strings.Join(Kernels(), ", "))
	}
	useKernel(name)
	return old, nil
}
