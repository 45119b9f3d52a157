//go:build js && wasm

package quant

import "testing"

// eachKernel runs f under every implementation of the element-wise kernels
// this platform has: Go's (the host's "none"), the SIMD128 and the relaxed
// SIMD module, each as a subtest (skipped where the host lacks it).
func eachKernel[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, f func(T)) {
	for _, v := range append([]struct {
		code    int32
		name    string
		relaxed bool
	}{{0, "go", false}}, simdVariants...) {
		t.Run(v.name, func(t T) {
			useVariant(t, v.code, v.name)
			f(t)
		})
	}
}
