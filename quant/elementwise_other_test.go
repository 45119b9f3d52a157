//go:build !(js && wasm) && !(amd64 && !purego)

package quant

import "testing"

// eachKernel runs f under every implementation of the element-wise kernels
// this platform has: natively, the Go versions.
func eachKernel[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, f func(T)) {
	f(t)
}

// eachLinearPath runs f under every Linear kernel path: here Go's, which
// multiplies float32 x (no int8 reference, nil).
func eachLinearPath(t *testing.T, f func(t *testing.T, q8 func(m *Matrix, dst, x []float32, n int, bias []float32))) {
	f(t, nil)
}
