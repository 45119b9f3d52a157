package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// tapPoint matches a TAP test point: "ok 3 - name # SKIP reason",
// "not ok 2 - name", indented four spaces a level for subtests.
var tapPoint = regexp.MustCompile(`^( *)(not ok|ok) \d+(?: - (.*?))?(?: # (SKIP|TODO)\b ?(.*))?$`)

// tapSubtest matches node's "# Subtest: name" before each test's point.
var tapSubtest = regexp.MustCompile(`^( *)# Subtest: (.*)$`)

// tapCount matches node's closing counts: "# pass 2", "# fail 0".
var tapCount = regexp.MustCompile(`^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$`)

// tap reads TAP (node --test --test-reporter=tap) from r: every test point
// at any depth is counted, a failing one printed with the diagnostics
// below it. file names the test file, the package of its tests. It checks
// the counts node prints at the end against its own.
func tap(name, file string, r io.Reader, w io.Writer) (*Stage, error) {
	st := &Stage{Name: name}
	var parents []string // the names of the enclosing subtests, by depth
	printing := false    // inside a failing point's YAML block
	counts := map[string]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if printing {
			fmt.Fprintln(w, line)
			if strings.TrimSpace(line) == "..." {
				printing = false
			}
			continue
		}
		if m := tapSubtest.FindStringSubmatch(line); m != nil {
			depth := len(m[1]) / 4
			parents = append(parents[:min(depth, len(parents))], m[2])
			continue
		}
		if m := tapCount.FindStringSubmatch(line); m != nil {
			counts[m[1]], _ = strconv.Atoi(m[2])
			continue
		}
		m := tapPoint.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "Bail out!") {
				fmt.Fprintln(w, line)
				st.Errors = append(st.Errors, line)
			}
			continue
		}
		depth := len(m[1]) / 4
		names := append(slices.Clone(parents[:min(depth, len(parents))]), m[3])
		test := strings.Join(names, "/")
		switch {
		case m[4] == "SKIP":
			st.Skipped++
			reason := strings.TrimSpace(m[5])
			if reason == "" {
				reason = "(no reason given)"
			}
			st.Skips = append(st.Skips, Test{Package: file, Name: test, Reason: reason})
		case m[2] == "not ok" && m[4] != "TODO":
			st.Failed++
			st.Failures = append(st.Failures, Test{Package: file, Name: test})
			fmt.Fprintln(w, line)
			printing = true
		default:
			st.Passed++
			st.passedNames = append(st.passedNames, test)
		}
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	if st.Passed+st.Failed+st.Skipped == 0 {
		st.Errors = append(st.Errors, "no TAP test points: did node --test run?")
	}
	if n, ok := counts["tests"]; ok && n != st.Passed+st.Failed+st.Skipped {
		st.Errors = append(st.Errors, fmt.Sprintf("node counted %d tests, the TAP has %d points", n, st.Passed+st.Failed+st.Skipped))
	}
	if counts["fail"] > 0 || counts["cancelled"] > 0 {
		if st.Failed == 0 {
			st.Errors = append(st.Errors, fmt.Sprintf("node reports %d failed, %d cancelled", counts["fail"], counts["cancelled"]))
		}
	}
	status := "ok  "
	if !st.OK() {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\n", status, file, st.Counts())
	return st, nil
}
