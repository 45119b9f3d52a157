//go:build !js

package e2e

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// update writes TestFirstScreen's screenshots to testdata/screens, where
// they are committed, instead of testdata/out.
var update = flag.Bool("update", false, "write TestFirstScreen's screenshots to testdata/screens (committed) instead of testdata/out")

// The sizes the first screen is checked at (CSS pixels, device scale 1):
// a laptop, a phone (iPhone 12 to 15) and a tablet in portrait.
var (
	laptop = viewport{1280, 800}
	phone  = viewport{390, 844}
	tablet = viewport{768, 1024}
)

type viewport struct{ W, H int64 }

func (v viewport) String() string { return fmt.Sprintf("%dx%d", v.W, v.H) }

const (
	maxQueryTop    = 600 // px from the top of the first screen to the search box's
	maxModelHeight = 120 // px: the model panel is one line (two rows of it on a phone)
	minTapTarget   = 44  // px high, WCAG 2.5.5 / Apple's HIG
)

// firstScreen is what measureScreen reads of the page at one size.
type firstScreen struct {
	QueryTop     float64 // #query's top
	ModelHeight  float64 // #model-panel's height
	FactsShown   bool    // #model-facts is rendered
	ScrollWidth  float64 // document.scrollingElement.scrollWidth
	InnerWidth   float64
	Targets      []tapTarget // every visible control on the first screen
	Smallest     tapTarget
	ModelSummary string // the model line's text
}

type tapTarget struct {
	What   string
	Height float64
}

const measureScreen = `(() => {
	const box = (sel) => document.querySelector(sel).getBoundingClientRect();
	const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
	const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '') + ' “' + (e.textContent || e.value || e.placeholder || '').trim().slice(0, 30) + '”';
	const targets = [...document.querySelectorAll('button, a[href], input, select, textarea, summary, label.button')]
		.filter((e) => shown(e) && !e.closest('.visually-hidden') && !e.classList.contains('visually-hidden'))
		.map((e) => ({ e, r: e.getBoundingClientRect() }))
		.filter(({ r }) => r.bottom > 0 && r.top < innerHeight && r.width > 0)
		.map(({ e, r }) => ({ what: name(e), height: r.height }));
	const smallest = targets.reduce((a, b) => (b.height < a.height ? b : a), { what: 'none', height: Infinity });
	return {
		queryTop: box('#query').top,
		modelHeight: box('#model-panel').height,
		factsShown: shown(document.querySelector('#model-facts')),
		scrollWidth: document.scrollingElement.scrollWidth,
		innerWidth: innerWidth,
		targets, smallest,
		modelSummary: document.querySelector('#model-status').textContent,
	};
})()`

// strength is one result card's score as the page shows it.
type strength struct {
	Text  string   // the words shown
	Title string   // the tooltip, with the number
	Label string   // the card's aria-label
	Score *float64 // the engine's score (data-score), nil when the card has none
	Where string   // "moment", "weaker" or "video"
}

const readStrengths = `(() => {
	const out = [];
	for (const [sel, where] of [['#moments > li', 'moment'], ['#weaker-moments > li', 'weaker']]) {
		for (const li of document.querySelectorAll(sel)) {
			const s = li.querySelector('.moment-score');
			out.push({ text: s.querySelector('.value').textContent, title: s.title, label: li.querySelector('.moment-button').getAttribute('aria-label'), score: li.dataset.score === undefined ? null : Number(li.dataset.score), where });
		}
	}
	for (const v of document.querySelectorAll('#videos .video')) {
		const b = v.querySelector('.score-badge');
		if (b.hidden) continue;
		out.push({ text: b.textContent, title: b.title, label: v.querySelector('.thumb-button').getAttribute('aria-label'), score: b.dataset.score === undefined ? null : Number(b.dataset.score), where: 'video' });
	}
	return out;
})()`

// calibrated is what the test needs of the model's calibration to say
// which words a score should get: the engine's units (scale x cosine) of
// the threshold and of the medians of the matched and unmatched cosines.
type calibrated struct {
	Tells                   bool
	Threshold, Strong, Poor float64
}

const readCalibration = `(() => {
	const c = window.__clip4clip.state().model.info.calibration;
	const h = c.calibration.heads[c.head];
	const mid = c.calibration.levels.indexOf(0.5);
	const scale = c.thresholdScore / c.threshold;
	return { tells: c.tells, threshold: c.thresholdScore, strong: scale * h.matched[mid], poor: scale * h.unmatched[mid] };
})()`

// word is the strength word a score gets under cal: "Strong" at or above
// the matched median, "Good" at or above the threshold, "Weak" down to the
// unmatched median (a caption against a clip it does not describe),
// "Poor" below.
func (cal calibrated) word(score float64) string {
	switch {
	case score >= cal.Strong:
		return "Strong"
	case score >= cal.Threshold:
		return "Good"
	case score >= cal.Poor:
		return "Weak"
	}
	return "Poor"
}

// TestFirstScreen opens the app with the default model at a laptop's, a
// phone's and a tablet's size and checks that the first screen is for
// searching: the search box near the top, the model one line with its
// details one click away, no horizontal scroll, every control on a phone
// at least 44 px high. With the demo videos indexed, an example query's
// results say how well they match in words scaled to the model's
// calibration (the score in their tooltip), an out-of-world query's say
// weak or poor, and the player fits a phone's screen. With another model
// chosen, the model line offers the default back and does not say there
// is none. Its screenshots go to testdata/out, or with -update to
// testdata/screens.
func TestFirstScreen(t *testing.T) {
	chromium(t)
	list, videos := loadDemos(t)
	defaultModel := bundledModel(t)
	base, _ := startServer(t, siteWithDefault(t, defaultModel))
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 5*time.Minute)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	resize := func(v viewport) {
		t.Helper()
		run("resize to "+v.String(), chromedp.EmulateViewport(v.W, v.H), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		// Two frames: the layout at the new size, then its paint.
		eval[bool](t, ctx, `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
	}
	shoot := func(name string) {
		t.Helper()
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join("testdata", "out")
		if *update {
			dir = filepath.Join("testdata", "screens")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p, _ := filepath.Abs(filepath.Join(dir, name))
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	noSideScroll := func(v viewport, when string) {
		t.Helper()
		w := eval[[]float64](t, ctx, `[document.scrollingElement.scrollWidth, innerWidth]`)
		if w[0] > w[1] {
			wide := eval[[]string](t, ctx, `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5 && e.getClientRects().length).slice(0, 8).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)`)
			t.Errorf("%s, %s: the page scrolls sideways (scrollWidth %v > innerWidth %v); too wide: %v", v, when, w[0], w[1], wide)
		}
	}

	run("open the page", chromedp.Navigate(base))
	waitFor(t, ctx, "the default model", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.model.source === 'default'; })()`, 60*time.Second)
	waitFor(t, ctx, "the demo offer", `!document.querySelector('#demo-callout').hidden`, 10*time.Second)

	for _, v := range []viewport{laptop, phone, tablet} {
		resize(v)
		s := eval[firstScreen](t, ctx, measureScreen)
		t.Logf("%s: search box top %.0f px, model panel %.0f px high (%q), scrollWidth %.0f of %.0f, smallest control %.0f px (%s)",
			v, s.QueryTop, s.ModelHeight, s.ModelSummary, s.ScrollWidth, s.InnerWidth, s.Smallest.Height, s.Smallest.What)
		if v != tablet {
			shoot(fmt.Sprintf("after-%s.png", v))
		}
		if s.QueryTop > maxQueryTop {
			t.Errorf("%s: the search box's top is at %.0f px, below %d", v, s.QueryTop, maxQueryTop)
		}
		if s.ModelHeight > maxModelHeight {
			t.Errorf("%s: the model panel is %.0f px high, more than %d", v, s.ModelHeight, maxModelHeight)
		}
		if s.FactsShown {
			t.Errorf("%s: the model's facts are shown before they are asked for", v)
		}
		noSideScroll(v, "first screen")
		if v == phone {
			for _, c := range s.Targets {
				if c.Height < minTapTarget-0.5 {
					t.Errorf("%s: %s is %.1f px high, less than %d", v, c.What, c.Height, minTapTarget)
				}
			}
		}
	}

	// The model's details are one click away, and fold away again.
	resize(phone)
	waitFor(t, ctx, "the model's details button", `!!document.querySelector('#model-more')`, 5*time.Second)
	run("open the model's details", chromedp.Click(chromedp.CSS("#model-more")))
	facts := eval[string](t, ctx, `(() => { const f = document.querySelector('#model-facts'); return f.getClientRects().length ? document.querySelector('#model-panel').innerText : ''; })()`)
	for _, want := range []string{"the default model bundled with this page", "knows only the demo world", "Architecture", "Identity"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the model's details, open, do not show %q: %q", want, facts)
		}
	}
	if strings.Contains(facts, "No default model") {
		t.Errorf("the default model's details say there is no default model: %q", facts)
	}
	noSideScroll(phone, "model details open")
	run("close the model's details", chromedp.Click(chromedp.CSS("#model-more")))
	if eval[bool](t, ctx, `document.querySelector('#model-facts').getClientRects().length > 0`) {
		t.Error("the model's details stay open after a second click")
	}

	// The "Get a real model" dialog fits a phone.
	run("open Get a real model", chromedp.Click(chromedp.CSS("#get-model-open")))
	waitFor(t, ctx, "the dialog", `document.querySelector('#get-model').open`, 5*time.Second)
	g := eval[map[string]float64](t, ctx, `(() => { const d = document.querySelector('#get-model'); const r = d.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, w: innerWidth, h: innerHeight, scroll: d.scrollWidth, client: d.clientWidth }; })()`)
	if g["left"] < 0 || g["right"] > g["w"] || g["top"] < 0 || g["bottom"] > g["h"] || g["scroll"] > g["client"] {
		t.Errorf("%s: the Get a real model dialog does not fit: %v", phone, g)
	}
	run("close Get a real model", chromedp.Click(chromedp.CSS("#get-model-close")))

	// The demo videos, added on the phone; the progress fits it too.
	run("click Try the demo videos", chromedp.Click(chromedp.CSS("#demo-try")))
	waitFor(t, ctx, "the indexing progress", `!document.querySelector('#progress-panel').hidden`, 30*time.Second)
	noSideScroll(phone, "indexing")
	resize(tablet)
	noSideScroll(tablet, "indexing")
	resize(laptop)
	waitFor(t, ctx, "the demo videos to be indexed", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.videos.filter(v => v.status === 'indexed').length === %d && !s.indexing; })()`, len(videos)), 4*time.Minute)
	waitFor(t, ctx, "the calibration", `!!window.__clip4clip.state().model.info.calibration`, 60*time.Second)
	cardFrames(t, ctx, false)
	cal := eval[calibrated](t, ctx, readCalibration)
	t.Logf("calibration in the engine's units: poor below %.2f, weak below %.2f, strong from %.2f (tells %v)", cal.Poor, cal.Threshold, cal.Strong, cal.Tells)
	if !cal.Tells || !(cal.Poor < cal.Threshold && cal.Threshold < cal.Strong) {
		t.Fatalf("the default model's calibration %+v cannot grade results", cal)
	}
	waitFor(t, ctx, "the example queries", `!document.querySelector('#examples').hidden`, 10*time.Second)
	next := eval[string](t, ctx, `document.querySelector('#examples').innerText`)
	t.Logf("after the demos: %q", next)
	if !eval[bool](t, ctx, `(() => { const n = document.querySelector('#examples-next'); return n.getClientRects().length > 0 && n.textContent.length > 20; })()`) {
		t.Errorf("after the demos, no line says what to try next: %q", next)
	}

	resize(phone)
	example := list.Examples[0]
	run("click the first example query", chromedp.Click(chromedp.CSS("#examples .example")))
	waitFor(t, ctx, "the example's results", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.results && s.results.text === %q && !document.querySelector('#moments-panel').hidden && document.querySelectorAll('#moments > li, #weaker-moments > li').length > 0; })()`, example), 20*time.Second)
	eval[bool](t, ctx, `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
	in := eval[[]strength](t, ctx, readStrengths)
	checkStrengths(t, example, in, cal)
	cardFrames(t, ctx, true)
	if len(in) == 0 || (in[0].Text != "Strong match" && in[0].Text != "Good match") {
		t.Errorf("%q: the best moment says %q, want a strong or good match", example, in[0].Text)
	}
	cols := eval[[]float64](t, ctx, `[...new Set([...document.querySelectorAll('#moments > li')].map((li) => Math.round(li.getBoundingClientRect().left)))]`)
	if len(cols) != 1 {
		t.Errorf("%s: the moments are in %d columns (lefts %v), want one", phone, len(cols), cols)
	}
	if n := eval[int](t, ctx, `[...document.querySelectorAll('#moments > li .thumb')].filter((i) => i.getBoundingClientRect().width < 64).length`); n > 0 {
		t.Errorf("%s: %d moment thumbnails are narrower than 64 px", phone, n)
	}
	noSideScroll(phone, "results")
	// Thumbnails keep their frame's shape (letterboxed), whatever it is:
	// a square or portrait frame cut to 16:9 would lose half its content.
	if fits := eval[[]string](t, ctx, `[...document.querySelectorAll('img.thumb')].map(i => getComputedStyle(i).objectFit)`); len(fits) == 0 {
		t.Error("no thumbnails in the results")
	} else {
		for _, f := range fits {
			if f != "contain" {
				t.Errorf("a thumbnail is drawn with object-fit %q: it crops frames of another shape; want contain", f)
				break
			}
		}
	}
	shoot("after-390x844-results.png")
	// The whole page, and in dark mode (after the buttons' transitions), to look at.
	screenshot(t, ctx, "first-screen-results-390-full.png")
	run("prefer dark", colorScheme("dark"), chromedp.Sleep(300*time.Millisecond))
	screenshot(t, ctx, "first-screen-results-390-dark.png")
	run("prefer light", colorScheme("light"))
	for _, v := range []viewport{tablet, laptop} {
		resize(v)
		noSideScroll(v, "results")
	}

	// An out-of-world query: every result weak or poor, and the layout
	// holds still while its results replace the example's.
	resize(phone)
	eval[bool](t, ctx, `(() => { window.__shifts = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__shifts += e.value; }).observe({ type: 'layout-shift' }); return true; })()`)
	const outside = "a dog catches a frisbee"
	eval[bool](t, ctx, fmt.Sprintf(`window.__clip4clip.timeSearch(%q).then(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true)))))`, outside))
	out := eval[[]strength](t, ctx, readStrengths)
	checkStrengths(t, outside, out, cal)
	for _, s := range out {
		if s.Text != "Weak match" && s.Text != "Poor match" {
			t.Errorf("%q (outside the demo world): a %s says %q, want a weak or poor match", outside, s.Where, s.Text)
		}
	}
	t.Logf("layout shift while the out-of-world results arrived: %.3f", eval[float64](t, ctx, `window.__shifts`))

	// A query of several terms scores on another scale: a relative bar.
	const terms = "a small black ring appears -a big red square"
	eval[bool](t, ctx, fmt.Sprintf(`window.__clip4clip.timeSearch(%q).then(() => true)`, terms))
	rel := eval[[]strength](t, ctx, readStrengths)
	for _, s := range rel {
		if s.Where != "video" && !strings.Contains(s.Title, "relative") {
			t.Errorf("%q: a moment's tooltip %q does not say its bar is relative", terms, s.Title)
		}
	}

	// The player fits a phone's screen.
	run("search the example again", chromedp.Click(chromedp.CSS("#examples .example")))
	waitFor(t, ctx, "the example's results", fmt.Sprintf(`window.__clip4clip.state().results.text === %q && document.querySelectorAll('#moments > li').length > 0`, example), 20*time.Second)
	run("play the best moment", chromedp.Click(chromedp.CSS("#moments > li .moment-button")))
	waitFor(t, ctx, "the player", `document.querySelector('#player').open && document.querySelector('#player-video').readyState > 0`, 20*time.Second)
	eval[bool](t, ctx, `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
	d := eval[map[string]float64](t, ctx, `(() => { const r = document.querySelector('#player').getBoundingClientRect(); const c = document.querySelector('#player-close').getBoundingClientRect(); return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, w: innerWidth, h: innerHeight, close: c.height }; })()`)
	t.Logf("%s: the player spans %.0f,%.0f to %.0f,%.0f; its Close button is %.0f px high", phone, d["left"], d["top"], d["right"], d["bottom"], d["close"])
	if d["left"] < 0 || d["top"] < 0 || d["right"] > d["w"] || d["bottom"] > d["h"] {
		t.Errorf("%s: the player (%v) does not fit the viewport", phone, d)
	}
	if d["close"] < minTapTarget-0.5 {
		t.Errorf("%s: the player's Close button is %.1f px high", phone, d["close"])
	}
	run("close the player", chromedp.Click(chromedp.CSS("#player-close")))

	// Another model than the default (the same file, chosen): the page
	// offers the default model back and does not say it has none.
	run("choose a model file", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{defaultModel}))
	waitFor(t, ctx, "the chosen model", `(() => { const s = window.__clip4clip.state(); return s.ready && s.model.source === 'file' && !document.querySelector('#model-default').hidden; })()`, 60*time.Second)
	if p := eval[string](t, ctx, `document.querySelector('#model-panel').textContent`); strings.Contains(p, "No default model") {
		t.Errorf("with a model chosen and a default one bundled, the model panel says %q", p)
	}
	if h := eval[float64](t, ctx, `document.querySelector('#model-panel').getBoundingClientRect().height`); h > maxModelHeight {
		t.Errorf("%s: with a chosen model the model panel is %.0f px high", phone, h)
	}

	// Another model: the demos' index belongs to the default model. The
	// page says so, keeps it, and brings it back with that model.
	indexed := `window.__clip4clip.state().videos.filter(v => v.status === 'indexed').length`
	before := eval[int](t, ctx, indexed)
	run("choose the tiny CLIP", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{tinyModel(t, t.TempDir())}))
	waitFor(t, ctx, "the tiny CLIP", `(() => { const s = window.__clip4clip.state(); return s.ready && s.model.name === 'tiny.c4c'; })()`, 60*time.Second)
	msg := eval[string](t, ctx, `[...document.querySelectorAll('.message.warning')].map(m => m.textContent).find(t => t.includes('belongs to')) || ''`)
	if !strings.Contains(msg, fmt.Sprintf("Your index of %d videos belongs to default.c4c", before)) || !strings.Contains(msg, "kept in this browser") {
		t.Errorf("after loading another model the page says %q", msg)
	}
	if n := eval[int](t, ctx, indexed); n != 0 {
		t.Errorf("%d videos of the default model's index shown with the tiny CLIP", n)
	}
	run("choose the default model again", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{defaultModel}))
	waitFor(t, ctx, "the default model's index back", fmt.Sprintf(`window.__clip4clip.state().ready && %s === %d`, indexed, before), 60*time.Second)
}

// colorScheme emulates the system's prefers-color-scheme ("dark" or "light").
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

var (
	strengthWord = regexp.MustCompile(`^(Strong|Good|Weak|Poor) match$`)
	bareNumber   = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
)

// checkStrengths checks that every result of query says its strength in
// words that match the calibration, with its score (one decimal) in the
// tooltip and not in the aria-label.
func checkStrengths(t *testing.T, query string, got []strength, cal calibrated) {
	t.Helper()
	if len(got) == 0 {
		t.Errorf("%q: no result shows a strength", query)
		return
	}
	words := map[string]int{}
	for _, s := range got {
		words[s.Text]++
		if bareNumber.MatchString(strings.TrimSpace(s.Text)) || !strengthWord.MatchString(s.Text) {
			t.Errorf("%q: a %s shows %q, want a strength in words", query, s.Where, s.Text)
			continue
		}
		if s.Score == nil {
			t.Errorf("%q: a %s (%q) carries no data-score", query, s.Where, s.Text)
			continue
		}
		score := *s.Score
		num := fmt.Sprintf("%.1f", score)
		if !strings.Contains(s.Title, num) {
			t.Errorf("%q: a %s's tooltip %q does not give its score %s", query, s.Where, s.Title, num)
		}
		if strings.Contains(s.Label, num) || !strings.Contains(strings.ToLower(s.Label), strings.ToLower(s.Text)) {
			t.Errorf("%q: a %s's aria-label %q should say %q, not the score %s", query, s.Where, s.Label, s.Text, num)
		}
		if want := cal.word(score) + " match"; s.Text != want && !nearEdge(score, cal) {
			t.Errorf("%q: a %s of score %.3f says %q, the calibration %q", query, s.Where, score, s.Text, want)
		}
	}
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, words[k])
	}
	t.Logf("%q: %s", query, strings.Join(parts, ", "))
}

// nearEdge tells whether score is within float32 rounding of one of the
// calibration's edges, where the page and the test may round either way.
func nearEdge(score float64, cal calibrated) bool {
	for _, e := range []float64{cal.Poor, cal.Threshold, cal.Strong} {
		if math.Abs(score-e) < 1e-3 {
			return true
		}
	}
	return false
}

// cardFrames checks the frame each video card shows: before a search one
// from the middle of the video (a first frame is often blank or a title
// card: the demo cards showed plain grey ones), after a search the most
// detailed frame of the video's best moment (its window's centre is often
// blank: before the ring of "a small black ring appears" appears); and
// that the picture shown is not flat.
func cardFrames(t *testing.T, ctx context.Context, searched bool) {
	t.Helper()
	type card struct {
		Name, Alt, Frame string
		Frames           int
		Best             *int  // the centre of the best moment's window
		First, Last      int   // its frames
		Sizes            []int // the byte size of each frame's thumbnail
		Std              float64
	}
	cards := eval[[]card](t, ctx, `Promise.all([...document.querySelectorAll('#videos > li')].map(async (li) => {
	  const s = window.__clip4clip.state();
	  const img = li.querySelector('img.thumb');
	  const v = s.videos.find((v) => li.querySelector('.name').textContent === v.name);
	  const hit = s.results && s.results.hits.find((h) => h.key === v.key);
	  await img.decode();
	  const c = new OffscreenCanvas(64, 36), g = c.getContext('2d');
	  g.drawImage(img, 0, 0, 64, 36);
	  const d = g.getImageData(0, 0, 64, 36).data;
	  let sum = 0, sq = 0;
	  for (let i = 0; i < d.length; i += 4) { const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]; sum += y; sq += y * y; }
	  const n = d.length / 4;
	  return { name: v.name, alt: img.alt, frame: img.dataset.frame, frames: v.frames, best: hit && hit.moments.length ? hit.moments[0].frame : null, first: hit && hit.moments.length ? hit.moments[0].first : 0, last: hit && hit.moments.length ? hit.moments[0].last : 0, sizes: window.__clip4clip.thumbSizes(v.key), std: Math.sqrt(Math.max(0, sq / n - (sum / n) ** 2)) };
	}))`)
	if len(cards) == 0 {
		t.Fatal("no video cards")
	}
	for _, c := range cards {
		want := strconv.Itoa(c.Frames / 2)
		if searched && c.Best != nil {
			// The moment's most detailed frame (largest thumbnail), nearest
			// the centre among equals.
			b := *c.Best
			for i := c.First; i <= c.Last && i < len(c.Sizes); i++ {
				if c.Sizes[i] > c.Sizes[b] || (c.Sizes[i] == c.Sizes[b] && abs(i-*c.Best) < abs(b-*c.Best)) {
					b = i
				}
			}
			want = strconv.Itoa(b)
			if !strings.HasPrefix(c.Alt, "Best moment of") {
				t.Errorf("%s after a search: the thumbnail says %q, want its best moment", c.Name, c.Alt)
			}
		}
		if c.Frame != want {
			t.Errorf("%s (searched %v): the card shows frame %q of %d, want %s", c.Name, searched, c.Frame, c.Frames, want)
		}
		if c.Std < 4 {
			t.Errorf("%s (searched %v): the card's thumbnail is flat (luminance std %.1f)", c.Name, searched, c.Std)
		}
	}
	t.Logf("video cards (searched %v): %d, each showing its %s; lowest luminance std %.1f", searched, len(cards), map[bool]string{false: "middle frame", true: "best moment's most detailed frame (middle without a hit)"}[searched], slices.MinFunc(cards, func(a, b card) int { return cmp.Compare(a.Std, b.Std) }).Std)
}

func abs(i int) int { return max(i, -i) }
