//go:build !purego

package quant

import (
	"math"
	"os"
	"slices"
	"unsafe"
)

//go:generate go run kernels_gen_amd64.go

// The amd64 kernels of Linear (and MatMulT), chosen at start-up by the CPU's
// features: AVX-512 (F, BW, VL; VNNI for int8), else AVX2 with FMA and F16C
// (AVX-VNNI for int8 where present), else the Go kernel. int8 weights with a
// block that is not a multiple of 64 take the AVX2-class kernel under
// AVX-512 too. CLIP4CLIP_KERNEL=go or avx2 asks for a lesser path; -tags
// purego leaves this file out.
//
// Every assembly kernel (kernels_amd64.s, written by kernels_gen_amd64.go)
// computes one block of wrows consecutive output columns over all n rows of
// x, vectorised along k. With s(i, c) = sum over k < kmain (+ the masked
// tail) of x[i*ldx+k] * w[c*ldw+k], it does
//
//	for i := 0; i < n; i++ {
//		for c := 0; c < wrows; c++ {
//			if accum != 0 {
//				dst[i*ldd+c] += s(i, c)
//			} else {
//				dst[i*ldd+c] = s(i, c) + bias[c]
//			}
//		}
//	}
//
// where the int8 kernels' s is (sum of q(x)*w as int32 - corr[c]) * ws[c] * xs[i].
// The f32/f16 kernels' results differ from linearRows only by summation
// order; the int8 ones multiply x quantized per row (quantizeRowRef), as
// onnxruntime's dynamic quantization does.

// f32AVX512 is the AVX-512 kernel for f32 weights: wrows <= 6, kmain a
// multiple of 16, tail the mask of the k%16 columns after it.
//
//go:noescape
func f32AVX512(dst *float32, ldd int, x *float32, ldx, n int, w *float32, ldw, wrows, kmain int, tail uint64, bias *float32, accum int, pf unsafe.Pointer)

// f16AVX512 is f32AVX512 for IEEE half weights, widened in registers.
//
//go:noescape
func f16AVX512(dst *float32, ldd int, x *float32, ldx, n int, w *uint16, ldw, wrows, kmain int, tail uint64, bias *float32, accum int, pf unsafe.Pointer)

// i8AVX512 is the AVX-512 VNNI kernel for int8 weights: x holds q+128 per
// byte (quantizeAVX512), rows padded to a multiple of 64; kmain is a multiple
// of 64; corr[c] is 128 * the sum of the block's weights of row c.
//
//go:noescape
func i8AVX512(dst *float32, ldd int, x *byte, ldx, n int, w *int8, ldw, wrows, kmain int, tail uint64, bias *float32, accum int, xs, ws *float32, corr *int32, pf unsafe.Pointer)

// i8AVX512P is the broadcast form of i8AVX512 for per-row scales: w is one
// panel of packI8Panels (64 output columns), kq its k quads (a multiple of
// 4, x rows padded with zero points to 4*kq bytes), mask the valid columns
// of the panel; bias, ws and corr point at the panel's first column, and
// only the lanes of mask are read. It computes, for every row i < n and
// valid column c, dst[i, c] = (sum_k x[i, k] * w[c, k] - corr[c]) * ws[c] *
// xs[i] + bias[c], the same sums as i8AVX512 without its reduction.
//
//go:noescape
func i8AVX512P(dst *float32, ldd int, x *byte, ldx, n int, w *int8, kq int, mask uint64, bias, xs, ws *float32, corr *int32)

// quantizeAVX512 stores quantizeRowRef of each row of x (n, k) as bytes
// q+128 in dst (row stride ldd) and its scale in scales[i].
//
//go:noescape
func quantizeAVX512(dst *byte, ldd int, x *float32, ldx, n, k int, scales *float32)

// f32AVX2 is the AVX2+FMA kernel for f32 weights: wrows <= 3, kmain a
// multiple of 8 and no tail (the caller adds it).
//
//go:noescape
func f32AVX2(dst *float32, ldd int, x *float32, ldx, n int, w *float32, ldw, wrows, kmain int, bias *float32, accum int, pf unsafe.Pointer)

// f16AVX2 is f32AVX2 for IEEE half weights (F16C).
//
//go:noescape
func f16AVX2(dst *float32, ldd int, x *float32, ldx, n int, w *uint16, ldw, wrows, kmain int, bias *float32, accum int, pf unsafe.Pointer)

// i8AVX2 is the AVX2 kernel for int8 weights: x holds signed q, wrows <= 4,
// kmain a multiple of 32, no tail and no corr (x is not offset).
//
//go:noescape
func i8AVX2(dst *float32, ldd int, x *int8, ldx, n int, w *int8, ldw, wrows, kmain int, bias *float32, accum int, xs, ws *float32, pf unsafe.Pointer)

// quantizeAVX2 quantizes the first k&^31 columns of each row of x to bytes
// q ^ flip (0: signed q; 0x80808080: q+128), taking scales[i] in as max|x| over the rest of the row and leaving
// there the row's scale, and in inv[i] 127/max|x| (0 for a zero row).
//
//go:noescape
func quantizeAVX2(dst *byte, ldd int, x *float32, ldx, n, k int, scales, inv *float32, flip uint32)

// i8AVXVNNI is the AVX-VNNI kernel for int8 weights: x as for i8AVX512
// (q+128), wrows <= 3, kmain a multiple of 32, no tail (the caller adds it).
//
//go:noescape
func i8AVXVNNI(dst *float32, ldd int, x *byte, ldx, n int, w *int8, ldw, wrows, kmain int, bias *float32, accum int, xs, ws *float32, corr *int32, pf unsafe.Pointer)

// absStatsAVX2 sets sum[i] and amax[i] to the sum and the max of |x| over
// the first k&^7 columns of row i of x (n rows, stride ldx); 0 for k < 8.
//
//go:noescape
func absStatsAVX2(x *float32, ldx, n, k int, sum, amax *float32)

// sumI8AVX2 returns the sum of p[:n&^31].
//
//go:noescape
func sumI8AVX2(p *int8, n int) int64

// dotsAVX2 sets dst[r] to the dot of row r of w (rows, cols) with q over
// the first cols&^15 columns (DotsInt8's kernel; the caller adds the rest).
//
//go:noescape
func dotsAVX2(dst *int32, w *int8, rows, cols int, q *int16)

// dotsAsm is dotsKernel on amd64.
func dotsAsm(dst []int32, w []int8, cols int, q []int16) bool {
	if len(dst) == 0 {
		return true
	}
	km := cols &^ 15
	if km == 0 {
		return false
	}
	dotsAVX2(&dst[0], &w[0], len(dst), cols, &q[0])
	for r := range dst {
		s := dst[r]
		for k := km; k < cols; k++ {
			s += int32(w[r*cols+k]) * int32(q[k])
		}
		dst[r] = s
	}
	return true
}

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax uint32)

// kernelPath names a set of kernels.
type kernelPath uint8

const (
	pathGo      kernelPath = iota
	pathAVX2               // AVX2, FMA, F16C
	pathAVXVNNI            // pathAVX2, and AVX-VNNI for int8
	pathAVX512             // AVX-512 F, BW, VL, and VNNI for int8 where present
)

func (p kernelPath) String() string {
	return [...]string{"go", "avx2", "avxvnni", "avx512"}[p]
}

var (
	cpuPaths   []kernelPath // the paths the CPU runs, best last
	hasVNNI512 bool         // AVX512_VNNI
	hasAVXVNNI bool         // AVX-VNNI (VEX-encoded VPDPBUSD)
	path       kernelPath   // in use
)

func init() {
	cpuPaths, hasVNNI512, hasAVXVNNI = detectCPU()
	p := cpuPaths[len(cpuPaths)-1]
	switch os.Getenv("CLIP4CLIP_KERNEL") {
	case "go":
		p = pathGo
	case "avx2":
		p = pathAVXVNNI // AVX-VNNI if the CPU has it
	}
	setPath(p)
}

func kernelNames() []string {
	names := make([]string, len(cpuPaths))
	for i, p := range cpuPaths {
		names[i] = p.String()
	}
	return names
}

func kernelName() string { return path.String() }

func useKernel(name string) {
	for _, p := range cpuPaths {
		if p.String() == name {
			setPath(p)
		}
	}
}

// detectCPU reads CPUID and XCR0 (the OS must save the YMM, and for
// AVX-512 the opmask and ZMM, state).
func detectCPU() (paths []kernelPath, vnni512, avxvnni bool) {
	paths = []kernelPath{pathGo}
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return paths, false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	fma, osxsave, avx, f16c := ecx1&(1<<12) != 0, ecx1&(1<<27) != 0, ecx1&(1<<28) != 0, ecx1&(1<<29) != 0
	if !osxsave || !avx || !fma || !f16c {
		return paths, false, false
	}
	xcr0 := xgetbv()
	sub7, ebx7, ecx7, _ := cpuid(7, 0)
	if xcr0&6 != 6 || ebx7&(1<<5) == 0 {
		return paths, false, false
	}
	paths = append(paths, pathAVX2)
	if sub7 >= 1 {
		eax71, _, _, _ := cpuid(7, 1)
		if avxvnni = eax71&(1<<4) != 0; avxvnni {
			paths = append(paths, pathAVXVNNI)
		}
	}
	const f, bw, vl = 1 << 16, 1 << 30, 1 << 31
	if xcr0&0xe0 == 0xe0 && ebx7&(f|bw|vl) == f|bw|vl {
		paths = append(paths, pathAVX512)
		vnni512 = ecx7&(1<<11) != 0
	}
	return paths, vnni512, avxvnni
}

// HasAVX2 reports whether the CPU runs the AVX2 kernels: AVX2, FMA and
// F16C, with the OS saving the YMM state. Other packages' assembly (the
// training kernels) keys off it rather than reading CPUID again.
func HasAVX2() bool { return slices.Contains(cpuPaths, pathAVX2) }

// HasAVX512 reports whether the CPU runs the AVX-512 kernels: AVX-512 F,
// BW and VL, with the OS saving the opmask and ZMM state.
func HasAVX512() bool { return slices.Contains(cpuPaths, pathAVX512) }

// setPath selects the best path the CPU runs that is not above p (tests
// force each one).
func setPath(p kernelPath) {
	path = pathGo
	for _, q := range cpuPaths {
		if q <= p {
			path = q
		}
	}
	platformKernel, matMulTKernel, quantizesX, rowAbsStatsKernel, dotsKernel = nil, nil, nil, nil, nil
	if path != pathGo {
		dotsKernel = dotsAsm
		platformKernel, matMulTKernel = amd64Kernel, matMulTAsm
		quantizesX, rowAbsStatsKernel = int8QuantizesX, rowAbsStatsAsm
	}
	setElementwise(path)
}

// Column blocks of k (elements) that one kernel call covers, so that a
// block of W rows stays in L1 while x streams past.
var (
	kcF32 = 1024
	kcF16 = 2048
)

// zeros stands for a nil bias; zeros64 for a panel of i8AVX512P.
var (
	zeros   [8]float32
	zeros64 [64]float32
)

func biasAt(bias []float32, j int) *float32 {
	if bias == nil {
		return &zeros[0]
	}
	return &bias[j]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// amd64Kernel is platformKernel on amd64.
func amd64Kernel(c *linearCall) (rangeKernel, int) {
	m := c.m
	if m.Cols == 0 {
		return nil, 0
	}
	avx512 := path == pathAVX512
	switch m.DType {
	case F32:
		if avx512 {
			return f32Range512, 6
		}
		return f32Range2, 3
	case F16:
		if avx512 {
			return f16Range512, 6
		}
		return f16Range2, 3
	case Int8:
		if m.Block > 1<<16 {
			return nil, 0 // the int32 sums could overflow
		}
		m.int8Sums() // built here once, not by every worker
		if avx512 && hasVNNI512 && (m.Block == m.Cols || m.Block%64 == 0) {
			c.ldq = (m.Cols + 63) &^ 63
			c.growQ()
			quantizeAVX512(&c.xq[0], c.ldq, &c.x[0], m.Cols, c.n, m.Cols, &c.xscale[0])
			if m.Block == m.Cols && packedI8 {
				m.int8Panels(c.ldq) // built here once, not by every worker
				return i8RangePanels, 64
			}
			return i8Range512, 6
		}
		if m.Block == m.Cols || m.Block%32 == 0 {
			c.ldq = (m.Cols + 31) &^ 31
			c.growQ()
			if path >= pathAVXVNNI && hasAVXVNNI {
				quantize2(c, 0x80808080)
				return i8RangeVNNI, 3
			}
			quantize2(c, 0)
			return i8Range2, 4
		}
	}
	return nil, 0
}

// int8QuantizesX is quantizesX on amd64: whether amd64Kernel takes m.
func int8QuantizesX(m *Matrix) bool {
	return m.Cols > 0 && m.Block <= 1<<16 && (m.Block == m.Cols || m.Block%32 == 0)
}

// rowAbsStatsAsm is rowAbsStatsKernel: absStatsAVX2, the last k%8 columns in Go.
func rowAbsStatsAsm(sum, amax, x []float32, n, k int) bool {
	if n == 0 {
		return true
	}
	absStatsAVX2(&x[0], k, n, k, &sum[0], &amax[0])
	if km := k &^ 7; km < k {
		for i := 0; i < n; i++ {
			s, a := absStats(x[i*k+km : (i+1)*k])
			sum[i] += s
			amax[i] = max(amax[i], a)
		}
	}
	return true
}

// growQ sizes c's quantized-x buffers for n rows of c.ldq bytes.
func (c *linearCall) growQ() {
	if need := c.n * c.ldq; cap(c.xq) < need {
		c.xq = make([]byte, need)
	}
	if cap(c.xscale) < c.n {
		c.xscale = make([]float32, c.n)
		c.xinv = make([]float32, c.n)
	}
	c.xq, c.xscale, c.xinv = c.xq[:c.n*c.ldq], c.xscale[:c.n], c.xinv[:c.n]
}

// next returns where the call after (j, k0) starts in a loop over column
// blocks of step rows (in [lo, hi)) and, inside each, over k in chunks of
// kc: (j, k0+kc), else (j+step, 0); ok is false after the last.
func next(j, k0, step, hi, k, kc int) (int, int, bool) {
	if k0+kc < k {
		return j, k0 + kc, true
	}
	return j + step, 0, j+step < hi
}

func f32Range512(c *linearCall, lo, hi int, _ []float32) {
	k := c.m.Cols
	f32Blocks512(c.dst, c.m.Rows, c.x, k, c.n, c.m.F32, k, lo, hi, k, c.bias)
}

// f32Blocks512 computes columns [lo, hi) of dst = x @ w^T + bias (bias may
// be nil) with f32AVX512: x is (n, k) with row stride ldx, w (>= hi, k) with
// row stride ldw, dst (n, >= hi) with row stride ldd.
func f32Blocks512(dst []float32, ldd int, x []float32, ldx, n int, w []float32, ldw, lo, hi, k int, bias []float32) {
	for j := lo; j < hi; j += 6 {
		wr := min(6, hi-j)
		for k0 := 0; k0 < k; k0 += kcF32 {
			kl := min(kcF32, k-k0)
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 6, hi, k, kcF32); ok {
				pf = unsafe.Pointer(&w[nj*ldw+nk])
			}
			f32AVX512(&dst[j], ldd, &x[k0], ldx, n, &w[j*ldw+k0], ldw, wr, kl&^15, 1<<(kl&15)-1, biasAt(bias, j), b2i(k0 > 0), pf)
		}
	}
}

func f16Range512(c *linearCall, lo, hi int, _ []float32) {
	m, k := c.m, c.m.Cols
	for j := lo; j < hi; j += 6 {
		wr := min(6, hi-j)
		for k0 := 0; k0 < k; k0 += kcF16 {
			kl := min(kcF16, k-k0)
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 6, hi, k, kcF16); ok {
				pf = unsafe.Pointer(&m.F16[nj*k+nk])
			}
			f16AVX512(&c.dst[j], m.Rows, &c.x[k0], k, c.n, &m.F16[j*k+k0], k, wr, kl&^15, 1<<(kl&15)-1, biasAt(c.bias, j), b2i(k0 > 0), pf)
		}
	}
}

func i8Range512(c *linearCall, lo, hi int, _ []float32) {
	m, k := c.m, c.m.Cols
	s := m.int8Sums()
	for j := lo; j < hi; j += 6 {
		wr := min(6, hi-j)
		for b := 0; b*m.Block < k; b++ {
			k0 := b * m.Block
			kl := min(m.Block, k-k0)
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 6, hi, k, m.Block); ok {
				pf = unsafe.Pointer(&m.I8[nj*k+nk])
			}
			i8AVX512(&c.dst[j], m.Rows, &c.xq[k0], c.ldq, c.n, &m.I8[j*k+k0], k, wr, kl&^63, 1<<(kl&63)-1,
				biasAt(c.bias, j), b2i(b > 0), &c.xscale[0], &s.scales[b*m.Rows+j], &s.corr[b*m.Rows+j], pf)
		}
	}
}

// packedI8 chooses i8AVX512P over i8AVX512 for per-row int8 weights; tests
// turn it off to compare the two.
var packedI8 = true

// i8RangePanels is i8Range512 for per-row scales, with i8AVX512P over the
// panels of 64 columns in [lo, hi) (lo a multiple of 64).
func i8RangePanels(c *linearCall, lo, hi int, _ []float32) {
	m := c.m
	s := m.int8Sums()
	p := m.int8Panels(c.ldq)
	for j := lo; j < hi; j += 64 {
		mask := ^uint64(0)
		if cols := hi - j; cols < 64 {
			mask = 1<<cols - 1
		}
		bias := &zeros64[0]
		if c.bias != nil {
			bias = &c.bias[j]
		}
		i8AVX512P(&c.dst[j], m.Rows, &c.xq[0], c.ldq, c.n, &p[j/64*c.ldq*64], c.ldq/4, mask,
			bias, &c.xscale[0], &s.scales[j], &s.corr[j])
	}
}

// f32Range2 and f16Range2 run the AVX2 kernels on k &^ 7 and add the rest.
func f32Range2(c *linearCall, lo, hi int, _ []float32) {
	k := c.m.Cols
	f32Blocks2(c.dst, c.m.Rows, c.x, k, c.n, c.m.F32, k, lo, hi, k, c.bias)
}

// f32Blocks2 is f32Blocks512 with f32AVX2.
func f32Blocks2(dst []float32, ldd int, x []float32, ldx, n int, w []float32, ldw, lo, hi, k int, bias []float32) {
	km := k &^ 7
	for j := lo; j < hi; j += 3 {
		wr := min(3, hi-j)
		for k0 := 0; k0 == 0 || k0 < km; k0 += kcF32 {
			kl := min(kcF32, km-k0)
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 3, hi, max(km, 1), kcF32); ok {
				pf = unsafe.Pointer(&w[nj*ldw+nk])
			}
			f32AVX2(&dst[j], ldd, &x[k0], ldx, n, &w[j*ldw+k0], ldw, wr, kl, biasAt(bias, j), b2i(k0 > 0), pf)
		}
		for i := 0; km < k && i < n; i++ {
			for r := j; r < j+wr; r++ {
				dst[i*ldd+r] += dot(w[r*ldw+km:r*ldw+k], x[i*ldx+km:i*ldx+k])
			}
		}
	}
}

// matMulTAsm is matMulTKernel on amd64.
func matMulTAsm(dst []float32, ldd int, a []float32, lda int, b []float32, ldb int, m, n, k int) bool {
	switch path {
	case pathAVX512:
		f32Blocks512(dst, ldd, a, lda, m, b, ldb, 0, n, k, nil)
	case pathAVX2:
		f32Blocks2(dst, ldd, a, lda, m, b, ldb, 0, n, k, nil)
	default:
		return false
	}
	return true
}

func f16Range2(c *linearCall, lo, hi int, _ []float32) {
	m, k, n := c.m, c.m.Cols, c.n
	km := k &^ 7
	var w [8]float32
	for j := lo; j < hi; j += 3 {
		wr := min(3, hi-j)
		for k0 := 0; k0 == 0 || k0 < km; k0 += kcF16 {
			kl := min(kcF16, km-k0)
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 3, hi, max(km, 1), kcF16); ok {
				pf = unsafe.Pointer(&m.F16[nj*k+nk])
			}
			f16AVX2(&c.dst[j], m.Rows, &c.x[k0], k, n, &m.F16[j*k+k0], k, wr, kl, biasAt(c.bias, j), b2i(k0 > 0), pf)
		}
		if km == k {
			continue
		}
		for r := j; r < j+wr; r++ {
			f16ToF32(w[:k-km], m.F16[r*k+km:(r+1)*k])
			for i := 0; i < n; i++ {
				c.dst[i*m.Rows+r] += dot(w[:k-km], c.x[i*k+km:(i+1)*k])
			}
		}
	}
}

func i8Range2(c *linearCall, lo, hi int, _ []float32) {
	m, k, n := c.m, c.m.Cols, c.n
	s := m.int8Sums()
	q := unsafe.Slice((*int8)(unsafe.Pointer(&c.xq[0])), len(c.xq))
	for j := lo; j < hi; j += 4 {
		wr := min(4, hi-j)
		for b := 0; b*m.Block < k; b++ {
			k0 := b * m.Block
			kl := min(m.Block, k-k0)
			km := kl &^ 31
			ws := s.scales[b*m.Rows+j:]
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 4, hi, k, m.Block); ok {
				pf = unsafe.Pointer(&m.I8[nj*k+nk])
			}
			i8AVX2(&c.dst[j], m.Rows, &q[k0], c.ldq, n, &m.I8[j*k+k0], k, wr, km, biasAt(c.bias, j), b2i(b > 0), &c.xscale[0], &ws[0], pf)
			if km == kl {
				continue
			}
			for i := 0; i < n; i++ {
				xq := q[i*c.ldq+k0+km : i*c.ldq+k0+kl]
				for r := 0; r < wr; r++ {
					w := m.I8[(j+r)*k+k0+km : (j+r)*k+k0+kl]
					var acc int32
					for t, v := range w {
						acc += int32(v) * int32(xq[t])
					}
					c.dst[i*m.Rows+j+r] += float32(acc) * ws[r] * c.xscale[i]
				}
			}
		}
	}
}

// i8RangeVNNI is i8Range2 with i8AVXVNNI, on x stored as q+128.
func i8RangeVNNI(c *linearCall, lo, hi int, _ []float32) {
	m, k, n := c.m, c.m.Cols, c.n
	s := m.int8Sums()
	for j := lo; j < hi; j += 3 {
		wr := min(3, hi-j)
		for b := 0; b*m.Block < k; b++ {
			k0 := b * m.Block
			kl := min(m.Block, k-k0)
			km := kl &^ 31
			ws := s.scales[b*m.Rows+j:]
			var pf unsafe.Pointer
			if nj, nk, ok := next(j, k0, 3, hi, k, m.Block); ok {
				pf = unsafe.Pointer(&m.I8[nj*k+nk])
			}
			i8AVXVNNI(&c.dst[j], m.Rows, &c.xq[k0], c.ldq, n, &m.I8[j*k+k0], k, wr, km, biasAt(c.bias, j), b2i(b > 0), &c.xscale[0], &ws[0], &s.corr[b*m.Rows+j], pf)
			if km == kl {
				continue
			}
			for i := 0; i < n; i++ {
				xq := c.xq[i*c.ldq+k0+km : i*c.ldq+k0+kl]
				for r := 0; r < wr; r++ {
					w := m.I8[(j+r)*k+k0+km : (j+r)*k+k0+kl]
					// q+128 as in the kernel, whose corr covers the tail too.
					var acc int32
					for t, v := range w {
						acc += int32(v) * int32(xq[t])
					}
					c.dst[i*m.Rows+j+r] += float32(acc) * ws[r] * c.xscale[i]
				}
			}
		}
	}
}

// quantize2 quantizes c.x into c.xq for the AVX2 kernels, as bytes q ^
// flip: the assembly does the columns below k&^31, Go the rest.
func quantize2(c *linearCall, flip uint32) {
	k, n := c.m.Cols, c.n
	km := k &^ 31
	for i := 0; i < n; i++ {
		var amax float32
		for _, v := range c.x[i*k+km : (i+1)*k] {
			amax = max(amax, abs32(v))
		}
		c.xscale[i] = amax
	}
	quantizeAVX2(&c.xq[0], c.ldq, &c.x[0], k, n, k, &c.xscale[0], &c.xinv[0], flip)
	if km == k {
		return
	}
	q := unsafe.Slice((*int8)(unsafe.Pointer(&c.xq[0])), len(c.xq))
	for i := 0; i < n; i++ {
		t := q[i*c.ldq+km : i*c.ldq+k]
		quantizeTail(t, c.x[i*k+km:(i+1)*k], c.xinv[i])
		for j := range t {
			t[j] ^= int8(uint8(flip))
		}
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// quantizeRowRef is the activation quantization of the int8 kernels:
// q[k] = round(x[k] * 127/max|x|) to nearest even, scale = max|x|/127
// (0 and all q 0 for a zero row). It is the reference the assembly matches.
func quantizeRowRef(q []int8, x []float32) (scale float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	var inv float32
	if amax != 0 {
		inv = 127 / amax
	}
	quantizeTail(q, x, inv)
	return amax / 127
}

func quantizeTail(q []int8, x []float32, inv float32) {
	q = q[:len(x)]
	for i, v := range x {
		r := math.RoundToEven(float64(v * inv))
		q[i] = int8(max(-127, min(127, r)))
	}
}

// int8Sums returns m's int8Sums, building them on first use (or when the
// weights were replaced).
func (m *Matrix) int8Sums() *int8Sums {
	if s := m.sums.Load(); s != nil && s.i8 == &m.I8[0] {
		return s
	}
	nb := (m.Cols + m.Block - 1) / m.Block
	s := &int8Sums{i8: &m.I8[0], scales: m.Scales, corr: make([]int32, nb*m.Rows)}
	if nb > 1 {
		s.scales = make([]float32, nb*m.Rows)
		for r := 0; r < m.Rows; r++ {
			for b := 0; b < nb; b++ {
				s.scales[b*m.Rows+r] = m.Scales[r*nb+b]
			}
		}
	}
	for r := 0; r < m.Rows; r++ {
		for b := 0; b < nb; b++ {
			w := m.I8[r*m.Cols+b*m.Block : r*m.Cols+min((b+1)*m.Block, m.Cols)]
			var sum int64
			if len(w) >= 32 {
				sum = sumI8AVX2(&w[0], len(w))
			}
			for _, v := range w[len(w)&^31:] {
				sum += int64(v)
			}
			s.corr[b*m.Rows+r] = 128 * int32(sum)
		}
	}
	m.sums.Store(s)
	return s
}

// int8Panels returns m's int8 weights packed for i8AVX512P (packI8Panels
// over kp columns, kp = Cols rounded up to 64), building them on first use.
func (m *Matrix) int8Panels(kp int) []int8 {
	s := m.int8Sums()
	if p := s.panels.Load(); p != nil {
		return *p
	}
	p := packI8Panels(m.I8, m.Rows, m.Cols, kp)
	s.panels.Store(&p)
	return p
}

// packI8Panels packs the (rows, cols) int8 matrix w for i8AVX512P: panels
// of 64 rows (output columns), each of kp/4 quads of 256 bytes, quad q
// holding w[c, 4q..4q+3] for its 64 rows c in turn; rows past the last and
// columns past cols are zero.
func packI8Panels(w []int8, rows, cols, kp int) []int8 {
	np := (rows + 63) / 64
	p := make([]int8, np*kp*64)
	for r := range rows {
		base := r/64*kp*64 + r%64*4
		row := w[r*cols : (r+1)*cols]
		for k, v := range row {
			p[base+k/4*256+k%4] = v
		}
	}
	return p
}
