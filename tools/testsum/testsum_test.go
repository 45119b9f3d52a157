package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata/NAME.json is the real output of go test -json (Go 1.26) in a
// module whose only file, a_test.go, is testdata/src/NAME.go.txt;
// buildtext.json is build.go.txt under GODEBUG=gotestjsonbuildtext=1 (build
// errors as text outside the JSON, as before Go 1.24), nopkg.json is
// go test -json ./nosuchdir. node.tap is node --test --test-reporter=tap
// of src/node.test.mjs.txt (Node 20), node-simd.tap of
// quant/simd/build.test.mjs.

func TestGoTest(t *testing.T) {
	for _, c := range []struct {
		file                    string
		passed, failed, skipped int
		ok                      bool
		skips                   []Test
		failures                []string
		printed, notPrinted     []string
	}{
		{
			file: "pass", passed: 2, ok: true,
			printed:    []string{"ok  \texample.com/pass\t"},
			notPrinted: []string{"a log line of a passing test", "=== RUN", "PASS\n"},
		},
		{
			file: "fail", passed: 1, failed: 1,
			failures:   []string{"TestBad"},
			printed:    []string{"before the failure", "got 2, want 3", "second line of the message", "--- FAIL: TestBad", "FAIL\texample.com/fail\t"},
			notPrinted: []string{"=== RUN", "--- PASS: TestGood"},
		},
		{
			file: "skip", passed: 1, skipped: 3, ok: true,
			skips: []Test{
				{"example.com/skip", "TestSkipped", "ffmpeg is not on PATH (apt-get install -y ffmpeg)"},
				{"example.com/skip", "TestSkippedf", "fixture clip/x.pt is missing"},
				{"example.com/skip", "TestSkipNow", "(no reason given)"},
			},
			printed:    []string{"ok  \texample.com/skip\t"},
			notPrinted: []string{"an earlier log line"},
		},
		{
			// Subtests count as tests; a parallel subtest's skip reason is
			// its own; the failed parent and subtest both count.
			file: "sub", passed: 7, failed: 2, skipped: 2,
			skips: []Test{
				{"example.com/sub", "TestKernels/relaxed", "the host has no relaxed kernels"},
				{"example.com/sub", "TestParallel/b", "b: skipped in parallel"},
			},
			failures:   []string{"TestParallel/c", "TestParallel"},
			printed:    []string{"c: failed in parallel", "--- FAIL: TestParallel/c"},
			notPrinted: []string{"b: skipped in parallel"},
		},
		{
			file: "panic", passed: 1, failed: 1,
			failures: []string{"TestPanics"},
			printed:  []string{"panic: assignment to entry in nil map", "a_test.go:8", "FAIL\texample.com/panic\t"},
		},
		{
			// A build failure has no test: the package counts as one failure.
			file: "build", failed: 1,
			failures: []string{"[build failed]"},
			printed:  []string{"undefined: undefinedThing", "FAIL\texample.com/build [build failed]"},
		},
		{
			// The build errors outside the JSON are printed and fail the stage.
			file: "buildtext", failed: 1,
			failures: []string{"[build failed]"},
			printed:  []string{"undefined: undefinedThing", "FAIL\texample.com/build [build failed]"},
		},
		{
			file: "nopkg", failed: 1,
			failures: []string{"[build failed]"},
			printed:  []string{"directory not found", "[setup failed]"},
		},
	} {
		t.Run(c.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", c.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			st, err := goTest("stage", bytes.NewReader(in), &out)
			if err != nil {
				t.Fatal(err)
			}
			check(t, st, out.String(), c.passed, c.failed, c.skipped, c.ok, c.skips, c.failures, c.printed, c.notPrinted)
		})
	}
}

func check(t *testing.T, st *Stage, out string, passed, failed, skipped int, ok bool, skips []Test, failures []string, printed, notPrinted []string) {
	t.Helper()
	if st.Passed != passed || st.Failed != failed || st.Skipped != skipped {
		t.Errorf("%s, want %d passed, %d failed, %d skipped", st.Counts(), passed, failed, skipped)
	}
	if st.OK() != ok {
		t.Errorf("OK() = %v, want %v (errors %q)", st.OK(), ok, st.Errors)
	}
	if len(skips) > 0 || len(st.Skips) > 0 {
		if !reflect.DeepEqual(st.Skips, skips) {
			t.Errorf("skips:\n got %q\nwant %q", st.Skips, skips)
		}
	}
	var names []string
	for _, f := range st.Failures {
		names = append(names, f.Name)
	}
	if !reflect.DeepEqual(names, failures) {
		t.Errorf("failures %q, want %q", names, failures)
	}
	for _, s := range printed {
		if !strings.Contains(out, s) {
			t.Errorf("the output lacks %q:\n%s", s, out)
		}
	}
	for _, s := range notPrinted {
		if strings.Contains(out, s) {
			t.Errorf("the output has %q:\n%s", s, out)
		}
	}
}

// TestGoTestOutside: go's download notices outside the JSON are printed
// and harmless; any other line outside it fails the stage.
func TestGoTestOutside(t *testing.T) {
	pass, err := os.ReadFile(filepath.Join("testdata", "pass.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		before string
		ok     bool
	}{
		{"go: downloading github.com/x448/float16 v0.8.4\n", true},
		{"go: cannot find main module, but found .git/config in /work\n", false},
	} {
		var out bytes.Buffer
		st, err := goTest("stage", strings.NewReader(c.before+string(pass)), &out)
		if err != nil {
			t.Fatal(err)
		}
		if st.OK() != c.ok || st.Passed != 2 {
			t.Errorf("%q before the JSON: OK %v (%q), %s; want OK %v, 2 passed", c.before, st.OK(), st.Errors, st.Counts(), c.ok)
		}
		if !strings.HasPrefix(out.String(), c.before) {
			t.Errorf("%q before the JSON is not printed:\n%s", c.before, out.String())
		}
	}
}

// TestGoTestCut: a stream that ends inside a package (the test binary or
// go test killed) fails the stage and prints what the test said.
func TestGoTestCut(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestSlow"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"    slow_test.go:9: still working\n"}
`
	var out bytes.Buffer
	st, err := goTest("stage", strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if st.OK() || !strings.Contains(out.String(), "still working") {
		t.Errorf("OK %v, output:\n%s", st.OK(), out.String())
	}
}

func TestTAP(t *testing.T) {
	for _, c := range []struct {
		file                    string
		passed, failed, skipped int
		ok                      bool
		skips                   []Test
		failures                []string
		printed, notPrinted     []string
	}{
		{
			file: "node", passed: 3, failed: 1, skipped: 2,
			skips: []Test{
				{"f.mjs", "skips", "this engine does not accept kernels_relaxed.wasm"},
				{"f.mjs", "outer/inner skipped", "not here"},
			},
			failures:   []string{"fails"},
			printed:    []string{"not ok 2 - fails", "2 !== 3", "FAIL\tf.mjs\t3 passed, 1 failed, 2 skipped"},
			notPrinted: []string{"inner passes"},
		},
		{
			file: "node-simd", passed: 2, skipped: 1, ok: true,
			skips: []Test{
				{"f.mjs", "kernels_relaxed.wasm passes its self-test", "this engine does not accept kernels_relaxed.wasm"},
			},
			printed: []string{"ok  \tf.mjs\t2 passed, 0 failed, 1 skipped"},
		},
	} {
		t.Run(c.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", c.file+".tap"))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			st, err := tap("node", "f.mjs", bytes.NewReader(in), &out)
			if err != nil {
				t.Fatal(err)
			}
			check(t, st, out.String(), c.passed, c.failed, c.skipped, c.ok, c.skips, c.failures, c.printed, c.notPrinted)
		})
	}
	// No test points at all (node failed to start) is a failure.
	st, err := tap("node", "f.mjs", strings.NewReader("node: bad option: --test-reporter\n"), &bytes.Buffer{})
	if err != nil || st.OK() {
		t.Errorf("no TAP: OK %v, err %v", st.OK(), err)
	}
}

// TestTally appends two stages to a tally and reports them: the skips by
// reason with each test named, the failures, a line per stage, and the
// total as the last line.
func TestTally(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tally")
	for _, st := range []*Stage{
		{Name: "go native", Passed: 10, Skipped: 2, Skips: []Test{
			{"clip4clip/model", "TestA", "../shared/fixtures is missing"},
			{"clip4clip/train", "TestB", "../shared/fixtures is missing"},
		}},
		{Name: "go js/wasm", Passed: 5, Failed: 1, Skipped: 1,
			Skips:    []Test{{"clip4clip/quant", "TestLinear/relaxed", "the host has no relaxed kernels"}},
			Failures: []Test{{Package: "clip4clip/model", Name: "TestC"}}},
	} {
		if err := appendStage(path, st); err != nil {
			t.Fatal(err)
		}
	}
	stages, err := readTally(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	total := report(&out, stages)
	if total.Passed != 15 || total.Failed != 1 || total.Skipped != 3 {
		t.Errorf("total %s", total.Counts())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "15 passed, 1 failed, 3 skipped" {
		t.Errorf("last line %q", last)
	}
	for _, want := range []string{
		"../shared/fixtures is missing (2):\n    [go native] clip4clip/model: TestA\n    [go native] clip4clip/train: TestB\n",
		"the host has no relaxed kernels (1):\n    [go js/wasm] clip4clip/quant: TestLinear/relaxed\n",
		"== failed (1)\n    [go js/wasm] clip4clip/model: TestC\n",
		"go native 10 passed, 0 failed, 2 skipped; go js/wasm 5 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}
