//go:build !js

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestSearchFeaturesBrowser drives the page's search features on the demo
// videos with the default model: minus terms, the query in the address
// (kept over a reload), "/" and the arrow keys, "More like this" (the
// moment itself left out) and the name filter.
func TestSearchFeaturesBrowser(t *testing.T) {
	chromium(t)
	p := bundledModel(t)
	if p == "" {
		t.Fatal("build.sh did not bundle weights/default.c4c as models/default.c4c")
	}
	_, videos := loadDemos(t)
	base, _ := startServer(t, siteWithDefault(t, p))
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
	ready := `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready; })()`
	run("open the page", chromedp.Navigate(base))
	waitFor(t, ctx, "the default model", ready, 60*time.Second)
	run("click Try the demo videos", chromedp.Click(chromedp.CSS("#demo-try")))
	waitFor(t, ctx, "the demo videos to be indexed", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.videos.filter(v => v.status === 'indexed').length === %d && !s.indexing; })()`, len(videos)), 4*time.Minute)

	// Minus terms: the note lists them, the address keeps the query.
	const q = "a small black ring appears -a big red square"
	// (A video finishing, or the calibration arriving, searches the
	// current query again: wait for the results rather than the call.)
	eval[bool](t, ctx, fmt.Sprintf(`window.__clip4clip.timeSearch(%q).then(() => true)`, q))
	waitFor(t, ctx, "the terms' results", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.results && s.results.text === %q && document.querySelector('#query-note').textContent.includes('·'); })()`, q), 20*time.Second)
	note := eval[string](t, ctx, `document.querySelector('#query-note').textContent`)
	if !strings.Contains(note, `+“a small black ring appears”`) || !strings.Contains(note, `−“a big red square”`) {
		t.Errorf("the note does not show the two terms: %q", note)
	}
	if h := eval[string](t, ctx, `location.hash`); h != "#q="+strings.ReplaceAll(strings.ReplaceAll(q, " ", "%20"), "-", "-") {
		t.Errorf("address hash %q", h)
	}

	// More like the frame a playing video shows.
	run("play the first moment", chromedp.Click(chromedp.CSS("#moments li .moment-button")))
	waitFor(t, ctx, "the player", `(() => { const v = document.querySelector('#player-video'); return document.querySelector('#player').open && v.currentTime > 0 && !document.querySelector('#player-like').hidden; })()`, 20*time.Second)
	run("click More like this moment", chromedp.Click(chromedp.CSS("#player-like")))
	waitFor(t, ctx, "more like the playing frame", `(() => { const s = window.__clip4clip.state(); return !document.querySelector('#player').open && s.results && s.results.text.startsWith('More like'); })()`, 20*time.Second)

	// A reload searches the address's query again.
	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the query from the address", fmt.Sprintf(`(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.results && s.results.text === %q && document.querySelector('#query').value === %q; })()`, q, q), 90*time.Second)

	// "/" focuses the box, ArrowDown the first moment, ArrowDown the next.
	// "/" as a keydown event: CDP sends a key's text as a separate event,
	// which would type into the box that keydown just focused (a browser
	// drops it once keydown's default is prevented).
	run("press /", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); document.body.dispatchEvent(new KeyboardEvent('keydown', { key: '/', bubbles: true, cancelable: true }))`))
	if id := eval[string](t, ctx, `document.activeElement.id`); id != "query" {
		t.Fatalf("after /, the focus is on %q", id)
	}
	if v := eval[string](t, ctx, `document.querySelector('#query').value`); v != q {
		t.Fatalf("after /, the box holds %q", v)
	}
	run("press ArrowDown", chromedp.KeyEvent(kb.ArrowDown))
	run("press ArrowDown", chromedp.KeyEvent(kb.ArrowDown))
	if i := eval[int](t, ctx, `[...document.querySelectorAll('#moments .moment-button')].indexOf(document.activeElement)`); i != 1 {
		t.Errorf("after two ArrowDown from the box, the focus is on moment %d, want 1", i)
	}

	// More like this: the first moment's video and range are not in the results.
	src := eval[[]string](t, ctx, `(() => { const li = document.querySelector('#moments li'); return [li.dataset.key, li.dataset.start]; })()`)
	run("click More like this", chromedp.Click(chromedp.CSS("#moments li .more-like")))
	waitFor(t, ctx, "the similar moments", `(() => { const s = window.__clip4clip.state(); return s.results && s.results.text.startsWith('More like'); })()`, 20*time.Second)
	got := eval[[][]string](t, ctx, `[...document.querySelectorAll('#moments li, #weaker-moments li')].map(li => [li.dataset.key, li.dataset.start])`)
	if len(got) == 0 {
		t.Fatal("more like this found nothing")
	}
	for _, g := range got {
		if g[0] == src[0] && g[1] == src[1] {
			t.Errorf("the moment %v is in its own more-like-this results", src)
		}
	}

	// The name filter keeps one video's moments.
	run("filter by name", chromedp.Evaluate[chromedp.Void](`document.querySelector('#filters').open = true`),
		chromedp.SendKeys(chromedp.CSS("#filter-name"), "demo1"))
	waitFor(t, ctx, "the filtered moments", `[...document.querySelectorAll('#moments li .moment-name')].length > 0 && [...document.querySelectorAll('#moments li .moment-name, #weaker-moments li .moment-name')].every(n => n.textContent.includes('demo1'))`, 10*time.Second)
	if shown := eval[[]string](t, ctx, `[...document.querySelectorAll('#videos > li')].filter(li => !li.hidden).map(li => li.dataset.key)`); len(shown) != 1 || !strings.HasPrefix(shown[0], "demo1.webm|") {
		t.Errorf("with the name filter demo1 the video list shows %v", shown)
	}
	screenshot(t, ctx, "search-features.png")
}
