//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// fileChoosers records the tab's Page.fileChooserOpened events while
// Page.setInterceptFileChooserDialog is on.
type fileChoosers struct {
	mu     sync.Mutex
	events []page.EventFileChooserOpened
}

func interceptChoosers(t *testing.T, ctx context.Context) *fileChoosers {
	t.Helper()
	fc := &fileChoosers{}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*page.EventFileChooserOpened); ok {
			fc.mu.Lock()
			fc.events = append(fc.events, *e)
			fc.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
		t.Fatalf("Page.setInterceptFileChooserDialog: %v", err)
	}
	return fc
}

// wait gives the n-th chooser opened (from 1), waiting for it.
func (fc *fileChoosers) wait(t *testing.T, n int) page.EventFileChooserOpened {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		fc.mu.Lock()
		if len(fc.events) >= n {
			e := fc.events[n-1]
			fc.mu.Unlock()
			return e
		}
		fc.mu.Unlock()
	}
	t.Fatalf("no file chooser opened (%d expected)", n)
	return page.EventFileChooserOpened{}
}

// TestAddVideosPicker: "Add videos…" opens the File System Access picker
// (showOpenFilePicker) where the browser has one, keeps the picked files'
// handles, and plays them after a reload without asking for the files;
// without the picker it opens its <input type=file>.
//
// What is real and what is not: CDP cannot answer the File System Access
// picker. Page.setInterceptFileChooserDialog does report it
// (Page.fileChooserOpened, mode selectMultiple, and no backendNodeId,
// which only an <input> chooser has), but it can only refuse it: the page
// gets an AbortError, as when a person closes the picker, and there is no
// command to hand it files (DOM.setFileInputFiles needs an input). So the
// test checks that the click opens that picker, not the input, and that a
// closed picker adds nothing and says nothing; then it stands in for the
// picker alone: window.showOpenFilePicker is replaced by a function that
// records its options and returns real FileSystemFileHandles of real
// video files, written to the origin's private file system
// (navigator.storage.getDirectory()). Everything after the picker is the
// page's own: the handles kept in IndexedDB, the reload, the permission
// query (OPFS handles are always granted), the file read through the
// handle and played.
func TestAddVideosPicker(t *testing.T) {
	work := t.TempDir()
	ctx, dir, run := relinkPage(t, work, "", 3*time.Minute)
	makeVideo(t, dir, "p1.webm", 6, 2, 160, 120, 30)
	makeVideo(t, dir, "p2.webm", 6, 2, 160, 120, 250)
	p3 := makeVideo(t, work, "p3.webm", 6, 2, 160, 120, 140)

	// The real picker, intercepted: it is the File System Access one.
	fc := interceptChoosers(t, ctx)
	if !eval[bool](t, ctx, `typeof window.showOpenFilePicker === 'function'`) {
		t.Fatal("this Chromium has no showOpenFilePicker")
	}
	run("click Add videos…", chromedp.Click(chromedp.CSS("#video-pick-label")))
	opened := fc.wait(t, 1)
	t.Logf("Add videos… opened a chooser: mode %s, backendNodeId %d", opened.Mode, opened.BackendNodeID)
	if opened.Mode != page.FileChooserOpenedModeSelectMultiple || opened.BackendNodeID != 0 {
		t.Errorf("Add videos… opened a chooser of mode %s from node %d; want the File System Access picker (selectMultiple, no input node)", opened.Mode, opened.BackendNodeID)
	}
	time.Sleep(500 * time.Millisecond) // the AbortError's turn
	if got := eval[string](t, ctx, `JSON.stringify({videos: window.__clip4clip.state().videos.length, errors: [...document.querySelectorAll('.message.error')].map(m => m.textContent)})`); got != `{"videos":0,"errors":[]}` {
		t.Errorf("after the picker was closed: %s; want nothing added and no error", got)
	}
	if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: false}); err != nil {
		t.Fatal(err)
	}

	// The picker's stand-in gives real handles of real files (OPFS).
	eval[bool](t, ctx, `(async () => {
		const root = await navigator.storage.getDirectory();
		const hs = [];
		for (const name of ['p1.webm', 'p2.webm']) {
			const h = await root.getFileHandle(name, { create: true });
			const w = await h.createWritable();
			await w.write(await (await fetch(name)).blob());
			await w.close();
			hs.push(h);
		}
		window.showOpenFilePicker = async (opts) => { window.__pickerOptions = opts; return hs; };
		return true;
	})()`)
	run("click Add videos…", chromedp.Click(chromedp.CSS("#video-pick-label")))
	waitFor(t, ctx, "both picked videos indexed", fmt.Sprintf(allIndexed, 2), 60*time.Second)
	opts := eval[struct {
		Multiple bool
		Types    []struct {
			Accept map[string][]string
		}
	}](t, ctx, `window.__pickerOptions`)
	if !opts.Multiple || len(opts.Types) == 0 || !strings.Contains(strings.Join(opts.Types[0].Accept["video/*"], ","), ".webm") {
		t.Errorf("the picker was asked for %+v; want several files, of video types", opts)
	}
	if h := eval[[]bool](t, ctx, `window.__clip4clip.state().videos.map(v => v.hasHandle)`); fmt.Sprint(h) != "[true true]" {
		t.Errorf("picked videos with a kept handle: %v, want both", h)
	}

	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the index after the reload", `window.__clip4clip && window.__clip4clip.state().ready && `+fmt.Sprintf(allIndexed, 2), 30*time.Second)
	after := eval[string](t, ctx, `JSON.stringify(window.__clip4clip.state().videos.map(v => [v.name, v.hasHandle, v.hasFile, v.permission]))`)
	if after != `[["p1.webm",true,false,"granted"],["p2.webm",true,false,"granted"]]` {
		t.Errorf("after the reload [name, handle, file, permission]: %s", after)
	}
	if relink := eval[string](t, ctx, `(() => { const r = document.querySelector('#relink'); return r && !r.hidden ? r.textContent : ''; })()`); relink != "" {
		t.Errorf("picked videos are listed as files to choose again: %q", relink)
	}
	if meta := eval[string](t, ctx, `document.querySelector('.video[data-key^="p1.webm"] .meta').textContent`); !strings.Contains(meta, "file kept: plays at a click") {
		t.Errorf("p1.webm's card says %q", meta)
	}
	run("click p1.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="p1.webm"] .thumb-button`)))
	waitFor(t, ctx, "p1.webm playing from its handle", `document.querySelector('#player').open && document.querySelector('#player-title').textContent === 'p1.webm' && document.querySelector('#player-video').readyState > 0`, 10*time.Second)
	run("close the player", chromedp.Click(chromedp.CSS("#player-close")))
	if n := eval[int](t, ctx, `window.__clip4clip.state().embedded`); n != 0 {
		t.Errorf("%d frames embedded again after the reload", n)
	}

	// A browser without the picker: Add videos… opens its file input.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete Window.prototype.showOpenFilePicker; delete window.showOpenFilePicker;`}); err != nil {
		t.Fatal(err)
	}
	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the index after the reload", `window.__clip4clip && window.__clip4clip.state().ready && typeof window.showOpenFilePicker === 'undefined'`, 30*time.Second)
	if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	run("click Add videos…", chromedp.Click(chromedp.CSS("#video-pick-label")))
	in := fc.wait(t, 2)
	if in.BackendNodeID == 0 {
		t.Fatalf("without showOpenFilePicker, Add videos… opened a chooser with no input node: %+v", in)
	}
	if _, err := chromedp.Call(ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{p3}, BackendNodeID: in.BackendNodeID}); err != nil {
		t.Fatalf("DOM.setFileInputFiles: %v", err)
	}
	waitFor(t, ctx, "p3.webm indexed", fmt.Sprintf(allIndexed, 3), 60*time.Second)
	if got := eval[string](t, ctx, `JSON.stringify(window.__clip4clip.state().videos.filter(v => v.name === 'p3.webm').map(v => [v.hasFile, v.hasHandle]))`); got != `[[true,false]]` {
		t.Errorf("p3.webm from the file input [file, handle]: %s, want a file and no handle", got)
	}
}

// grantPage is a page of the app's origin that takes a drop of files as
// the app does (getAsFileSystemHandle), so that Chromium grants the origin
// read access to them: the grant a person gives by dropping a file again.
const grantPage = `<!doctype html><title>grant</title><body style="margin:0;height:100vh">
<script>
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
	e.preventDefault();
	const got = [...e.dataTransfer.items].map((i) => i.getAsFileSystemHandle());
	Promise.all(got).then((hs) => { window.__granted = hs.map((h) => h.name + ':' + h.kind); });
});
</script>`

// TestHandlePermission: a kept handle whose read permission is 'prompt'
// after a reload (the files of a dropped folder) makes the card say that
// one click allows it; once the browser grants it, a click on the video
// reads it through the handle and plays it, without the file chosen again
// and without embedding.
//
// What is real and what is not: the handles, IndexedDB, the reload and
// Chromium's permission state are real. The prompt itself is browser UI
// that headless Chromium shows to no one: with no flag handle
// .requestPermission stays pending forever, --deny-permission-prompts
// refuses it (TestFolderDrop checks that path), there is no switch that
// accepts it, and CDP's Browser.setPermission knows no File System Access
// permission (names such as file-system are refused as invalid). So the
// grant comes another real way: the same folder dropped on another tab of
// the same origin (grantPage), after which Chromium reports the kept
// handles 'granted' and the page's click takes the granted branch. Not
// covered: a person's click on Chromium's own prompt.
func TestHandlePermission(t *testing.T) {
	work := t.TempDir()
	clips := filepath.Join(work, "clips")
	if err := os.MkdirAll(clips, 0o755); err != nil {
		t.Fatal(err)
	}
	makeVideo(t, clips, "a.webm", 6, 2, 160, 120, 10)
	makeVideo(t, clips, "b.webm", 6, 2, 160, 120, 200)
	for _, d := range []string{"a.webm-src", "b.webm-src"} {
		os.RemoveAll(filepath.Join(clips, d))
	}
	ctx, dir, run := relinkPage(t, work, "", 2*time.Minute)
	if err := os.WriteFile(filepath.Join(dir, "grant.html"), []byte(grantPage), 0o644); err != nil {
		t.Fatal(err)
	}
	dropOn := func(ctx context.Context, paths ...string) {
		t.Helper()
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: paths, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: 300, Y: 300, Data: data}); err != nil {
				t.Fatalf("Input.dispatchDragEvent %s: %v", typ, err)
			}
		}
	}
	dropOn(ctx, clips)
	waitFor(t, ctx, "both videos indexed", fmt.Sprintf(allIndexed, 2), 60*time.Second)

	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the index after the reload", `window.__clip4clip && window.__clip4clip.state().ready && `+fmt.Sprintf(allIndexed, 2), 30*time.Second)
	perms := `JSON.stringify(window.__clip4clip.state().videos.map(v => [v.name, v.hasHandle, v.hasFile, v.permission]))`
	if got := eval[string](t, ctx, perms); got != `[["a.webm",true,false,"prompt"],["b.webm",true,false,"prompt"]]` {
		t.Fatalf("after the reload [name, handle, file, permission]: %s; want handles asking for permission", got)
	}
	meta := eval[string](t, ctx, `document.querySelector('.video[data-key^="a.webm"] .meta').textContent`)
	if !strings.Contains(meta, "plays once you allow reading it (one click)") {
		t.Errorf("a.webm's card, its permission to ask, says %q", meta)
	}

	// The grant: the folder dropped again, on another tab of the origin
	// (dropping a.webm alone there left its kept handle at 'prompt':
	// Chromium grants the folder's files through the folder's grant).
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	run2 := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	base := eval[string](t, ctx, `location.origin + '/'`)
	run2("open the grant page", chromedp.Navigate(base+"grant.html"))
	dropOn(tab, clips)
	waitFor(t, tab, "the drop taken", `!!window.__granted`, 10*time.Second)
	cancelTab()
	query := `(async () => { const h = await (await import('./lib/db.js')).getHandle(window.__clip4clip.state().videos.find(v => v.name === %q).key); return h.queryPermission({mode: 'read'}); })()`
	ga, gb := eval[string](t, ctx, fmt.Sprintf(query, "a.webm")), eval[string](t, ctx, fmt.Sprintf(query, "b.webm"))
	t.Logf("after the folder was dropped on another tab: a.webm's kept handle %q, b.webm's %q", ga, gb)
	if ga != "granted" || gb != "granted" {
		t.Fatalf("read permission after dropping the folder elsewhere: a.webm %q, b.webm %q; want granted", ga, gb)
	}

	// The click on the result plays it through its handle.
	run("search", chromedp.SendKeys(chromedp.CSS("#query"), "a square"))
	waitFor(t, ctx, "results", `(() => { const r = window.__clip4clip.state().results; return r && r.hits.length === 2 && document.querySelectorAll('#moments > li, #weaker-moments > li').length > 0; })()`, 20*time.Second)
	run("click a.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="a.webm"] .thumb-button`)))
	waitFor(t, ctx, "a.webm playing from its handle", `document.querySelector('#player').open && document.querySelector('#player-title').textContent === 'a.webm' && document.querySelector('#player-video').readyState > 0`, 10*time.Second)
	run("close the player", chromedp.Click(chromedp.CSS("#player-close")))
	got := eval[string](t, ctx, perms)
	if !strings.HasPrefix(got, `[["a.webm",true,true,"granted"],["b.webm",true,false,`) {
		t.Errorf("after playing a.webm [name, handle, file, permission]: %s", got)
	}
	if n := eval[int](t, ctx, `window.__clip4clip.state().embedded`); n != 0 {
		t.Errorf("%d frames embedded again after the reload", n)
	}
	if notes := eval[int](t, ctx, `document.querySelectorAll('.card-note').length`); notes != 0 {
		t.Errorf("%d notes about files to choose after a.webm played", notes)
	}
}
