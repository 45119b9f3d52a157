//go:build amd64 && !purego

package train

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

// geluAVX2 is quickGELUForward for n (a multiple of 8) float32s.
//
//go:noescape
func geluAVX2(out, inp *float32, n int)

// geluBackAVX2 is quickGELUBackwardInPlace for n (a multiple of 8) float32s.
//
//go:noescape
func geluBackAVX2(d, inp *float32, n int)

// cpuid and xgetbv report the CPU's and the OS's support for AVX2.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// hasAVX2FMA reports whether the CPU has AVX2 and FMA and the OS saves the
// YMM registers.
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fma == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// hasAVX512 reports whether the CPU has AVX-512F and the OS saves the ZMM
// registers.
func hasAVX512() bool {
	if !hasAVX2FMA() {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&0xe6 != 0xe6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<16) != 0
}

// hasAVX2 selects the AVX2 QuickGELU.
var hasAVX2 = false

// geluForward32 runs QuickGELU over whole groups of 8 with AVX2, and
// returns how many elements it did (0 without AVX2).
func geluForward32(out, inp []float32) int {
	n := len(inp) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	geluAVX2(&out[:n][0], &inp[0], n)
	return n
}

// geluBackward32 is geluForward32 for quickGELUBackwardInPlace.
func geluBackward32(d, inp []float32) int {
	n := len(inp) &^ 7
	if !hasAVX2 || n == 0 {
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

// kernels lists the micro-kernels this CPU runs, portable first.
func kernels() []microKernel {
	ks := []microKernel{{"go", 6, kernelGo}}
	if hasAVX2FMA() {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512() {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

func init() {
	hasAVX2 = hasAVX2FMA()
	ks := kernels()
	kern = ks[len(ks)-1]
}
