//go:build !js

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"clip4clip/model"
	"clip4clip/model/preprocess"
	"clip4clip/wasm/engine"
)

// pageState is what window.__clip4clip.state() returns.
type pageState struct {
	Model *struct {
		ID, Name, Source string
		Info             struct {
			EmbedDim   int
			Context    int
			LogitScale float64
			Head       string
			Meta       map[string]string
		}
	}
	Workers  int
	Indexing bool
	Stats    struct {
		Done, Total int
		Paused      bool
	}
	Reused int
	Videos []struct {
		Key, Name, Status string
		Frames            int
		Done, Total       *int
		Error             *string
		Persisted         bool
		HasFile           bool
	}
	Results *struct {
		Text  string
		Query struct {
			Tokens    int
			Truncated bool
		}
		Hits []struct {
			Key      string
			Score    float64
			Whole    float64
			Timeline []float64
			Moments  []struct {
				Frame, First, Last int
				Score              float64
			}
		}
	}
	LastSearch map[string]any
}

// pageVideo is one entry of window.__clip4clip.debugEmbeddings().
type pageVideo struct {
	Key, Name     string
	Width, Height int
	Duration      float64
	Times         []float64
	EmbedDim      int
	Features      string // base64 float32 (frames, embed)
	Frames        []struct {
		T             float64
		Width, Height int
		RGBA          string // base64, the exact bytes sent to the worker
	}
}

func state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	return eval[pageState](t, ctx, `window.__clip4clip.state()`)
}

func embeddings(t *testing.T, ctx context.Context) map[string]pageVideo {
	t.Helper()
	vs := eval[[]pageVideo](t, ctx, `window.__clip4clip.debugEmbeddings()`)
	out := map[string]pageVideo{}
	for _, v := range vs {
		out[v.Name] = v
	}
	return out
}

func messages(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `[...document.querySelectorAll('.message')].map(m => m.textContent).join('\n')`)
}

// nativeEmbed runs the native model on straight-alpha RGBA: the same
// preprocessing and encoder, compiled for this machine instead of wasm.
func nativeEmbed(t *testing.T, enc *model.Encoder, rgba []byte, w, h int) []float32 {
	res := enc.Model().Config.Vision.Resolution
	img := &image.NRGBA{Pix: rgba, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	crop, err := preprocess.ResizeCrop(img, res)
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]float32, 3*res*res)
	preprocess.Normalize(pix, crop)
	out := make([]float32, enc.Model().Config.EmbedDim)
	if err := enc.EncodeImage(out, pix); err != nil {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// TestBrowserApp drives the whole app in headless Chromium.
func TestBrowserApp(t *testing.T) {
	chromium(t)
	ffmpeg(t)
	work := t.TempDir()
	modelPath := tinyModel(t, work)
	base, stopServer := startServer(t, buildSite(t))
	warm := makeVideo(t, work, "warm.webm", 12, 2, 320, 240, 0)
	cool := makeVideo(t, work, "cool.webm", 12, 2, 320, 240, 180)
	third := makeVideo(t, work, "third.webm", 8, 2, 256, 144, 90)
	fourth := makeVideo(t, work, "fourth.webm", 8, 2, 256, 144, 270)
	broken := filepath.Join(work, "broken.webm")
	junk := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range junk {
		junk[i] = byte(r.IntN(256))
	}
	if err := os.WriteFile(broken, junk, 0o644); err != nil {
		t.Fatal(err)
	}

	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 110*time.Second)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// No model yet, and none bundled: the page says so.
	run("open the page", chromedp.Navigate(base+"?debug=1"))
	waitFor(t, ctx, "the no-model notice", `document.querySelector('#model-about').textContent.includes('No default model is bundled')`, 20*time.Second)

	// A file that is not a model.
	run("pick a video as the model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{warm}))
	waitFor(t, ctx, "the not-a-model error", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('not a clip4clip model file'))`, 10*time.Second)

	// An empty file: said to be empty, not to lack a signature.
	empty := filepath.Join(work, "empty.c4c")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run("pick an empty model file", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{empty}))
	waitFor(t, ctx, "the empty-file error", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('“empty.c4c” is empty (0 bytes)'))`, 10*time.Second)

	// A model file cut short (an interrupted download).
	whole, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(work, "cut.c4c")
	if err := os.WriteFile(cut, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	run("pick a truncated model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{cut}))
	waitFor(t, ctx, "the truncated-model error", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('“cut.c4c” is not a usable clip4clip model file'))`, 20*time.Second)
	// In words for people; the engine's own text behind "details".
	cutMsg := eval[map[string]string](t, ctx, `(() => { const m = [...document.querySelectorAll('.message.error')].find(m => m.textContent.includes('cut.c4c')); const d = m.querySelector('.message-details'); const p = m.querySelector('p').cloneNode(true); p.querySelectorAll('details').forEach(x => x.remove()); return { shown: p.textContent, details: d ? d.textContent : '' }; })()`)
	if !strings.Contains(cutMsg["shown"], "the file is cut short") || strings.Contains(cutMsg["shown"], "weights:") || strings.Contains(cutMsg["shown"], "lies at bytes") {
		t.Errorf("the truncated model's message reads %q", cutMsg["shown"])
	}
	if !strings.Contains(cutMsg["details"], "lies at bytes") {
		t.Errorf("the truncated model's details %q do not hold the engine's text", cutMsg["details"])
	}

	// Three errors so far: the newest two show, the first folds into one
	// line that shows it or clears them all.
	type fold struct {
		Visible, All int
		More, Clear  string
	}
	readFold := `(() => { const ms = [...document.querySelectorAll('#messages .message')]; const f = document.querySelector('#messages .message-fold'); return { visible: ms.filter(m => m.offsetParent !== null).length, all: ms.length, more: f ? f.querySelector('.more').textContent : '', clear: f ? f.querySelector('.clear').textContent : '' }; })()`
	if f := eval[fold](t, ctx, readFold); f.All != 3 || f.Visible != 2 || f.More != "1 earlier message: show" || f.Clear != "Clear all 3" {
		t.Errorf("three errors: %+v; want 2 of 3 shown and the fold line", f)
	}
	run("show the folded message", chromedp.Click(chromedp.CSS("#messages .message-fold .more")))
	if f := eval[fold](t, ctx, readFold); f.Visible != 3 || f.More != "Show fewer" {
		t.Errorf("unfolded: %+v", f)
	}
	run("clear the messages", chromedp.Click(chromedp.CSS("#messages .message-fold .clear")))
	if f := eval[fold](t, ctx, readFold); f.All != 0 || f.Clear != "" {
		t.Errorf("cleared: %+v", f)
	}

	// The widget's text-only model: refused at once, saying what it is for.
	textOnly, err := filepath.Abs(filepath.Join(exampleDir, "text.c4c"))
	if err != nil {
		t.Fatal(err)
	}
	run("pick a text-only model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{textOnly}))
	waitFor(t, ctx, "the text-only error", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('“text.c4c” cannot be this page’s model') && m.textContent.includes('only the text side') && m.textContent.includes('search widget'))`, 20*time.Second)
	if st := state(t, ctx); st.Model != nil {
		t.Errorf("a text-only model was taken as the page's model: %+v", st.Model)
	}

	// The model.
	start := time.Now()
	run("pick the model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{modelPath}))
	waitFor(t, ctx, "the model to load", `window.__clip4clip.state().ready`, 30*time.Second)
	t.Logf("model loaded in %v", time.Since(start).Round(time.Millisecond))
	facts := eval[string](t, ctx, `document.querySelector('#model-facts').textContent + document.querySelector('#model-status').textContent`)
	for _, want := range []string{"clip_tiny_openai.pt", "f16", "meanP", "128 dimensions"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the model facts do not say %q: %s", want, facts)
		}
	}
	st := state(t, ctx)
	if st.Model.Info.EmbedDim != 128 || len(st.Model.ID) != 64 {
		t.Errorf("model %+v", st.Model)
	}

	// Two real videos and a broken one.
	start = time.Now()
	run("add videos", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{warm, cool, broken}))
	waitFor(t, ctx, "indexing to finish", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 3 && !s.indexing && s.videos.every(v => (v.status === 'indexed' && v.persisted) || v.status === 'failed'); })()`, 60*time.Second)
	t.Logf("indexed in %v", time.Since(start).Round(time.Millisecond))
	st = state(t, ctx)
	for _, v := range st.Videos {
		switch v.Name {
		case "warm.webm", "cool.webm":
			if v.Status != "indexed" || v.Frames != 6 || !v.Persisted {
				t.Errorf("%s: %+v", v.Name, v)
			}
		case "broken.webm":
			if v.Status != "failed" || v.Error == nil {
				t.Errorf("broken.webm: %+v", v)
			}
		}
	}
	if m := messages(t, ctx); !strings.Contains(m, "Could not index “broken.webm”") {
		t.Errorf("no message about the broken video; messages:\n%s", m)
	}

	// A zero-length file, dropped on the page.
	run("drop an empty file", chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([], 'dropped-empty.webm', {type: 'video/webm'}));
		document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`))
	waitFor(t, ctx, "the empty-file error", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('“dropped-empty.webm”: the file is empty'))`, 10*time.Second)

	// An empty query says so.
	run("search for nothing", chromedp.Focus(chromedp.CSS("#query")), chromedp.KeyEvent(kb.Enter))
	waitFor(t, ctx, "the empty-query notice", `document.querySelector('#query-note').textContent.includes('empty')`, 5*time.Second)

	// A query, typed.
	const query = "a white square on a red background"
	run("type a query", chromedp.SendKeys(chromedp.CSS("#query"), query))
	waitFor(t, ctx, "results", `(() => { const s = window.__clip4clip.state(); return s.results && s.results.text === '`+query+`' && s.results.hits.length === 2 && document.querySelectorAll('#moments li').length > 0; })()`, 10*time.Second)
	st = state(t, ctx)
	t.Logf("search: %v", st.LastSearch)
	ranges := eval[[]string](t, ctx, `[...document.querySelectorAll('#moments .moment-range')].map(e => e.textContent)`)
	rangeRE := regexp.MustCompile(`^0:0\d–0:0\d$`)
	for _, rg := range ranges {
		if !rangeRE.MatchString(rg) {
			t.Errorf("moment time range %q", rg)
		}
	}
	top := eval[struct {
		Key        string
		Start, End float64
	}](t, ctx, `(() => { const li = document.querySelector('#moments li'); return {key: li.dataset.key, start: +li.dataset.start, end: +li.dataset.end}; })()`)
	if top.End-top.Start != 4 {
		t.Errorf("the best moment spans %v s to %v s; want 4 frames = 4 s", top.Start, top.End)
	}
	scores := eval[[]string](t, ctx, `[...document.querySelectorAll('#videos .video')].filter(v => !v.querySelector('.score-badge').hidden).map(v => v.querySelector('.name').textContent + ' ' + v.querySelector('.score-badge').textContent)`)
	if len(scores) != 2 {
		t.Errorf("videos with scores: %q", scores)
	}
	painted := eval[float64](t, ctx, `(() => { const c = document.querySelector('.video:not([data-status=failed]) .timeline'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (d.length / 4); })()`)
	if painted < 0.9 {
		t.Errorf("the relevance timeline is %.0f%% painted", 100*painted)
	}

	// Clicking a moment plays the video from its start.
	run("play the best moment", chromedp.Click(chromedp.CSS(`#moments li:first-child button`)))
	waitFor(t, ctx, "the player at the moment", fmt.Sprintf(`(() => { const v = document.querySelector('#player-video'); return document.querySelector('#player').open && v.readyState > 0 && v.currentTime >= %v && v.currentTime < %v + 1.5; })()`, top.Start, top.Start), 10*time.Second)
	run("close the player", chromedp.Click(chromedp.CSS(`#player-close`)))

	// The browser's numbers against the native build's.
	emb := embeddings(t, ctx)
	m, err := model.LoadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	enc := m.NewEncoder()
	d := m.Config.EmbedDim
	features := map[string][]float32{}
	for _, name := range []string{"warm.webm", "cool.webm"} {
		pv := emb[name]
		feats := float32s(t, pv.Features)
		features[pv.Key] = feats
		if len(pv.Frames) != 6 || len(feats) != 6*d || len(pv.Times) != 6 {
			t.Fatalf("%s: %d frames, %d feature values, times %v", name, len(pv.Frames), len(feats), pv.Times)
		}
		ref := decodeFrames(t, filepath.Join(work, name), filepath.Join(work, name+"-ffmpeg"))
		var worstSent, worstFFmpeg float64
		var maxLevel, sumLevel, nLevel float64
		for i, f := range pv.Frames {
			if f.T != float64(i) || f.Width != 320 || f.Height != 240 {
				t.Errorf("%s frame %d: t=%v %dx%d, want t=%d 320x240", name, i, f.T, f.Width, f.Height, i)
			}
			rgba, err := base64.StdEncoding.DecodeString(f.RGBA)
			if err != nil {
				t.Fatal(err)
			}
			got := feats[i*d : (i+1)*d]
			// 1. The exact bytes the page sent, embedded natively.
			want := nativeEmbed(t, enc, rgba, f.Width, f.Height)
			if diff := maxAbsDiff(got, want); diff > 1e-4 {
				t.Errorf("%s frame %d: browser vs native embedding of the same RGBA: max diff %g\n got %v\nwant %v", name, i, diff, got[:4], want[:4])
			} else {
				worstSent = math.Max(worstSent, diff)
			}
			// 2. ffmpeg's decoding of the frame at the same time (2 fps).
			k := int(math.Floor(f.T*2 + 1e-6))
			if k >= len(ref) {
				t.Fatalf("%s: ffmpeg decoded %d frames, the page sampled t=%v", name, len(ref), f.T)
			}
			for j := range rgba {
				if j%4 == 3 {
					continue
				}
				l := math.Abs(float64(rgba[j]) - float64(ref[k].Pix[j]))
				maxLevel = math.Max(maxLevel, l)
				sumLevel += l
				nLevel++
			}
			worstFFmpeg = math.Max(worstFFmpeg, maxAbsDiff(got, nativeEmbed(t, enc, ref[k].Pix, 320, 240)))
		}
		t.Logf("%s: browser vs native on the page's RGBA: max diff %.3g (limit 1e-4)", name, worstSent)
		t.Logf("%s: Chromium's decoder vs ffmpeg's: max %v levels, mean %.3f levels; their embeddings differ by up to %.3g", name, maxLevel, sumLevel/nLevel, worstFFmpeg)
	}

	// The query and the scores.
	qf := eval[struct {
		IDs       []int
		Truncated bool
		Feature   string
	}](t, ctx, fmt.Sprintf(`window.__clip4clip.queryFeature(%q)`, query))
	ids, _, err := m.Tokenizer.Tokenize(query, m.Config.Text.Context)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, qf.IDs) {
		t.Errorf("token ids: browser %v, native %v", qf.IDs, ids)
	}
	qNative := make([]float32, d)
	if err := enc.EncodeText(qNative, ids); err != nil {
		t.Fatal(err)
	}
	qBrowser := float32s(t, qf.Feature)
	if diff := maxAbsDiff(qBrowser, qNative); diff > 1e-4 {
		t.Errorf("query embedding: browser vs native max diff %g", diff)
	}
	for _, h := range st.Results.Hits {
		f := features[h.Key]
		n := len(f) / d
		mask := make([]bool, n)
		for i := range mask {
			mask[i] = true
		}
		l, err := enc.Logits(model.MeanP, qNative, 1, f, mask, 1, n)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(h.Whole-float64(l[0])) > 1e-3*math.Max(1, math.Abs(float64(l[0]))) {
			t.Errorf("%s: browser whole-video score %v, native meanP logit %v", h.Key, h.Whole, l[0])
		}
		if want := slices.Max(append([]float64{h.Whole}, h.Timeline...)); h.Score != want {
			t.Errorf("%s: browser score %v, want the better of the whole video's and the best moment's, %v", h.Key, h.Score, want)
		}
	}

	// A screenshot of the results, from the top (the header is sticky).
	run("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	screenshot(t, ctx, "results.png")

	// A query longer than the context is cut, with a notice.
	long := strings.Repeat("a white square moving over a red and then a blue background ", 12)
	run("type a long query", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const q = document.querySelector('#query'); q.value = %q; q.dispatchEvent(new Event('input')); })()`, long)))
	waitFor(t, ctx, "the truncation notice", `document.querySelector('#query-note').textContent.includes('longer than the model reads')`, 10*time.Second)
	if st = state(t, ctx); !st.Results.Query.Truncated || st.Results.Query.Tokens != m.Config.Text.Context {
		t.Errorf("long query: %+v", st.Results.Query)
	}

	// Another script, or emoji: the note says the model reads English, in
	// words people use (no "tokens").
	const japanese = "赤い車が橋を渡る 🚗"
	run("type a Japanese query", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const q = document.querySelector('#query'); q.value = %q; q.dispatchEvent(new Event('input')); })()`, japanese)))
	waitFor(t, ctx, "the English-only notice", `document.querySelector('#query-note').textContent.includes('read English only')`, 10*time.Second)
	if note := eval[string](t, ctx, `document.querySelector('#query-note').textContent`); !strings.Contains(note, "other scripts and emoji") || strings.Contains(note, "token") {
		t.Errorf("the note on a Japanese query: %q", note)
	}

	// Export: the file decodes natively to exactly the page's index.
	b64 := eval[string](t, ctx, `window.__clip4clip.exportIndexBytes()`)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var x engine.Index
	if err := x.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	if x.ModelID != st.Model.ID || x.EmbedDim != d || len(x.Videos) != 2 {
		t.Fatalf("exported index: model %s, embed %d, %d videos", x.ModelID, x.EmbedDim, len(x.Videos))
	}
	for _, v := range x.Videos {
		if !slices.Equal(v.Features, features[v.Key]) || len(v.Thumbs) != 6 || !slices.Equal(v.Times, []float64{0, 1, 2, 3, 4, 5}) {
			t.Errorf("exported %s differs from the page's index", v.Name)
		}
	}
	again, err := x.MarshalBinary()
	if err != nil || string(again) != string(raw) {
		t.Errorf("re-encoding the exported index natively gives other bytes (%v)", err)
	}

	// Reload: the model comes from the Cache API, the index from IndexedDB.
	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the model and index after reload", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.videos.filter(v => v.status === 'indexed').length === 2; })()`, 30*time.Second)
	st = state(t, ctx)
	if st.Model.Source != "cache" {
		t.Errorf("after reload the model came from %q, want the cache", st.Model.Source)
	}
	after := embeddings(t, ctx)
	for _, name := range []string{"warm.webm", "cool.webm"} {
		if after[name].Features != emb[name].Features {
			t.Errorf("%s: the index changed across the reload", name)
		}
	}

	// Adding the same file again reuses its index.
	run("add warm.webm again", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{warm}))
	waitFor(t, ctx, "the file to be reused", `window.__clip4clip.state().reused === 1`, 10*time.Second)
	st = state(t, ctx)
	if st.Indexing || len(st.Videos) != 2 {
		t.Errorf("re-adding a file: %+v", st.Videos)
	}

	// Import: remove a video, import the exported file, get it back exactly.
	run("remove cool.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="cool.webm"] .remove`)))
	waitFor(t, ctx, "the removal", `window.__clip4clip.state().videos.length === 1`, 5*time.Second)
	imported := eval[struct{ Added, Skipped int }](t, ctx, fmt.Sprintf(`window.__clip4clip.importIndexBytes(%q)`, b64))
	if imported.Added != 1 || imported.Skipped != 1 {
		t.Errorf("import: %+v", imported)
	}
	back := embeddings(t, ctx)
	if back["cool.webm"].Features != emb["cool.webm"].Features || !slices.Equal(back["cool.webm"].Times, emb["cool.webm"].Times) {
		t.Error("cool.webm differs after export and import")
	}

	// Pause, resume, cancel.
	run("pause", chromedp.Evaluate[chromedp.Void](`window.__clip4clip.pause()`))
	run("add third.webm", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{third}))
	waitFor(t, ctx, "third.webm to wait, paused", `(() => { const s = window.__clip4clip.state(); return s.stats.paused && s.videos.some(v => v.name === 'third.webm' && v.total === 4 && v.done === 0); })()`, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if st = state(t, ctx); st.Stats.Done != 0 {
		t.Errorf("%d frames embedded while paused", st.Stats.Done)
	}
	if label := eval[string](t, ctx, `document.querySelector('#pause').textContent + ' ' + document.querySelector('#overall-stats').textContent`); !strings.Contains(label, "Resume") || !strings.Contains(label, "paused") || strings.Contains(label, "frames/s") || strings.Contains(label, "left") {
		t.Errorf("paused, the progress panel says %q", label)
	}
	run("resume", chromedp.Click(chromedp.CSS("#pause")))
	waitFor(t, ctx, "third.webm to be indexed and saved", `window.__clip4clip.state().videos.some(v => v.name === 'third.webm' && v.status === 'indexed' && v.persisted)`, 20*time.Second)
	run("pause again", chromedp.Evaluate[chromedp.Void](`window.__clip4clip.pause()`))
	run("add fourth.webm", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{fourth}))
	waitFor(t, ctx, "fourth.webm to start", `window.__clip4clip.state().videos.some(v => v.name === 'fourth.webm' && v.total === 4)`, 10*time.Second)
	run("cancel fourth.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="fourth.webm"] .cancel`)))
	waitFor(t, ctx, "fourth.webm to be canceled", `window.__clip4clip.state().videos.some(v => v.name === 'fourth.webm' && v.status === 'canceled') && !window.__clip4clip.state().indexing`, 10*time.Second)
	run("resume", chromedp.Click(chromedp.CSS("#pause")))

	// Offline: with the server gone, the service worker serves the app and
	// the Cache API the model; the index is in IndexedDB.
	stopServer()
	run("reload offline", chromedp.Reload())
	waitFor(t, ctx, "the app offline", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.videos.filter(v => v.status === 'indexed').length === 3; })()`, 30*time.Second)
	run("search offline", chromedp.SendKeys(chromedp.CSS("#query"), "a red square"))
	waitFor(t, ctx, "results offline", `(() => { const s = window.__clip4clip.state(); return s.results && s.results.hits.length === 3; })()`, 10*time.Second)
}

// TestStorageFull fills the origin's quota before the page opens: the
// model cannot be cached and an index cannot be saved, and the page says
// both plainly while it goes on working for this visit.
func TestStorageFull(t *testing.T) {
	chromium(t)
	ffmpeg(t)
	work := t.TempDir()
	modelPath := tinyModel(t, work)
	base, _ := startServer(t, buildSite(t))
	video := makeVideo(t, work, "full.webm", 4, 2, 160, 120, 30)
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	origin := strings.TrimSuffix(base, "/")
	if _, err := chromedp.Call(ctx, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin, QuotaSize: ptr(1.0)}); err != nil {
		t.Fatalf("overriding the quota: %v", err)
	}
	run("open the page", chromedp.Navigate(base))
	waitFor(t, ctx, "the page", `window.__clip4clip !== undefined`, 20*time.Second)
	run("pick the model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{modelPath}))
	waitFor(t, ctx, "the model", `window.__clip4clip.state().ready`, 30*time.Second)
	waitFor(t, ctx, "the model-not-cached warning", `[...document.querySelectorAll('.message')].some(m => m.textContent.includes('Storage is full: the model could not be kept'))`, 10*time.Second)
	run("add a video", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{video}))
	waitFor(t, ctx, "the index-not-saved error", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('Storage is full: the index of “full.webm” could not be saved'))`, 20*time.Second)
	st := state(t, ctx)
	if len(st.Videos) != 1 || st.Videos[0].Status != "indexed" || st.Videos[0].Persisted {
		t.Errorf("with the storage full: %+v", st.Videos)
	}
	run("search", chromedp.SendKeys(chromedp.CSS("#query"), "a square"))
	waitFor(t, ctx, "results from the unsaved index", `(() => { const s = window.__clip4clip.state(); return s.results && s.results.hits.length === 1; })()`, 10*time.Second)
}

// TestDefaultModel serves a default model next to the page: it loads by
// itself, and again (revalidated) after a reload.
func TestDefaultModel(t *testing.T) {
	chromium(t)
	work := t.TempDir()
	modelPath := tinyModel(t, work)
	base, _ := startServer(t, siteWithDefault(t, modelPath))
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
	defer cancelT()
	for i, what := range []string{"open the page", "reload"} {
		action := chromedp.Navigate(base)
		if i > 0 {
			action = chromedp.Reload()
		}
		if err := chromedp.Do(ctx, action); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		waitFor(t, ctx, "the default model", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
		st := state(t, ctx)
		if st.Model.Source != "default" || st.Model.Name != "default.c4c" {
			t.Errorf("%s: model %q from %q, want default.c4c from the default", what, st.Model.Name, st.Model.Source)
		}
		status := eval[string](t, ctx, `document.querySelector('#model-status').textContent + ' | ' + document.querySelector('#model-about').textContent`)
		if strings.Contains(status, "No default model") || !strings.Contains(status, "default model bundled with this page") {
			t.Errorf("%s: the model status says %q", what, status)
		}
	}
}
