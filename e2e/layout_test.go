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

// maxShift is the most cumulative layout shift allowed while results
// arrive or indexing progresses: Core Web Vitals' "good" CLS.
const maxShift = 0.1

// panelCheck is what checkPanel reads of the page at one size and state.
type panelCheck struct {
	ScrollWidth, InnerWidth float64
	Small                   []string // controls under 44 px either way
	Columns                 int      // distinct lefts of the moments shown
	Moments                 int
	BadThumbs               []string // moment or video thumbnails missing or narrower than 64 px
}

// readPanel measures every visible control of the whole page (scrolled
// into view or not), the moments' columns and the thumbnails.
const readPanel = `(() => {
	const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden], .visually-hidden, dialog:not([open])');
	const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : '') + ' “' + (e.textContent || e.value || e.placeholder || e.getAttribute('aria-label') || '').trim().slice(0, 24) + '”';
	const open = document.querySelector('dialog[open]');
	const scope = open || document;
	const small = [...scope.querySelectorAll('button, a[href], input:not(.visually-hidden), select, textarea, summary, label.button')]
		.filter((e) => shown(e) && (open || !e.closest('dialog')))
		.map((e) => ({ e, r: e.getBoundingClientRect() }))
		.filter(({ r }) => r.height < 43.5 || r.width < 43.5)
		.map(({ e, r }) => name(e) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
	const moments = [...document.querySelectorAll('#moments > li')].filter(shown);
	const thumbs = [...document.querySelectorAll('#moments > li img.thumb, #videos > li img.thumb')].filter((i) => i.closest('li').getClientRects().length);
	return {
		scrollWidth: document.scrollingElement.scrollWidth, innerWidth,
		small,
		columns: new Set(moments.map((li) => Math.round(li.getBoundingClientRect().left))).size,
		moments: moments.length,
		badThumbs: thumbs.filter((i) => !i.complete || !i.naturalWidth || i.getBoundingClientRect().width < 64).map((i) => i.closest('li').textContent.trim().slice(0, 30) + ' ' + Math.round(i.getBoundingClientRect().width) + 'px'),
	};
})()`

// watchShifts starts (or restarts) counting layout shifts not caused by
// a recent input (as CLS counts them); shifts() reads the sum and the
// elements that moved most.
const watchShifts = `(() => {
	window.__shift = { sum: 0, moved: [] };
	if (!window.__shiftObserver) {
		window.__shiftObserver = new PerformanceObserver((list) => {
			for (const e of list.getEntries()) {
				if (e.hadRecentInput) continue;
				window.__shift.sum += e.value;
				for (const s of e.sources || []) {
					const n = s.node;
					const what = n ? (n.nodeType === 1 ? n.tagName.toLowerCase() + (n.id ? '#' + n.id : '') + (n.className && typeof n.className === 'string' ? '.' + n.className.split(' ')[0] : '') : '#text ' + (n.textContent || '').slice(0, 20)) : '?';
					window.__shift.moved.push(what + ' ' + e.value.toFixed(3) + ' ' + Math.round(s.previousRect.y) + '->' + Math.round(s.currentRect.y) + ' h' + Math.round(s.previousRect.height) + '->' + Math.round(s.currentRect.height));
				}
			}
		});
		window.__shiftObserver.observe({ type: 'layout-shift' });
	}
	return true;
})()`

type shiftReport struct {
	Sum   float64
	Moved []string
}

// TestLayout checks every panel state of the page at a phone's and a
// tablet's size: the welcome (empty index), indexing, results and the
// player open. In each: no horizontal scroll, every visible control at
// least 44 x 44 px, the results in one column on the phone with their
// thumbnails drawn, the player within the screen with its video large and
// its controls reachable. It measures the layout shift (PerformanceObserver
// 'layout-shift', entries without a recent input, as CLS counts them)
// while indexing progresses and while a search's results arrive, typed
// and not, and fails above 0.1.
func TestLayout(t *testing.T) {
	chromium(t)
	_, videos := loadDemos(t)
	base, _ := startServer(t, siteWithDefault(t, bundledModel(t)))
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 6*time.Minute)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	frames := func() {
		t.Helper()
		eval[bool](t, ctx, `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
	}
	resize := func(v viewport) {
		t.Helper()
		run("resize to "+v.String(), chromedp.EmulateViewport(v.W, v.H), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		frames()
	}
	check := func(v viewport, when string) panelCheck {
		t.Helper()
		c := eval[panelCheck](t, ctx, readPanel)
		if when == "indexing" {
			c.BadThumbs = nil // paused before a frame is read, a card has none yet
		}
		if c.ScrollWidth > c.InnerWidth {
			t.Errorf("%s, %s: the page scrolls sideways (scrollWidth %.0f > innerWidth %.0f)", v, when, c.ScrollWidth, c.InnerWidth)
		}
		for _, s := range c.Small {
			t.Errorf("%s, %s: %s is smaller than %d x %d px", v, when, s, minTapTarget, minTapTarget)
		}
		for _, b := range c.BadThumbs {
			t.Errorf("%s, %s: a thumbnail is missing or narrow: %s", v, when, b)
		}
		return c
	}
	shifts := func(when string) {
		t.Helper()
		frames()
		s := eval[shiftReport](t, ctx, `window.__shift`)
		t.Logf("layout shift %s: %.4f", when, s.Sum)
		if s.Sum >= maxShift {
			t.Errorf("layout shift %s: %.3f, want under %.1f; moved: %s", when, s.Sum, maxShift, strings.Join(s.Moved, "; "))
		}
	}
	sizes := []viewport{phone, tablet}

	run("open the page", chromedp.Navigate(base))
	waitFor(t, ctx, "the default model", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.model.source === 'default'; })()`, 60*time.Second)
	waitFor(t, ctx, "the demo offer", `!document.querySelector('#demo-callout').hidden`, 10*time.Second)
	for _, v := range sizes {
		resize(v)
		check(v, "welcome")
		// The ways in lie cleanly: Add videos… first (in reading order, rows
		// within 30 px taken as one), the buttons of one row
		// the same height and aligned, none wider than the panel.
		ways := eval[[]struct {
			ID                       string
			Left, Top, Width, Height float64
		}](t, ctx, `[...document.querySelectorAll('#add-panel .add-ways .button')].filter((b) => b.getClientRects().length).map((b) => { const r = b.getBoundingClientRect(); return { id: b.id, left: r.left, top: r.top, width: r.width, height: r.height }; }).sort((a, b) => (Math.abs(a.top - b.top) > 30 ? a.top - b.top : a.left - b.left))`)
		panel := eval[[]float64](t, ctx, `(() => { const r = document.querySelector('#add-panel').getBoundingClientRect(); return [r.left, r.right]; })()`)
		if len(ways) < 3 || ways[0].ID != "video-pick-label" {
			t.Errorf("%s: the ways in, in order: %+v; want Add videos… first", v, ways)
		}
		for i, w := range ways {
			if w.Left < panel[0] || w.Left+w.Width > panel[1] {
				t.Errorf("%s: %s (%.0f to %.0f) leaves the panel (%.0f to %.0f)", v, w.ID, w.Left, w.Left+w.Width, panel[0], panel[1])
			}
			for _, o := range ways[:i] {
				if d := w.Top - o.Top; d > -1 && d < 1 && (w.Height-o.Height > 1 || o.Height-w.Height > 1) {
					t.Errorf("%s: %s and %s share a row but not a height (%.0f, %.0f)", v, o.ID, w.ID, o.Height, w.Height)
				}
			}
		}
		if v == phone && len(ways) >= 2 && (ways[1].Top-ways[0].Top > 1 || ways[0].Top-ways[1].Top > 1) {
			t.Errorf("%s: Add videos… and Add a folder… are not side by side (tops %.0f, %.0f)", v, ways[0].Top, ways[1].Top)
		}
	}

	// Indexing: the demo videos, paused to look at, then let go.
	resize(phone)
	run("pause the indexer", chromedp.Evaluate[chromedp.Void](`window.__clip4clip.pause()`))
	run("click Try the demo videos", chromedp.Click(chromedp.CSS("#demo-try")))
	waitFor(t, ctx, "the indexing progress", fmt.Sprintf(`!document.querySelector('#progress-panel').hidden && document.querySelectorAll('#videos > li').length === %d`, len(videos)), 30*time.Second)
	for _, v := range sizes {
		resize(v)
		check(v, "indexing")
	}
	resize(phone)
	eval[bool](t, ctx, watchShifts)
	run("resume", chromedp.Evaluate[chromedp.Void](`document.querySelector('#pause').click()`))
	waitFor(t, ctx, "the demo videos indexed", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.videos.filter(v => v.status === 'indexed').length === %d && !s.indexing; })()`, len(videos)), 4*time.Minute)
	shifts("while the demo videos were indexed (phone)")

	// The first results while the video cards are in view: their
	// timelines appear in room kept for them, and the moments above do
	// not push the cards away (scroll anchoring).
	waitFor(t, ctx, "the example queries", `!document.querySelector('#examples').hidden`, 10*time.Second)
	run("scroll to the videos", chromedp.Evaluate[chromedp.Void](`document.querySelector('#videos').scrollIntoView()`))
	frames()
	eval[bool](t, ctx, watchShifts)
	eval[bool](t, ctx, `window.__clip4clip.timeSearch('a big red square appears').then(() => true)`)
	time.Sleep(700 * time.Millisecond)
	shifts("while the first results arrived beside the video cards (phone)")
	if n := eval[int](t, ctx, `[...document.querySelectorAll('#videos .timeline-wrap')].filter((w) => !w.hidden).length`); n != len(videos) {
		t.Errorf("%d of %d video cards show a timeline after the search", n, len(videos))
	}

	// Results: typed, then another query, then one replacing them.
	run("scroll to the top and empty the box", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0); document.querySelector('#query').value = ''`))
	frames()
	eval[bool](t, ctx, watchShifts)
	run("type a query", chromedp.Click(chromedp.CSS("#query")), chromedp.SendKeys(chromedp.CSS("#query"), "a small red star moves left"))
	waitFor(t, ctx, "its results", `(() => { const r = window.__clip4clip.state().results; return r && r.text === 'a small red star moves left' && document.querySelectorAll('#moments > li').length > 0; })()`, 30*time.Second)
	time.Sleep(700 * time.Millisecond) // past the 500 ms after input that CLS leaves out, for the thumbnails and timelines
	shifts("while typed results arrived (phone)")
	eval[bool](t, ctx, watchShifts)
	eval[bool](t, ctx, `window.__clip4clip.timeSearch('a big blue circle grows').then(() => true)`)
	time.Sleep(700 * time.Millisecond)
	shifts("while another query's results replaced them (phone)")
	for _, v := range sizes {
		resize(v)
		eval[bool](t, ctx, watchShifts)
		eval[bool](t, ctx, `window.__clip4clip.timeSearch('a green square spins').then(() => true)`)
		time.Sleep(700 * time.Millisecond)
		shifts(fmt.Sprintf("while results arrived (%s)", v))
		c := check(v, "results")
		if c.Moments == 0 {
			t.Errorf("%s: no moments shown", v)
		}
		if v == phone && c.Columns != 1 {
			t.Errorf("%s: the moments are in %d columns, want one", v, c.Columns)
		}
	}

	// The player, open.
	for _, v := range sizes {
		resize(v)
		run("play the best moment", chromedp.Click(chromedp.CSS("#moments > li .moment-button")))
		waitFor(t, ctx, "the player", `document.querySelector('#player').open && document.querySelector('#player-video').readyState > 0`, 20*time.Second)
		frames()
		check(v, "player open")
		p := eval[map[string]float64](t, ctx, `(() => { const d = document.querySelector('#player').getBoundingClientRect(); const vi = document.querySelector('#player-video'); const r = vi.getBoundingClientRect(); return { left: d.left, top: d.top, right: d.right, bottom: d.bottom, vw: r.width, vh: r.height, vbottom: r.bottom, controls: vi.controls ? 1 : 0, w: innerWidth, h: innerHeight }; })()`)
		t.Logf("%s: the player spans %.0f,%.0f to %.0f,%.0f; its video %.0f x %.0f", v, p["left"], p["top"], p["right"], p["bottom"], p["vw"], p["vh"])
		if p["left"] < 0 || p["top"] < 0 || p["right"] > p["w"] || p["bottom"] > p["h"] {
			t.Errorf("%s: the player does not fit the screen: %v", v, p)
		}
		if p["vw"] < 0.85*(p["w"]-32) || p["vh"] < 150 || p["vbottom"] > p["h"] || p["controls"] != 1 {
			t.Errorf("%s: the player's video is %.0f x %.0f (bottom %.0f of %.0f, controls %v): too small or cut", v, p["vw"], p["vh"], p["vbottom"], p["h"], p["controls"])
		}
		run("close the player", chromedp.Click(chromedp.CSS("#player-close")))
		waitFor(t, ctx, "the player closed", `!document.querySelector('#player').open`, 5*time.Second)
	}
}
