//go:build ignore

// Serve runs the browser app locally: `./build.sh && go run serve.go`,
// then open the printed address. It serves web/ (or -dir) with the headers
// the app wants; see clip4clip/internal/serve.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"clip4clip/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "web", "directory to serve")
	noIsolation := flag.Bool("no-isolation", false, "leave out the COOP/COEP cross-origin isolation headers")
	quiet := flag.Bool("quiet", false, "do not log requests")
	flag.Parse()

	if _, err := os.Stat(filepath.Join(*dir, "clip4clip.wasm")); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %s has no clip4clip.wasm; run ./build.sh first\n", *dir)
	}
	opt := serve.Options{NoIsolation: *noIsolation}
	if !*quiet {
		opt.Log = log.New(os.Stderr, "", log.LstdFlags)
	}
	h, err := serve.New(*dir, opt)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "serving %s at http://%s/ (%s)\n", *dir, ln.Addr(), opt)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
