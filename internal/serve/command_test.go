//go:build !js && !windows

package serve_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"clip4clip/internal/testenv"
)

// startServe starts the command and returns the address it prints.
func startServe(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a script's process group
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }) // the group: a leftover server too
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`at http://([0-9.:]+)/`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(2 * time.Minute):
		t.Fatal("serve printed no address")
		return ""
	}
}

// gone waits until nothing listens at addr.
func gone(t *testing.T, addr, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: the server still listens at %s 15 s later", what, addr)
}

// TestServeCommandStops starts serve.go as a script would, with go run and
// as a built binary, and stops each with SIGTERM to the process the script
// started: the server stops listening. Under go run the server is go run's
// child; before, it went on serving after go run had exited.
func TestServeCommandStops(t *testing.T) {
	testenv.Command(t, "go", "the test runs serve.go with go run, as the README's scripts do")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>hello</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "serve")
	if out, err := exec.Command("go", "build", "-o", bin, "../../serve.go").CombinedOutput(); err != nil {
		t.Fatalf("go build serve.go: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		cmd  *exec.Cmd
	}{
		{"go run serve.go", exec.Command("go", "run", "../../serve.go", "-addr", "127.0.0.1:0", "-dir", dir, "-quiet")},
		{"./serve", exec.Command(bin, "-addr", "127.0.0.1:0", "-dir", dir, "-quiet")},
	} {
		addr := startServe(t, tc.cmd)
		res, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET / = %s", tc.name, res.Status)
		}
		if err := tc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		tc.cmd.Wait()
		gone(t, addr, tc.name)
	}
}
