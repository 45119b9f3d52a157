//go:build !js

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"clip4clip/internal/hubtest"
	"clip4clip/internal/npy"
	"clip4clip/internal/testenv"
	"clip4clip/model"
)

// The "Get a real model" tests: the page downloads the fixture tiny CLIP
// in Hugging Face layout from a local mock of the hub (internal/hubtest,
// which redirects the weights to a second origin as the real hub does),
// converts it in its convert worker and loads it.

const tinyRepo = "test/tiny-clip"

// shared is the shared folder beside the repository (fixtures is in it).
const shared = "../../shared"

// fixtureHub starts a mock hub with the fixture CLIP as tinyRepo, or
// reports the fixtures missing (testenv.Missing).
func fixtureHub(t *testing.T) (*hubtest.Hub, map[string][]byte) {
	t.Helper()
	files, err := hubtest.FixtureCLIP(shared)
	if errors.Is(err, os.ErrNotExist) {
		testenv.Fixtures(t, shared+"/fixtures")
		testenv.Missing(t, "the fixture CLIP is missing from ../shared/fixtures (%v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	hub := hubtest.New()
	t.Cleanup(hub.Close)
	hub.Add(tinyRepo, "", files)
	return hub, files
}

// fetchPage is a tab on the app with ?hub= set to a mock hub.
type fetchPage struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func openFetchPage(t *testing.T, hub string, timeout time.Duration, query string) (*fetchPage, func()) {
	chromium(t)
	base, _ := startServer(t, buildSite(t))
	bctx, cancel := browser(t)
	ctx, cancelT := context.WithTimeout(bctx, timeout)
	p := &fetchPage{t: t, ctx: ctx, base: base}
	p.do("open the page", chromedp.Navigate(base+"?debug=1&hub="+url.QueryEscape(hub)+query))
	waitFor(t, ctx, "the page", `window.__clip4clip !== undefined`, 20*time.Second)
	return p, func() {
		cancelT()
		cancel()
	}
}

func (p *fetchPage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// pickModel loads the tiny model file as the model in use and returns its id.
func (p *fetchPage) pickModel(path string) string {
	p.t.Helper()
	p.do("pick the model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{path}))
	waitFor(p.t, p.ctx, "the model", `window.__clip4clip.state().ready && window.__clip4clip.state().model.source === 'file'`, 30*time.Second)
	return state(p.t, p.ctx).Model.ID
}

// getModel starts a download through the page's hook (as the dialog's
// button does).
func (p *fetchPage) getModel(repo, dtype string) {
	p.t.Helper()
	if !eval[bool](p.t, p.ctx, fmt.Sprintf(`window.__clip4clip.getModel({repo: %q, dtype: %q})`, repo, dtype)) {
		p.t.Fatalf("the page refused to download %s: %s", repo, messages(p.t, p.ctx))
	}
}

// waitConverted waits for a converted model other than prev to be loaded.
func (p *fetchPage) waitConverted(prev string) {
	p.t.Helper()
	waitFor(p.t, p.ctx, "the converted model", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.ready && s.model && s.model.source === 'converted' && s.model.id !== %q && !s.convert.running; })()`, prev), 90*time.Second)
}

// waitMessage waits for a message of kind (error, warning, info) with all of parts.
func (p *fetchPage) waitMessage(kind string, parts ...string) {
	p.t.Helper()
	conds := make([]string, len(parts))
	for i, s := range parts {
		conds[i] = fmt.Sprintf("m.textContent.includes(%q)", s)
	}
	waitFor(p.t, p.ctx, fmt.Sprintf("a %s message with %q", kind, parts), fmt.Sprintf(`[...document.querySelectorAll('.message.%s')].some(m => %s)`, kind, strings.Join(conds, " && ")), 60*time.Second)
}

// idle waits until no download runs.
func (p *fetchPage) idle() {
	p.t.Helper()
	waitFor(p.t, p.ctx, "the download to stop", `!window.__clip4clip.state().convert.running`, 60*time.Second)
}

// stillLoaded checks that the model in use is still id and ready.
func (p *fetchPage) stillLoaded(what, id string) {
	p.t.Helper()
	st := state(p.t, p.ctx)
	if st.Model == nil || st.Model.ID != id {
		p.t.Errorf("%s: the model in use changed: %+v", what, st.Model)
	}
	if !eval[bool](p.t, p.ctx, `window.__clip4clip.state().ready`) {
		p.t.Errorf("%s: the page is not ready", what)
	}
}

func (p *fetchPage) clearMessages() {
	eval[bool](p.t, p.ctx, `(document.querySelector('#messages').textContent = '', true)`)
}

// checkConverted compares the loaded model with the fixture's features on
// its inputs: natively on the model file the page made (images and texts)
// and in the page (the query encoder on the captions), by max |diff| for
// f32 and by cosine for int8 and f16.
func (p *fetchPage) checkConverted(dtype string) {
	t := p.t
	t.Helper()
	b64 := eval[string](t, p.ctx, `window.__clip4clip.modelBytes()`)
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(data)
	if err != nil {
		t.Fatalf("the page's model file does not load natively: %v", err)
	}
	if got := m.Meta["dtype"]; got != dtype {
		t.Errorf("the page's model is %s, want %s", got, dtype)
	}
	read := func(name string) (*npy.Array, []float32) {
		a, err := npy.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		if a.DType[1] == 'i' {
			return a, nil
		}
		v, err := a.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return a, v
	}
	pa, pix := read("preprocess/pixel_values.npy")
	ta, _ := read("clip/text_tokens.npy")
	ids64, err := ta.Int64()
	if err != nil {
		t.Fatal(err)
	}
	_, wantImg := read("clip/image_features.npy")
	_, wantTxt := read("clip/text_features.npy")
	e := m.NewEncoder()
	d := m.Config.EmbedDim
	compare := func(what string, want, got []float32) {
		t.Helper()
		switch dtype {
		case "f32":
			if diff := maxAbsDiff(want, got); diff > 1e-4 {
				t.Errorf("%s: max |diff| %g > 1e-4 (got %v..., want %v...)", what, diff, got[:4], want[:4])
			}
		default:
			min := map[string]float64{"int8": 0.995, "f16": 0.9999}[dtype]
			if c := cosine(want, got); c < min {
				t.Errorf("%s: cosine %.6f < %g (got %v..., want %v...)", what, c, min, got[:4], want[:4])
			}
		}
	}
	size := len(pix) / pa.Shape[0]
	for i := 0; i < pa.Shape[0]; i++ {
		got := make([]float32, d)
		if err := e.EncodeImage(got, pix[i*size:(i+1)*size]); err != nil {
			t.Fatal(err)
		}
		compare(fmt.Sprintf("image %d", i), wantImg[i*d:(i+1)*d], got)
	}
	L := ta.Shape[1]
	for i := 0; i < ta.Shape[0]; i++ {
		ids := make([]int, L)
		for j := range ids {
			ids[j] = int(ids64[i*L+j])
		}
		got := make([]float32, d)
		if err := e.EncodeText(got, ids); err != nil {
			t.Fatal(err)
		}
		compare(fmt.Sprintf("text %d", i), wantTxt[i*d:(i+1)*d], got)
	}
	// The page's own query encoder on the captions: its feature is unit
	// length, so by cosine (f32: to 1e-6).
	var captions []string
	if b, err := os.ReadFile(filepath.Join(fixtures, "clip", "captions.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &captions); err != nil {
		t.Fatal(err)
	}
	for i, c := range captions {
		q := eval[struct{ Feature string }](t, p.ctx, fmt.Sprintf(`window.__clip4clip.queryFeature(%q)`, c))
		got := float32s(t, q.Feature)
		min := map[string]float64{"f32": 1 - 1e-6, "int8": 0.995, "f16": 0.9999}[dtype]
		if cs := cosine(wantTxt[i*d:(i+1)*d], got); cs < min {
			t.Errorf("the page's query feature of %q: cosine %.7f to the fixture's < %g", c, cs, min)
		}
	}
}

// rangeStarts lists the first byte of each ranged request for file, and
// counts its requests without a range.
func rangeStarts(reqs []hubtest.Request, file string) (starts []int64, whole int) {
	for _, r := range reqs {
		if r.Origin != "hub" || r.Method != "GET" || !strings.HasSuffix(r.Path, "/"+file) {
			continue
		}
		if r.Range == "" {
			whole++
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r.Range, "bytes="), "-"), 10, 64)
		starts = append(starts, n)
	}
	return starts, whole
}

// TestFetchModel downloads the fixture CLIP from the mock hub through the
// dialog (int8), checks its features and its model card, then reloads the
// page while recording every request: the model loads from the browser's
// storage and indexing and searching a video ask nothing of any origin but
// the page's. Last, with the hub stopped, the model still loads.
func TestFetchModel(t *testing.T) {
	hub, _ := fixtureHub(t)
	p, done := openFetchPage(t, hub.URL, 4*time.Minute, "")
	defer done()
	ctx := p.ctx

	// The dialog: the catalogue, the privacy note, another repository.
	p.do("open the dialog", chromedp.Click(chromedp.CSS("#get-model-open")))
	waitFor(t, ctx, "the dialog", `document.querySelector('#get-model').open`, 5*time.Second)
	text := eval[string](t, ctx, `document.querySelector('#get-model').textContent`)
	for _, want := range []string{"only network request", "No video, frame or query", "openai/clip-vit-base-patch32", "605 MB", "about 153 MB", "openai/clip-vit-base-patch16", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "Searchium-ai/clip4clip-webvid150k", "openai/clip-vit-large-patch14", "large and slow", "suggested"} {
		if !strings.Contains(text, want) {
			t.Errorf("the dialog does not say %q", want)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector('#convert-hub').value`); got != hub.URL {
		t.Errorf("the hub field is %q, want ?hub=%s", got, hub.URL)
	}
	screenshot(t, ctx, "fetch-dialog.png")
	p.do("another repository", chromedp.Click(chromedp.CSS("#repo-other")), chromedp.SendKeys(chromedp.CSS("#repo-other"), tinyRepo))
	p.do("download", chromedp.Click(chromedp.CSS("#convert-start")))
	p.waitConverted("")
	if eval[bool](t, ctx, `document.querySelector('#get-model').open`) {
		t.Error("the dialog is still open after the download started")
	}
	p.checkConverted("int8")
	facts := eval[string](t, ctx, `document.querySelector('#model-facts').textContent`)
	sum, _, _ := hub.SHA256(tinyRepo, "", "model.safetensors")
	for _, want := range []string{tinyRepo, "revision main", hub.URL, "Probe cosines", "model.safetensors " + sum, "matched the hub", "int8"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the model card does not say %q: %s", want, facts)
		}
	}
	st := eval[struct {
		Model struct {
			Origin struct {
				Repo, Revision, Hub, DType string
				SHA256                     map[string]string
				Probes                     struct{ Min float64 }
			}
		}
	}](t, ctx, `window.__clip4clip.state()`)
	if o := st.Model.Origin; o.Repo != tinyRepo || o.Revision != "main" || o.Hub != hub.URL || o.SHA256["model.safetensors"] != sum || o.Probes.Min < 0.99 {
		t.Errorf("the model's origin: %+v", o)
	}
	id := state(t, ctx).Model.ID
	screenshot(t, ctx, "fetch-converted.png")

	// Privacy: every request from the reload on, while the model loads,
	// a video is indexed and searched.
	var mu sync.Mutex
	var urls []string
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	hub.ResetRequests()
	p.do("reload", chromedp.Reload())
	waitFor(t, ctx, "the converted model again", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
	if st := state(t, ctx); st.Model.ID != id || st.Model.Source != "cache" {
		t.Errorf("after a reload: model %s from %q, want %s from the cache", st.Model.ID, st.Model.Source, id)
	}
	video := makeVideo(t, t.TempDir(), "private.webm", 6, 2, 160, 120, 45)
	p.do("add a video", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{video}))
	waitFor(t, ctx, "the video indexed", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 1 && s.videos[0].status === 'indexed' && !s.indexing; })()`, 60*time.Second)
	p.do("search", chromedp.SendKeys(chromedp.CSS("#query"), "a white square\n"))
	waitFor(t, ctx, "results", `(() => { const s = window.__clip4clip.state(); return s.results && s.results.hits.length === 1; })()`, 20*time.Second)
	stopListen()
	mu.Lock()
	origin := strings.TrimSuffix(p.base, "/")
	var foreign []string
	for _, u := range urls {
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "blob:"+origin+"/") && !strings.HasPrefix(u, "data:") {
			foreign = append(foreign, u)
		}
	}
	n := len(urls)
	mu.Unlock()
	if len(foreign) > 0 {
		t.Errorf("the page made %d requests to other origins after the download: %v", len(foreign), foreign)
	}
	if n == 0 {
		t.Error("no request was recorded at all: the recording does not work")
	}
	if reqs := hub.Requests(); len(reqs) > 0 {
		t.Errorf("the hub got %d requests after the download: %+v", len(reqs), reqs)
	}
	t.Logf("%d requests recorded from the reload to the search, all to %s", n, origin)

	// Offline: the hub is gone; the model still loads, from the browser.
	hub.Close()
	p.do("reload without the hub", chromedp.Reload())
	waitFor(t, ctx, "the converted model offline", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
	if st := state(t, ctx); st.Model.ID != id || st.Model.Source != "cache" {
		t.Errorf("with the hub stopped: model %s from %q, want %s from the cache", st.Model.ID, st.Model.Source, id)
	}
	if facts := eval[string](t, ctx, `document.querySelector('#model-facts').textContent`); !strings.Contains(facts, tinyRepo) || !strings.Contains(facts, "Probe cosines") {
		t.Errorf("the model card after a reload lost where the model came from: %s", facts)
	}
}

// TestFetchModelDTypes converts the fixture to f32 (features to 1e-4) and
// a repository with only pytorch_model.bin (the fallback on the 404 of
// model.safetensors) to f16.
func TestFetchModelDTypes(t *testing.T) {
	hub, _ := fixtureHub(t)
	bin, err := hubtest.FixtureCLIPBin(shared)
	if err != nil {
		t.Fatal(err)
	}
	hub.Add("test/tiny-clip-bin", "", bin)
	p, done := openFetchPage(t, hub.URL, 4*time.Minute, "")
	defer done()

	p.getModel(tinyRepo, "f32")
	p.waitConverted("")
	p.checkConverted("f32")
	id := state(t, p.ctx).Model.ID

	hub.ResetRequests()
	p.getModel("test/tiny-clip-bin", "f16")
	p.waitConverted(id)
	p.checkConverted("f16")
	var tried []string
	for _, r := range hub.Requests() {
		if r.Origin == "hub" && r.Method == "GET" {
			tried = append(tried, fmt.Sprintf("%s %d", r.Path[strings.LastIndexByte(r.Path, '/')+1:], r.Status))
		}
	}
	if want := "model.safetensors 404,pytorch_model.bin 302"; !strings.Contains(strings.Join(tried, ","), want) {
		t.Errorf("the weights requests were %v, want %s", tried, want)
	}
}

// TestFetchResume cuts the weights' transfer off mid-file: the page asks
// for the rest with a Range request and converts the whole.
func TestFetchResume(t *testing.T) {
	hub, files := fixtureHub(t)
	const cut = 5 << 20
	hub.DropAfter(tinyRepo, "model.safetensors", cut)
	p, done := openFetchPage(t, hub.URL, 3*time.Minute, "")
	defer done()
	p.getModel(tinyRepo, "int8")
	p.waitConverted("")
	starts, whole := rangeStarts(hub.Requests(), "model.safetensors")
	if whole != 1 || len(starts) != 1 || starts[0] < cut/2 || starts[0] > cut {
		t.Errorf("model.safetensors was asked for whole %d times and from %v (%d bytes, cut after %d): want once whole and once from the cut", whole, starts, len(files["model.safetensors"]), cut)
	}
	p.checkConverted("int8")
}

// TestFetchResumeAfterReload: the transfer is cut off with retries off
// (?retries=0), the page says so and offers to resume; after a reload it
// still does, and resuming asks only for the rest (a Range from where the
// part file ends), replaying the bytes on disk into the converter.
func TestFetchResumeAfterReload(t *testing.T) {
	hub, _ := fixtureHub(t)
	const cut = 6 << 20
	hub.DropAfter(tinyRepo, "model.safetensors", cut)
	p, done := openFetchPage(t, hub.URL, 3*time.Minute, "&retries=0")
	defer done()
	ctx := p.ctx
	p.getModel(tinyRepo, "int8")
	p.waitMessage("error", "cut off")
	p.idle()
	waitFor(t, ctx, "the resume offer", `!document.querySelector('#convert-resume').hidden`, 10*time.Second)

	p.do("reload", chromedp.Reload())
	waitFor(t, ctx, "the resume offer after a reload", `!document.querySelector('#convert-resume').hidden && document.querySelector('#convert-resume-text').textContent.includes('stopped at')`, 20*time.Second)
	if s := eval[string](t, ctx, `document.querySelector('#convert-resume-text').textContent`); !strings.Contains(s, tinyRepo) {
		t.Errorf("the resume offer says %q", s)
	}
	hub.ResetRequests()
	p.do("resume", chromedp.Click(chromedp.CSS("#convert-resume-go")))
	p.waitConverted("")
	starts, whole := rangeStarts(hub.Requests(), "model.safetensors")
	if whole != 0 || len(starts) != 1 || starts[0] < cut/2 || starts[0] > cut {
		t.Errorf("after the reload model.safetensors was asked for whole %d times and from %v: want only the rest, from near %d", whole, starts, cut)
	}
	p.checkConverted("int8")
	if eval[bool](t, ctx, `!document.querySelector('#convert-resume').hidden`) {
		t.Error("the resume offer is still shown after the download finished")
	}
}

// TestFetchErrors: a missing repository, a gated one, one that is not a
// CLIP, a corrupt download, no network, a second click while a download
// runs, a cancel half-way and storage full while storing each give a clear
// message, and the model in use and the video index stay as they were.
func TestFetchErrors(t *testing.T) {
	hub, files := fixtureHub(t)
	work := t.TempDir()
	tiny := tinyModel(t, work)
	hub.Add("test/gated", "", files)
	hub.Gate("test/gated", 403)
	hub.Add("test/private", "", files)
	hub.Gate("test/private", 401)
	hub.Add("test/bert", "", map[string][]byte{
		"config.json": []byte(`{"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768}`),
		"vocab.json":  files["vocab.json"], "merges.txt": files["merges.txt"], "model.safetensors": files["model.safetensors"],
	})
	hub.Add("test/corrupt", "", files)
	hub.Corrupt("test/corrupt", "model.safetensors")
	hub.Add("test/slow", "", files)
	hub.DropTimes("test/slow", "model.safetensors", 1<<20, 100)

	p, done := openFetchPage(t, hub.URL, 5*time.Minute, "")
	defer done()
	ctx := p.ctx
	id := p.pickModel(tiny)
	video := makeVideo(t, work, "kept.webm", 4, 2, 160, 120, 200)
	p.do("add a video", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{video}))
	waitFor(t, ctx, "the video indexed", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 1 && s.videos[0].status === 'indexed' && s.videos[0].persisted && !s.indexing; })()`, 60*time.Second)

	for _, c := range []struct {
		what, repo string
		parts      []string
	}{
		{"a missing repository", "nobody/missing", []string{"“nobody/missing” was not found", "404"}},
		{"a gated repository (403)", "test/gated", []string{"“test/gated” is gated or private", "403"}},
		{"a private repository (401)", "test/private", []string{"“test/private” is gated or private", "401"}},
		{"not a CLIP", "test/bert", []string{"test/bert is not a CLIP ViT", "BertModel", `"bert"`}},
		{"a corrupt download", "test/corrupt", []string{"failed its check", "SHA-256"}},
	} {
		p.clearMessages()
		p.getModel(c.repo, "int8")
		p.waitMessage("error", append(c.parts, "The model in use and your video index are unchanged")...)
		p.idle()
		p.stillLoaded(c.what, id)
	}

	// No network: nothing listens at the hub's address.
	p.clearMessages()
	if !eval[bool](t, ctx, fmt.Sprintf(`window.__clip4clip.getModel({repo: %q, hub: %q})`, tinyRepo, hubtest.Unreachable())) {
		t.Fatal("the page refused the download")
	}
	p.waitMessage("error", "Could not reach the hub", "are you online?")
	p.idle()
	p.stillLoaded("no network", id)

	// A second click while a download runs, then cancel half-way: the
	// transfer of test/slow drops after every MB and the page waits
	// before each retry.
	p.clearMessages()
	p.getModel("test/slow", "int8")
	waitFor(t, ctx, "the download under way", `document.querySelector('#convert-stats').textContent.includes('connection dropped')`, 30*time.Second)
	if eval[bool](t, ctx, `window.__clip4clip.getModel({repo: 'test/tiny-clip'})`) {
		t.Error("a second download started while one runs")
	}
	p.waitMessage("warning", "A download is already running")
	p.do("cancel", chromedp.Click(chromedp.CSS("#convert-cancel")))
	p.waitMessage("info", "canceled")
	p.idle()
	waitFor(t, ctx, "the resume offer", `!document.querySelector('#convert-resume').hidden`, 10*time.Second)
	p.stillLoaded("cancel", id)
	p.do("discard", chromedp.Click(chromedp.CSS("#convert-resume-discard")))
	waitFor(t, ctx, "no resume offer", `document.querySelector('#convert-resume').hidden`, 10*time.Second)

	// Storage full while the converted model is stored: the quota drops to
	// nothing between the conversion and the store.
	p.clearMessages()
	eval[bool](t, ctx, `(window.__clip4clip.beforeStore = () => new Promise((r) => { window.__releaseStore = r; }), true)`)
	p.getModel(tinyRepo, "int8")
	waitFor(t, ctx, "the conversion done", `typeof window.__releaseStore === 'function'`, 60*time.Second)
	origin := strings.TrimSuffix(p.base, "/")
	if _, err := chromedp.Call(ctx, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin, QuotaSize: ptr(1.0)}); err != nil {
		t.Fatalf("overriding the quota: %v", err)
	}
	eval[bool](t, ctx, `(window.__releaseStore(), true)`)
	p.waitMessage("error", "Storage is full: the converted model", "The model in use and your video index are unchanged")
	p.idle()
	p.stillLoaded("storage full", id)
	if _, err := chromedp.Call(ctx, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin}); err != nil {
		t.Fatalf("resetting the quota: %v", err)
	}

	// The index and the model survive a reload.
	p.do("reload", chromedp.Reload())
	waitFor(t, ctx, "the model after a reload", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
	st := state(t, ctx)
	if st.Model.ID != id || len(st.Videos) != 1 || st.Videos[0].Status != "indexed" {
		t.Errorf("after the failures and a reload: model %s (want %s), videos %+v", st.Model.ID, id, st.Videos)
	}
}

// TestConvertFiles converts files the person has, picked in the dialog: a
// Hugging Face model folder's four files, and OpenAI's .pt with CLIP's
// vocabulary.
func TestConvertFiles(t *testing.T) {
	_, files := fixtureHub(t)
	dir := filepath.Join(t.TempDir(), "clip-tiny")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	p, done := openFetchPage(t, "http://127.0.0.1:1", 4*time.Minute, "")
	defer done()
	p.do("pick the Hugging Face files", chromedp.SetUploadFiles(chromedp.CSS("#checkpoint-files"), paths))
	p.waitConverted("")
	p.checkConverted("int8")
	if facts := eval[string](t, p.ctx, `document.querySelector('#model-facts').textContent`); !strings.Contains(facts, "model.safetensors (your files)") || !strings.Contains(facts, "Probe cosines") {
		t.Errorf("the model card: %s", facts)
	}
	id := state(t, p.ctx).Model.ID

	// Copies: Chromium does not read the fixture files in place (a
	// read-only mount), as it would not a file changed since it was picked.
	var openai []string
	for _, src := range []string{filepath.Join(fixtures, "clip", "clip_tiny_openai.pt"), filepath.Join(fixtures, "bpe_simple_vocab_16e6.txt.gz")} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), filepath.Base(src))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		openai = append(openai, dst)
	}
	p.do("pick the OpenAI files", chromedp.SetUploadFiles(chromedp.CSS("#checkpoint-files"), openai))
	p.waitConverted(id)
	p.checkConverted("int8")
}
