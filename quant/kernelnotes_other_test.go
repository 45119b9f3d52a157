//go:build !(js && wasm) && !(amd64 && !purego)

package quant

const isWasm = false

func kernelNotes() string { return " (no assembly kernels for this platform)" }
