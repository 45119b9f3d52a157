//go:build !purego

package quant

const isWasm = false

// kernelNotes says which int8 instructions the amd64 sets use here.
func kernelNotes() string {
	switch {
	case HasAVX512() && hasVNNI512:
		return " (avx512 int8 with AVX512-VNNI)"
	case HasAVX512():
		return " (avx512 int8 with the AVX2 kernel: no AVX512-VNNI)"
	}
	return ""
}
