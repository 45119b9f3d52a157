package quant

import "fmt"

// MatMulT computes dst = a @ b^T over strided row-major views: a is (m, k)
// with row stride lda, b is (n, k) with row stride ldb, dst is (m, n) with
// row stride ldd. It is attention's q @ k^T on one head's columns of a
// packed qkv buffer (and p @ v, given v transposed), and runs on the calling
// goroutine: a head is too small to split.
func MatMulT(dst []float32, ldd int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	if m < 0 || n < 0 || k < 0 || lda < k || ldb < k || ldd < n ||
		(m > 0 && (len(a) < (m-1)*lda+k || len(dst) < (m-1)*ldd+n)) || (n > 0 && len(b) < (n-1)*ldb+k) {
		panic(fmt.Sprintf("quant: MatMulT of (%d, %d) by (%d, %d)^T: a %d (stride %d), b %d (stride %d), dst %d (stride %d)",
			m, k, n, k, len(a), lda, len(b), ldb, len(dst), ldd))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(dst[i*ldd : i*ldd+n])
		}
		return
	}
	if matMulTKernel != nil && matMulTKernel(dst, ldd, a, lda, b, ldb, m, n, k) {
		return
	}
	matMulTGo(dst, ldd, a, lda, b, ldb, m, n, k)
}

// matMulTKernel, when a platform file sets it (kernels_amd64.go,
// linear_wasm.go), computes MatMulT with SIMD and reports whether it did.
var matMulTKernel func(dst []float32, ldd int, a []float32, lda int, b []float32, ldb int, m, n, k int) bool

// matMulTGo is the portable MatMulT, the loop of linearRows.
func matMulTGo(dst []float32, ldd int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	for j := 0; j < n; j++ {
		w := b[j*ldb : j*ldb+k]
		i := 0
		for ; i+4 <= m; i += 4 {
			s0, s1, s2, s3 := dot4(w, a[i*lda:i*lda+k], a[(i+1)*lda:(i+1)*lda+k], a[(i+2)*lda:(i+2)*lda+k], a[(i+3)*lda:(i+3)*lda+k])
			dst[i*ldd+j], dst[(i+1)*ldd+j], dst[(i+2)*ldd+j], dst[(i+3)*ldd+j] = s0, s1, s2, s3
		}
		for ; i < m; i++ {
			dst[i*ldd+j] = dot(w, a[i*lda:i*lda+k])
		}
	}
}
