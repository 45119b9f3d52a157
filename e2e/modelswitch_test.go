//go:build !js

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestModelSwitchReembed: with the demo videos and a video of one's own
// (made with ffmpeg, picked) indexed with the default model, the page says
// before another model is loaded (the model file button's first click,
// the model's details, the Get a real model dialog) that the index
// belongs to the default model and is kept. After the tiny CLIP loads, the
// index is not shown, and a button embeds the videos still at hand (the
// picked file, the demos from the page's server) with the tiny CLIP:
// they are indexed with its 128-dimension features and a search finds
// them. The default model again brings its index back, with nothing to
// embed again.
func TestModelSwitchReembed(t *testing.T) {
	chromium(t)
	list, _ := loadDemos(t)
	defaultModel := bundledModel(t)
	work := t.TempDir()
	tiny := tinyModel(t, work)
	own := ffmpegTestVideo(t, work, "holiday.mp4", "-c:v", "libx264")
	base, _ := startServer(t, siteWithDefault(t, defaultModel))
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 8*time.Minute)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	n := len(list.Videos) + 1
	indexedAll := func(model string) string {
		return fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.ready && s.model.name === %q && !s.indexing && s.videos.length === %d && s.videos.every(v => v.status === 'indexed' && v.persisted); })()`, model, n)
	}

	run("open the page", chromedp.Navigate(base))
	waitFor(t, ctx, "the default model", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.model.source === 'default'; })()`, 60*time.Second)
	waitFor(t, ctx, "the demo offer", `!document.querySelector('#demo-callout').hidden`, 10*time.Second)
	// One frame every 4 s: the test embeds each video twice.
	run("sample 1 frame every 4 s", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#fps'); s.value = '0.25'; s.dispatchEvent(new Event('change')); })()`))
	run("try the demo videos", chromedp.Click(chromedp.CSS("#demo-try")))
	waitFor(t, ctx, "the demos queued", fmt.Sprintf(`window.__clip4clip.state().videos.length === %d`, n-1), 30*time.Second)
	run("add a video of one's own", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{own}))
	waitFor(t, ctx, "the default model's index", indexedAll("default.c4c"), 4*time.Minute)
	first := state(t, ctx)
	defaultID := first.Model.ID
	var keys []string
	for _, v := range first.Videos {
		keys = append(keys, v.Key)
	}
	slices.Sort(keys)

	// Before: the model file button's first click says it, with the
	// button that opens the picker; so do the model's details and the
	// Get a real model dialog.
	keep := fmt.Sprintf("Your index of %d videos belongs to default.c4c", n)
	run("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	run("click Change model", chromedp.Click(chromedp.CSS("#model-pick-label")))
	waitFor(t, ctx, "the note before choosing", `(() => { const b = document.querySelector('#model-keep-ask'); return b && !b.hidden; })()`, 5*time.Second)
	ask := eval[string](t, ctx, `document.querySelector('#model-keep-ask').innerText`)
	for _, want := range []string{keep, "keeps it in this browser", "comes back when you load default.c4c again", "Choose the model file…"} {
		if !strings.Contains(ask, want) {
			t.Errorf("before choosing a model, the page says %q; want %q", ask, want)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector('#model-keep-ask label').htmlFor`); got != "model-file" {
		t.Errorf("the note's button is for %q, want the model file input", got)
	}
	placementShot(t, ctx, "model-switch-before.png")
	run("open the model's details", chromedp.Click(chromedp.CSS("#model-more")))
	if p := eval[string](t, ctx, `(() => { const p = document.querySelector('#model-keep'); return p && p.getClientRects().length ? p.textContent : ''; })()`); !strings.Contains(p, keep) {
		t.Errorf("the model's details say %q; want %q", p, keep)
	}
	run("close the model's details", chromedp.Click(chromedp.CSS("#model-more")))
	run("open Get a real model", chromedp.Click(chromedp.CSS("#get-model-open")))
	if p := eval[string](t, ctx, `(() => { const p = document.querySelector('#get-model-keep'); return p && p.getClientRects().length ? p.textContent : ''; })()`); !strings.Contains(p, keep) {
		t.Errorf("the Get a real model dialog says %q; want %q", p, keep)
	}
	run("close Get a real model", chromedp.Click(chromedp.CSS("#get-model-close")))

	// After: the tiny CLIP, no video of the default model's index shown,
	// and the offer to embed them with it.
	run("choose the tiny CLIP", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{tiny}))
	waitFor(t, ctx, "the tiny CLIP", `(() => { const s = window.__clip4clip.state(); return s.ready && s.model.name === 'tiny.c4c'; })()`, 60*time.Second)
	if b := eval[bool](t, ctx, `(() => { const b = document.querySelector('#model-keep-ask'); return !!b && !b.hidden; })()`); b {
		t.Error("the note before choosing stays after the model changed")
	}
	if st := state(t, ctx); len(st.Videos) != 0 {
		t.Errorf("with the tiny CLIP, %d videos of the default model's index are shown", len(st.Videos))
	}
	msg := eval[string](t, ctx, `(() => { const m = document.querySelector('.message.model-switch'); return m ? m.innerText : ''; })()`)
	wantButton := fmt.Sprintf("Embed %d videos with tiny.c4c", n)
	for _, want := range []string{keep, "kept in this browser", "comes back when you load default.c4c again", wantButton} {
		if !strings.Contains(msg, want) {
			t.Errorf("after the switch the page says %q; want %q", msg, want)
		}
	}
	run("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	placementShot(t, ctx, "model-switch-after.png")

	run("embed them with the tiny CLIP", chromedp.Click(chromedp.CSS(".message.model-switch .reembed")))
	waitFor(t, ctx, "the tiny CLIP's index", indexedAll("tiny.c4c"), 4*time.Minute)
	st := state(t, ctx)
	if st.Model.ID == defaultID || st.Model.Info.EmbedDim != 128 {
		t.Fatalf("the tiny CLIP: %+v", st.Model)
	}
	var tinyKeys []string
	for _, v := range st.Videos {
		tinyKeys = append(tinyKeys, v.Key)
	}
	slices.Sort(tinyKeys)
	if !slices.Equal(tinyKeys, keys) {
		t.Errorf("embedded again: %v, want the default model's %v", tinyKeys, keys)
	}
	for _, e := range embeddings(t, ctx) {
		if e.EmbedDim != 128 || e.Features == "" || len(float32s(t, e.Features)) != 128*len(e.Times) {
			t.Errorf("%s: %d features of %d frames in %d dimensions, want the tiny CLIP's 128", e.Name, len(float32s(t, e.Features)), len(e.Times), e.EmbedDim)
		}
	}
	eval[map[string]any](t, ctx, `window.__clip4clip.timeSearch('a red square moves')`)
	res := state(t, ctx).Results
	if res == nil || res.Text != "a red square moves" || len(res.Hits) != n {
		t.Fatalf("a search with the tiny CLIP: %+v, want hits in all %d videos", res, n)
	}
	if m := messages(t, ctx); !strings.Contains(m, fmt.Sprintf("%d videos queued for indexing with tiny.c4c", n)) {
		t.Errorf("after the button, the messages are:\n%s", m)
	}

	// The default model again: its index is back as it was, and none of
	// it is offered to embed again.
	run("choose the default model again", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{defaultModel}))
	waitFor(t, ctx, "the default model's index back", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.ready && s.model.id === %q && s.videos.length === %d && s.videos.every(v => v.status === 'indexed'); })()`, defaultID, n), 60*time.Second)
	var back []string
	for _, v := range state(t, ctx).Videos {
		back = append(back, v.Key)
	}
	slices.Sort(back)
	if !slices.Equal(back, keys) {
		t.Errorf("the default model's index back: %v, want %v", back, keys)
	}
	last := eval[string](t, ctx, `(() => { const m = document.querySelector('.message.model-switch'); return m ? m.innerText : ''; })()`)
	if !strings.Contains(last, fmt.Sprintf("Your index of %d videos belongs to tiny.c4c", n)) || strings.Contains(last, "Embed") {
		t.Errorf("back with the default model, the page says %q; want the tiny CLIP's index kept and nothing to embed again", last)
	}
	if st := state(t, ctx); st.Indexing {
		t.Errorf("back with the default model, the page indexes again: %+v", st.Stats)
	}
}
