//go:build !(js && wasm) && !(amd64 && !purego)

package quant

// Without assembly or SIMD kernels for this platform, Go's are the only set.

func kernelNames() []string { return []string{"go"} }
func kernelName() string    { return "go" }
func useKernel(string)      {}
