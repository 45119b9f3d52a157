//go:build ignore

// Serve runs the browser app locally: `./build.sh && go run serve.go`,
// then open the printed address. It serves web/ (or -dir) with the headers
// the app wants; see clip4clip/internal/serve.
//
// SIGINT and SIGTERM stop it. Under `go run` the server is a child of the
// go command, which a signal to go run's own process does not reach, so
// the server also exits when its parent does (-exit-with-parent, on by
// default under go run). Scripts can as well build it once:
// `go build -o serve serve.go && ./serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"clip4clip/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "web", "directory to serve")
	noIsolation := flag.Bool("no-isolation", false, "leave out the COOP/COEP cross-origin isolation headers")
	quiet := flag.Bool("quiet", false, "do not log requests")
	withParent := flag.Bool("exit-with-parent", underGoRun(), "exit when the parent process does (default: under go run)")
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *withParent {
		ctx = parentGone(ctx)
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "serve: stopped")
}

// underGoRun reports whether this program was started by go run: its
// parent is the go command (Linux: /proc), or else it lives where go run
// puts binaries (a go-build temporary directory, or since Go 1.24 the
// build cache, GOCACHE, itself a go-build directory by default).
func underGoRun() bool {
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", os.Getppid())); err == nil {
		return strings.TrimSpace(string(comm)) == "go"
	}
	exe, err := os.Executable()
	return err == nil && strings.Contains(filepath.ToSlash(exe), "go-build")
}

// parentGone returns a context done with ctx or when the parent process
// exits (this process is then re-parented, so its parent's pid changes).
func parentGone(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	ppid := os.Getppid()
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
				if os.Getppid() != ppid {
					return
				}
			}
		}
	}()
	return ctx
}
