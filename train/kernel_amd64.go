//go:build amd64 && !purego

package train

// kernelAVX2 is kernelGo with AVX2 and FMA: the (6, 16) tile in twelve
// 8-wide accumulators, one broadcast of A and two loads of B per depth.
//
//go:noescape
func kernelAVX2(kb int, ap, bp *float32, tile *[mr * nr]float32)

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

// kernel is the micro-kernel gemm uses.
var kernel = kernelGo

// kernelName says which micro-kernel runs, for benchmarks and logs.
var kernelName = "go"

func init() {
	if hasAVX2FMA() {
		kernel = func(kb int, ap, bp []float32, tile *[mr * nr]float32) {
			if kb == 0 {
				clear(tile[:])
				return
			}
			_, _ = ap[kb*mr-1], bp[kb*nr-1]
			kernelAVX2(kb, &ap[0], &bp[0], tile)
		}
		kernelName = "avx2"
	}
}
