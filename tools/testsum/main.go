// Command testsum counts the tests of each stage of test.sh and prints
// the summary at the end.
//
// In a stage it reads go test -json (or with -tap, node --test's TAP) on
// stdin, prints what go test prints without -json (each package's ok or
// FAIL line, failing tests' output, build errors), appends the stage's
// counts and skipped tests to the tally file, and exits 1 if the run
// failed: a failed test, a package that failed (a build failure among
// them), or an error go printed outside its JSON.
//
//	go test -json ./... 2>&1 | testsum -stage "go native" -tally FILE
//	node --test --test-reporter=tap F.mjs | testsum -tap -pkg F.mjs -stage node -tally FILE
//
// A stage that cannot run (its tool missing under CLIP4CLIP_ALLOW_SKIP)
// is recorded as one skip with -skip REASON.
//
// At the end, -report prints the skipped tests grouped by reason, the
// failed ones, a line per stage and, last, "N passed, N failed, N
// skipped" over all stages; it exits 1 if any stage failed.
//
//	testsum -report FILE
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
)

func main() {
	stage := flag.String("stage", "", "the stage's `name` in the tally (go native, go js/wasm, browser, node)")
	tallyPath := flag.String("tally", "", "append the stage's counts to `FILE`")
	tapMode := flag.Bool("tap", false, "read TAP (node --test --test-reporter=tap), not go test -json")
	pkg := flag.String("pkg", "node", "with -tap: the `file` the tests are in, named as their package")
	want := flag.String("want", "", "fail the stage unless a test whose name matches `REGEXP` passed; print how many did")
	skip := flag.String("skip", "", "record the stage as not run, for `REASON`, reading nothing")
	reportPath := flag.String("report", "", "print the summary of the tally `FILE` and exit")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "testsum: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}

	if *reportPath != "" {
		stages, err := readTally(*reportPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(1)
		}
		report(os.Stdout, stages)
		for _, st := range stages {
			if !st.OK() {
				os.Exit(1)
			}
		}
		return
	}

	var wantRE *regexp.Regexp
	if *want != "" {
		var err error
		if wantRE, err = regexp.Compile(*want); err != nil {
			fmt.Fprintln(os.Stderr, "testsum: -want:", err)
			os.Exit(2)
		}
	}
	if *stage == "" {
		*stage = "tests"
	}
	var st *Stage
	var err error
	switch {
	case *skip != "":
		// One skip stands for the stage's tests, which were not run.
		st = &Stage{Name: *stage, Skipped: 1, Skips: []Test{{Package: "(the whole stage)", Name: *stage, Reason: *skip}}}
	case *tapMode:
		st, err = tap(*stage, *pkg, os.Stdin, os.Stdout)
	default:
		st, err = goTest(*stage, os.Stdin, os.Stdout)
	}
	if err != nil {
		st.Errors = append(st.Errors, "reading the test output: "+err.Error())
	}
	if wantRE != nil {
		n := countPassed(st, wantRE)
		fmt.Printf("%d passed tests match %s\n", n, wantRE)
		if n == 0 {
			st.Errors = append(st.Errors, fmt.Sprintf("no passed test matches %s", wantRE))
		}
	}
	for _, e := range st.Errors {
		fmt.Fprintln(os.Stderr, "testsum:", e)
	}
	fmt.Printf("%s: %s\n", st.Name, st.Counts())
	if *tallyPath != "" {
		if err := appendStage(*tallyPath, st); err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(1)
		}
	}
	if !st.OK() {
		os.Exit(1)
	}
}
