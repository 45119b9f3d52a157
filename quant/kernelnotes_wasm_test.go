//go:build js && wasm

package quant

const isWasm = true

func kernelNotes() string { return "" }
