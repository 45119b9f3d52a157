//go:build !js

package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"clip4clip/internal/serve"
	"clip4clip/internal/testenv"
	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/siteindex"
)

// The embeddable search widget (web/widget/clip-search.js) on the example
// site (web/embed-example: the demo videos indexed ahead with the default
// model, and that model's text side), served as plain static files with no
// special headers.

const exampleDir = "../web/embed-example"

// widgetState is what a <clip-search> element's state() returns.
type widgetState struct {
	Ready     bool
	Chunked   bool
	Videos    int
	Moments   int
	Status    string
	Error     *string
	ErrorKind *string
	Model     *struct {
		ID       string
		TextOnly bool
		EmbedDim int
	}
	Timing *struct{ ModelMs, IndexMs, IndexFetchMs, IndexBytes, TotalMs float64 }
	Query  *struct {
		Text      string
		Tokens    int
		Truncated bool
		Bytes     int // fetched for this query (a chunked index)
		Files     int
		Timing    struct{ EncodeMs, RankMs float64 }
	}
	Results []widgetResult
	Player  *struct {
		Src         string
		CurrentTime float64
		Paused      bool
	}
}

type widgetResult struct {
	Video, Moment int
	Start, End    float64
	Src, Title    string
	Thumb         bool
}

// widget evaluates state() of the element matched by sel.
func widget(t *testing.T, ctx context.Context, sel string) widgetState {
	t.Helper()
	return eval[widgetState](t, ctx, fmt.Sprintf(`document.querySelector(%q).state()`, sel))
}

// plainServer serves dir with Go's http.FileServer, as any static host
// would (no COOP/COEP, no precompressed variants), plus extra files from
// memory; it returns the base URL.
func plainServer(t testing.TB, dir string, extra map[string][]byte) string {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	for name, b := range extra {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", serve.ContentType(name))
			w.Write(b)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// exampleIndex reads the example's site index. It is committed: without
// it the test fails (testenv.Missing).
func exampleIndex(t testing.TB) (*siteindex.Index, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir, "demos.idx"))
	if err != nil {
		testenv.Missing(t, "the example's index is missing (%v); make it with `go run ./cmd/clip4clip index` (see web/embed-example/index.html)", err)
	}
	x, err := siteindex.Read(b)
	if err != nil {
		t.Fatalf("web/embed-example/demos.idx: %v", err)
	}
	return x, b
}

// TestEmbedExampleFiles checks the example's two generated files against
// what they were made from: the text model is the default model's text
// side (same ID), the index was built with it and holds every demo video
// by a path, relative to the index, that reaches the file.
func TestEmbedExampleFiles(t *testing.T) {
	x, _ := exampleIndex(t)
	b, err := os.ReadFile(filepath.Join(exampleDir, "text.c4c"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := model.Load(b)
	if err != nil {
		t.Fatalf("web/embed-example/text.c4c: %v", err)
	}
	if !text.Config.TextOnly {
		t.Error("web/embed-example/text.c4c is not a text-only model")
	}
	if err := x.Check(text.ID()); err != nil {
		t.Errorf("the example's index against its model: %v", err)
	}
	b, err = os.ReadFile(repoDefaultModel(t))
	if err != nil {
		t.Fatal(err)
	}
	full, err := model.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if full.ID() != text.ID() {
		t.Errorf("text.c4c has ID %s, weights/default.c4c %s: regenerate the example's files (web/embed-example/index.html says how)", text.ID(), full.ID())
	}
	_, demos := loadDemos(t)
	var paths []string
	for _, v := range x.Videos {
		paths = append(paths, v.Path)
		if _, err := os.Stat(filepath.Join(exampleDir, filepath.FromSlash(v.Path))); err != nil {
			t.Errorf("index video %q does not resolve beside the index: %v", v.Path, err)
		}
		if len(v.Thumbs) == 0 || len(v.Moments) == 0 {
			t.Errorf("index video %q: %d thumbnails, %d moments", v.Path, len(v.Thumbs), len(v.Moments))
		}
	}
	for _, d := range demos {
		if !slices.Contains(paths, "../demos/"+d.File) {
			t.Errorf("the example's index has no ../demos/%s (it has %q)", d.File, paths)
		}
	}

	// Rebuilt now with the command its page gives, the index has the same
	// videos, moments and thumbnails, and the same features up to the
	// decoder (cosine above 0.99).
	if testing.Short() {
		t.Skip("-short: the example's index is not rebuilt")
	}
	testenv.Command(t, "ffmpeg", "apt-get install -y ffmpeg: the example's index is rebuilt from the demo videos")
	out := filepath.Join(t.TempDir(), "demos.idx")
	cmd := exec.Command("go", "run", "../cmd/clip4clip", "index", "-model", "default", "-thumb-every", "4s", "-o", out, demoDir+"/")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clip4clip index: %v\n%s", err, b)
	}
	b, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	y, err := siteindex.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if y.ModelID != x.ModelID || len(y.Videos) != len(x.Videos) || y.Window != x.Window || y.FPS != x.FPS {
		t.Fatalf("rebuilt index: model %.12s, %d videos, window %v s at %v fps; committed: %.12s, %d, %v, %v: regenerate web/embed-example/demos.idx",
			y.ModelID, len(y.Videos), y.Window, y.FPS, x.ModelID, len(x.Videos), x.Window, x.FPS)
	}
	worst := 1.0
	for i, v := range x.Videos {
		w := y.Videos[i]
		if path.Base(w.Path) != path.Base(v.Path) || len(w.Moments) != len(v.Moments) || len(w.Thumbs) != len(v.Thumbs) {
			t.Errorf("rebuilt video %d: %s, %d moments, %d thumbnails; committed %s, %d, %d", i, w.Path, len(w.Moments), len(w.Thumbs), v.Path, len(v.Moments), len(v.Thumbs))
			continue
		}
		for j := range v.Moments {
			worst = min(worst, cosine(x.MomentFeature(i, j), y.MomentFeature(i, j)))
		}
	}
	t.Logf("rebuilt index: lowest moment cosine to the committed one %.5f", worst)
	if worst < 0.99 {
		t.Errorf("the rebuilt index's moments differ from web/embed-example/demos.idx (cosine %.4f): regenerate it", worst)
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestEmbedServed checks that the app's own server (cross-origin
// isolated) serves the widget and the example, and that the example
// searches there too.
func TestEmbedServed(t *testing.T) {
	exampleIndex(t)
	base, _ := startServer(t, buildSite(t))
	for _, p := range []string{"widget/clip-search.js", "widget/clip-search-worker.js", "embed-example/", "embed-example/demos.idx", "embed-example/text.c4c"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: %s", p, resp.Status)
		}
	}
	chromium(t)
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"embed-example/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the widget", `(() => { const e = document.querySelector('#search'); return e && e.state && (e.state().ready || e.state().error); })()`, 60*time.Second)
	if st := searchWidget(t, ctx, "#search", firstQuery); st.Error != nil || len(st.Results) == 0 {
		t.Errorf("the example served by internal/serve: error %v, %d results", st.Error, len(st.Results))
	}
}

// demoOf maps a result's video URL to its demo video.
func demoOf(videos []demoVideo, src string) (demoVideo, bool) {
	for _, v := range videos {
		if path.Base(src) == v.File {
			return v, true
		}
	}
	return demoVideo{}, false
}

// TestEmbedWidget opens the example site in headless Chromium, types a
// demo event's caption and checks the first result (the right video, a
// moment overlapping the event), plays it by click and by keyboard, then
// searches every demo caption for the hit rate, and loads three broken
// widgets beside the working one: a corrupt index, an index of another
// model, a missing model.
func TestEmbedWidget(t *testing.T) {
	chromium(t)
	x, idx := exampleIndex(t)
	_, videos := loadDemos(t)
	other := &siteindex.Index{ModelID: "f00d" + strings.Repeat("0", 60), ModelName: "another-model.c4c", Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window, Videos: x.Videos}
	foreign, err := other.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	base := plainServer(t, buildSite(t), map[string][]byte{
		"test/truncated.idx": idx[:len(idx)/2],
		"test/foreign.idx":   foreign,
		"test/notindex.idx":  []byte("<p>this is not an index</p>"),
	})
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 4*time.Minute)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shoot := func(name string) {
		t.Helper()
		screenshot(t, ctx, name)
	}
	const sel = "#search"
	run("open the example", chromedp.Navigate(base+"embed-example/"))
	waitFor(t, ctx, "the widget", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.state && (e.state().ready || e.state().error); })()`, sel), 60*time.Second)
	st := widget(t, ctx, sel)
	if st.Error != nil || !st.Ready {
		t.Fatalf("the widget did not load: %+v", st)
	}
	t.Logf("widget ready: %d videos, %d moments; model %.0f ms, index %.0f ms, %.0f ms from start", st.Videos, st.Moments, st.Timing.ModelMs, st.Timing.IndexMs, st.Timing.TotalMs)
	if st.Videos != len(x.Videos) || !st.Model.TextOnly {
		t.Errorf("widget: %d videos (index %d), text-only model %v", st.Videos, len(x.Videos), st.Model.TextOnly)
	}

	// Type the first caption: search as you type, the first result.
	first := firstQuery
	run("focus the search box", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		window.__searches = 0;
		e.addEventListener('clip-search-results', () => window.__searches++);
		e.shadowRoot.querySelector('input').focus();
	})()`, sel)))
	run("type", chromedp.KeyEvent(first))
	waitFor(t, ctx, "results for the typed query", fmt.Sprintf(`(() => { const s = document.querySelector(%q).state(); return s.query && s.query.text === %q && s.results && s.results.length > 0; })()`, sel, first), 20*time.Second)
	st = widget(t, ctx, sel)
	// Typing searches once the typing pauses, not at every key.
	if n := eval[int](t, ctx, `window.__searches`); n < 1 || n > len(first)/4 {
		t.Errorf("typing %d characters ran %d searches", len(first), n)
	} else {
		t.Logf("typing %d characters ran %d searches", len(first), n)
	}
	top := st.Results[0]
	v, ok := demoOf(videos, top.Src)
	if !ok || !found(v, first, span{top.Start, top.End}) {
		t.Errorf("%q: first result %s %.2f-%.2f s, want a moment of the event", first, top.Src, top.Start, top.End)
	}
	if !top.Thumb || top.Title == "" {
		t.Errorf("first result without thumbnail or title: %+v", top)
	}
	t.Logf("%q: %s %.2f-%.2f s; encode %.2f ms, rank %.2f ms (%d tokens)", first, path.Base(top.Src), top.Start, top.End, st.Query.Timing.EncodeMs, st.Query.Timing.RankMs, st.Query.Tokens)

	// Terms: adding and subtracting the same words ranks as the query alone.
	same := eval[bool](t, ctx, fmt.Sprintf(`(async () => {
		const e = document.querySelector(%q);
		const ids = () => e.state().results.map((r) => r.src + '@' + r.start).join(',');
		await e.search(%q);
		const plain = ids();
		await e.search(%q + ' + a big red square - a big red square');
		return plain !== '' && ids() === plain;
	})()`, sel, first, first))
	if !same {
		t.Error("the widget: a query plus and minus the same term ranks differently from the query")
	}
	run("search the typed query again", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).search(%q)`, sel, first), chromedp.EvalAwaitPromise))

	// Click it: the inline player plays that video from the moment.
	box := eval[[]float64](t, ctx, fmt.Sprintf(`(() => { const r = document.querySelector(%q).shadowRoot.querySelector('li').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel))
	run("click the first result", chromedp.MouseClickXY(box[0], box[1]))
	waitFor(t, ctx, "the player", fmt.Sprintf(`(() => { const p = document.querySelector(%q).state().player; return p && p.src.endsWith(%q) && p.currentTime > 0; })()`, sel, "/"+path.Base(top.Src)), 20*time.Second)
	st = widget(t, ctx, sel)
	if st.Player.CurrentTime < top.Start-0.05 || st.Player.CurrentTime > top.End {
		t.Errorf("player at %.2f s, want within %.2f-%.2f s", st.Player.CurrentTime, top.Start, top.End)
	}
	if !strings.HasSuffix(st.Player.Src, "/demos/"+path.Base(top.Src)) {
		t.Errorf("player src %q, want %s", st.Player.Src, top.Src)
	}

	shoot("embed-playing.png")

	// Keyboard: from the box, Down to the second result, Enter plays it.
	run("focus the search box", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).shadowRoot.querySelector('input').focus()`, sel)))
	run("arrow down twice, Enter", chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter))
	if len(st.Results) > 1 {
		second := st.Results[1]
		waitFor(t, ctx, "the second result playing", fmt.Sprintf(`(() => { const p = document.querySelector(%q).state().player; return p && p.src.endsWith(%q) && p.currentTime >= %f && p.currentTime <= %f; })()`, sel, "/"+path.Base(second.Src), second.Start-0.05, second.End), 20*time.Second)
		focused := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).shadowRoot.activeElement?.getAttribute('aria-selected') ?? 'none'`, sel))
		if focused != "true" {
			t.Errorf("after arrow keys the focused element is not the selected result (aria-selected %s)", focused)
		}
	}

	// Another query (a "Try" chip, or typing) closes the player: its video
	// was one of the last results.
	if st := searchWidget(t, ctx, sel, "a big white cross bounces"); st.Player != nil {
		t.Errorf("after another query the player still shows %s", st.Player.Src)
	}

	// Every demo caption, through el.search: the hit rate.
	captions := map[string]bool{}
	var hits, inTop3, n int
	var chance float64
	var misses []string
	for _, v := range videos {
		for _, e := range v.Events {
			if captions[e.Caption] {
				continue
			}
			captions[e.Caption] = true
			st := searchWidget(t, ctx, sel, e.Caption)
			n++
			chance += siteChance(x, videos, e.Caption)
			for _, r := range st.Results[:min(3, len(st.Results))] {
				if v, ok := demoOf(videos, r.Src); ok && found(v, e.Caption, span{r.Start, r.End}) {
					inTop3++
					break
				}
			}
			if len(st.Results) > 0 {
				top := st.Results[0]
				if v, ok := demoOf(videos, top.Src); ok && found(v, e.Caption, span{top.Start, top.End}) {
					hits++
					continue
				}
				misses = append(misses, fmt.Sprintf("%q: first %s %.1f-%.1f s", e.Caption, path.Base(top.Src), top.Start, top.End))
			} else {
				misses = append(misses, fmt.Sprintf("%q: no results", e.Caption))
			}
		}
	}
	rate, chanceRate := float64(hits)/float64(n), chance/float64(n)
	t.Logf("widget: %d of %d demo captions find a moment of their event first (%.1f%%; a random moment of the index: %.1f%%), %d among the first 3 (%.1f%%)",
		hits, n, 100*rate, 100*chanceRate, inTop3, 100*float64(inTop3)/float64(n))
	for _, m := range misses {
		t.Logf("widget: missed %s", m)
	}
	if rate < minOverChance*chanceRate {
		t.Errorf("widget: %.1f%% of the demo captions found, want at least %.0f times chance (%.1f%%)", 100*rate, minOverChance, 100*chanceRate)
	}

	// Empty and overlong queries: nothing, and a note.
	if st := searchWidget(t, ctx, sel, "   "); st.Error != nil || len(st.Results) != 0 {
		t.Errorf("an empty query: error %v, %d results", st.Error, len(st.Results))
	}
	long := strings.Repeat("a small red star moves left and then ", 12)
	if st := searchWidget(t, ctx, sel, long); st.Error != nil || !st.Query.Truncated || !strings.Contains(st.Status, "longer than the model reads") {
		t.Errorf("an overlong query: error %v, truncated %v, status %q", st.Error, st.Query != nil && st.Query.Truncated, st.Status)
	}

	// Broken widgets beside the working one.
	for _, c := range []struct{ name, index, model, wasm, kind, want string }{
		{"truncated index", "/test/truncated.idx", "text.c4c", "../", "site", "truncated"},
		{"not an index", "/test/notindex.idx", "text.c4c", "../", "site", "index"},
		{"index of another model", "/test/foreign.idx", "text.c4c", "../", "mismatch", "another-model.c4c"},
		{"missing model", "demos.idx", "missing.c4c", "../", "fetch", "404"},
		{"missing index", "missing.idx", "text.c4c", "../", "fetch", "404"},
		{"missing engine", "demos.idx", "text.c4c", "/nowhere/", "worker", "wasm_exec.js"},
	} {
		id := strings.ReplaceAll(c.name, " ", "-")
		run("add a "+c.name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const e = document.createElement('clip-search');
			e.id = %q;
			e.setAttribute('index', %q);
			e.setAttribute('model', %q);
			e.setAttribute('wasm', %q);
			document.querySelector('main').append(e);
		})()`, id, c.index, c.model, c.wasm)))
		waitFor(t, ctx, c.name+": its message", fmt.Sprintf(`document.querySelector('#%s').state().error !== null`, id), 30*time.Second)
		st := widget(t, ctx, "#"+id)
		visible := eval[bool](t, ctx, fmt.Sprintf(`(() => { const b = document.querySelector('#%s').shadowRoot.querySelector('.error'); return !b.hidden && b.getClientRects().length > 0; })()`, id))
		t.Logf("%s: %s", c.name, *st.Error)
		if *st.ErrorKind != c.kind || !strings.Contains(*st.Error, c.want) || !visible {
			t.Errorf("%s: kind %s, visible %v, message %q; want kind %s and %q in it", c.name, *st.ErrorKind, visible, *st.Error, c.kind, c.want)
		}
		if st.Ready {
			t.Errorf("%s: the widget says it is ready", c.name)
		}
	}
	shoot("embed-errors.png")
	// The page and the working widget still work.
	run("click a Try button", chromedp.Evaluate[chromedp.Void](`document.querySelector('.try button').click()`))
	waitFor(t, ctx, "the Try button's results", fmt.Sprintf(`(() => { const s = document.querySelector(%q).state(); return s.query && s.query.text === document.querySelector('.try button').textContent && s.results.length > 0; })()`, sel), 20*time.Second)
}

// firstQuery is the caption TestEmbedWidget types and asserts: one the
// default model finds (demo0, 0.75-1.95 s).
const firstQuery = "a small black ring appears"

// searchWidget searches through the element's search() and returns its state.
func searchWidget(t *testing.T, ctx context.Context, sel, text string) widgetState {
	t.Helper()
	return eval[widgetState](t, ctx, fmt.Sprintf(`(async () => { const e = document.querySelector(%q); await e.search(%q); return e.state(); })()`, sel, text))
}

// siteChance is how often a moment picked at random from the whole index
// would overlap an event with the caption.
func siteChance(x *siteindex.Index, videos []demoVideo, caption string) float64 {
	all := x.Search(make([]float32, x.EmbedDim), math.MaxInt32).Moments
	hits := 0
	for _, m := range all {
		if v, ok := demoOf(videos, x.Videos[m.Video].Path); ok && found(v, caption, span{m.Start, m.End}) {
			hits++
		}
	}
	return float64(hits) / float64(max(1, len(all)))
}

// TestEmbedMeasure reports the widget's query time over a synthetic site
// index of 90,000 moments of 512 values (a random ViT-B/32-wide model's
// identity; the ranking's cost depends only on moments x dim), from query
// feature to ranked results in the worker and round trip from the page,
// the index's load time, and the default text model's encode time. It
// asserts nothing about speed; run it by hand:
//
//	CLIP4CLIP_MEASURE=1 go test -run EmbedMeasure -v ./e2e/
func TestEmbedMeasure(t *testing.T) {
	if os.Getenv("CLIP4CLIP_MEASURE") == "" {
		t.Skip("set CLIP4CLIP_MEASURE=1 to measure the widget's query time over 90,000 moments")
	}
	chromium(t)
	const (
		videos  = 1500
		moments = 60 // per video: 90,000 in all
		dim     = 512
	)
	work := t.TempDir()
	tok, err := bpe.FromCLIPMerges(strings.NewReader("#version: test\nr e\nre d</w>\nc a\nca t</w>\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{
		EmbedDim: dim,
		Vision:   model.VisionConfig{Width: 64, Layers: 1, Heads: 2, PatchSize: 16, Resolution: 32, Patch: "2d"},
		Text:     model.TextConfig{Width: 64, Layers: 1, Heads: 2, Context: 16, VocabSize: tok.VocabSize()},
		Head:     model.HeadConfig{Type: model.MeanP, MaxWords: 16},
	}
	m, err := model.Random(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Tokenizer = tok
	m.Meta = map[string]string{"source": "random (TestEmbedMeasure)"}
	if err := m.SaveFile(filepath.Join(work, "model.c4c"), quant.F16, 0); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(work, "model.c4c"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err = model.Load(saved); err != nil { // its ID as the browser will compute it
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	unit := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		model.L2Normalize(v)
		return v
	}
	x := &siteindex.Index{ModelID: m.ID(), ModelName: "random-512.c4c", Head: model.MeanP, EmbedDim: dim, FPS: 1, Window: 4}
	for i := range videos {
		v := siteindex.Video{Path: fmt.Sprintf("videos/v%04d.webm", i), Title: fmt.Sprintf("Video %d", i), Duration: moments, Width: 640, Height: 360, Feature: unit()}
		for range moments {
			v.Moments = append(v.Moments, unit())
		}
		x.Videos = append(x.Videos, v)
	}
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	page := `<!doctype html><link rel="icon" href="data:,"><script type="module" src="../widget/clip-search.js"></script>
<clip-search id="big" index="big.idx" model="model.c4c" wasm="../" k="10"></clip-search>
<clip-search id="demo" index="../embed-example/demos.idx" model="../embed-example/text.c4c" wasm="../" k="10"></clip-search>`
	base := plainServer(t, buildSite(t), map[string][]byte{"measure/index.html": []byte(page), "measure/big.idx": b, "measure/model.c4c": saved})
	t.Logf("synthetic index: %d videos x %d moments = %d moments of %d values, %.1f MB", videos, moments, videos*moments, dim, float64(len(b))/1e6)

	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 5*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"measure/index.html")); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{"#big", "#demo"} {
		waitFor(t, ctx, sel, fmt.Sprintf(`(() => { const s = document.querySelector(%q).state(); return s.ready || s.error; })()`, sel), 3*time.Minute)
		if st := widget(t, ctx, sel); st.Error != nil {
			t.Fatalf("%s: %s", sel, *st.Error)
		}
	}
	st := widget(t, ctx, "#big")
	t.Logf("90k index: loaded in %.0f ms (fetch %.0f ms, read and check %.0f ms); %d moments", st.Timing.IndexMs, st.Timing.IndexFetchMs, st.Timing.IndexMs-st.Timing.IndexFetchMs, st.Moments)
	type runs struct {
		EncodeMs float64
		Runs     []struct{ RankMs, RoundTripMs float64 }
	}
	res := eval[runs](t, ctx, `document.querySelector('#big').measure('a red cat', 31)`)
	rank, trip := make([]float64, len(res.Runs)), make([]float64, len(res.Runs))
	for i, r := range res.Runs {
		rank[i], trip[i] = r.RankMs, r.RoundTripMs
	}
	t.Logf("90k moments x %d: query feature to ranked results (top 10), median of %d: %.1f ms in the worker, %.1f ms round trip from the page (min %.1f, max %.1f)",
		dim, len(rank), median(rank), median(trip), slices.Min(rank), slices.Max(rank))

	demo := eval[runs](t, ctx, fmt.Sprintf(`document.querySelector('#demo').measure(%q, 1)`, firstQuery))
	var enc []float64
	for range 9 {
		enc = append(enc, eval[runs](t, ctx, fmt.Sprintf(`document.querySelector('#demo').measure(%q, 1)`, firstQuery)).EncodeMs)
	}
	t.Logf("default model's text side: %q encodes in %.2f ms (median of %d; first %.2f ms)", firstQuery, median(enc), len(enc), demo.EncodeMs)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)/2]
}

// TestEmbedAppImport imports the example's site index into the app (with
// the default model, which built it): its moments join the search results,
// and an index of another model is refused with the mismatch message.
func TestEmbedAppImport(t *testing.T) {
	chromium(t)
	x, _ := exampleIndex(t)
	repoDefaultModel(t) // the example's index was built with it
	_, videos := loadDemos(t)
	work := t.TempDir()
	other := &siteindex.Index{ModelID: "f00d" + strings.Repeat("0", 60), ModelName: "another-model.c4c", Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window, Videos: x.Videos}
	foreign, err := other.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	foreignPath := filepath.Join(work, "foreign.idx")
	if err := os.WriteFile(foreignPath, foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	idxPath, err := filepath.Abs(filepath.Join(exampleDir, "demos.idx"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, run := openApp(t, 3*time.Minute)

	run("import an index of another model", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{foreignPath}))
	waitFor(t, ctx, "the mismatch message", `[...document.querySelectorAll('.message')].some(m => m.textContent.includes('could not be imported'))`, 30*time.Second)
	if msg := messages(t, ctx); !strings.Contains(msg, "another-model.c4c") || !strings.Contains(msg, "load the model it was built with") {
		t.Errorf("importing an index of another model says: %s", msg)
	}

	run("import the example's index", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{idxPath}))
	waitFor(t, ctx, "the site index", `window.__clip4clip.state().sites.length === 1`, 30*time.Second)
	type siteHit struct {
		Key, Name, Path string
		Start, End      float64
	}
	hits := eval[[]siteHit](t, ctx, fmt.Sprintf(`(async () => { await window.__clip4clip.timeSearch(%q); return window.__clip4clip.state().results.site; })()`, firstQuery))
	if len(hits) == 0 {
		t.Fatal("the site index's moments are not in the results")
	}
	v, ok := demoOf(videos, hits[0].Path)
	if !ok || !found(v, firstQuery, span{hits[0].Start, hits[0].End}) {
		t.Errorf("%q: the site index's best moment is %s %.1f-%.1f s", firstQuery, hits[0].Path, hits[0].Start, hits[0].End)
	}
	if top := eval[string](t, ctx, `document.querySelector('#moments li').dataset.key`); !strings.HasPrefix(top, "site") {
		t.Errorf("the Moments list starts with %q, want the site index's moment (no video of the page's own is indexed)", top)
	}
	t.Logf("app import: %q finds %s %.1f-%.1f s first", firstQuery, hits[0].Name, hits[0].Start, hits[0].End)

	// With the demo files added to the page, a site moment plays from the
	// file of the same name.
	run("add the demo videos", chromedp.Click(chromedp.CSS("#demo-try")))
	waitFor(t, ctx, "the demo files", fmt.Sprintf(`window.__clip4clip.state().videos.length === %d`, len(videos)), 30*time.Second)
	run("play the site's first moment", chromedp.Evaluate[chromedp.Void](`document.querySelector('#moments li[data-key^="site"] .moment-button').click()`))
	waitFor(t, ctx, "the player", fmt.Sprintf(`(() => { const v = document.querySelector('#player-video'); return document.querySelector('#player').open && v.currentTime >= %f && v.currentTime <= %f && v.readyState >= 1; })()`, hits[0].Start, hits[0].End), 20*time.Second)
	if title := eval[string](t, ctx, `document.querySelector('#player-title').textContent`); title != hits[0].Name {
		t.Errorf("the player shows %q, want %q", title, hits[0].Name)
	}
}
