//go:build !js

// Command wasmbrowser runs a js/wasm Go binary inside headless Chromium,
// as $(go env GOROOT)/lib/wasm/go_js_wasm_exec (and tools/wasmexec, which
// adds quant's SIMD kernels) runs it in Node, so that quant's tests check
// the kernels the browser runs for every user (relaxed SIMD, which Node 20
// runs only with its baseline compiler off, and SIMD128):
//
//	wasmbrowser [-timeout d] [-simd dir] BINARY [ARGS...]
//	GOOS=js GOARCH=wasm go test -exec "$PWD/tools/wasmbrowser/run" ./quant/
//
// It serves a page, a worker script, BINARY, wasm_exec.js of the Go that
// built it and quant/simd's kernels on 127.0.0.1, and runs BINARY in a
// dedicated worker (as the product runs the kernels, worker.js) with
// loadKernels from kernels.js providing the import module clip4clip_simd.
// argv is BINARY ARGS; the env is this process's CLIP4CLIP_* and GO*
// variables plus CLIP4CLIP_WASM_HOST=chromium, which quant's tests read
// to require every kernel variant. The program's writes to stdout and
// stderr come out here as they happen, and wasmbrowser exits with the
// program's exit code; a JavaScript exception, a worker or page that
// fails, the browser dying, a signal or the timeout end the run with a
// message and exit code 1. At start it prints one line to stderr naming
// the browser and the kernels in use.
//
// CLIP4CLIP_SIMD=auto|pair|relaxed|simd|none picks the kernels as under Node
// (default auto: relaxed SIMD where the engine runs it, else SIMD128).
// CHROMIUM names the browser (default: chromium, chromium-browser,
// google-chrome on PATH). The timeout (-timeout, else
// CLIP4CLIP_WASMBROWSER_TIMEOUT) defaults to 10m, or to 30s past the
// binary's -test.timeout when that is longer, so that go test's own
// timeout panic, with every goroutine's stack, is printed first.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

//go:embed index.html
var indexHTML []byte

//go:embed worker.js
var workerJS []byte

// defaultTimeout bounds a run whose binary sets no longer -test.timeout.
const defaultTimeout = 10 * time.Minute

// binding is the page's function that hands the worker's messages to us.
const binding = "__wasmbrowser"

// errTimedOut is the cause of a run that reached its timeout.
var errTimedOut = errors.New("timed out")

// exitFailure is the exit code for a run that ended other than by the
// program's exit.
const exitFailure = 1

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// config is /config.json, what the worker gives the Go program.
type config struct {
	Argv    []string          `json:"argv"`
	Env     map[string]string `json:"env"`
	Variant string            `json:"variant"` // loadKernels' variant: auto, relaxed, simd, none
}

// message is one message of worker.js (see there).
type message struct {
	T       string `json:"t"`
	FD      int    `json:"fd"`
	S       string `json:"s"`
	Code    int    `json:"code"`
	Variant int    `json:"variant"`
	Msg     string `json:"msg"`
}

// variantNames are kernels.js's variant() codes as CLIP4CLIP_SIMD names them.
var variantNames = []string{"none", "simd", "relaxed", "pair"}

// run is wasmbrowser with its arguments and environment (KEY=value);
// it returns the exit code.
func run(args, environ []string, stdout, stderr io.Writer) int {
	getenv := func(key string) string {
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				v = val // the last one wins, as in os/exec
			}
		}
		return v
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wasmbrowser: "+format+"\n", a...)
		return exitFailure
	}
	fs := flag.NewFlagSet("wasmbrowser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeoutFlag := fs.Duration("timeout", 0, "end the run after this long (default: $CLIP4CLIP_WASMBROWSER_TIMEOUT, else 10m or the binary's -test.timeout plus 30s)")
	simdFlag := fs.String("simd", "", "the directory of kernels.js and its .wasm files (default: quant/simd above the working directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wasmbrowser [-timeout d] [-simd dir] BINARY [ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	bin, progArgs := fs.Arg(0), fs.Args()[1:]

	timeout, err := runTimeout(*timeoutFlag, getenv("CLIP4CLIP_WASMBROWSER_TIMEOUT"), progArgs)
	if err != nil {
		return fail("%v", err)
	}
	exe, err := findChromium(getenv("CHROMIUM"))
	if err != nil {
		return fail("%v", err)
	}
	simdDir := *simdFlag
	if simdDir == "" {
		if simdDir, err = findSIMD(); err != nil {
			return fail("%v", err)
		}
	}
	wasmExec, err := wasmExecJS(getenv("GOROOT"))
	if err != nil {
		return fail("%v", err)
	}
	files := map[string]string{ // URL path -> file
		"/prog.wasm":                 bin,
		"/wasm_exec.js":              wasmExec,
		"/simd/kernels.js":           filepath.Join(simdDir, "kernels.js"),
		"/simd/kernels_simd.wasm":    filepath.Join(simdDir, "kernels_simd.wasm"),
		"/simd/kernels_relaxed.wasm": filepath.Join(simdDir, "kernels_relaxed.wasm"),
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return fail("%v", err)
		}
	}
	variant := getenv("CLIP4CLIP_SIMD")
	if variant == "" {
		variant = "auto"
	}
	cfg := config{Argv: append([]string{bin}, progArgs...), Env: programEnv(environ), Variant: variant}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	srv := &http.Server{Handler: handler(cfg, files)}
	go srv.Serve(ln)
	defer srv.Close()

	// The run ends at the timeout or a signal, whatever it is doing then.
	sig, stopSig := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSig()
	rctx, cancelRun := context.WithTimeoutCause(sig, timeout, errTimedOut)
	defer cancelRun()
	ended := func(what string, err error) int {
		switch {
		case errors.Is(context.Cause(rctx), errTimedOut):
			return fail("timed out after %v (-timeout, CLIP4CLIP_WASMBROWSER_TIMEOUT): the program did not exit", timeout)
		case sig.Err() != nil:
			return fail("interrupted")
		}
		return fail("%s: %v", what, err)
	}

	// The browser's own output, kept for when it dies.
	var browserOut tail
	actx, cancelAlloc := chromedp.NewExecAllocator(rctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // as e2e/harness_test.go: the tests may run as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.CombinedOutput(&browserOut),
	)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// Start the browser and subscribe before the page can call the binding.
	if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: binding}); err != nil {
		return ended("starting "+exe, fmt.Errorf("%v%s", err, browserOut.String()))
	}
	msgs := make(chan message)
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.BindingCalled) {
			if err != nil {
				return
			}
			var m message
			if err := json.Unmarshal([]byte(ev.Payload), &m); err != nil {
				m = message{T: "error", Msg: fmt.Sprintf("a message from the page: %v: %q", err, ev.Payload)}
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	// The page's own failures: a crash (the worker runs in its process),
	// an exception in its script (then nothing would reach the binding).
	pageErr := make(chan string, 2)
	go func() {
		for _, err := range chromedp.Events(ctx, inspector.TargetCrashed) {
			if err == nil {
				pageErr <- "the page crashed (out of memory?)" + browserOut.String()
			}
			return
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err == nil {
				pageErr <- "an exception in the page: " + exceptionText(ev.ExceptionDetails)
			}
			return
		}
	}()
	version, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return ended("asking the browser its version", err)
	}
	// Navigate waits for the page's load, which the worker may outlast.
	navErr := make(chan error, 1)
	go func() { navErr <- chromedp.Do(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")) }()

	out := func(fd int, s string) {
		w := stdout
		if fd != 1 {
			w = stderr
		}
		w.Write(latin1(s))
	}
	for {
		select {
		case m := <-msgs:
			switch m.T {
			case "out":
				out(m.FD, m.S)
			case "start":
				name := fmt.Sprint(m.Variant)
				if m.Variant >= 0 && m.Variant < len(variantNames) {
					name = variantNames[m.Variant]
				}
				timed := ""
				if m.Msg != "" {
					timed = " (" + m.Msg + ")"
				}
				fmt.Fprintf(stderr, "wasmbrowser: %s (V8 %s), CLIP4CLIP_SIMD=%s: kernels %s%s\n", version.Product, version.JsVersion, variant, name, timed)
			case "exit":
				return m.Code
			case "error":
				return fail("%s", m.Msg)
			default:
				return fail("an unknown message from the page: %+v", m)
			}
		case err := <-navErr:
			if err != nil {
				return ended("loading the page", err)
			}
		case msg := <-pageErr:
			return fail("%s", msg)
		case <-ctx.Done():
			// A call now returns the browser's exit status, if it died.
			_, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
			return ended("the browser went away", fmt.Errorf("%v%s", err, browserOut.String()))
		}
	}
}

// runTimeout is the run's timeout: flagged (-timeout) if set, else env
// (CLIP4CLIP_WASMBROWSER_TIMEOUT) if set, else defaultTimeout or the
// binary's -test.timeout plus 30s, whichever is longer.
func runTimeout(flagged time.Duration, env string, progArgs []string) (time.Duration, error) {
	if flagged > 0 {
		return flagged, nil
	}
	if env != "" {
		d, err := time.ParseDuration(env)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("CLIP4CLIP_WASMBROWSER_TIMEOUT=%q: want a positive duration such as 10m", env)
		}
		return d, nil
	}
	d := defaultTimeout
	for i, a := range progArgs {
		a = strings.TrimPrefix(a, "-")
		v, ok := strings.CutPrefix(a, "-test.timeout=")
		if !ok {
			v, ok = strings.CutPrefix(a, "test.timeout=")
		}
		if !ok && (a == "-test.timeout" || a == "test.timeout") && i+1 < len(progArgs) {
			v, ok = progArgs[i+1], true
		}
		if t, err := time.ParseDuration(v); ok && err == nil && t > 0 {
			d = max(d, t+30*time.Second)
		}
	}
	return d, nil
}

// findChromium finds the browser as e2e/harness_test.go does: env (the
// variable CHROMIUM) first.
func findChromium(env string) (string, error) {
	for _, name := range []string{env, "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium is not installed (apt-get install -y chromium; or set CHROMIUM)")
}

// findSIMD finds quant/simd in the working directory or above it (go test
// runs its -exec program in the package's directory).
func findSIMD() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "quant", "simd")
		if _, err := os.Stat(filepath.Join(p, "kernels.js")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no quant/simd/kernels.js in or above the working directory; pass -simd")
		}
		dir = parent
	}
}

// wasmExecJS is wasm_exec.js of the Go that built the binary: goroot's
// ($GOROOT), else that of the go command on PATH.
func wasmExecJS(goroot string) (string, error) {
	root := goroot
	if root == "" {
		b, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOROOT: %v (set GOROOT)", err)
		}
		root = strings.TrimSpace(string(b))
	}
	return filepath.Join(root, "lib", "wasm", "wasm_exec.js"), nil
}

// programEnv is the Go program's environment: the CLIP4CLIP_* and GO*
// variables of environ, and CLIP4CLIP_WASM_HOST=chromium.
func programEnv(environ []string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (strings.HasPrefix(k, "CLIP4CLIP_") || strings.HasPrefix(k, "GO")) {
			env[k] = v
		}
	}
	env["CLIP4CLIP_WASM_HOST"] = "chromium"
	return env
}

// handler serves the page, the worker, the config and files (URL path ->
// file), nothing else.
func handler(cfg config, files map[string]string) http.Handler {
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // strings only
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		switch p := r.URL.Path; {
		case p == "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(indexHTML)
		case p == "/worker.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(workerJS)
		case p == "/config.json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(cfgJSON)
		case files[p] != "":
			switch {
			case strings.HasSuffix(p, ".wasm"):
				w.Header().Set("Content-Type", "application/wasm")
			case strings.HasSuffix(p, ".js"):
				w.Header().Set("Content-Type", "text/javascript")
			}
			http.ServeFile(w, r, files[p])
		default:
			http.NotFound(w, r)
		}
	})
}

// exceptionText is what the browser says about an exception.
func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// latin1 turns the worker's one-char-per-byte string back into bytes.
func latin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return b
}

// tail keeps the last 16 KiB written to it: the browser's output, printed
// when the browser fails, less the complaints about D-Bus that Chromium
// makes wherever there is none (a container).
type tail struct {
	mu   sync.Mutex
	buf  []byte
	full bool // buf has lost its start, so its first line is partial
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if n := len(t.buf) - 16384; n > 0 {
		t.buf = append(t.buf[:0], t.buf[n:]...)
		t.full = true
	}
	return len(p), nil
}

// String is the kept output as a suffix for a message: "" or a newline,
// a header and the output.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	if t.full {
		_, s, _ = strings.Cut(s, "\n")
	}
	var lines []string
	for l := range strings.Lines(s) {
		if !strings.Contains(l, ":ERROR:dbus/") && strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "\nthe browser's last output:\n" + strings.TrimSpace(strings.Join(lines, ""))
}
