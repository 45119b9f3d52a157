//go:build js && wasm

package quant

import "unsafe"

// The element-wise kernels on the SIMD module (see
// linear_wasm.go for how it is linked in). A call through the host costs
// about 100 ns, what Go's loops spend on two or three elements of exp, so
// only the shortest slices (a causal softmax's first rows) stay in Go.

//go:wasmimport clip4clip_simd exp
func simdExp(p unsafe.Pointer, n int32) int32

//go:wasmimport clip4clip_simd quick_gelu
func simdQuickGELU(p unsafe.Pointer, n int32) int32

//go:wasmimport clip4clip_simd softmax
func simdSoftmax(p unsafe.Pointer, n int32) int32

//go:wasmimport clip4clip_simd layer_norm
func simdLayerNorm(dst, x unsafe.Pointer, n, d int32, w, b unsafe.Pointer, eps float32) int32

//go:wasmimport clip4clip_simd add
func simdAdd(dst, src unsafe.Pointer, n int32) int32

// minSIMD is the shortest slice sent to the SIMD module.
const minSIMD = 4

func init() {
	expKernel = func(x []float32) bool {
		return len(x) >= minSIMD && simdExp(unsafe.Pointer(&x[0]), int32(len(x))) != 0
	}
	quickGELUKernel = func(x []float32) bool {
		return len(x) >= minSIMD && simdQuickGELU(unsafe.Pointer(&x[0]), int32(len(x))) != 0
	}
	softmaxKernel = func(x []float32) bool {
		return len(x) >= minSIMD && simdSoftmax(unsafe.Pointer(&x[0]), int32(len(x))) != 0
	}
	layerNormKernel = func(dst, x []float32, n, d int, w, b []float32, eps float32) bool {
		return n*d >= minSIMD && simdLayerNorm(unsafe.Pointer(&dst[0]), unsafe.Pointer(&x[0]), int32(n), int32(d),
			unsafe.Pointer(&w[0]), unsafe.Pointer(&b[0]), eps) != 0
	}
	addKernel = func(dst, src []float32) bool {
		return len(dst) >= minSIMD && simdAdd(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), int32(len(dst))) != 0
	}
}
