package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"clip4clip/internal/atomicfile"
	"clip4clip/model"
)

// defaultHub is where fetch downloads from without -hub or $HF_ENDPOINT.
const defaultHub = "https://huggingface.co"

// exampleRepo is the repo the messages suggest.
const exampleRepo = "openai/clip-vit-base-patch32"

func runFetch(args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	hub := fs.String("hub", hubBase(), "hub to download from: $HF_ENDPOINT if set, as huggingface_hub does, else "+defaultHub)
	revision := fs.String("revision", "main", "branch, tag or commit of the repo")
	dtypeName := fs.String("dtype", "int8", "weight format of the converted model: f32, f16 or int8")
	block := fs.Int("block", 0, "int8 only: elements of a row sharing one scale (0: one scale per row)")
	out := fs.String("o", "", "model file to write (default: "+filepath.Join(cacheRootHelp(), "models", "<owner>--<name>--<revision>--<dtype>.c4c")+")")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: clip4clip fetch [flags] OWNER/NAME

Downloads a CLIP ViT from the Hugging Face hub (e.g. %s:
config.json, vocab.json, merges.txt and model.safetensors, else
pytorch_model.bin), converts it into a model file and prints its path.
Downloads go to %s
($CLIP4CLIP_CACHE moves the cache) and are checked against the hub's size
and sha256; a cut-off download resumes when the command is run again.
$HF_TOKEN, if set, is sent as a bearer token, for gated or private repos.
Commands taking -model take hf:OWNER/NAME[@REV] too, fetching on first use.

`, exampleRepo, filepath.Join(cacheRootHelp(), "hf", "<owner>", "<name>", "<revision>"))
		fs.PrintDefaults()
	}
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("need one REPO, e.g. clip4clip fetch %s (see -h)", exampleRepo)
	}
	blockSet := false
	fs.Visit(func(f *flag.Flag) { blockSet = blockSet || f.Name == "block" })
	path, err := fetchModel(fetchSpec{
		Hub: *hub, HubHint: "set -hub to a mirror", Repo: rest[0], Revision: *revision,
		DType: *dtypeName, Block: *block, BlockSet: blockSet, Out: *out,
	})
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// fetchSpec is what to fetch and convert.
type fetchSpec struct {
	Hub      string // base URL
	HubHint  string // how to change Hub, for the offline message
	Repo     string // owner/name
	Revision string
	DType    string
	Block    int
	BlockSet bool
	Out      string // "" for the cache's models directory
}

// fetchModel downloads spec's repo into the cache and converts it, and
// returns the model file's path.
func fetchModel(spec fetchSpec) (string, error) {
	if err := checkRepoName(spec.Repo); err != nil {
		return "", err
	}
	if spec.Revision == "" {
		spec.Revision = "main"
	}
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	out := spec.Out
	if out == "" {
		out = cachedModelPath(root, spec.Repo, spec.Revision, spec.DType, spec.Block)
	}
	dir := filepath.Join(root, "hf", filepath.FromSlash(spec.Repo), url.PathEscape(spec.Revision))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFetch(dir, spec.Repo)
	if err != nil {
		return "", err
	}
	defer unlock()

	c := newHubClient(spec.Hub, spec.HubHint)
	man, err := c.fetchRepo(dir, spec.Repo, spec.Revision)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	// Convert beside out and rename: a model file in the cache is always
	// a whole one.
	tmp := out + ".tmp"
	defer os.Remove(tmp)
	args := []string{"-in", dir, "-out", tmp, "-dtype", spec.DType}
	if spec.BlockSet {
		args = append(args, "-block", strconv.Itoa(spec.Block))
	}
	for _, kv := range man.meta() {
		args = append(args, "-meta", kv)
	}
	if err := runConvert(args); err != nil {
		return "", fmt.Errorf("converting %s (downloaded to %s): %w", spec.Repo, dir, err)
	}
	if err := atomicfile.Rename(tmp, out); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "saved it as %s, with its source hf:%s@%s in the meta\n", out, spec.Repo, spec.Revision)
	return out, nil
}

// cachedModelPath is where a fetched repo's model file goes without -o.
func cachedModelPath(root, repo, rev, dtype string, block int) string {
	owner, name, _ := strings.Cut(repo, "/")
	if block > 0 {
		dtype += "-b" + strconv.Itoa(block)
	}
	return filepath.Join(root, "models", strings.Join([]string{owner, name, url.PathEscape(rev), dtype}, "--")+".c4c")
}

// meta is the download's origin as key=value pairs for the model file's
// meta, so that a model says which repo, commit and files it was made
// from.
func (man *manifest) meta() []string {
	var sums []string
	for _, name := range slices.Sorted(maps.Keys(man.Files)) {
		sums = append(sums, name+"="+man.Files[name].SHA256)
	}
	kv := []string{
		"source=hf:" + man.Repo + "@" + man.Revision + "/" + man.Weights,
		"source_hub=" + man.Hub,
		"source_repo=" + man.Repo,
		"source_revision=" + man.Revision,
		"source_sha256=" + strings.Join(sums, " "),
	}
	if man.Commit != "" {
		kv = append(kv, "source_commit="+man.Commit)
	}
	return kv
}

// hubBase is the default hub: $HF_ENDPOINT, as huggingface_hub reads it,
// else huggingface.co.
func hubBase() string {
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return strings.TrimRight(e, "/")
	}
	return defaultHub
}

// cacheRoot is $CLIP4CLIP_CACHE, else the user's cache directory's
// clip4clip folder.
func cacheRoot() (string, error) {
	if d := os.Getenv("CLIP4CLIP_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for downloads (%v): set $CLIP4CLIP_CACHE", err)
	}
	return filepath.Join(d, "clip4clip"), nil
}

// cacheRootHelp is cacheRoot for -h, which must not fail.
func cacheRootHelp() string {
	if d, err := cacheRoot(); err == nil {
		return d
	}
	return "$CLIP4CLIP_CACHE"
}

var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

func checkRepoName(repo string) error {
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return fmt.Errorf("%q is not a repo name: give owner/name as on the hub, e.g. %s", repo, exampleRepo)
	}
	return nil
}

// lockFetch takes dir's lock file, so that two fetches of one repo do not
// write the same part files; a lock whose process has gone is taken over.
func lockFetch(dir, repo string) (unlock func(), err error) {
	lock := filepath.Join(dir, ".lock")
	for try := 0; try < 2; try++ {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return func() { os.Remove(lock) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		data, _ := os.ReadFile(lock)
		pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		if perr == nil && pid > 0 && processAlive(pid) {
			return nil, fmt.Errorf("another clip4clip fetch is downloading %s (pid %d): wait for it to finish, or remove %s if that process is not clip4clip", repo, pid, lock)
		}
		fmt.Fprintf(os.Stderr, "note: taking over %s, left by a fetch that has ended\n", lock)
		os.Remove(lock)
	}
	return nil, fmt.Errorf("cannot take the lock %s: remove it if no clip4clip fetch is running", lock)
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// manifest is what fetch.json in a download directory records: where the
// files came from and their hashes, so a rerun from the cache knows them.
type manifest struct {
	Hub      string              `json:"hub"`
	Repo     string              `json:"repo"`
	Revision string              `json:"revision"`
	Commit   string              `json:"commit,omitempty"`
	Weights  string              `json:"weights"`
	Files    map[string]fileInfo `json:"files"`
}

type fileInfo struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// hubClient downloads files from a hub.
type hubClient struct {
	base   string
	hint   string // how to change base
	token  string // $HF_TOKEN
	client *http.Client
	// retries is how many times a transfer is resumed after it is cut off.
	retries int
	// stall is how long a transfer may go without a byte before it counts
	// as cut off.
	stall time.Duration
}

func newHubClient(base, hint string) *hubClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	return &hubClient{
		base:    strings.TrimRight(base, "/"),
		hint:    hint,
		token:   os.Getenv("HF_TOKEN"),
		client:  &http.Client{Transport: tr},
		retries: 4,
		stall:   time.Minute,
	}
}

// fetchRepo brings config.json, the tokenizer and the weights of repo at
// rev into dir (files already there are kept), checking config.json names
// a CLIP before downloading the weights.
func (c *hubClient) fetchRepo(dir, repo, rev string) (*manifest, error) {
	man := &manifest{Hub: c.base, Repo: repo, Revision: rev, Files: map[string]fileInfo{}}
	if old, err := os.ReadFile(filepath.Join(dir, "fetch.json")); err == nil {
		var m manifest
		if json.Unmarshal(old, &m) == nil && m.Repo == repo && m.Revision == rev && m.Files != nil {
			man = &m
		}
	}
	save := func() error {
		data, _ := json.MarshalIndent(man, "", "  ")
		return atomicfile.WriteFile(filepath.Join(dir, "fetch.json"), func(w io.Writer) error {
			_, err := w.Write(append(data, '\n'))
			return err
		})
	}
	get := func(name string) error {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && man.Files[name].Size == st.Size() && man.Files[name].SHA256 != "" {
			return nil // downloaded and checked before
		}
		info, commit, err := c.download(dir, repo, rev, name)
		if err != nil {
			return err
		}
		man.Files[name], man.Hub = info, c.base
		if commit != "" {
			man.Commit = commit
		}
		return save()
	}
	if err := get("config.json"); err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if err := checkCLIPConfig(repo, cfg); err != nil {
		return nil, err
	}
	for _, name := range []string{"vocab.json", "merges.txt"} {
		if err := get(name); err != nil {
			if errors.Is(err, errEntryNotFound) {
				return nil, fmt.Errorf("%s has no %s: fetch needs the CLIPTokenizer files vocab.json and merges.txt, as %s has", repo, name, exampleRepo)
			}
			return nil, err
		}
	}
	// The weights: model.safetensors, else pytorch_model.bin. A complete
	// .bin in the cache means the hub had no safetensors last time.
	weights := "model.safetensors"
	if !fileExists(filepath.Join(dir, weights)) && fileExists(filepath.Join(dir, "pytorch_model.bin")) {
		weights = "pytorch_model.bin"
	}
	err = get(weights)
	if errors.Is(err, errEntryNotFound) && weights == "model.safetensors" {
		fmt.Fprintf(os.Stderr, "note: %s has no model.safetensors; downloading pytorch_model.bin\n", repo)
		weights = "pytorch_model.bin"
		err = get(weights)
		if errors.Is(err, errEntryNotFound) {
			return nil, fmt.Errorf("%s has neither model.safetensors nor pytorch_model.bin: fetch takes transformers CLIP repos such as %s", repo, exampleRepo)
		}
	}
	if err != nil {
		return nil, err
	}
	man.Weights = weights
	return man, save()
}

// checkCLIPConfig refuses a config.json that is not a CLIP ViT, by the
// model's name (model.CheckHFConfig, as the page does).
func checkCLIPConfig(repo string, data []byte) error {
	if err := model.CheckHFConfig(data); err != nil {
		return fmt.Errorf("%s: %s", repo, strings.TrimPrefix(err.Error(), "model: "))
	}
	return nil
}

// errEntryNotFound is the hub's 404 for a file a repo does not have.
var errEntryNotFound = errors.New("no such file in the repo")

// fileURL is the resolve URL of repo's file at rev.
func (c *hubClient) fileURL(repo, rev, name string) string {
	owner, n, _ := strings.Cut(repo, "/")
	return c.base + "/" + url.PathEscape(owner) + "/" + url.PathEscape(n) + "/resolve/" + url.PathEscape(rev) + "/" + name
}

// download brings repo's file name into dir/name through dir/name.part,
// resuming the part file with a Range request when a transfer is cut off
// (here or in an earlier run), and checks its size and, where the hub
// gives it (X-Linked-Etag), its sha256 before renaming it into place. A
// file already in dir is not downloaded again. It returns the file's size
// and sha256, and the commit the hub resolved rev to ("" from the cache).
func (c *hubClient) download(dir, repo, rev, name string) (info fileInfo, commit string, err error) {
	dest := filepath.Join(dir, filepath.FromSlash(name))
	if st, err := os.Stat(dest); err == nil {
		sum, err := fileSHA256(dest)
		return fileInfo{Size: st.Size(), SHA256: sum}, "", err
	}
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fileInfo{}, "", err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fileInfo{}, "", err
	}
	label := repo + "/" + name
	var total int64 = -1
	var wantSum string
	var lastErr error
	prog := newDLProgress(label)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > c.retries {
				f.Close()
				f = nil
				return fileInfo{}, "", fmt.Errorf("downloading %s was cut off %d times (%v): kept the %s downloaded in %s; run the command again to resume", label, attempt, lastErr, mb(have), part)
			}
			time.Sleep(time.Duration(attempt) * 250 * time.Millisecond)
		}
		r, err := c.get(repo, rev, name, have)
		if err != nil {
			var ce *cutError
			var re *reachError
			switch {
			case errors.As(err, &re) && attempt == 0:
				return fileInfo{}, "", err
			case errors.As(err, &re):
				lastErr = re.err
				continue // the network went while resuming: try again
			case errors.As(err, &ce):
				lastErr = ce.err
				continue // the connection went: try again
			}
			return fileInfo{}, "", err
		}
		if r.commit != "" {
			commit = r.commit
		}
		if r.sha256 != "" {
			wantSum = r.sha256
		}
		if r.total >= 0 {
			total = r.total
		}
		if r.status == http.StatusRequestedRangeNotSatisfiable {
			r.close()
			if total >= 0 && have == total {
				break // the part file was complete
			}
			fmt.Fprintf(os.Stderr, "note: %s.part has %d bytes, more than the hub's %d: starting over\n", label, have, total)
			lastErr = fmt.Errorf("the hub refused the range from %d bytes", have)
			if have, err = restart(f); err != nil {
				return fileInfo{}, "", err
			}
			continue
		}
		if r.start != have {
			if r.start != 0 { // a range not asked for: ask again from 0
				r.close()
				if have, err = restart(f); err != nil {
					return fileInfo{}, "", err
				}
				continue
			}
			// The whole file, the hub ignoring Range: take it from 0.
			if have, err = restart(f); err != nil {
				r.close()
				return fileInfo{}, "", err
			}
		}
		if have > 0 {
			fmt.Fprintf(os.Stderr, "note: resuming %s at %s\n", label, mb(have))
		}
		prog.start(have, total)
		var body io.Reader = r.body
		if total >= 0 {
			// One byte past the size is enough to know it is wrong.
			body = io.LimitReader(body, total-have+1)
		}
		n, err := io.Copy(fileWriter{f}, &stallReader{r: prog.reader(body), cancel: r.cancel, stall: c.stall})
		r.close()
		have += n
		prog.finish(have)
		if err != nil {
			var we *writeError
			if errors.As(err, &we) {
				return fileInfo{}, "", fmt.Errorf("writing %s: %w", part, we.err)
			}
			lastErr = err
			continue
		}
		if total >= 0 && have < total {
			lastErr = fmt.Errorf("the transfer ended at %d of %d bytes", have, total)
			continue
		}
		break
	}
	if err := f.Sync(); err != nil {
		return fileInfo{}, "", err
	}
	f.Close()
	f = nil
	if total >= 0 && have != total {
		os.Remove(part)
		return fileInfo{}, "", fmt.Errorf("%s: the hub gives its size as %d bytes but sent more: deleted the download (it is not loaded); run the command again, and if it fails again try another -hub", label, total)
	}
	sum, err := fileSHA256(part)
	if err != nil {
		return fileInfo{}, "", err
	}
	if wantSum != "" && sum != wantSum {
		os.Remove(part)
		return fileInfo{}, "", fmt.Errorf("%s: the downloaded bytes have sha256 %s but the hub gives %s: deleted the download (it is not loaded); run the command again, and if it fails again try another -hub", label, sum, wantSum)
	}
	if err := atomicfile.Rename(part, dest); err != nil {
		return fileInfo{}, "", err
	}
	return fileInfo{Size: have, SHA256: sum}, commit, nil
}

// restart empties a part file.
func restart(f *os.File) (int64, error) {
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	return f.Seek(0, io.SeekStart)
}

// response is one answered GET of a file.
type response struct {
	status int
	body   io.ReadCloser
	cancel context.CancelFunc
	start  int64  // offset of the body's first byte
	total  int64  // the file's size, -1 if not told
	sha256 string // X-Linked-Etag of an LFS file, hex
	commit string // X-Repo-Commit
}

func (r *response) close() {
	r.body.Close()
	r.cancel()
}

// cutError is a request that failed on the way (connection refused or
// reset), which a retry may get through.
type cutError struct{ err error }

func (e *cutError) Error() string { return e.err.Error() }

// reachError is a hub that cannot be dialled.
type reachError struct{ err error }

func (e *reachError) Error() string { return e.err.Error() }

// get requests name from offset on. Errors name the problem for the user;
// a 404 for a missing file is errEntryNotFound.
func (c *hubClient) get(repo, rev, name string, offset int64) (*response, error) {
	u := c.fileURL(repo, rev, name)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// The hub answers an LFS file with a redirect whose headers carry the
	// file's sha256 and size; the client follows it (keeping Range, and
	// dropping Authorization on the way to another host).
	var linked http.Header
	client := *c.client
	client.CheckRedirect = func(next *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if next.Response != nil && next.Response.Header.Get("X-Linked-Etag") != "" {
			linked = next.Response.Header
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		var op *net.OpError
		var dns *net.DNSError
		if errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") {
			msg := err.Error()
			if op != nil {
				msg = op.Error()
			} else if dns != nil {
				msg = dns.Error()
			}
			return nil, &reachError{fmt.Errorf("cannot reach %s: %s (offline? %s)", c.base, msg, c.hint)}
		}
		return nil, &cutError{err}
	}
	r := &response{status: resp.StatusCode, body: resp.Body, cancel: cancel, total: -1, commit: resp.Header.Get("X-Repo-Commit")}
	if linked != nil {
		r.sha256 = strings.Trim(strings.TrimPrefix(linked.Get("X-Linked-Etag"), "W/"), `"`)
		if n, err := strconv.ParseInt(linked.Get("X-Linked-Size"), 10, 64); err == nil {
			r.total = n
		}
		if r.commit == "" {
			r.commit = linked.Get("X-Repo-Commit")
		}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if r.total < 0 && resp.ContentLength >= 0 {
			r.total = resp.ContentLength
		}
		return r, nil
	case http.StatusPartialContent:
		start, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			resp.Body.Close()
			cancel()
			return nil, fmt.Errorf("%s: the hub answered a range with Content-Range %q", u, resp.Header.Get("Content-Range"))
		}
		r.start = start
		if r.total < 0 {
			r.total = size
		}
		return r, nil
	case http.StatusRequestedRangeNotSatisfiable:
		if _, _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && r.total < 0 {
			r.total = size
		}
		return r, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	cancel()
	code := resp.Header.Get("X-Error-Code")
	page := c.base + "/" + repo
	switch {
	case resp.StatusCode == http.StatusNotFound && code == "EntryNotFound":
		return nil, fmt.Errorf("%s: %w", u, errEntryNotFound)
	case resp.StatusCode == http.StatusNotFound && code == "RevisionNotFound":
		return nil, fmt.Errorf("%s has no revision %q on %s: check -revision (a branch, tag or commit)", repo, rev, c.base)
	case resp.StatusCode == http.StatusNotFound && (code == "RepoNotFound" || code == ""):
		return nil, fmt.Errorf("no repository %s on %s: check the name (e.g. %s)", repo, c.base, exampleRepo)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		what := "gated or private"
		if code == "RepoNotFound" {
			what = "private or does not exist"
		}
		if c.token != "" {
			return nil, fmt.Errorf("%s is %s and the hub refused $HF_TOKEN (%d): accept its licence on %s with that account, or check the token", repo, what, resp.StatusCode, page)
		}
		return nil, fmt.Errorf("%s is %s (%d): accept its licence on %s and set $HF_TOKEN to a read token (without it this tool sends no token)", repo, what, resp.StatusCode, page)
	case resp.StatusCode >= 500:
		return nil, &cutError{fmt.Errorf("%s answered %s", u, resp.Status)}
	}
	return nil, fmt.Errorf("%s answered %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
}

// parseContentRange reads "bytes a-b/size" (size may be "*") or
// "bytes */size".
func parseContentRange(s string) (start, end, size int64, ok bool) {
	spec, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rg, sz, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, 0, false
	}
	size = -1
	if sz != "*" {
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		size = n
	}
	if rg == "*" {
		return 0, 0, size, true
	}
	a, b, found := strings.Cut(rg, "-")
	if !found {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return start, end, size, true
}

// writeError marks a failure to write the part file, which no retry
// mends.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// fileWriter tells write errors apart from read errors in io.Copy.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// stallReader cancels a transfer that goes stall without a byte, which
// then counts as cut off.
type stallReader struct {
	r      io.Reader
	cancel context.CancelFunc
	stall  time.Duration
	timer  *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.timer == nil {
		s.timer = time.AfterFunc(s.stall, s.cancel)
	} else {
		s.timer.Reset(s.stall)
	}
	n, err := s.r.Read(p)
	if err != nil {
		s.timer.Stop()
	}
	return n, err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// progressMin is the size from which a download shows progress.
const progressMin = 1 << 20

// dlProgress reports a download on stderr: rewritten in place (\r) on a
// terminal, else a line at each quarter.
type dlProgress struct {
	label    string
	tty      bool
	total    int64
	done     int64
	base     int64 // bytes present when this transfer started
	t0       time.Time
	last     time.Time
	quarter  int64
	printed  bool
	disabled bool
}

func newDLProgress(label string) *dlProgress {
	st, err := os.Stderr.Stat()
	return &dlProgress{label: label, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *dlProgress) start(have, total int64) {
	p.total, p.done, p.base, p.t0, p.last = total, have, have, time.Now(), time.Now()
	p.disabled = total < progressMin
	if total > 0 {
		p.quarter = have * 4 / total
	}
}

func (p *dlProgress) reader(r io.Reader) io.Reader { return &dlProgressReader{r, p} }

type dlProgressReader struct {
	r io.Reader
	p *dlProgress
}

func (pr *dlProgressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.add(int64(n))
	return n, err
}

func (p *dlProgress) add(n int64) {
	p.done += n
	if p.disabled {
		return
	}
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) >= 200*time.Millisecond {
			p.last = now
			fmt.Fprintf(os.Stderr, "\r%s\x1b[K", p.line(now))
			p.printed = true
		}
		return
	}
	if q := p.done * 4 / p.total; q > p.quarter || now.Sub(p.last) >= 10*time.Second {
		p.quarter, p.last = q, now
		fmt.Fprintln(os.Stderr, p.line(now))
	}
}

// finish ends the progress display of one transfer.
func (p *dlProgress) finish(have int64) {
	if p.disabled {
		return
	}
	if p.tty && p.printed {
		fmt.Fprintf(os.Stderr, "\r%s\x1b[K\n", p.line(time.Now()))
		p.printed = false
	}
}

// line is "repo/file: 12.0/15.1 MB (79%), 8.2 MB/s, 0s left".
func (p *dlProgress) line(now time.Time) string {
	secs := now.Sub(p.t0).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.done-p.base) / secs
	}
	left := "?"
	if rate > 0 && p.total > 0 {
		left = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %.1f/%.1f MB (%d%%), %.1f MB/s, %s left", p.label, float64(p.done)/1e6, float64(p.total)/1e6, p.done*100/max(p.total, 1), rate/1e6, left)
}
