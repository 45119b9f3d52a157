package main

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestHelp runs `clip4clip -h`, `clip4clip help` and every command's -h:
// each exits 0 and prints its usage, and no flag's argument name is a
// command line (Go's flag package takes a backquoted word in a usage as
// the argument's name, so "made by `clip4clip index`" printed as
// "-index clip4clip index").
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"--help"}} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil {
			t.Errorf("clip4clip %s: %v\n%s", args[0], err, out)
		}
		if !strings.Contains(string(out), "usage: clip4clip COMMAND") {
			t.Errorf("clip4clip %s printed no usage:\n%s", args[0], out)
		}
	}
	if err := exec.Command(binary, "nosuchcommand").Run(); err == nil {
		t.Error("an unknown command exits 0")
	}
	// tokenize takes one caption per argument, search one query of all its
	// words: each says so.
	for cmd, want := range map[string]string{"tokenize": "one JSON line per argument", "search": "the words together are the query"} {
		out, _ := exec.Command(binary, cmd, "-h").CombinedOutput()
		if !strings.Contains(string(out), want) {
			t.Errorf("clip4clip %s -h does not say %q:\n%s", cmd, want, out)
		}
	}
	// A flag line is "  -name argname" (then the usage on the next line).
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)(?: (.+))?$`)
	for _, c := range commands {
		out, err := exec.Command(binary, c.name, "-h").CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("clip4clip %s -h: %v", c.name, err)
		}
		if !strings.Contains(string(out), "-") {
			t.Errorf("clip4clip %s -h printed no flags:\n%s", c.name, out)
		}
		for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
			if arg := m[2]; strings.Contains(arg, "clip4clip") || strings.Contains(arg, " ") && !strings.Contains(arg, "\t") {
				t.Errorf("clip4clip %s -h: flag -%s reads %q (a backquoted usage word taken as its argument name)", c.name, m[1], "-"+m[1]+" "+arg)
			}
		}
	}
}
