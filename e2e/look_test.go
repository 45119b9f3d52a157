//go:build !js

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// lookReport is what readLook measures of the page as it is drawn.
type lookReport struct {
	Background string
	BgLum      float64  // relative luminance of the page's background
	Low        []string // text below its WCAG AA contrast, with where and how much
	Checked    int      // text elements checked
	Sizes      []string // distinct font sizes of the text shown
}

// readLook checks every shown element that holds text of its own: its
// colour against the background it is drawn on (the first ancestor with
// an opaque enough background), at WCAG 2.1 AA: 4.5:1, or 3:1 for large
// text (24 px, or 18.66 px bold). Disabled controls are exempt, as WCAG
// has them. It also lists the font sizes in use (the type scale).
const readLook = `(() => {
	const rgba = (s) => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
	const lin = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
	const lum = (c) => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
	const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1 });
	const bgOf = (e) => {
		const layers = [];
		for (let n = e; n; n = n.parentElement) {
			const c = rgba(getComputedStyle(n).backgroundColor);
			if (c && c.a > 0) { layers.push(c); if (c.a >= 0.99) break; }
		}
		let c = { r: 255, g: 255, b: 255, a: 1 };
		for (let i = layers.length - 1; i >= 0; i--) c = over(layers[i], c);
		return c;
	};
	const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden], .visually-hidden, dialog:not([open])');
	const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/)[0] : '');
	const low = [], sizes = new Set();
	let checked = 0;
	for (const e of document.body.querySelectorAll('*')) {
		if (['SCRIPT', 'STYLE', 'svg', 'VIDEO', 'IMG', 'CANVAS'].includes(e.tagName)) continue;
		const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
		if (!own || !shown(e) || e.closest(':disabled, [aria-disabled="true"]')) continue;
		const s = getComputedStyle(e);
		const fg = rgba(s.color), bg = bgOf(e);
		const text = over({ ...fg, a: fg.a * Number(s.opacity) }, bg);
		const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
		const ratio = (hi + 0.05) / (lo + 0.05);
		const px = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
		const need = px >= 24 || (bold && px >= 18.66) ? 3 : 4.5;
		checked++;
		sizes.add(s.fontSize);
		if (ratio < need) low.push(name(e) + ' “' + e.textContent.trim().slice(0, 30) + '” ' + ratio.toFixed(2) + ':1 (needs ' + need + ')');
	}
	const page = bgOf(document.body);
	return { background: getComputedStyle(document.body).backgroundColor, bgLum: lum(page), low, checked, sizes: [...sizes].sort((a, b) => parseFloat(a) - parseFloat(b)) };
})()`

// focusReport is what readFocus measures of the focused element.
type focusReport struct {
	Name    string
	Outline string  // the outline drawn (style width colour), or the box-shadow
	Width   float64 // the outline's width in px (0: none)
	Ratio   float64 // the outline colour's contrast against the page behind it
}

const readFocus = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body) return { name: '' };
	const rgba = (s) => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2] }; };
	const lin = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
	const lum = (c) => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
	// A visually hidden input draws its ring on its label (label.button:has(input:focus-visible)).
	const drawn = e.classList.contains('visually-hidden') && e.closest('label') ? e.closest('label') : e;
	const s = getComputedStyle(drawn);
	let bgEl = drawn.parentElement, bg = null;
	for (; bgEl; bgEl = bgEl.parentElement) { const c = getComputedStyle(bgEl).backgroundColor; const m = c.match(/rgba\([^)]*,\s*0\)$/); if (c !== 'transparent' && !m) { bg = rgba(c); break; } }
	bg = bg || { r: 255, g: 255, b: 255 };
	const width = s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth);
	const col = rgba(s.outlineColor) || { r: 0, g: 0, b: 0 };
	const [hi, lo] = [lum(col), lum(bg)].sort((a, b) => b - a);
	return { name: drawn.tagName.toLowerCase() + (drawn.id ? '#' + drawn.id : '') + ' “' + (drawn.textContent || drawn.placeholder || drawn.getAttribute('aria-label') || '').trim().slice(0, 24) + '”', outline: s.outlineStyle + ' ' + s.outlineWidth + ' ' + s.outlineColor, width, ratio: (hi + 0.05) / (lo + 0.05) };
})()`

// TestLook checks the page's look in both of the system's colour schemes:
// the background follows prefers-color-scheme (dark: luminance under 0.05,
// light: over 0.8), every text shown meets WCAG AA contrast on its own
// background, on the welcome screen and with an error message and the
// model's details open; the text uses a small type scale (at most 6
// sizes); and each control reached with Tab draws a focus ring at least
// 2 px wide whose colour stands 3:1 against the page (WCAG 1.4.11). It
// saves a screenshot of each scheme to look at.
func TestLook(t *testing.T) {
	chromium(t)
	ctx, run := openApp(t, 3*time.Minute, chromedp.EmulateViewport(1280, 800))
	frames := func() {
		t.Helper()
		eval[bool](t, ctx, `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
	}

	look := func(scheme, when string) {
		t.Helper()
		run("prefer "+scheme, colorScheme(scheme), chromedp.Sleep(400*time.Millisecond)) // after the transitions
		frames()
		r := eval[lookReport](t, ctx, readLook)
		t.Logf("%s, %s: background %s (luminance %.3f), %d texts, sizes %s", scheme, when, r.Background, r.BgLum, r.Checked, strings.Join(r.Sizes, " "))
		if scheme == "dark" && r.BgLum > 0.05 || scheme == "light" && r.BgLum < 0.8 {
			t.Errorf("%s, %s: the page's background %s (luminance %.3f) does not follow the system's %s scheme", scheme, when, r.Background, r.BgLum, scheme)
		}
		if r.Checked < 10 {
			t.Errorf("%s, %s: only %d texts checked; the check reads nothing", scheme, when, r.Checked)
		}
		for _, l := range r.Low {
			t.Errorf("%s, %s: low contrast: %s", scheme, when, l)
		}
		if len(r.Sizes) > 6 {
			t.Errorf("%s, %s: %d font sizes in use (%s); want a type scale of at most 6", scheme, when, len(r.Sizes), strings.Join(r.Sizes, " "))
		}
	}
	for _, scheme := range []string{"light", "dark"} {
		look(scheme, "welcome")
		screenshot(t, ctx, "look-"+scheme+".png")
	}

	// An error message (a model file that is empty) and the model's details.
	empty := filepath.Join(t.TempDir(), "empty.c4c")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run("choose an empty model file", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{empty}))
	waitFor(t, ctx, "the error message", `[...document.querySelectorAll('#messages .message')].some((m) => m.textContent.includes('empty'))`, 20*time.Second)
	run("open the model's details", chromedp.Click(chromedp.CSS("#model-more")))
	waitFor(t, ctx, "the model's details", `!document.querySelector('#model-details').hidden`, 5*time.Second)
	for _, scheme := range []string{"light", "dark"} {
		look(scheme, "an error and the model's details")
	}
	run("close dialogs", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('dialog[open]').forEach((d) => d.close())`))

	// Focus rings, in both schemes, for the first controls reached by Tab.
	for _, scheme := range []string{"light", "dark"} {
		run("prefer "+scheme, colorScheme(scheme), chromedp.Evaluate[chromedp.Void](`(document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0))`), chromedp.Sleep(300*time.Millisecond))
		var seen []string
		for i := 0; i < 12; i++ {
			run("press Tab", chromedp.KeyEvent("\t"))
			frames()
			f := eval[focusReport](t, ctx, readFocus)
			if f.Name == "" {
				continue
			}
			seen = append(seen, f.Name)
			if f.Width < 2 {
				t.Errorf("%s: %s has no focus ring (outline %s)", scheme, f.Name, f.Outline)
			} else if f.Ratio < 3 {
				t.Errorf("%s: the focus ring of %s (%s) stands %.2f:1 against the page, want 3:1", scheme, f.Name, f.Outline, f.Ratio)
			}
		}
		t.Logf("%s: Tab reached %s", scheme, strings.Join(seen, ", "))
		if len(seen) < 5 {
			t.Errorf("%s: Tab reached only %d controls", scheme, len(seen))
		}
	}
}
