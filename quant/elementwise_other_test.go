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
