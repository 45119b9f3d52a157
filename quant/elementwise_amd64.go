//go:build !purego

package quant

// The element-wise kernels on amd64: exp, QuickGELU, Softmax and LayerNorm
// in AVX2 + FMA assembly (kernels_amd64.s, from kernels_gen_amd64.go),
// eight lanes of the Go versions' computation; the last len%8 elements of
// exp and QuickGELU, LayerNorm with rows not a multiple of 8 long, and Add
// stay in Go. setPath installs them on the AVX2 path and above.

// expAVX2 is expSlice over x[:n&^7].
//
//go:noescape
func expAVX2(x *float32, n int)

// quickGELUAVX2 is quickGELUGo over x[:n&^7].
//
//go:noescape
func quickGELUAVX2(x *float32, n int)

// softmaxAVX2 is softmaxGo over x[:n], n >= 1.
//
//go:noescape
func softmaxAVX2(x *float32, n int)

// layerNormAVX2 is layerNormGo for d a multiple of 8 (and > 0).
//
//go:noescape
func layerNormAVX2(dst, x *float32, n, d int, w, b *float32, eps float32)

func setElementwise(p kernelPath) {
	expKernel, quickGELUKernel, softmaxKernel, layerNormKernel = nil, nil, nil, nil
	if p >= pathAVX2 {
		layerNormKernel = func(dst, x []float32, n, d int, w, b []float32, eps float32) bool {
			if d%8 != 0 {
				return false
			}
			layerNormAVX2(&dst[0], &x[0], n, d, &w[0], &b[0], eps)
			return true
		}
		expKernel, quickGELUKernel = expAsm, quickGELUAsm
		softmaxKernel = func(x []float32) bool {
			softmaxAVX2(&x[0], len(x))
			return true
		}
	}
}

func expAsm(x []float32) bool {
	n := len(x) &^ 7
	if n > 0 {
		expAVX2(&x[0], n)
	}
	expSlice(x[n:])
	return true
}

func quickGELUAsm(x []float32) bool {
	n := len(x) &^ 7
	if n > 0 {
		quickGELUAVX2(&x[0], n)
	}
	quickGELUGo(x[n:])
	return true
}
