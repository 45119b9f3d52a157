//go:build !purego

package quant

// The element-wise kernels on amd64: exp and QuickGELU in AVX2 + FMA
// assembly (kernels_amd64.s, from kernels_gen_amd64.go), eight lanes of
// expSlice's computation; the last len%8 elements, and LayerNorm and Add,
// stay in Go. setPath installs them on the AVX2 path and above.

// expAVX2 is expSlice over x[:n&^7].
//
//go:noescape
func expAVX2(x *float32, n int)

// quickGELUAVX2 is quickGELUGo over x[:n&^7].
//
//go:noescape
func quickGELUAVX2(x *float32, n int)

func setElementwise(p kernelPath) {
	expKernel, quickGELUKernel, softmaxKernel = nil, nil, nil
	if p >= pathAVX2 {
		expKernel, quickGELUKernel = expAsm, quickGELUAsm
		softmaxKernel = func(x []float32) bool {
			softmaxWith(x, func(x []float32) { expAsm(x) })
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
