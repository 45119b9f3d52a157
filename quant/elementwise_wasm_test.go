//go:build js && wasm

package quant

import "testing"

// eachKernel runs f under every implementation of the element-wise kernels
// this platform has: Go's (the host's "none"), the SIMD128 and the relaxed
// SIMD module, each as a subtest (skipped where the host lacks it; in the
// browser, a failure: see useVariant).
func eachKernel[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, f func(T)) {
	for _, v := range append([]simdKernels{{0, "go", 0}}, simdVariants...) {
		if v.name == "pair" {
			continue // the relaxed module's element-wise kernels, tested as "relaxed"
		}
		t.Run(v.name, func(t T) {
			useVariant(t, v.code, v.name)
			f(t)
		})
	}
}

// eachLinearPath runs f under every kernel variant of the host (go: Go's,
// which multiplies float32 x) with the reference of what the variant's
// int8 kernel computes on x (linearI8Ref), nil for go.
func eachLinearPath(t *testing.T, f func(t *testing.T, q8 func(m *Matrix, dst, x []float32, n int, bias []float32))) {
	for _, v := range append([]simdKernels{{0, "go", 0}}, simdVariants...) {
		t.Run(v.name, func(t *testing.T) {
			useVariant(t, v.code, v.name)
			var q8 func(m *Matrix, dst, x []float32, n int, bias []float32)
			if v.code != 0 {
				q8 = func(m *Matrix, dst, x []float32, n int, bias []float32) { linearI8Ref(m, dst, x, n, bias, v.top) }
			}
			f(t, q8)
		})
	}
}
