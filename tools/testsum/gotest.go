package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Stage is what one stage of test.sh ran: the tests that passed, failed
// and skipped (every test and subtest that reported), and whether the
// stage failed as a whole.
type Stage struct {
	Name    string `json:"stage"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	// Skips are the skipped tests with their reasons.
	Skips []Test `json:"skips,omitempty"`
	// Failures are the failed tests, and packages that failed with no
	// failed test (a build failure, a crash in TestMain, a timeout).
	Failures []Test `json:"failures,omitempty"`
	// Errors are lines that say the run itself went wrong: go's errors
	// outside its JSON, a TAP stream with no tests.
	Errors []string `json:"errors,omitempty"`

	passedNames []string // the passed tests' names, for -want
}

// Test names one test: its package (or node test file), its name
// (TestX/sub), and for a skip the reason it gave.
type Test struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	Reason  string `json:"reason,omitempty"`
}

// OK reports whether the stage passed.
func (s *Stage) OK() bool { return s.Failed == 0 && len(s.Errors) == 0 }

// countPassed is how many passed tests' names match re.
func countPassed(st *Stage, re *regexp.Regexp) int {
	n := 0
	for _, name := range st.passedNames {
		if re.MatchString(name) {
			n++
		}
	}
	return n
}

// Counts is the stage's "N passed, N failed, N skipped".
func (s *Stage) Counts() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
}

// event is one line of go test -json (cmd/test2json's TestEvent, plus the
// build events of go test since Go 1.24).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // on a package's fail: the build that failed
}

// goNotice matches what go prints outside the JSON while all is well.
var goNotice = regexp.MustCompile(`^go: (downloading|finding|extracting) `)

// marker matches the lines go test writes around a test's own output.
var marker = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP|BENCH):)`)

// logLine matches the start of a t.Log or t.Skip message: "    file_test.go:24: ".
var logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: `)

// goTest reads go test -json from r, writes to w what go test would have
// printed without -json (each package's ok or FAIL line, the whole output
// of failing tests and packages, build errors), and returns the stage's
// tally.
func goTest(name string, r io.Reader, w io.Writer) (*Stage, error) {
	st := &Stage{Name: name}
	type key struct{ pkg, test string }
	out := map[key]*strings.Builder{}      // output so far of each running test and package
	build := map[string]*strings.Builder{} // build output by import path
	failedTests := map[string]int{}        // failed tests per package
	buf := func(k key) *strings.Builder {
		b := out[k]
		if b == nil {
			b = &strings.Builder{}
			out[k] = b
		}
		return b
	}
	var outside []string // lines not in JSON, but for go's download notices
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
			// go itself: a download notice, or an error (before Go 1.24,
			// or with GODEBUG=gotestjsonbuildtext=1, build errors too).
			fmt.Fprintln(w, line)
			if !goNotice.MatchString(line) && strings.TrimSpace(line) != "" {
				outside = append(outside, line)
			}
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			b := build[e.ImportPath]
			if b == nil {
				b = &strings.Builder{}
				build[e.ImportPath] = b
			}
			b.WriteString(e.Output)
		case "build-fail":
			if b := build[e.ImportPath]; b != nil {
				io.WriteString(w, b.String())
			}
		case "output":
			buf(k).WriteString(e.Output)
		case "pass", "fail", "skip":
			text := ""
			if b := out[k]; b != nil {
				text = b.String()
			}
			delete(out, k)
			if e.Test == "" { // the package's end
				// What tests of the package said after their end, or
				// before a crash that ended none of them.
				var rest strings.Builder
				for k2, b := range out {
					if k2.pkg == e.Package {
						rest.WriteString(b.String())
						delete(out, k2)
					}
				}
				if e.Action == "fail" {
					io.WriteString(w, withoutMarkers(rest.String()))
					io.WriteString(w, text)
					if failedTests[e.Package] == 0 {
						why := "package"
						if e.FailedBuild != "" || strings.Contains(text, "[build failed]") || strings.Contains(text, "[setup failed]") {
							why = "build failed"
						}
						st.Failed++
						st.Failures = append(st.Failures, Test{Package: e.Package, Name: "[" + why + "]"})
					}
				} else {
					io.WriteString(w, summaryLines(text))
				}
				continue
			}
			switch e.Action {
			case "pass":
				st.Passed++
				st.passedNames = append(st.passedNames, e.Test)
			case "fail":
				st.Failed++
				failedTests[e.Package]++
				st.Failures = append(st.Failures, Test{Package: e.Package, Name: e.Test})
				io.WriteString(w, withoutMarkers(text))
			case "skip":
				st.Skipped++
				st.Skips = append(st.Skips, Test{Package: e.Package, Name: e.Test, Reason: skipReason(text)})
			}
		}
	}
	// Packages that never ended (the stream was cut): what they said.
	keys := slices.SortedFunc(maps.Keys(out), func(a, b key) int {
		return cmp.Or(strings.Compare(a.pkg, b.pkg), strings.Compare(a.test, b.test))
	})
	for _, k := range keys {
		if b := out[k]; b.Len() > 0 {
			fmt.Fprintf(w, "%s %s: no result\n%s", k.pkg, k.test, withoutMarkers(b.String()))
			st.Errors = append(st.Errors, fmt.Sprintf("%s %s: no result (the output ended first)", k.pkg, k.test))
		}
	}
	if len(outside) > 0 {
		st.Errors = append(st.Errors, fmt.Sprintf("go printed %d lines outside its JSON, the first: %s", len(outside), outside[0]))
	}
	return st, sc.Err()
}

// summaryLines keeps, of a passing package's own output, the lines go
// test prints without -v: "ok  \tpkg\t1.2s", "?   \tpkg\t[no test files]".
func summaryLines(text string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(l, "ok  \t") || strings.HasPrefix(l, "?   \t") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// withoutMarkers drops the === RUN, PAUSE, CONT and NAME lines, which go
// test prints only with -v.
func withoutMarkers(text string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "=== ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// skipReason is the message a skipped test gave: its last log entry
// before its --- SKIP line (continuation lines joined), without the
// file:line prefix.
func skipReason(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	end := len(lines)
	for i, l := range lines {
		if strings.Contains(l, "--- SKIP:") {
			end = i
			break
		}
	}
	for i := end - 1; i >= 0; i-- {
		if marker.MatchString(lines[i]) {
			break
		}
		if loc := logLine.FindStringIndex(lines[i]); loc != nil {
			parts := []string{lines[i][loc[1]:]}
			for _, l := range lines[i+1 : end] {
				parts = append(parts, strings.TrimSpace(l))
			}
			return strings.TrimSpace(strings.Join(parts, " "))
		}
	}
	return "(no reason given)"
}
