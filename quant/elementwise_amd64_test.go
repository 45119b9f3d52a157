//go:build !purego

package quant

import "testing"

// eachKernel runs f under every kernel path this CPU has (go first), each
// as a subtest.
func eachKernel[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, f func(T)) {
	for _, p := range paths() {
		t.Run(p.String(), func(t T) {
			withPath(p, func() { f(t) })
		})
	}
}

// eachLinearPath runs f under every Linear kernel path the CPU has, with
// the reference of what the path's int8 kernels compute on x (linearQ8Ref),
// or nil where they multiply float32 x (the Go kernel).
func eachLinearPath(t *testing.T, f func(t *testing.T, q8 func(m *Matrix, dst, x []float32, n int, bias []float32))) {
	for _, p := range paths() {
		t.Run(p.String(), func(t *testing.T) {
			q8 := linearQ8Ref
			if p == pathGo {
				q8 = nil
			}
			withPath(p, func() { f(t, q8) })
		})
	}
}
