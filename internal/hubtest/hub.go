// Package hubtest is a local stand-in for the Hugging Face hub, for tests:
// a hub origin that serves {hub}/{owner}/{name}/resolve/{revision}/{file}
// and a second origin, the "CDN", that large files are redirected to, with
// the headers, CORS, ranges and errors of the real hub, plus failure
// injection (cut-off transfers, corrupt bytes, gated repos).
//
// It mirrors what huggingface_hub's file_download.py relies on:
// https://github.com/huggingface/huggingface_hub/blob/main/src/huggingface_hub/file_download.py
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DefaultLFSThreshold is the size from which a file is stored in LFS and
// redirected to the CDN whatever its extension: the hub's 10 MB.
const DefaultLFSThreshold = 10 << 20

// lfsExt are the extensions the hub's default .gitattributes puts in LFS.
var lfsExt = []string{".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".gz", ".zip", ".npy"}

// Hub is a running mock hub. URL is the base a client resolves files
// against ({URL}/{owner}/{name}/resolve/{revision}/{file}); CDNURL is the
// origin large files are redirected to (same host, another port, so
// another origin for a browser).
type Hub struct {
	URL    string
	CDNURL string

	hub, cdn *httptest.Server

	mu        sync.Mutex
	threshold int64
	repos     map[string]*repo
	drops     map[fileKey]drop
	corrupt   map[fileKey]bool
	sizes     map[fileKey]int64
	tokens    map[string]bool
	log       []*Request
}

// Request is one request the hub or the CDN answered.
type Request struct {
	Method string
	Origin string // "hub" or "cdn"
	Host   string // the origin's host:port
	Path   string // the escaped URL path
	Range  string // the Range header, "" if none
	Auth   bool   // whether an Authorization header was sent
	Status int    // the status answered (0 until the header is written)
	Sent   int64  // body bytes written (or offered, for a cut-off transfer)
}

type repo struct {
	gate int                         // 0, or the status every file answers
	revs map[string]map[string]*file // revision -> file name -> file
}

type file struct {
	data   []byte
	sha256 string // hex
	sha1   string // git blob sha1, hex: the ETag the hub gives small files
	lfs    bool
}

type fileKey struct{ repo, name string }

type drop struct {
	after int64 // body bytes sent before the connection is closed
	times int   // transfers still to cut
}

// Option configures New.
type Option func(*Hub)

// WithLFSThreshold sets the size from which any file is redirected to the
// CDN (default DefaultLFSThreshold); files with LFS extensions always are.
func WithLFSThreshold(n int64) Option { return func(h *Hub) { h.threshold = n } }

// New starts a hub and its CDN. Close them with Close.
func New(opts ...Option) *Hub {
	h := &Hub{
		threshold: DefaultLFSThreshold,
		repos:     map[string]*repo{},
		drops:     map[fileKey]drop{},
		corrupt:   map[fileKey]bool{},
		sizes:     map[fileKey]int64{},
		tokens:    map[string]bool{},
	}
	for _, o := range opts {
		o(h)
	}
	h.hub = httptest.NewServer(http.HandlerFunc(h.serveHub))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	h.URL, h.CDNURL = h.hub.URL, h.cdn.URL
	return h
}

// Close shuts both servers down.
func (h *Hub) Close() {
	h.hub.CloseClientConnections()
	h.cdn.CloseClientConnections()
	h.hub.Close()
	h.cdn.Close()
}

// Add stores files under repo ("owner/name") at revision ("" is "main"),
// beside any the revision already has.
func (h *Hub) Add(repoID, revision string, files map[string][]byte) {
	if revision == "" {
		revision = "main"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[repoID]
	if r == nil {
		r = &repo{revs: map[string]map[string]*file{}}
		h.repos[repoID] = r
	}
	if r.revs[revision] == nil {
		r.revs[revision] = map[string]*file{}
	}
	for name, data := range files {
		s256 := sha256.Sum256(data)
		s1 := sha1.New()
		fmt.Fprintf(s1, "blob %d\x00", len(data))
		s1.Write(data)
		r.revs[revision][name] = &file{
			data:   data,
			sha256: hex.EncodeToString(s256[:]),
			sha1:   hex.EncodeToString(s1.Sum(nil)),
			lfs:    isLFS(name, int64(len(data)), h.threshold),
		}
	}
}

func isLFS(name string, size, threshold int64) bool {
	if size >= threshold {
		return true
	}
	for _, e := range lfsExt {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// DropAfter makes the next transfer (full or ranged) of repo's file stop
// after n body bytes by closing the connection, once.
func (h *Hub) DropAfter(repoID, name string, n int64) { h.DropTimes(repoID, name, n, 1) }

// DropTimes is DropAfter for the next times transfers of the file, each cut
// after n bytes of its own body; times 0 cancels.
func (h *Hub) DropTimes(repoID, name string, n int64, times int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if times <= 0 {
		delete(h.drops, fileKey{repoID, name})
		return
	}
	h.drops[fileKey{repoID, name}] = drop{n, times}
}

// Gate makes every file of repo answer status (401 or 403, X-Error-Code
// GatedRepo) unless the request carries a token given to AllowToken; 0
// lifts the gate.
func (h *Hub) Gate(repoID string, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[repoID]
	if r == nil {
		r = &repo{revs: map[string]map[string]*file{}}
		h.repos[repoID] = r
	}
	r.gate = status
}

// AllowToken lets requests with "Authorization: Bearer token" through gates.
func (h *Hub) AllowToken(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens[token] = true
}

// Corrupt makes repo's file be served with one byte changed: same size,
// but not the advertised sha256.
func (h *Hub) Corrupt(repoID, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.corrupt[fileKey{repoID, name}] = true
}

// AdvertiseSize makes the hub's redirect for repo's file give n as its
// X-Linked-Size, whatever the bytes served: a size mismatch.
func (h *Hub) AdvertiseSize(repoID, name string, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sizes[fileKey{repoID, name}] = n
}

// Requests returns a copy of the log of requests answered so far, oldest
// first.
func (h *Hub) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Request, len(h.log))
	for i, r := range h.log {
		out[i] = *r
	}
	return out
}

// ResetRequests empties the request log.
func (h *Hub) ResetRequests() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = nil
}

// SHA256 returns the hex sha256 and size of repo's file at revision ("" is
// "main"), as the hub advertises them; ok is false if there is no such file.
func (h *Hub) SHA256(repoID, revision, name string) (sum string, size int64, ok bool) {
	if revision == "" {
		revision = "main"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[repoID]
	if r == nil || r.revs[revision] == nil || r.revs[revision][name] == nil {
		return "", 0, false
	}
	f := r.revs[revision][name]
	return f.sha256, int64(len(f.data)), true
}

// Unreachable returns a base URL on which nothing listens: a client sees a
// dial error, as when offline.
func Unreachable() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "http://127.0.0.1:1"
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// record logs r and returns its entry, for the handler to fill in.
func (h *Hub) record(origin string, r *http.Request) *Request {
	e := &Request{Method: r.Method, Origin: origin, Host: r.Host, Path: r.URL.EscapedPath(), Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization") != ""}
	h.mu.Lock()
	h.log = append(h.log, e)
	h.mu.Unlock()
	return e
}

// logWriter counts the status and body bytes into the log entry.
type logWriter struct {
	http.ResponseWriter
	h *Hub
	e *Request
}

func (w *logWriter) WriteHeader(status int) {
	w.h.mu.Lock()
	w.e.Status = status
	w.h.mu.Unlock()
	w.ResponseWriter.WriteHeader(status)
}

func (w *logWriter) Write(p []byte) (int, error) {
	// Counted before writing, so a client that has read the bytes sees them
	// in the log.
	w.h.mu.Lock()
	if w.e.Status == 0 {
		w.e.Status = http.StatusOK
	}
	w.e.Sent += int64(len(p))
	w.h.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

// cors sets the headers both origins send, as the real hub does, so that a
// page on another origin can read ranges and the linked size and etag.
func cors(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag, X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message, X-Repo-Commit, Location")
}

// preflight answers an OPTIONS request, allowing Range (and Authorization).
func preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	allow := "Range, Authorization, Content-Type, If-None-Match, If-Range"
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		allow += ", " + req
	}
	hd.Set("Access-Control-Allow-Headers", allow)
	hd.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, msg)
}

// serveHub answers {owner}/{name}/resolve/{revision}/{file}.
func (h *Hub) serveHub(rw http.ResponseWriter, r *http.Request) {
	e := h.record("hub", r)
	w := &logWriter{rw, h, e}
	cors(w)
	if r.Method == http.MethodOptions {
		preflight(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hubError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/models/") {
		h.serveTree(w, r)
		return
	}
	repoID, rev, name, ok := splitResolve(r.URL.EscapedPath())
	if !ok {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	h.mu.Lock()
	rp := h.repos[repoID]
	var f *file
	gate, known, revOK := 0, rp != nil, false
	if rp != nil {
		gate = rp.gate
		if files := rp.revs[rev]; files != nil {
			revOK = true
			f = files[name]
		}
	}
	tokenOK := h.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	size, sizeSet := h.sizes[fileKey{repoID, name}]
	h.mu.Unlock()
	switch {
	case !known:
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	case gate != 0 && !tokenOK:
		hubError(w, gate, "GatedRepo", fmt.Sprintf("Access to model %s is restricted. You must have access to it and be authenticated to access it. Please log in.", repoID))
		return
	case !revOK:
		hubError(w, http.StatusNotFound, "RevisionNotFound", fmt.Sprintf("Invalid rev id: %s", rev))
		return
	case f == nil:
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist on %q", name, rev))
		return
	}
	hd := w.Header()
	hd.Set("X-Repo-Commit", commitOf(repoID, rev))
	if f.lfs {
		loc := h.CDNURL + "/repos/" + repoID + "/" + f.sha256 + "?file=" + url.QueryEscape(name)
		hd.Set("Location", loc)
		hd.Set("X-Linked-Etag", `"`+f.sha256+`"`)
		if !sizeSet {
			size = int64(len(f.data))
		}
		hd.Set("X-Linked-Size", strconv.FormatInt(size, 10))
		hd.Set("ETag", `"`+f.sha256+`"`)
		w.WriteHeader(http.StatusFound)
		return
	}
	hd.Set("ETag", `"`+f.sha1+`"`)
	h.serveBody(w, r, repoID, name, f)
}

// serveTree answers the hub API's /api/models/{owner}/{name}/tree/{revision}:
// the revision's files, each with its git blob id and size, and for LFS
// files lfs.oid (the SHA-256) and lfs.size, as the real hub lists them.
func (h *Hub) serveTree(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/models/")
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 || parts[2] != "tree" {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	repoID, rev := parts[0]+"/"+parts[1], strings.TrimSuffix(parts[3], "/")
	h.mu.Lock()
	rp := h.repos[repoID]
	tokenOK := h.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	var files map[string]*file
	gate := 0
	if rp != nil {
		files, gate = rp.revs[rev], rp.gate
	}
	sizes := map[string]int64{}
	for name := range files {
		if n, ok := h.sizes[fileKey{repoID, name}]; ok {
			sizes[name] = n
		}
	}
	h.mu.Unlock()
	switch {
	case rp == nil:
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	case gate != 0 && !tokenOK:
		hubError(w, gate, "GatedRepo", fmt.Sprintf("Access to model %s is restricted.", repoID))
		return
	case files == nil:
		hubError(w, http.StatusNotFound, "RevisionNotFound", fmt.Sprintf("Invalid rev id: %s", rev))
		return
	}
	type lfs struct {
		Oid         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type entry struct {
		Type string `json:"type"`
		Oid  string `json:"oid"`
		Size int64  `json:"size"`
		Path string `json:"path"`
		LFS  *lfs   `json:"lfs,omitempty"`
	}
	var out []entry
	for name, f := range files {
		e := entry{Type: "file", Oid: f.sha1, Size: int64(len(f.data)), Path: name}
		if f.lfs {
			e.LFS = &lfs{Oid: f.sha256, Size: int64(len(f.data)), PointerSize: 134}
			if n, ok := sizes[name]; ok {
				e.LFS.Size = n
			}
			e.Size = e.LFS.Size
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// serveCDN answers /repos/{owner}/{name}/{sha256}?file={name}.
func (h *Hub) serveCDN(rw http.ResponseWriter, r *http.Request) {
	e := h.record("cdn", r)
	w := &logWriter{rw, h, e}
	cors(w)
	if r.Method == http.MethodOptions {
		preflight(w, r)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/repos/")
	i := strings.LastIndexByte(p, '/')
	name := r.URL.Query().Get("file")
	var f *file
	var repoID string
	if i > 0 && p != r.URL.Path {
		repoID = p[:i]
		sum := p[i+1:]
		h.mu.Lock()
		if rp := h.repos[repoID]; rp != nil {
			for _, files := range rp.revs {
				if c := files[name]; c != nil && c.sha256 == sum {
					f = c
				}
			}
		}
		h.mu.Unlock()
	}
	if f == nil {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<Error><Code>NoSuchKey</Code></Error>")
		return
	}
	w.Header().Set("ETag", `"`+f.sha256+`"`)
	h.serveBody(w, r, repoID, name, f)
}

// serveBody writes f's bytes, or the range asked for, applying any drop or
// corruption set for it.
func (h *Hub) serveBody(w *logWriter, r *http.Request, repoID, name string, f *file) {
	key := fileKey{repoID, name}
	h.mu.Lock()
	data := f.data
	if h.corrupt[key] && len(data) > 0 {
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0xff
	}
	h.mu.Unlock()

	size := int64(len(data))
	hd := w.Header()
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", contentType(name))
	status := http.StatusOK
	start, end := int64(0), size // [start, end)
	if rg := r.Header.Get("Range"); rg != "" {
		a, b, ok, satisfiable := parseRange(rg, size)
		if ok && !satisfiable {
			hd.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			hd.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if ok {
			start, end, status = a, b, http.StatusPartialContent
			hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b-1, size))
		}
	}
	body := data[start:end]
	hd.Set("Content-Length", strconv.FormatInt(int64(len(body)), 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	drop, dropping := h.takeDrop(key)
	if !dropping || drop >= int64(len(body)) {
		w.Write(body)
		return
	}
	w.Write(body[:drop])
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// takeDrop consumes one cut-off transfer of key, if one is set.
func (h *Hub) takeDrop(key fileKey) (after int64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.drops[key]
	if !ok {
		return 0, false
	}
	if d.times--; d.times == 0 {
		delete(h.drops, key)
	} else {
		h.drops[key] = d
	}
	return d.after, true
}

// parseRange reads "bytes=a-", "bytes=a-b" or "bytes=-n" against size into
// [start, end). ok is false for a header this server ignores (several
// ranges, another unit), which is then answered with the whole file.
func parseRange(h string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(0, size-n), size, true, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e + 1, true, true
}

// splitResolve splits an escaped /{owner}/{name}/resolve/{revision}/{file}
// path. The revision may be escaped ("refs%2Fpr%2F1"); the file may have
// folders.
func splitResolve(p string) (repoID, rev, name string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" || parts[0] == "" || parts[1] == "" || parts[4] == "" {
		return "", "", "", false
	}
	var err error
	if rev, err = url.PathUnescape(parts[3]); err != nil {
		return "", "", "", false
	}
	if name, err = url.PathUnescape(parts[4]); err != nil {
		return "", "", "", false
	}
	owner, err1 := url.PathUnescape(parts[0])
	repoName, err2 := url.PathUnescape(parts[1])
	if err1 != nil || err2 != nil {
		return "", "", "", false
	}
	return owner + "/" + repoName, rev, path.Clean(name), true
}

// commitOf is a stable fake 40-digit commit for a repo's revision.
func commitOf(repoID, rev string) string {
	s := sha1.Sum([]byte(repoID + "@" + rev))
	return hex.EncodeToString(s[:])
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json; charset=utf-8"
	case strings.HasSuffix(name, ".txt"):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
