package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Skip and Fatalf record the message and
// end the goroutine, as testing's do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own and reports
// whether f went on past the call that should have ended it.
func run(f func(tb testing.TB)) (r *recorder, returned bool) {
	r = &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
		returned = true
	}()
	<-done
	return r, returned
}

func TestMissing(t *testing.T) {
	for _, c := range []struct {
		allow string
		skips bool
	}{{"", false}, {"0", false}, {"1", true}, {"yes", true}} {
		t.Setenv(AllowSkipEnv, c.allow)
		r, returned := run(func(tb testing.TB) { Missing(tb, "the %s is not on PATH", "widget") })
		if returned {
			t.Errorf("%s=%q: Missing returned", AllowSkipEnv, c.allow)
		}
		if c.skips && (r.skipped != "the widget is not on PATH" || r.failed != "") {
			t.Errorf("%s=%q: skipped %q, failed %q; want a skip with the message", AllowSkipEnv, c.allow, r.skipped, r.failed)
		}
		if !c.skips && (r.failed != "the widget is not on PATH; CLIP4CLIP_ALLOW_SKIP=1 skips this" || r.skipped != "") {
			t.Errorf("%s=%q: skipped %q, failed %q; want a failure naming %s", AllowSkipEnv, c.allow, r.skipped, r.failed, AllowSkipEnv)
		}
	}
}

func TestFixture(t *testing.T) {
	t.Setenv(AllowSkipEnv, "")
	root := filepath.Join(t.TempDir(), "shared", "fixtures")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Fixture(t, root, "a.txt"); got != filepath.Join(root, "a.txt") {
		t.Errorf("Fixture = %q", got)
	}
	if got := FixturePath(t, filepath.Join(root, "a.txt")); got != filepath.Join(root, "a.txt") {
		t.Errorf("FixturePath = %q", got)
	}
	// A missing file is named; a missing folder is said to be the fixtures.
	r, _ := run(func(tb testing.TB) { Fixture(tb, root, "b.txt") })
	if !strings.HasPrefix(r.failed, "fixture b.txt is missing from ../shared/fixtures") {
		t.Errorf("a missing fixture file: %q", r.failed)
	}
	gone := filepath.Join(t.TempDir(), "shared", "fixtures", "b.txt")
	r, _ = run(func(tb testing.TB) { FixturePath(tb, gone) })
	if r.failed != "../shared/fixtures is missing: it holds the reference outputs of the original CLIP and CLIP4Clip code (CI puts it beside the checkout); CLIP4CLIP_ALLOW_SKIP=1 skips this" {
		t.Errorf("a missing fixtures folder: %q", r.failed)
	}
}

func TestCommand(t *testing.T) {
	t.Setenv(AllowSkipEnv, "1")
	r, _ := run(func(tb testing.TB) { Command(tb, "clip4clip-no-such-command", "apt-get install -y nothing") })
	if r.skipped != "clip4clip-no-such-command is not on PATH (apt-get install -y nothing)" {
		t.Errorf("skipped %q", r.skipped)
	}
}
