//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main explains that this command is the browser binding: the native
// build exists so that `go build ./...` and `go vet ./...` cover the
// package; the engine it binds is clip4clip/wasm/engine.
func main() {
	fmt.Fprintln(os.Stderr, "wasm: this is the browser binding; build it with ./build.sh (GOOS=js GOARCH=wasm)")
	os.Exit(2)
}
