//go:build amd64 && !purego

package train

import "clip4clip/quant"

// kernelAVX2 is kernelGo with AVX2 and FMA: the (6, 16) tile in twelve
// 8-wide accumulators, per depth one broadcast of A per row and two loads
// of B.
//
//go:noescape
func kernelAVX2(kb int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, acc bool)

// kernelAVX512 is kernelAVX2 for 12 rows with AVX-512.
//
//go:noescape
func kernelAVX512(kb int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, acc bool)

// geluAVX2 is quickGELUForward for n (a multiple of 8) float32s. It keeps
// its own expf (that of ops.go) rather than quant.QuickGELU's: a fused
// pass measured about 2% faster training, and the shipped default model
// was trained with exactly these numbers, so a rerun of its command
// reproduces it bit for bit.
//
//go:noescape
func geluAVX2(out, inp *float32, n int)

// geluBackAVX2 is quickGELUBackwardInPlace for n (a multiple of 8) float32s.
//
//go:noescape
func geluBackAVX2(d, inp *float32, n int)

// geluForward32 runs QuickGELU over whole groups of 8 with AVX2, and
// returns how many elements it did (0 without AVX2).
func geluForward32(out, inp []float32) int {
	n := len(inp) &^ 7
	if !quant.HasAVX2() || n == 0 {
		return 0
	}
	geluAVX2(&out[:n][0], &inp[0], n)
	return n
}

// geluBackward32 is geluForward32 for quickGELUBackwardInPlace.
func geluBackward32(d, inp []float32) int {
	n := len(inp) &^ 7
	if !quant.HasAVX2() || n == 0 {
		return 0
	}
	geluBackAVX2(&d[:n][0], &inp[0], n)
	return n
}

// avx2Kernel and avx512Kernel wrap the assembly kernels with the bounds
// checks Go would do.
var (
	avx2Kernel = microKernel{"avx2", 6, func(kb int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool) {
		if kb == 0 {
			kernelGo(kb, a, ars, acs, b, ldb, c, ldc, acc)
			return
		}
		_, _, _ = a[5*ars+(kb-1)*acs], b[(kb-1)*ldb+nr-1], c[5*ldc+nr-1]
		kernelAVX2(kb, &a[0], ars, acs, &b[0], ldb, &c[0], ldc, acc)
	}}
	avx512Kernel = microKernel{"avx512", 12, func(kb int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool) {
		if kb == 0 {
			for r := 0; r < 12; r += 6 {
				kernelGo(0, a, ars, acs, b, ldb, c[r*ldc:], ldc, acc)
			}
			return
		}
		_, _, _ = a[11*ars+(kb-1)*acs], b[(kb-1)*ldb+nr-1], c[11*ldc+nr-1]
		kernelAVX512(kb, &a[0], ars, acs, &b[0], ldb, &c[0], ldc, acc)
	}}
)

// kernels lists the micro-kernels this CPU runs, portable first (quant
// reads the CPU's features).
func kernels() []microKernel {
	ks := []microKernel{{"go", 6, kernelGo}}
	if quant.HasAVX2() {
		ks = append(ks, avx2Kernel)
	}
	if quant.HasAVX512() {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

func init() {
	ks := kernels()
	kern = ks[len(ks)-1]
}
