// Package testenv reports what a test needs from its environment and does
// not find: a fixture, ffmpeg, Chromium, the go command. By default that
// fails the test, so a machine without them cannot pass the suite by
// skipping it; CLIP4CLIP_ALLOW_SKIP=1 makes it a skip instead.
//
// Only tests import it. Skips a test asks for itself (CLIP4CLIP_MEASURE,
// -short, a host that cannot run a kernel set) stay t.Skip.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AllowSkipEnv is the variable that turns Missing into a skip.
const AllowSkipEnv = "CLIP4CLIP_ALLOW_SKIP"

// AllowSkip reports whether CLIP4CLIP_ALLOW_SKIP is set to anything but ""
// or "0".
func AllowSkip() bool {
	v := os.Getenv(AllowSkipEnv)
	return v != "" && v != "0"
}

// Missing ends tb because something it needs is absent, the message
// saying what and how to get it: tb.Skipf under CLIP4CLIP_ALLOW_SKIP=1,
// tb.Fatalf otherwise.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if AllowSkip() {
		tb.Skip(msg)
	}
	tb.Fatalf("%s; %s=1 skips this", msg, AllowSkipEnv)
}

// FixturesAbout says what ../shared/fixtures is, for messages.
const FixturesAbout = "../shared/fixtures is missing: it holds the reference outputs of the original CLIP and CLIP4Clip code (CI puts it beside the checkout)"

// Fixtures returns dir, the path of ../shared/fixtures as the test's
// package sees it, or reports it Missing.
func Fixtures(tb testing.TB, dir string) string {
	tb.Helper()
	if _, err := os.Stat(dir); err != nil {
		Missing(tb, "%s", FixturesAbout)
	}
	return dir
}

// Fixture returns dir/rel, a file under ../shared/fixtures (dir as the
// test's package sees it), or reports Missing the whole folder when it is
// absent, else the one file.
func Fixture(tb testing.TB, dir, rel string) string {
	tb.Helper()
	p := filepath.Join(Fixtures(tb, dir), rel)
	if _, err := os.Stat(p); err != nil {
		Missing(tb, "fixture %s is missing from ../shared/fixtures (%v)", rel, err)
	}
	return p
}

// FixturePath is Fixture for a path that already includes the fixtures
// folder (…/shared/fixtures/…).
func FixturePath(tb testing.TB, path string) string {
	tb.Helper()
	slash := filepath.ToSlash(path)
	i := strings.Index(slash, "shared/fixtures")
	if i < 0 {
		panic("testenv.FixturePath: " + path + " is not under shared/fixtures")
	}
	n := i + len("shared/fixtures")
	rel := strings.TrimPrefix(slash[n:], "/")
	return Fixture(tb, filepath.FromSlash(slash[:n]), filepath.FromSlash(rel))
}

// Command returns the path of the command name on PATH, or reports it
// Missing with install, how to get it (e.g. "apt-get install -y ffmpeg").
func Command(tb testing.TB, name, install string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s is not on PATH (%s)", name, install)
	}
	return p
}
