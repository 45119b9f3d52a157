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
