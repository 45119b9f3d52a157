//go:build js && wasm

// prog is run_test.go's js/wasm program; its first argument picks what it
// does: exit (print lines on both streams, the env and argv, exit 3),
// panic, block (print a line, then wait forever) or throw (an uncaught
// JavaScript exception in the worker).
package main

import (
	"fmt"
	"os"
	"syscall/js"
)

func main() {
	switch os.Args[1] {
	case "exit":
		for i := 1; i <= 3; i++ {
			fmt.Printf("line %d\n", i)
		}
		fmt.Fprintln(os.Stderr, "to stderr")
		fmt.Printf("env %s host %s\n", os.Getenv("CLIP4CLIP_RUNTEST"), os.Getenv("CLIP4CLIP_WASM_HOST"))
		fmt.Printf("args %q\n", os.Args[2:])
		fmt.Print("héllo, no newline at the end")
		os.Exit(3)
	case "panic":
		panic("boom from wasm")
	case "block":
		fmt.Println("ready")
		select {}
	case "throw":
		fmt.Println("throwing")
		js.Global().Call("setTimeout", js.Global().Get("Function").New("throw new Error('thrown from JS')"), 0)
		select {}
	}
}
