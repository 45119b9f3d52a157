//go:build !amd64 || purego

package train

// kernel is the micro-kernel gemm uses.
var kernel = kernelGo

// kernelName says which micro-kernel runs, for benchmarks and logs.
var kernelName = "go"
