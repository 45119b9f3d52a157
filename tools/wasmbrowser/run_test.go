//go:build !js

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"clip4clip/internal/testenv"
)

// prog builds testdata/prog for js/wasm once per test binary.
var prog struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildProg returns testdata/prog built for js/wasm, or reports Chromium
// missing (testenv.Missing).
func buildProg(t *testing.T) string {
	t.Helper()
	if _, err := findChromium(os.Getenv("CHROMIUM")); err != nil {
		testenv.Missing(t, "%v: the runner's tests need it", err)
	}
	prog.once.Do(func() {
		dir, err := os.MkdirTemp("", "wasmbrowser-test-")
		if prog.err = err; err != nil {
			return
		}
		prog.path = filepath.Join(dir, "prog.wasm")
		cmd := exec.Command("go", "build", "-o", prog.path, "./testdata/prog")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		prog.out, prog.err = cmd.CombinedOutput()
	})
	if prog.err != nil {
		t.Fatalf("building testdata/prog for js/wasm: %v\n%s", prog.err, prog.out)
	}
	return prog.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if prog.path != "" {
		os.RemoveAll(filepath.Dir(prog.path))
	}
	os.Exit(code)
}

// runProg runs wasmbrowser on testdata/prog with args (flags, then the
// program's arguments) and env on top of this process's environment.
func runProg(t *testing.T, flags []string, progArgs []string, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	args := append(append(flags, "-simd", "../../quant/simd", buildProg(t)), progArgs...)
	var out, errOut bytes.Buffer
	code = run(args, append(os.Environ(), env...), &out, &errOut)
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// TestRunExit: the program's lines on each stream in order, bytes
// unchanged (UTF-8, a last line without a newline), argv and the env
// passed, and its exit code; the start line names the browser and the
// kernels (here SIMD128, as CLIP4CLIP_SIMD asks).
func TestRunExit(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runProg(t, nil, []string{"exit", "a", "b c"}, "CLIP4CLIP_RUNTEST=hello", "CLIP4CLIP_SIMD=simd")
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	want := "line 1\nline 2\nline 3\nenv hello host chromium\nargs [\"a\" \"b c\"]\nhéllo, no newline at the end"
	if stdout != want {
		t.Errorf("stdout:\n%q\nwant:\n%q", stdout, want)
	}
	first, rest, _ := strings.Cut(stderr, "\n")
	if !strings.HasPrefix(first, "wasmbrowser: ") || !strings.Contains(first, "Chrome") || !strings.HasSuffix(first, "CLIP4CLIP_SIMD=simd: kernels simd") {
		t.Errorf("start line %q: want the browser's version and the kernels (simd)", first)
	}
	if rest != "to stderr\n" {
		t.Errorf("stderr after the start line: %q, want %q", rest, "to stderr\n")
	}
}

// TestRunEnv: only CLIP4CLIP_* and GO* variables reach the program, with
// CLIP4CLIP_WASM_HOST=chromium.
func TestRunEnv(t *testing.T) {
	env := programEnv([]string{"CLIP4CLIP_A=1", "GOFLAGS=-x", "HOME=/root", "SECRET=2", "CLIP4CLIP_WASM_HOST=node"})
	want := map[string]string{"CLIP4CLIP_A": "1", "GOFLAGS": "-x", "CLIP4CLIP_WASM_HOST": "chromium"}
	if len(env) != len(want) {
		t.Errorf("env %v, want %v", env, want)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env[%s] = %q, want %q (env %v)", k, env[k], v, env)
		}
	}
}

// TestRunPanic: a Go panic exits 2 with the panic on stderr.
func TestRunPanic(t *testing.T) {
	t.Parallel()
	code, _, stderr := runProg(t, nil, []string{"panic"})
	if code != 2 {
		t.Errorf("exit code %d, want 2 (a Go panic)", code)
	}
	if !strings.Contains(stderr, "panic: boom from wasm") || !strings.Contains(stderr, "goroutine 1 [running]") {
		t.Errorf("stderr lacks the panic and its stack:\n%s", stderr)
	}
}

// TestRunTimeout: a program that never exits ends at -timeout with a
// message, and what it printed before came out while it ran. The timeout
// leaves Chromium time to start beside the other tests' on a loaded
// machine (4 s was too short on 2 busy cores: it ended before "ready").
func TestRunTimeout(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runProg(t, []string{"-timeout", "20s"}, []string{"block"})
	if code == 0 {
		t.Errorf("exit code 0 for a program that never exited")
	}
	if stdout != "ready\n" {
		t.Errorf("stdout %q, want %q", stdout, "ready\n")
	}
	if !strings.Contains(stderr, "wasmbrowser: timed out after") {
		t.Errorf("stderr lacks the timeout:\n%s", stderr)
	}
}

// TestRunTimeoutAtStart: the timeout holds while the browser starts too.
func TestRunTimeoutAtStart(t *testing.T) {
	t.Parallel()
	code, _, stderr := runProg(t, []string{"-timeout", "1ms"}, []string{"exit"})
	if code == 0 || !strings.Contains(stderr, "wasmbrowser: timed out after") {
		t.Errorf("exit %d, stderr:\n%s\nwant non-zero and the timeout", code, stderr)
	}
}

// TestRunThrow: an uncaught JavaScript exception in the worker ends the run.
func TestRunThrow(t *testing.T) {
	t.Parallel()
	code, _, stderr := runProg(t, []string{"-timeout", "60s"}, []string{"throw"})
	if code == 0 {
		t.Errorf("exit code 0 after an uncaught exception")
	}
	if !strings.Contains(stderr, "thrown from JS") {
		t.Errorf("stderr lacks the exception:\n%s", stderr)
	}
}

// TestRunNotWasm: a binary that is not WebAssembly fails with the
// browser's reason, not a hang.
func TestRunNotWasm(t *testing.T) {
	t.Parallel()
	buildProg(t)
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"-timeout", "60s", "-simd", "../../quant/simd", bad}, os.Environ(), &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "WebAssembly") {
		t.Errorf("exit %d, stderr:\n%s\nwant non-zero and the compile error", code, errOut.String())
	}
}

// TestRunTimeoutDefault: go test's -test.timeout, plus 30s, extends the
// default so that its panic comes first; -timeout and the env override.
func TestRunTimeoutDefault(t *testing.T) {
	for _, c := range []struct {
		flag time.Duration
		env  string
		args []string
		want time.Duration
	}{
		{0, "", nil, defaultTimeout},
		{0, "", []string{"-test.timeout=1m0s"}, defaultTimeout},
		{0, "", []string{"-test.v=true", "-test.timeout=20m0s"}, 20*time.Minute + 30*time.Second},
		{0, "", []string{"--test.timeout", "15m"}, 15*time.Minute + 30*time.Second},
		{0, "", []string{"-test.timeout=0s"}, defaultTimeout},
		{0, "90s", []string{"-test.timeout=20m0s"}, 90 * time.Second},
		{5 * time.Second, "90s", nil, 5 * time.Second},
	} {
		got, err := runTimeout(c.flag, c.env, c.args)
		if err != nil || got != c.want {
			t.Errorf("runTimeout(%v, %q, %q) = %v, %v; want %v", c.flag, c.env, c.args, got, err, c.want)
		}
	}
	if _, err := runTimeout(0, "soon", nil); err == nil {
		t.Errorf("CLIP4CLIP_WASMBROWSER_TIMEOUT=soon: no error")
	}
}
