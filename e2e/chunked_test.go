//go:build !js

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/siteindex"
)

// chunkedFiles writes x as a chunked index under prefix (a folder of the
// served site, ending in /): name -> bytes.
func chunkedFiles(t testing.TB, x *siteindex.Index, prefix string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if _, err := x.WriteChunked(func(name string, data []byte) error { out[prefix+name] = data; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEmbedChunked: the widget over the example's videos as a chunked
// index (clip4clip index -chunked) finds what it finds over the single
// file, fetching each file once; a missing, truncated or altered file is
// reported by name with the rest of the results shown; another model's
// meta is refused by name.
func TestEmbedChunked(t *testing.T) {
	chromium(t)
	x, _ := exampleIndex(t)
	files := chunkedFiles(t, x, "embed-example/")
	meta, err := siteindex.ReadMeta(files["embed-example/"+siteindex.MetaName])
	if err != nil {
		t.Fatal(err)
	}

	// The bad copy: list 0's chunk missing (404), list 1's truncated, one
	// fragment altered (a byte of its thumbnail).
	bad := map[string][]byte{}
	for name, b := range files {
		bad["test/bad/"+strings.TrimPrefix(name, "embed-example/")] = b
	}
	lists := listsWithMoments(meta)
	if len(lists) < 3 {
		t.Fatalf("the example's chunked index has %d lists with moments; the test needs 3", len(lists))
	}
	missing, truncated := meta.ChunkName(lists[0]), meta.ChunkName(lists[1])
	delete(bad, "test/bad/"+missing)
	bad["test/bad/"+truncated] = bad["test/bad/"+truncated][:meta.ChunkSize[lists[1]]/2]
	c2, err := meta.ReadChunk(lists[2], files["embed-example/"+meta.ChunkName(lists[2])])
	if err != nil {
		t.Fatal(err)
	}
	altered := c2.FragmentName(0)
	ab := bytes.Clone(bad["test/bad/"+altered])
	ab[len(ab)-1] ^= 0x40
	bad["test/bad/"+altered] = ab

	other := &siteindex.Index{ModelID: "f00d" + strings.Repeat("0", 60), ModelName: "another-model.c4c", Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window, Videos: x.Videos}
	foreign := chunkedFiles(t, other, "test/foreign/")

	page := `<!doctype html><link rel="icon" href="data:,"><script type="module" src="../widget/clip-search.js"></script>
<clip-search id="one" index="../embed-example/demos.idx" model="../embed-example/text.c4c" wasm="../" k="10"></clip-search>
<clip-search id="ch" index="../embed-example/" model="../embed-example/text.c4c" wasm="../" k="10"></clip-search>
<clip-search id="bad" index="bad/" model="../embed-example/text.c4c" wasm="../" k="10"></clip-search>
<clip-search id="foreign" index="foreign/index.c4m" model="../embed-example/text.c4c" wasm="../" k="10"></clip-search>`
	extra := map[string][]byte{"test/chunked.html": []byte(page)}
	for _, m := range []map[string][]byte{files, bad, foreign} {
		for k, v := range m {
			extra[k] = v
		}
	}
	base := plainServer(t, buildSite(t), extra)
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 4*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"test/chunked.html")); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{"#one", "#ch", "#bad", "#foreign"} {
		waitFor(t, ctx, sel, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e.state && (e.state().ready || e.state().error); })()`, sel), 90*time.Second)
	}

	st := widget(t, ctx, "#foreign")
	if st.Error == nil || st.ErrorKind == nil || *st.ErrorKind != "mismatch" || !strings.Contains(*st.Error, "another-model.c4c") {
		t.Errorf("another model's meta: %+v", st)
	} else {
		t.Logf("another model's meta: %s", *st.Error)
	}

	st = widget(t, ctx, "#ch")
	if !st.Ready || !st.Chunked || st.Videos != len(x.Videos) || st.Moments != meta.Moments {
		t.Fatalf("chunked widget: %+v", st)
	}
	t.Logf("chunked widget ready: %d videos, %d moments, meta %.0f bytes in %.0f ms", st.Videos, st.Moments, st.Timing.IndexBytes, st.Timing.IndexMs)
	for i, q := range []string{firstQuery, "a red square moves", firstQuery} {
		one := searchWidget(t, ctx, "#one", q)
		ch := searchWidget(t, ctx, "#ch", q)
		if ch.Error != nil {
			t.Fatalf("%q: %s", q, *ch.Error)
		}
		if len(ch.Results) == 0 || !slices.Equal(ch.Results, one.Results) {
			t.Errorf("%q: chunked results differ from the single file's:\n%+v\n%+v", q, ch.Results, one.Results)
		}
		t.Logf("%q: %d results, %d bytes in %d files fetched", q, len(ch.Results), ch.Query.Bytes, ch.Query.Files)
		switch {
		case i == 0 && ch.Query.Bytes == 0:
			t.Errorf("%q: the first query fetched nothing", q)
		case i == 2 && ch.Query.Files != 0:
			t.Errorf("%q again: %d files fetched again, want 0 (cached)", q, ch.Query.Files)
		}
	}

	// The bad folder: the Go search over the same files says what is
	// missing and what is found; the widget must say and show the same.
	fetch := func(name string) ([]byte, error) {
		if b, ok := bad["test/bad/"+name]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}
	ch := searchWidget(t, ctx, "#ch", firstQuery)
	st = searchWidget(t, ctx, "#bad", firstQuery)
	if st.Error == nil || st.ErrorKind == nil || *st.ErrorKind != "chunk" {
		t.Fatalf("bad files: no report: %+v", st)
	}
	t.Logf("bad files: %s", *st.Error)
	// The worker fetches the chunks in parallel (the fragments after), so
	// the problem named first is the bad chunk whose answer came first.
	if !strings.Contains(*st.Error, missing) && !strings.Contains(*st.Error, truncated) {
		t.Errorf("the report names neither %s nor %s: %s", missing, truncated, *st.Error)
	}
	if !strings.Contains(*st.Error, "2 more") {
		t.Errorf("the report does not count the truncated chunk and the altered fragment: %s", *st.Error)
	}
	emb := eval[[]float32](t, ctx, fmt.Sprintf(`(async () => Array.from((await document.querySelector('#ch').engine.call('embed', {text: %q})).feature))()`, firstQuery))
	want := meta.ChunkedSearch(emb, 10, siteindex.SearchOptions{NProbe: siteindex.DefaultNProbe, Fragments: siteindex.DefaultFragments}, fetch)
	if len(want.Problems) != 3 {
		t.Fatalf("the Go search over the bad files found %d problems: %v", len(want.Problems), want.Problems)
	}
	if len(st.Results) != len(want.Moments) || len(st.Results) == 0 {
		t.Fatalf("bad files: %d results shown, the Go search finds %d", len(st.Results), len(want.Moments))
	}
	for i, w := range want.Moments {
		r := st.Results[i]
		if r.Start != w.Start || !strings.HasSuffix(r.Src, strings.TrimPrefix(w.Fragment.Video.Path, "..")) {
			t.Errorf("bad files, result %d: %+v, the Go search %s %v", i, r, w.Fragment.Video.Path, w.Start)
		}
	}
	t.Logf("bad files: %d of the %d results over the whole index still shown", len(st.Results), len(ch.Results))
}

// TestEmbedChunkedMeasure measures the widget over a chunked synthetic
// archive (siteindex.SyntheticArchive) served from a local static server:
// the time to ready (model and meta), the first query's time and bytes and
// the further queries'.
//
//	CLIP4CLIP_MEASURE=chunked CLIP4CLIP_MOMENTS=1000000 go test -run TestEmbedChunkedMeasure -v -timeout 30m ./e2e/
func TestEmbedChunkedMeasure(t *testing.T) {
	if os.Getenv("CLIP4CLIP_MEASURE") != "chunked" {
		t.Skip("set CLIP4CLIP_MEASURE=chunked (and CLIP4CLIP_MOMENTS, default 1000000)")
	}
	chromium(t)
	n := 1000000
	if s := os.Getenv("CLIP4CLIP_MOMENTS"); s != "" {
		fmt.Sscan(s, &n)
	}
	const dim = 512
	work := t.TempDir()
	saved, id := randomModel512(t, work)
	x, _ := siteindex.SyntheticArchive(1, n, dim)
	x.ModelID, x.ModelName = id, "random-512.c4c"
	dir := filepath.Join(work, "site", "archive")
	for _, sub := range []string{"c", "f"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st, err := x.WriteChunked(func(name string, data []byte) error { return os.WriteFile(filepath.Join(dir, name), data, 0o644) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("synthetic archive: %d moments, %d lists, %.2f MB meta, %.0f MB in all", n, st.Lists, float64(st.MetaBytes)/1e6, float64(st.Total())/1e6)
	x = nil
	page := `<!doctype html><link rel="icon" href="data:,"><script type="module" src="../widget/clip-search.js"></script>
<clip-search id="big" index="../archive/" model="model.c4c" wasm="../" k="10"></clip-search>`
	siteDir := buildSite(t)
	for _, e := range []string{"archive"} {
		os.Symlink(filepath.Join(work, "site", e), filepath.Join(siteDir, e))
		t.Cleanup(func() { os.Remove(filepath.Join(siteDir, e)) })
	}
	base := plainServer(t, siteDir, map[string][]byte{"measure/index.html": []byte(page), "measure/model.c4c": saved})
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 10*time.Minute)
	defer cancelT()
	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"measure/index.html")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "#big", `(() => { const s = document.querySelector('#big').state(); return s.ready || s.error; })()`, 5*time.Minute)
	ready := time.Since(t0)
	w := widget(t, ctx, "#big")
	if w.Error != nil {
		t.Fatalf("%s", *w.Error)
	}
	t.Logf("ready %.0f ms after navigation (widget: %.0f ms; meta %.0f bytes fetched and read in %.0f ms)", float64(ready.Milliseconds()), w.Timing.TotalMs, w.Timing.IndexBytes, w.Timing.IndexMs)
	type timed struct {
		Ms    float64
		State widgetState
	}
	var ms, mb []float64
	for i, q := range []string{"red cat", "a red cat", "cat red", "red", "cat", "red red cat", "a cat", "the red cat", "red cats", "a red"} {
		r := eval[timed](t, ctx, fmt.Sprintf(`(async () => { const e = document.querySelector('#big'); const t0 = performance.now(); await e.search(%q); return {ms: performance.now() - t0, state: e.state()}; })()`, q))
		if r.State.Error != nil {
			t.Fatalf("%q: %s", q, *r.State.Error)
		}
		if i == 0 {
			t.Logf("first query %q: %.0f ms, %.2f MB in %d files (%.2f MB with the meta)", q, r.Ms, float64(r.State.Query.Bytes)/1e6, r.State.Query.Files, (float64(r.State.Query.Bytes)+w.Timing.IndexBytes)/1e6)
			continue
		}
		ms = append(ms, r.Ms)
		mb = append(mb, float64(r.State.Query.Bytes)/1e6)
	}
	t.Logf("further queries: median %.0f ms (max %.0f), %.2f MB mean (max %.2f) fetched", median(ms), slices.Max(ms), mean(mb), slices.Max(mb))
}

func mean(v []float64) float64 {
	s := 0.0
	for _, f := range v {
		s += f
	}
	return s / math.Max(1, float64(len(v)))
}

// randomModel512 saves a random model of 512-d features (as
// TestEmbedMeasure's) and returns its bytes and ID.
func randomModel512(t *testing.T, dir string) ([]byte, string) {
	tok, err := bpe.FromCLIPMerges(strings.NewReader("#version: test\nr e\nre d</w>\nc a\nca t</w>\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{
		EmbedDim: 512,
		Vision:   model.VisionConfig{Width: 64, Layers: 1, Heads: 2, PatchSize: 16, Resolution: 32, Patch: "2d"},
		Text:     model.TextConfig{Width: 64, Layers: 1, Heads: 2, Context: 16, VocabSize: tok.VocabSize()},
		Head:     model.HeadConfig{Type: model.MeanP, MaxWords: 16},
	}
	m, err := model.Random(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Tokenizer = tok
	path := filepath.Join(dir, "model.c4c")
	if err := m.SaveFile(path, quant.F16, 0); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m, err = model.Load(saved); err != nil {
		t.Fatal(err)
	}
	return saved, m.ID()
}

// TestEmbedAppImportChunked: the app imports a chunked site index from a
// picked folder (lib/drop.js chunkedFolders, lib/site.js) and finds the
// example's moment in it, with its thumbnail, as it does in the single file;
// a folder of another model's index is refused by name; a copy with a
// chunk missing and a fragment altered is reported by name and its other
// moments still shown.
func TestEmbedAppImportChunked(t *testing.T) {
	chromium(t)
	x, _ := exampleIndex(t)
	repoDefaultModel(t)
	_, videos := loadDemos(t)
	files := chunkedFiles(t, x, "")
	meta, err := siteindex.ReadMeta(files[siteindex.MetaName])
	if err != nil {
		t.Fatal(err)
	}
	writeFolder := func(dir string, files map[string][]byte) string {
		t.Helper()
		for name, b := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	work := t.TempDir()
	dir := writeFolder(filepath.Join(work, "demos-site"), files)
	other := &siteindex.Index{ModelID: "f00d" + strings.Repeat("0", 60), ModelName: "another-model.c4c", Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window, Videos: x.Videos}
	foreignDir := writeFolder(filepath.Join(work, "foreign-site"), chunkedFiles(t, other, ""))

	// The bad copy, under the same folder name (so it replaces the good
	// one): the first list's chunk missing, a fragment of the second's
	// altered (a byte of its thumbnail).
	lists := listsWithMoments(meta)
	if len(lists) < 2 {
		t.Fatalf("the example's chunked index has %d lists with moments; the test needs 2", len(lists))
	}
	bad := map[string][]byte{}
	for name, b := range files {
		bad[name] = b
	}
	missing := meta.ChunkName(lists[0])
	delete(bad, missing)
	c1, err := meta.ReadChunk(lists[1], files[meta.ChunkName(lists[1])])
	if err != nil {
		t.Fatal(err)
	}
	altered := c1.FragmentName(0)
	ab := bytes.Clone(bad[altered])
	ab[len(ab)-1] ^= 0x40
	bad[altered] = ab
	badDir := writeFolder(filepath.Join(work, "bad", "demos-site"), bad)

	ctx, run := openApp(t, 3*time.Minute)
	run("pick another model's chunked index", chromedp.SetUploadFiles(chromedp.CSS("#video-folder"), []string{foreignDir}))
	waitFor(t, ctx, "the mismatch message", `[...document.querySelectorAll('.message')].some(m => m.textContent.includes('could not be imported'))`, 30*time.Second)
	if msg := messages(t, ctx); !strings.Contains(msg, "another-model.c4c") || !strings.Contains(msg, "foreign-site") {
		t.Errorf("picking another model's chunked index says: %s", msg)
	}
	if n := eval[int](t, ctx, `window.__clip4clip.state().sites.length`); n != 0 {
		t.Errorf("another model's chunked index was imported (%d site indexes)", n)
	}

	run("pick the chunked index's folder", chromedp.SetUploadFiles(chromedp.CSS("#video-folder"), []string{dir}))
	waitFor(t, ctx, "the site index", `window.__clip4clip.state().sites.length === 1`, 30*time.Second)
	type siteHit struct {
		Key, Name, Path string
		Start, End      float64
	}
	hits := eval[[]siteHit](t, ctx, fmt.Sprintf(`(async () => { await window.__clip4clip.timeSearch(%q); return window.__clip4clip.state().results.site; })()`, firstQuery))
	if len(hits) == 0 {
		t.Fatalf("the chunked site index's moments are not in the results; messages: %s", messages(t, ctx))
	}
	v, ok := demoOf(videos, hits[0].Path)
	if !ok || !found(v, firstQuery, span{hits[0].Start, hits[0].End}) {
		t.Errorf("%q: the chunked site index's best moment is %s %.1f-%.1f s", firstQuery, hits[0].Path, hits[0].Start, hits[0].End)
	}
	if src := eval[string](t, ctx, `(() => { const img = document.querySelector('#moments li[data-key^="site"] img'); return img ? img.getAttribute('src') || '' : 'no img'; })()`); !strings.HasPrefix(src, "blob:") {
		t.Errorf("the site moment's thumbnail: %q, want a blob: URL", src)
	}
	if msg := messages(t, ctx); strings.Contains(msg, "could not be loaded") {
		t.Errorf("the whole chunked index reports a problem: %s", msg)
	}
	t.Logf("app import of a chunked folder: %q finds %s %.1f-%.1f s first; %s", firstQuery, hits[0].Name, hits[0].Start, hits[0].End, messages(t, ctx))

	run("pick the bad copy", chromedp.SetUploadFiles(chromedp.CSS("#video-folder"), []string{badDir}))
	waitFor(t, ctx, "the bad copy's report", `[...document.querySelectorAll('.message')].some(m => m.textContent.includes('Part of the site index “demos-site” could not be loaded'))`, 30*time.Second)
	hits = eval[[]siteHit](t, ctx, fmt.Sprintf(`(async () => { await window.__clip4clip.timeSearch(%q); return window.__clip4clip.state().results.site; })()`, firstQuery))
	if n := eval[int](t, ctx, `window.__clip4clip.state().sites.length`); n != 1 {
		t.Errorf("%d site indexes after the bad copy replaced the good one, want 1", n)
	}
	report := eval[string](t, ctx, `[...document.querySelectorAll('.message')].map(m => m.textContent).filter(t => t.includes('Part of the site index')).pop() || ''`)
	// The chunks are fetched before the fragments: the missing chunk is named, the altered fragment counted.
	if !strings.Contains(report, missing) || !strings.Contains(report, "(and 1 more)") {
		t.Errorf("the report does not name %s and count %s: %s", missing, altered, report)
	}
	if len(hits) == 0 {
		t.Fatalf("with a chunk missing and a fragment altered, no moment is shown; messages: %s", messages(t, ctx))
	}
	t.Logf("bad copy: %d moments still shown; %s", len(hits), report)
}

// listsWithMoments is the lists of a chunked index that have a chunk (in
// list order).
func listsWithMoments(meta *siteindex.Meta) []int {
	var lists []int
	for l := range meta.Lists {
		if meta.ChunkSize[l] > 0 {
			lists = append(lists, l)
		}
	}
	return lists
}
