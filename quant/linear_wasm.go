//go:build js && wasm

package quant

import (
	"sync"
	"unsafe"
)

// Under js/wasm, Linear and MatMulT run WebAssembly SIMD kernels (and
// the element-wise ops, elementwise_wasm.go). Go's wasm backend
// emits no SIMD, so the kernels are a second, hand-written module
// (quant/simd: gen.mjs generates the text, kernels_*.wasm are committed)
// that imports this instance's memory and works on the slices in place:
// Go's heap does not move, so a pointer is its byte address.
//
// The host links them in as the import module "clip4clip_simd". Every host
// that runs a binary using quant must provide it: quant/simd/kernels.js
// does, for the browser and for tools/wasmexec (go test in Node). Each call
// covers a whole Linear (or a worker's range of output columns), so the
// trip through the host's trampoline is paid once per matrix product.
// A kernel returns 0 when it declines (no SIMD in the engine, an int8 block
// size it does not handle), and linearRows then runs the Go kernel.

//go:wasmimport clip4clip_simd linear_f32
func simdLinearF32(w, x, dst, bias unsafe.Pointer, n, in, out, lo, hi int32) int32

//go:wasmimport clip4clip_simd linear_f16
func simdLinearF16(w, x, dst, bias unsafe.Pointer, n, in, out, lo, hi int32, scratch unsafe.Pointer) int32

//go:wasmimport clip4clip_simd linear_i8
func simdLinearI8(w, scales unsafe.Pointer, nb, block int32, x, dst, bias unsafe.Pointer, n, in, out, lo, hi int32, scratch unsafe.Pointer) int32

//go:wasmimport clip4clip_simd matmul_t
func simdMatMulT(a unsafe.Pointer, lda int32, b unsafe.Pointer, ldb int32, dst unsafe.Pointer, ldd int32, m, n, k int32) int32

// simdVariant returns the host's kernels: 0 none (Go's), 1 SIMD128, 2 relaxed SIMD,
// 3 relaxed SIMD with the paired int8 kernel (x in 6 bits; see quant/simd/gen.mjs).
//
//go:wasmimport clip4clip_simd variant
func simdVariant() int32

// simdUse selects kernels by simdVariant's codes; 0 if the host lacks them.
//
//go:wasmimport clip4clip_simd use
func simdUse(v int32) int32

func init() {
	linearKernel = linearSIMD
	// Both SIMD variants quantize x per row (SIMD128 to int16, relaxed to
	// 7 bits); Go's kernel does not.
	quantizesX = func(*Matrix) bool { return simdVariant() != 0 }
	matMulTKernel = func(dst []float32, ldd int, a []float32, lda int, b []float32, ldb int, m, n, k int) bool {
		return simdMatMulT(unsafe.Pointer(&a[0]), int32(lda), unsafe.Pointer(&b[0]), int32(ldb),
			unsafe.Pointer(&dst[0]), int32(ldd), int32(m), int32(n), int32(k)) != 0
	}
}

// linearSIMD is linearRows through the SIMD kernels. The int8 kernels
// quantise x per row (see quant/simd/gen.mjs), so their results differ
// from the Go kernel's by that rounding as well.
func linearSIMD(m *Matrix, dst, x []float32, n int, bias []float32, lo, hi int, _ []float32) bool {
	if n <= 0 || m.Cols == 0 || lo >= hi {
		return false
	}
	in, out := m.Cols, m.Rows
	var pb unsafe.Pointer
	if bias != nil {
		pb = unsafe.Pointer(&bias[0])
	}
	px, pd := unsafe.Pointer(&x[0]), unsafe.Pointer(&dst[0])
	switch m.DType {
	case F32:
		return simdLinearF32(unsafe.Pointer(&m.F32[0]), px, pd, pb, int32(n), int32(in), int32(out), int32(lo), int32(hi)) != 0
	case F16:
		sp := simdScratch.get(4 * in) // 4 rows of W widened to f32
		defer simdScratch.put(sp)
		return simdLinearF16(unsafe.Pointer(&m.F16[0]), px, pd, pb, int32(n), int32(in), int32(out), int32(lo), int32(hi), unsafe.Pointer(&(*sp)[0])) != 0
	case Int8:
		// x quantized (n rows of ceil16(in) int16 at most), its scales and
		// zero points, per block the scales and sums of 4 rows of W, and
		// 4 rows of W widened to int16 (SIMD128).
		nb := (in + m.Block - 1) / m.Block
		kp := (in + 15) &^ 15
		sp := simdScratch.get((2*n*kp + 8*n + 32*nb + 8*kp + 64) / 4)
		defer simdScratch.put(sp)
		return simdLinearI8(unsafe.Pointer(&m.I8[0]), unsafe.Pointer(&m.Scales[0]), int32(nb), int32(m.Block),
			px, pd, pb, int32(n), int32(in), int32(out), int32(lo), int32(hi), unsafe.Pointer(&(*sp)[0])) != 0
	}
	return false
}

// simdScratch keeps the kernels' scratch buffers between calls: a free list
// rather than a sync.Pool, which would drop them at every GC.
var simdScratch scratchList

type scratchList struct {
	mu   sync.Mutex
	free []*[]float32
}

// get returns a buffer of at least n floats (n > 0).
func (l *scratchList) get(n int) *[]float32 {
	l.mu.Lock()
	var p *[]float32
	if k := len(l.free); k > 0 {
		p, l.free = l.free[k-1], l.free[:k-1]
	} else {
		p = new([]float32)
	}
	l.mu.Unlock()
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func (l *scratchList) put(p *[]float32) {
	l.mu.Lock()
	l.free = append(l.free, p)
	l.mu.Unlock()
}

// The kernel sets by simdVariant's codes.
var simdNames = [...]string{"go", "simd128", "relaxed", "relaxed-pair"}

func kernelNames() []string {
	cur := simdVariant()
	names := []string{"go"}
	for v := int32(1); v < int32(len(simdNames)); v++ {
		if simdUse(v) != 0 {
			names = append(names, simdNames[v])
		}
	}
	simdUse(cur)
	return names
}

func kernelName() string { return simdNames[simdVariant()] }

func useKernel(name string) {
	for v, n := range simdNames {
		if n == name {
			simdUse(int32(v))
		}
	}
}

//go:wasmimport clip4clip_simd dots_i8
func simdDotsI8(w unsafe.Pointer, cols int32, q, dst unsafe.Pointer, rows int32) int32

func init() {
	dotsKernel = func(dst []int32, w []int8, cols int, q []int16) bool {
		if len(dst) == 0 {
			return true
		}
		return simdDotsI8(unsafe.Pointer(&w[0]), int32(cols), unsafe.Pointer(&q[0]), unsafe.Pointer(&dst[0]), int32(len(dst))) != 0
	}
}
