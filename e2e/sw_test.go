//go:build !js

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// shellFile matches the paths (under the site's root) the service worker
// may keep: the page's own files and the demo videos that ship with it.
var shellFile = regexp.MustCompile(`^(|index\.html|style\.css|app\.js|favicon\.svg|worker\.js|convert-worker\.js|wasm_exec\.js|clip4clip\.wasm|widget/clip-search-worker\.js|lib/(gpu/)?[a-z0-9-]+\.js|simd/kernels(\.js|_relaxed\.wasm|_simd\.wasm)|demos/(index\.json|demo[0-9]+\.webm))$`)

// cacheKeys lists the page's Cache API caches and the URLs in each.
func cacheKeys(t *testing.T, ctx context.Context) map[string][]string {
	t.Helper()
	return eval[map[string][]string](t, ctx, `(async () => {
		const out = {};
		for (const name of await caches.keys()) out[name] = (await (await caches.open(name)).keys()).map((r) => r.url);
		return out;
	})()`)
}

// siteBuild reads the build name build.sh wrote into dir/version.js.
func siteBuild(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "version.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CLIP4CLIP_BUILD = '([^']+)'`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("version.js names no build:\n%s", b)
	}
	return string(m[1])
}

// TestServiceWorkerCache: the service worker keeps the app shell and only
// that. The page loads the default model (which it keeps in its own cache)
// and fetches a site index, a video and another file of the site's: none
// of them lands in the shell's cache. A new build (another version.js)
// installs a new worker, whose activation deletes the old build's cache;
// offline, the page still starts from the new one.
func TestServiceWorkerCache(t *testing.T) {
	chromium(t)
	model := bundledModel(t)
	dir := siteWithDefault(t, model) // a copy: the test writes a new version.js
	// The site's own data beside the app.
	for src, dst := range map[string]string{
		"embed-example/demos.idx": "sites/archive.c4s",
		"demos/demo0.webm":        "videos/clip.webm",
		"demos/index.json":        "data/notes.json",
	} {
		b, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	userData := []string{"sites/archive.c4s", "videos/clip.webm", "data/notes.json", "embed-example/demos.idx", "embed-example/text.c4c", "models/default.c4c"}
	base, stopServer := startServer(t, dir)
	ctx, cancel := browser(t)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the service worker to control the page", `navigator.serviceWorker.controller !== null`, 30*time.Second)
	waitFor(t, ctx, "the default model", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)

	// The site's files, fetched by the page through the worker.
	list := `['` + strings.Join(userData, `', '`) + `']`
	statuses := eval[[]int](t, ctx, `Promise.all(`+list+`.map((u) => fetch(u).then(async (r) => { await r.arrayBuffer(); return r.status; })))`)
	if !slices.Equal(statuses, []int{200, 200, 200, 200, 200, 200}) {
		t.Fatalf("fetching %v: statuses %v", userData, statuses)
	}

	old := "clip4clip-shell-" + siteBuild(t, dir)
	check := func(shellName string) {
		t.Helper()
		caches := cacheKeys(t, ctx)
		var names []string
		for name := range caches {
			names = append(names, name)
		}
		slices.Sort(names)
		if want := []string{"clip4clip-models-v1", shellName}; !slices.Equal(names, want) {
			t.Fatalf("caches %v, want %v", names, want)
		}
		have := map[string]bool{}
		for _, u := range caches[shellName] {
			p, ok := strings.CutPrefix(u, base)
			if !ok || !shellFile.MatchString(p) {
				t.Errorf("%s keeps %s, which is not a file of the app shell", shellName, u)
			}
			have[p] = true
		}
		for _, p := range []string{"", "index.html", "app.js", "worker.js", "lib/engine.js", "clip4clip.wasm", "wasm_exec.js", "simd/kernels.js"} {
			if !have[p] {
				t.Errorf("%s lacks %q; it has %v", shellName, p, caches[shellName])
			}
		}
		for _, p := range userData {
			if have[p] {
				t.Errorf("%s keeps the site's %s", shellName, p)
			}
		}
		if !slices.Equal(caches["clip4clip-models-v1"], []string{base + "models/default.c4c"}) {
			t.Errorf("the page's model cache holds %v, want the default model", caches["clip4clip-models-v1"])
		}
	}
	// A put would follow its fetch within milliseconds; look for a while.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		check(old)
		if t.Failed() {
			t.FailNow()
		}
	}

	// A new build: the worker is installed again and drops the old cache.
	next := "clip4clip-shell-e2e-next"
	if err := os.WriteFile(filepath.Join(dir, "version.js"), []byte("self.CLIP4CLIP_BUILD = 'e2e-next';\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `navigator.serviceWorker.getRegistration().then((r) => r.update()).then(() => true)`)
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		keys := eval[[]string](t, ctx, `caches.keys()`)
		if slices.Contains(keys, next) && !slices.Contains(keys, old) && eval[bool](t, ctx, `navigator.serviceWorker.getRegistration().then((r) => !!r.active && !r.installing && !r.waiting)`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after a new version.js: caches %v, want %s and not %s", keys, next, old)
		}
	}
	check(next)

	// Offline, the page starts from the new build's cache; the site's
	// files are not there.
	stopServer()
	if _, err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the app offline", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
	if got := eval[string](t, ctx, `fetch('videos/clip.webm').then(() => 'fetched', () => 'failed')`); got != "failed" {
		t.Errorf("offline, videos/clip.webm was %s: the worker kept it", got)
	}
}

// TestServiceWorkerOfflineOtherPages: the service worker answers with the
// app's page only for the app's own addresses. Offline, the widget's
// example page (/embed-example/) and an address the site never had get a
// page that says the browser is offline (status 503) and links to the
// app, not the app in their place; the app itself, with a query string,
// still starts from the cache.
func TestServiceWorkerOfflineOtherPages(t *testing.T) {
	chromium(t)
	base, stopServer := startServer(t, buildSite(t))
	ctx, cancel := browser(t)
	defer cancel()
	nav := func(u string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Navigate(u)); err != nil {
			t.Fatalf("opening %s: %v", u, err)
		}
	}
	type page struct {
		Title, Text string
		App         bool // the app's page: its model line is there
		Status      int
	}
	read := func() page {
		t.Helper()
		return eval[page](t, ctx, `({ title: document.title, text: document.body ? document.body.innerText : '', app: !!document.querySelector('#model-status'), status: performance.getEntriesByType('navigation')[0].responseStatus })`)
	}
	nav(base)
	waitFor(t, ctx, "the service worker to control the page", `navigator.serviceWorker.controller !== null`, 30*time.Second)
	// The shell is cached once the worker is active; wait for index.html in it.
	waitFor(t, ctx, "the shell in the cache", `caches.keys().then(async (ks) => { for (const k of ks) if (await (await caches.open(k)).match('index.html')) return true; return false; })`, 30*time.Second)

	// Online, the example is the example.
	nav(base + "embed-example/")
	if p := read(); p.App || !strings.Contains(p.Title, "Shapes in Motion") {
		t.Fatalf("online, /embed-example/ shows %+v", p)
	}

	stopServer()
	for _, path := range []string{"embed-example/", "embed-example/index.html", "no/such/page.html"} {
		nav(base + path)
		p := read()
		t.Logf("offline %s: status %d, title %q, %q", path, p.Status, p.Title, p.Text)
		if p.App {
			t.Errorf("offline, /%s shows the app's page", path)
		}
		if p.Status != 503 || p.Title != "Offline" || !strings.Contains(p.Text, "You are offline") || !strings.Contains(p.Text, "/"+path) {
			t.Errorf("offline, /%s: %+v; want the offline page (503) naming the address", path, p)
		}
		if href := eval[string](t, ctx, `(document.querySelector('a') || {}).href || ''`); href != base {
			t.Errorf("offline, /%s links to %q, want the app at %s", path, href, base)
		}
	}
	nav(base + "?q=x")
	waitFor(t, ctx, "the app offline", `!!document.querySelector('#model-status') && document.title.startsWith('clip4clip')`, 20*time.Second)
}
