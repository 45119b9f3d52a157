// Package serve is the static file server for the browser app (web/):
// correct MIME types (application/wasm above all), cross-origin isolation
// headers, revalidation with ETags, precompressed .br and .gz variants when
// the client accepts them, and nothing outside the served directory: no
// directory listings, no dot files, no escape through ".." or symbolic
// links (os.Root).
package serve

import (
	"fmt"
	"io/fs"
	"log"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Options configures a Handler.
type Options struct {
	// NoIsolation leaves out the Cross-Origin-Opener-Policy and
	// Cross-Origin-Embedder-Policy headers that make the page
	// cross-origin isolated (needed for performance.measureUserAgentSpecificMemory
	// and SharedArrayBuffer; they also block cross-origin embeds).
	NoIsolation bool
	// Log, if set, receives one line per request.
	Log *log.Logger
}

// Handler serves the files under dir.
type Handler struct {
	root *os.Root
	opt  Options
}

// New opens dir for serving. The directory stays open until Close.
func New(dir string, opt Options) (*Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Handler{root: root, opt: opt}, nil
}

// Close releases the served directory.
func (h *Handler) Close() error { return h.root.Close() }

// types are the content types of the app's files, so that they do not
// depend on the system's MIME tables; others come from mime.TypeByExtension.
var types = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".ico":         "image/x-icon",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".c4c":         "application/octet-stream",
	".c4ci":        "application/octet-stream",
	".webm":        "video/webm",
	".mp4":         "video/mp4",
	".gz":          "application/gzip",
	".br":          "application/x-brotli",
}

// ContentType returns the Content-Type for a file name.
func ContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := types[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// encodings are the precompressed variants looked for, best first.
var encodings = []struct{ name, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

// ServeHTTP serves GET and HEAD requests for files under the root.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.serve(rw, r)
	if h.opt.Log != nil {
		// Quoted: a path may hold a CR or LF (%0d%0a) that would forge a line.
		h.opt.Log.Printf("%s %q %d %s", r.Method, r.URL.Path, rw.status, time.Since(start).Round(time.Microsecond))
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !h.opt.NoIsolation {
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		hdr.Set("Cross-Origin-Embedder-Policy", "require-corp")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := cleanPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "." || strings.HasSuffix(r.URL.Path, "/") {
		name = path.Join(name, "index.html")
	}
	f, err := h.root.Open(name)
	if err != nil {
		http.NotFound(w, r) // missing, unreadable, or a link out of the root
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r) // missing, unreadable, or a link out of the root
		return
	}
	if st.IsDir() {
		// A directory is served as its index.html under its slash URL,
		// never listed.
		if _, err := h.root.Stat(path.Join(name, "index.html")); err != nil {
			http.NotFound(w, r)
			return
		}
		// From the cleaned name, not the request's path: "//host" would
		// send the browser to another site.
		loc := (&url.URL{Path: "/" + name + "/"}).EscapedPath()
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, loc, http.StatusMovedPermanently)
		return
	}
	hdr.Set("Content-Type", ContentType(name))
	hdr.Set("Cache-Control", cacheControl(name))

	// A precompressed variant, if one is as new as the file and accepted.
	body, bst := f, st
	enc := ""
	for _, e := range encodings {
		if !accepts(r.Header.Get("Accept-Encoding"), e.name) {
			continue
		}
		cf, err := h.root.Open(name + e.ext)
		if err != nil {
			continue
		}
		cst, err := cf.Stat()
		if err != nil || !cst.Mode().IsRegular() || cst.ModTime().Before(st.ModTime()) {
			cf.Close()
			continue
		}
		defer cf.Close()
		body, bst, enc = cf, cst, e.name
		break
	}
	if enc != "" || h.hasVariant(name) {
		hdr.Add("Vary", "Accept-Encoding")
	}
	if enc != "" {
		hdr.Set("Content-Encoding", enc)
	}
	hdr.Set("ETag", etag(bst, enc))
	http.ServeContent(w, r, name, st.ModTime(), body)
}

// hasVariant reports whether name has a precompressed variant, so that
// caches keep responses apart by Accept-Encoding.
func (h *Handler) hasVariant(name string) bool {
	for _, e := range encodings {
		if _, err := h.root.Stat(name + e.ext); err == nil {
			return true
		}
	}
	return false
}

// cleanPath turns a URL path into a name relative to the root, refusing
// dot files and directories (".git", ".well-known" included) and anything
// that is not a valid fs path once cleaned.
func cleanPath(p string) (string, bool) {
	if strings.Contains(p, "\x00") || strings.Contains(p, "\\") {
		return "", false
	}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if name == "" {
		return ".", true
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return "", false
		}
	}
	return name, fs.ValidPath(name)
}

// cacheControl: the app's files keep fixed names, so browsers revalidate
// each (a cheap 304 thanks to the ETag); the service worker keeps them for
// offline use. Model files are large and change rarely: a day, then
// revalidation.
func cacheControl(name string) string {
	if strings.HasSuffix(name, ".c4c") {
		return "public, max-age=86400, must-revalidate"
	}
	return "no-cache"
}

// etag is a strong validator from the size and modification time of the
// bytes sent, distinct per encoding.
func etag(st fs.FileInfo, enc string) string {
	s := strconv.FormatInt(st.Size(), 36) + "-" + strconv.FormatInt(st.ModTime().UnixNano(), 36)
	if enc != "" {
		s += "-" + enc
	}
	return `"` + s + `"`
}

// accepts reports whether an Accept-Encoding header allows coding with a
// non-zero quality, explicitly or through "*".
func accepts(header, coding string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch name {
		case coding:
			return q > 0
		case "*":
			star = q > 0
		}
	}
	return star
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// String describes the options for a start-up line.
func (o Options) String() string {
	if o.NoIsolation {
		return "cross-origin isolation off"
	}
	return fmt.Sprintf("cross-origin isolated (COOP %s, COEP %s)", "same-origin", "require-corp")
}
