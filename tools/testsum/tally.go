package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// The tally file holds one JSON Stage a line, appended by each stage.

// appendStage adds st to the tally file at path.
func appendStage(path string, st *Stage) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readTally reads the stages in the tally file at path.
func readTally(path string) ([]*Stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stages []*Stage
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var st Stage
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		stages = append(stages, &st)
	}
	return stages, sc.Err()
}

// report writes the skipped tests grouped by reason, the failed ones, a
// line per stage and the total "N passed, N failed, N skipped" as the
// last line. It returns the total.
func report(w io.Writer, stages []*Stage) Stage {
	var total Stage
	type group struct {
		reason string
		tests  []string // "[stage] package: name, name"
	}
	var groups []*group
	byReason := map[string]*group{}
	for _, st := range stages {
		for _, t := range st.Skips {
			g := byReason[t.Reason]
			if g == nil {
				g = &group{reason: t.Reason}
				byReason[t.Reason] = g
				groups = append(groups, g)
			}
			g.tests = append(g.tests, fmt.Sprintf("[%s] %s\x00%s", st.Name, t.Package, t.Name))
		}
		total.Passed += st.Passed
		total.Failed += st.Failed
		total.Skipped += st.Skipped
	}
	if total.Skipped > 0 {
		fmt.Fprintf(w, "\n== skipped (%d), by reason\n", total.Skipped)
		for _, g := range groups {
			fmt.Fprintf(w, "%s (%d):\n", g.reason, len(g.tests))
			writeNames(w, g.tests)
		}
	}
	var failed []string
	for _, st := range stages {
		for _, t := range st.Failures {
			failed = append(failed, fmt.Sprintf("[%s] %s\x00%s", st.Name, t.Package, t.Name))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n== failed (%d)\n", len(failed))
		writeNames(w, failed)
	}
	for _, st := range stages {
		for _, e := range st.Errors {
			fmt.Fprintf(w, "[%s] error: %s\n", st.Name, e)
		}
	}
	fmt.Fprintln(w)
	parts := make([]string, len(stages))
	for i, st := range stages {
		parts[i] = st.Name + " " + st.Counts()
		if len(st.Errors) > 0 {
			parts[i] += " (stage failed)"
		}
	}
	fmt.Fprintln(w, strings.Join(parts, "; "))
	fmt.Fprintln(w, total.Counts())
	return total
}

// writeNames writes "[stage] package\x00name" entries a line per stage and
// package, the names comma-separated and wrapped.
func writeNames(w io.Writer, entries []string) {
	var order []string
	names := map[string][]string{}
	for _, e := range entries {
		head, name, _ := strings.Cut(e, "\x00")
		if _, ok := names[head]; !ok {
			order = append(order, head)
		}
		names[head] = append(names[head], name)
	}
	for _, head := range order {
		line := "    " + head + ":"
		for i, n := range slices.Compact(names[head]) {
			sep := " "
			if i > 0 {
				sep = ", "
			}
			if len(line)+len(sep)+len(n) > 100 && i > 0 {
				fmt.Fprintln(w, line+",")
				line, sep = "        ", ""
			}
			line += sep + n
		}
		fmt.Fprintln(w, line)
	}
}
