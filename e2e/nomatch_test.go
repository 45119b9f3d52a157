//go:build !js

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageMatch is what TestNoMatchBrowser reads of the Moments panel.
type pageMatch struct {
	Note      string    // #no-match's text, "" when hidden
	Strong    []float64 // the scores (data-score) of the cards in #moments
	Weak      []float64 // the scores of the cards folded under "Weaker matches"
	Summary   string    // the disclosure's summary, "" when hidden
	Threshold float64   // info.calibration.thresholdScore
}

const readMatch = `(() => {
	const score = (li) => Number(li.dataset.score);
	const note = document.querySelector('#no-match');
	const weaker = document.querySelector('#weaker');
	return {
		note: note.hidden ? '' : note.textContent,
		strong: [...document.querySelectorAll('#moments > li')].map(score),
		weak: [...document.querySelectorAll('#weaker-moments > li')].map(score),
		summary: weaker.hidden ? '' : weaker.querySelector('summary').textContent,
		threshold: window.__clip4clip.state().model.info.calibration.thresholdScore,
	};
})()`

// TestNoMatchBrowser opens the app with the default model, whose file
// has no calibration: the workers measure it at load (a frame worker
// embeds the probe clips, the query worker scores them) and the page
// keeps it. On the demo videos an out-of-world query says nothing matches
// well and that it looks outside the demo world, with every moment folded
// under "Weaker matches"; an event's caption says neither and shows its
// best moment unfolded. Reloaded, the page uses the calibration it kept.
func TestNoMatchBrowser(t *testing.T) {
	chromium(t)
	_, videos := loadDemos(t)
	base, _ := startServer(t, siteWithDefault(t, bundledModel(t)))
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

	run("open the page", chromedp.Navigate(base))
	waitFor(t, ctx, "the default model", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.model.source === 'default'; })()`, 60*time.Second)
	start := time.Now()
	waitFor(t, ctx, "the calibration", `!!window.__clip4clip.state().model.info.calibration`, 60*time.Second)
	type calInfo struct {
		Head, Source, Set string
		Threshold         float64
		ThresholdScore    float64
		Outside           *float64
		Tells, OwnWorld   bool
	}
	cal := eval[calInfo](t, ctx, `window.__clip4clip.state().model.info.calibration`)
	t.Logf("calibrated in the workers in about %v (after the model loaded): %+v", time.Since(start).Round(10*time.Millisecond), cal)
	if cal.Source != "computed" || cal.Head != "seqTransf" || !cal.Tells || !cal.OwnWorld || cal.Outside == nil || cal.Threshold < 0.6 || cal.Threshold > 0.8 {
		t.Errorf("calibration %+v: want measured here, of the seqTransf head, of the demo world, threshold near the native 0.706", cal)
	}

	run("click Try the demo videos", chromedp.Click(chromedp.CSS("#demo-try")))
	waitFor(t, ctx, "the demo videos to be indexed", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.videos.filter(v => v.status === 'indexed').length === %d && !s.indexing; })()`, len(videos)), 3*time.Minute)

	search := func(q string) pageMatch {
		t.Helper()
		eval[any](t, ctx, fmt.Sprintf(`window.__clip4clip.timeSearch(%q).then(() => true)`, q))
		return eval[pageMatch](t, ctx, readMatch)
	}
	out := search("a dog catches a frisbee")
	t.Logf("out of the world: %q; %d moments shown, %d folded (%s), threshold %.2f", out.Note, len(out.Strong), len(out.Weak), out.Summary, out.Threshold)
	for _, want := range []string{"Nothing matches “a dog catches a frisbee” well", "looks outside the demo world", "the default model knows", "Get a real model"} {
		if !strings.Contains(out.Note, want) {
			t.Errorf("the out-of-world note does not say %q: %q", want, out.Note)
		}
	}
	if len(out.Strong) != 0 || len(out.Weak) == 0 || out.Summary != fmt.Sprintf("Weaker matches (%d)", len(out.Weak)) {
		t.Errorf("out of the world: moments %v shown, %v folded (%q); want every one folded", out.Strong, out.Weak, out.Summary)
	}
	screenshot(t, ctx, "nomatch-out-of-world.png")

	in := search("a small black ring appears") // demo0's first event
	t.Logf("in the world: %d moments shown %v, %d folded (%s)", len(in.Strong), in.Strong, len(in.Weak), in.Summary)
	if in.Note != "" {
		t.Errorf("an event's caption gets the note %q", in.Note)
	}
	if len(in.Strong) == 0 {
		t.Fatal("an event's caption shows no moment unfolded")
	}
	for _, s := range in.Strong {
		if s < in.Threshold {
			t.Errorf("moment of score %.1f shown among the good ones (threshold %.2f)", s, in.Threshold)
		}
	}
	for _, s := range in.Weak {
		if s >= in.Threshold {
			t.Errorf("moment of score %.1f folded (threshold %.2f)", s, in.Threshold)
		}
	}
	if (len(in.Weak) > 0) != (in.Summary != "") {
		t.Errorf("%d folded moments, summary %q", len(in.Weak), in.Summary)
	}
	run("open the weaker matches", chromedp.Evaluate[chromedp.Void](`document.querySelector('#weaker').open = true`))
	screenshot(t, ctx, "nomatch-in-world.png")

	// Reloaded, the page gives the workers the calibration it kept.
	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the default model again", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.model.source.startsWith('default'); })()`, 60*time.Second)
	waitFor(t, ctx, "the kept calibration", `(() => { const c = window.__clip4clip.state().model.info.calibration; return !!c && c.source === 'given'; })()`, 20*time.Second)
	if th := eval[float64](t, ctx, `window.__clip4clip.state().model.info.calibration.threshold`); th != cal.Threshold {
		t.Errorf("the kept calibration's threshold %v, measured %v", th, cal.Threshold)
	}

	// The demo videos come back from the index without their files; the
	// page serves them, so it fetches one again to play it instead of
	// asking the person for a file they never had.
	waitFor(t, ctx, "the demo videos restored", fmt.Sprintf(`window.__clip4clip.state().videos.filter(v => v.status === 'indexed' && !v.hasFile).length === %d`, len(videos)), 20*time.Second)
	if relink := eval[string](t, ctx, `(() => { const r = document.querySelector('#relink'); return r && !r.hidden ? r.textContent : ''; })()`); relink != "" {
		t.Errorf("the page asks for the demo videos' files: %q", relink)
	}
	run("play a demo video", chromedp.Click(chromedp.CSS(`#videos .thumb-button`)))
	waitFor(t, ctx, "the player with the fetched demo video", `document.querySelector('#player').open && document.querySelector('#player-video').readyState >= 1`, 20*time.Second)
	if notes := eval[int](t, ctx, `document.querySelectorAll('.card-note').length + [...document.querySelectorAll('.message')].filter(m => m.textContent.includes('choose its file')).length`); notes != 0 {
		t.Errorf("%d notes ask for a demo video's file", notes)
	}
}
