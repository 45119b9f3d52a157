package serve

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// site lays out a served directory and a secret file beside it.
func site(t *testing.T) (dir string, h *Handler) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "web")
	files := map[string]string{
		"index.html":          "<!doctype html><title>app</title>",
		"app.js":              "console.log('app')",
		"clip4clip.wasm":      "\x00asm\x01\x00\x00\x00 plain",
		"clip4clip.wasm.gz":   "gzipped wasm",
		"clip4clip.wasm.br":   "brotli wasm",
		"sw.js":               "self.addEventListener('fetch', () => {})",
		"sub/index.html":      "sub page",
		"empty/readme.txt":    "no index here",
		".git/config":         "secret",
		"models/default.c4c":  "C4CMODEL",
		"style.css":           "body{}",
		"style.css.gz":        "stale",
		"notes.unknownext123": "x",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// One time for all, but the compressed CSS is older than the CSS: it
	// must not be served.
	now, old := time.Now(), time.Now().Add(-time.Hour)
	for name := range files {
		os.Chtimes(filepath.Join(dir, name), now, now)
	}
	os.Chtimes(filepath.Join(dir, "style.css.gz"), old, old)
	if err := os.WriteFile(filepath.Join(base, "secret.txt"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	h, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return dir, h
}

func get(h http.Handler, method, target string, hdr map[string]string) *http.Response {
	r := httptest.NewRequest(method, "http://localhost"+target, nil)
	if strings.Contains(target, "..") || strings.Contains(target, "%") {
		r.URL.Path = target // keep the raw path, as a hostile client could send it
		r.URL.RawPath = ""
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestTypesAndHeaders(t *testing.T) {
	_, h := site(t)
	for _, c := range []struct{ path, ctype, cache string }{
		{"/", "text/html; charset=utf-8", "no-cache"},
		{"/index.html", "text/html; charset=utf-8", "no-cache"},
		{"/app.js", "text/javascript; charset=utf-8", "no-cache"},
		{"/sw.js", "text/javascript; charset=utf-8", "no-cache"},
		{"/clip4clip.wasm", "application/wasm", "no-cache"},
		{"/style.css", "text/css; charset=utf-8", "no-cache"},
		{"/models/default.c4c", "application/octet-stream", "public, max-age=86400, must-revalidate"},
		{"/notes.unknownext123", "application/octet-stream", "no-cache"},
	} {
		r := get(h, "GET", c.path, nil)
		if r.StatusCode != 200 {
			t.Errorf("%s: status %d", c.path, r.StatusCode)
			continue
		}
		if got := r.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := r.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("%s: Cache-Control %q, want %q", c.path, got, c.cache)
		}
		if r.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || r.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Errorf("%s: not cross-origin isolated: %v", c.path, r.Header)
		}
		if r.Header.Get("ETag") == "" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", c.path, r.Header)
		}
	}
}

func TestNoIsolation(t *testing.T) {
	dir, _ := site(t)
	h, err := New(dir, Options{NoIsolation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := get(h, "GET", "/", nil)
	if r.Header.Get("Cross-Origin-Opener-Policy") != "" || r.Header.Get("Cross-Origin-Embedder-Policy") != "" {
		t.Errorf("isolation headers with NoIsolation: %v", r.Header)
	}
}

func TestETagRevalidation(t *testing.T) {
	_, h := site(t)
	r := get(h, "GET", "/app.js", nil)
	tag := r.Header.Get("ETag")
	r = get(h, "GET", "/app.js", map[string]string{"If-None-Match": tag})
	if r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d", tag, r.StatusCode)
	}
	r = get(h, "HEAD", "/app.js", nil)
	if r.StatusCode != 200 || body(r) != "" || r.Header.Get("Content-Length") != "18" {
		t.Errorf("HEAD: %d %v", r.StatusCode, r.Header)
	}
	if r = get(h, "POST", "/app.js", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.StatusCode)
	}
}

func TestPrecompressed(t *testing.T) {
	_, h := site(t)
	for _, c := range []struct{ accept, enc, body string }{
		{"gzip, deflate, br", "br", "brotli wasm"},
		{"gzip", "gzip", "gzipped wasm"},
		{"br;q=0, gzip;q=0.5", "gzip", "gzipped wasm"},
		{"*", "br", "brotli wasm"},
		{"identity", "", "\x00asm\x01\x00\x00\x00 plain"},
		{"", "", "\x00asm\x01\x00\x00\x00 plain"},
		{"*;q=0, identity", "", "\x00asm\x01\x00\x00\x00 plain"},
	} {
		r := get(h, "GET", "/clip4clip.wasm", map[string]string{"Accept-Encoding": c.accept})
		if got := r.Header.Get("Content-Encoding"); got != c.enc {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.accept, got, c.enc)
		}
		if got := body(r); got != c.body {
			t.Errorf("Accept-Encoding %q: body %q", c.accept, got)
		}
		if r.Header.Get("Content-Type") != "application/wasm" || r.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: headers %v", c.accept, r.Header)
		}
	}
	br := get(h, "GET", "/clip4clip.wasm", map[string]string{"Accept-Encoding": "br"}).Header.Get("ETag")
	plain := get(h, "GET", "/clip4clip.wasm", nil).Header.Get("ETag")
	if br == plain {
		t.Errorf("the same ETag %s for two encodings", br)
	}
	r := get(h, "GET", "/style.css", map[string]string{"Accept-Encoding": "gzip"})
	if r.Header.Get("Content-Encoding") != "" || body(r) != "body{}" {
		t.Errorf("a stale style.css.gz was served")
	}
}

func TestNothingOutside(t *testing.T) {
	_, h := site(t)
	for _, p := range []string{
		"/../secret.txt", "/../../etc/passwd", "/sub/../../secret.txt", "/link.txt",
		"/.git/config", "/.git/", "/empty/", "/empty", "/missing.js", "/..%2fsecret.txt", "/a\\..\\secret.txt",
	} {
		r := get(h, "GET", p, nil)
		b := body(r)
		if r.StatusCode != http.StatusNotFound || strings.Contains(b, "outside") || strings.Contains(b, "secret") || strings.Contains(b, "readme") {
			t.Errorf("%s: status %d, body %q", p, r.StatusCode, b)
		}
	}
	r := get(h, "GET", "/sub", nil)
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/sub/" {
		t.Errorf("/sub: %d %v", r.StatusCode, r.Header)
	}
	if r = get(h, "GET", "/sub/", nil); r.StatusCode != 200 || body(r) != "sub page" {
		t.Errorf("/sub/: %d", r.StatusCode)
	}
}

func TestAccepts(t *testing.T) {
	for _, c := range []struct {
		header, coding string
		want           bool
	}{
		{"gzip, br", "br", true}, {"gzip", "br", false}, {"BR", "br", true},
		{"br;q=0", "br", false}, {"br; q=0.001", "br", true}, {"*", "gzip", true},
		{"*;q=0", "gzip", false}, {"gzip;q=0, *", "gzip", false}, {"", "gzip", false},
	} {
		if got := accepts(c.header, c.coding); got != c.want {
			t.Errorf("accepts(%q, %q) = %v", c.header, c.coding, got)
		}
	}
}

// raw sends one request line to a server as a hostile client would, with
// no client-side cleaning, and returns the response.
func raw(t *testing.T, srv *httptest.Server, target string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", target)
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	return r
}

// TestRedirectStaysOnSite: a directory's redirect to its slash URL is
// built from the cleaned path, so "//sub" cannot become "//sub/", which a
// browser reads as the host "sub".
func TestRedirectStaysOnSite(t *testing.T) {
	_, h := site(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, c := range []struct{ target, want string }{
		{"/sub", "/sub/"},
		{"//sub", "/sub/"},
		{"///sub", "/sub/"},
		{"/%2f%2fsub", "/sub/"},
		{"/%2F/sub", "/sub/"},
		{"//./sub", "/sub/"},
		{"//sub?x=1", "/sub/?x=1"},
		{"/\\sub", ""},
		{"/\\\\sub", ""},
		{"/%5c%5csub", ""},
	} {
		r := raw(t, srv, c.target)
		r.Body.Close()
		loc := r.Header.Get("Location")
		if c.want == "" {
			if r.StatusCode != http.StatusNotFound || loc != "" {
				t.Errorf("GET %s: %d, Location %q; want 404", c.target, r.StatusCode, loc)
			}
			continue
		}
		if r.StatusCode != http.StatusMovedPermanently || loc != c.want {
			t.Errorf("GET %s: %d, Location %q; want 301 to %q", c.target, r.StatusCode, loc, c.want)
		}
		if strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Errorf("GET %s: Location %q leaves the site", c.target, loc)
		}
	}
}

// TestLogQuotesPath: a CR or LF in a request path cannot start a log line.
func TestLogQuotesPath(t *testing.T) {
	dir, _ := site(t)
	var buf bytes.Buffer
	h, err := New(dir, Options{Log: log.New(&buf, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, target := range []string{"/%0d%0afake-log-line", "/%0afake-log-line", "/x%0d200%20OK"} {
		buf.Reset()
		raw(t, srv, target).Body.Close()
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || strings.Contains(out, "\r") {
			t.Errorf("GET %s logged %q: want one line", target, out)
		}
		if !strings.HasPrefix(out, `GET "/`) || !strings.Contains(out, `\n`) && !strings.Contains(out, `\r`) {
			t.Errorf("GET %s logged %q: want the path quoted", target, out)
		}
	}
}
