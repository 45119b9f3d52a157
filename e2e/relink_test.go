//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// relinkPage opens the app with the tiny CLIP as its default model, in a
// fresh profile, and waits for it to be ready. query is added to the
// address (e.g. "?fps=4"); extra are Chromium's options.
func relinkPage(t *testing.T, work, query string, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) (context.Context, string, func(string, ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	chromium(t)
	ffmpeg(t)
	dir := siteWithDefault(t, tinyModel(t, work))
	base, _ := startServer(t, dir)
	bctx, cancel := browser(t, extra...)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancelT)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("open the page", chromedp.Navigate(base+query))
	waitFor(t, ctx, "the default model", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
	return ctx, dir, run
}

// acceptDialogs accepts every JavaScript dialog of the tab (the
// beforeunload question while indexing runs) and counts them.
func acceptDialogs(t *testing.T, ctx context.Context) *atomic.Int32 {
	var n atomic.Int32
	opened := make(chan struct{}, 8)
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			n.Add(1)
			select {
			case opened <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-opened:
				chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}
		}
	}()
	return &n
}

const allIndexed = `(() => { const s = window.__clip4clip.state(); return !s.indexing && s.videos.length === %d && s.videos.every(v => v.status === 'indexed' && v.persisted); })()`

// TestFolderDrop drops a real folder on the page with CDP's
// Input.dispatchDragEvent, whose files are paths on this machine, as the
// OS gives them to Chromium: the page gets a directory item
// (getAsFileSystemHandle, webkitGetAsEntry) and walks it. The folder holds
// two videos (one in a subfolder), a text file and a hidden file. After a
// reload the page has the dropped files' handles, not the files: a click
// asks for permission to read (the browser's prompt); headless Chromium
// has no way to answer it yes (CDP's Browser.setPermission has no file
// system permission), so the test runs it with --deny-permission-prompts
// and checks the refusal's path: the note in the card, the file chosen
// there, the video playing.
func TestFolderDrop(t *testing.T) {
	work := t.TempDir()
	clips := filepath.Join(work, "clips")
	if err := os.MkdirAll(filepath.Join(clips, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	makeVideo(t, clips, "a.webm", 6, 2, 160, 120, 10)
	makeVideo(t, filepath.Join(clips, "sub"), "b.webm", 6, 2, 160, 120, 200)
	for _, d := range []string{"a.webm-src", filepath.Join("sub", "b.webm-src")} {
		os.RemoveAll(filepath.Join(clips, d))
	}
	for name, text := range map[string]string{"notes.txt": "not a video", filepath.Join("sub", "readme.md"): "nor this", ".DS_Store": "hidden"} {
		if err := os.WriteFile(filepath.Join(clips, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, _, run := relinkPage(t, work, "", 90*time.Second, chromedp.Flag("deny-permission-prompts", true))
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{clips}, DragOperationsMask: 1}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: 400, Y: 300, Data: data}); err != nil {
			t.Fatalf("Input.dispatchDragEvent %s: %v", typ, err)
		}
	}
	want := "Added 2 videos from 1 folder; skipped 2 files that are not videos: notes.txt, readme.md."
	waitFor(t, ctx, "the folder summary", fmt.Sprintf(`[...document.querySelectorAll('.message')].some(m => m.textContent.includes(%q))`, want), 20*time.Second)
	waitFor(t, ctx, "both videos indexed", fmt.Sprintf(allIndexed, 2), 60*time.Second)
	st := state(t, ctx)
	names := []string{}
	for _, v := range st.Videos {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "a.webm,b.webm" {
		t.Errorf("videos from the folder: %v, want a.webm,b.webm", names)
	}
	if handles := eval[[]bool](t, ctx, `window.__clip4clip.state().videos.map(v => v.hasHandle)`); len(handles) != 2 || !handles[0] || !handles[1] {
		t.Errorf("dropped videos with a File System Access handle: %v, want both", handles)
	}

	// After a reload the page has the handles, not the files; a click on a
	// video reads it through its handle (asking for permission in the click
	// where the browser has not kept it).
	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the index after the reload", `window.__clip4clip && window.__clip4clip.state().ready && `+fmt.Sprintf(allIndexed, 2), 30*time.Second)
	after := eval[[]bool](t, ctx, `window.__clip4clip.state().videos.flatMap(v => [v.hasHandle, v.hasFile])`)
	perm := eval[string](t, ctx, `(async () => { const h = await (await import('./lib/db.js')).getHandle(window.__clip4clip.state().videos[0].key); return h ? h.queryPermission({mode: 'read'}) : 'no handle'; })()`)
	if fmt.Sprint(after) != "[true false true false]" || perm != "prompt" {
		t.Errorf("after the reload [handle, file] per video: %v, read permission %q; want handles, no files, prompt", after, perm)
	}
	if relink := eval[string](t, ctx, `(() => { const r = document.querySelector('#relink'); return r && !r.hidden ? r.textContent : ''; })()`); relink != "" {
		t.Errorf("videos with handles are listed as files to choose again: %q", relink)
	}
	run("click a.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="a.webm"] .thumb-button`)))
	waitFor(t, ctx, "the refusal's note in the card", `(document.querySelector('.video[data-key^="a.webm"] .card-note') || {}).textContent?.includes('reading it was not allowed')`, 10*time.Second)
	run("choose a.webm in the card", chromedp.SetUploadFiles(chromedp.CSS(`.video[data-key^="a.webm"] .relink-file`), []string{filepath.Join(clips, "a.webm")}))
	waitFor(t, ctx, "a.webm playing", `document.querySelector('#player').open && document.querySelector('#player-title').textContent === 'a.webm'`, 10*time.Second)
	run("close the player", chromedp.Click(chromedp.CSS("#player-close")))
	if n := eval[int](t, ctx, `window.__clip4clip.state().embedded`); n != 0 {
		t.Errorf("%d frames embedded again after the reload", n)
	}
	// Plain files dropped beside a folder still go through as before: a
	// .c4c among them would load, a video is indexed.
	run("drop a plain file", chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([], 'plain-empty.webm', {type: 'video/webm'}));
		document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`))
	waitFor(t, ctx, "the plain file to be tried", `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('“plain-empty.webm”: the file is empty'))`, 10*time.Second)
}

// TestFolderPick picks a folder with "Add a folder…", an <input
// webkitdirectory>: DOM.setFileInputFiles with the folder's path, which
// Chromium lists as after its folder chooser (real Files with their
// webkitRelativePath).
func TestFolderPick(t *testing.T) {
	work := t.TempDir()
	clips := filepath.Join(work, "picked")
	if err := os.MkdirAll(clips, 0o755); err != nil {
		t.Fatal(err)
	}
	makeVideo(t, clips, "one.webm", 6, 2, 160, 120, 40)
	os.RemoveAll(filepath.Join(clips, "one.webm-src"))
	txt := filepath.Join(clips, "list.txt")
	if err := os.WriteFile(txt, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, _, run := relinkPage(t, work, "", 60*time.Second)
	run("pick the folder", chromedp.SetUploadFiles(chromedp.CSS("#video-folder"), []string{clips}))
	waitFor(t, ctx, "the folder summary", `[...document.querySelectorAll('.message')].some(m => m.textContent.includes('Added 1 video from 1 folder; skipped 1 file that is not a video: list.txt.'))`, 20*time.Second)
	waitFor(t, ctx, "the video indexed", fmt.Sprintf(allIndexed, 1), 30*time.Second)
}

// TestFolderWalker runs the folder walker (lib/drop.js walkEntry) on a
// stand-in for a FileSystemDirectoryEntry tree: the Files are real (the
// videos fetched from the test server), the entries are plain objects
// with the entries API's shape (isDirectory, name, fullPath,
// createReader().readEntries in batches, file()), since CDP cannot hand
// the page a dropped directory entry of its own making.
func TestFolderWalker(t *testing.T) {
	work := t.TempDir()
	ctx, dir, _ := relinkPage(t, work, "", 60*time.Second)
	makeVideo(t, dir, "w1.webm", 4, 2, 160, 120, 0)
	makeVideo(t, dir, "w2.webm", 4, 2, 160, 120, 90)
	got := eval[struct {
		Videos  []string
		Skipped []string
		Folders int
		Summary string
		Sizes   []int
	}](t, ctx, `(async () => {
		const drop = await import('./lib/drop.js');
		const file = async (url, name) => new File([await (await fetch(url)).blob()], name, {type: name.endsWith('.webm') ? 'video/webm' : 'text/plain'});
		// batch: readEntries gives 2 entries a call, then [] (Chromium gives 100).
		const dirEntry = (path, children) => ({
			isDirectory: true, isFile: false, name: path.split('/').pop(), fullPath: '/' + path,
			createReader() { let i = 0; return { readEntries(ok) { setTimeout(() => { ok(children.slice(i, i + 2)); i += 2; }); } }; },
		});
		const fileEntry = (path, f) => ({ isDirectory: false, isFile: true, name: path.split('/').pop(), fullPath: '/' + path, file(ok) { setTimeout(() => ok(f)); } });
		const w1 = await file('w1.webm', 'w1.webm'), w2 = await file('w2.webm', 'w2.webm');
		const notes = new File(['x'], 'notes.txt', {type: 'text/plain'});
		const root = dirEntry('top', [
			fileEntry('top/notes.txt', notes),
			dirEntry('top/deep', [dirEntry('top/deep/deeper', [fileEntry('top/deep/deeper/w2.webm', w2)]), fileEntry('top/deep/.hidden', notes)]),
			fileEntry('top/w1.webm', w1),
			fileEntry('top/photo.jpg', new File(['y'], 'photo.jpg', {type: 'image/jpeg'})),
			fileEntry('top/w1-copy.webm', new File([w1], 'w1-copy.webm', {type: ''})),
		]);
		const out = await drop.collect([{ entry: root, handle: null, file: null }]);
		return { videos: out.videos.map(v => v.path), skipped: out.skipped, folders: out.folders, summary: drop.summary(out), sizes: out.videos.map(v => v.file.size) };
	})()`)
	if strings.Join(got.Videos, ",") != "top/deep/deeper/w2.webm,top/w1-copy.webm,top/w1.webm" || strings.Join(got.Skipped, ",") != "top/notes.txt,top/photo.jpg" || got.Folders != 1 {
		t.Errorf("walk: %+v", got)
	}
	if want := "Added 3 videos from 1 folder; skipped 2 files that are not videos: notes.txt, photo.jpg."; got.Summary != want {
		t.Errorf("summary %q, want %q", got.Summary, want)
	}
	for _, n := range got.Sizes {
		if n < 100 {
			t.Errorf("a video found by the walker has %d bytes", n)
		}
	}
}

// TestRelinkAfterReload indexes two videos, reloads (the page has their
// index, not their files), checks that a click on a video says next to
// its card which file to choose, chooses it there and plays it, and links
// the other from the list of files to choose again: no frame is embedded
// again and the features are those of the first visit.
func TestRelinkAfterReload(t *testing.T) {
	work := t.TempDir()
	ctx, _, run := relinkPage(t, work, "", 90*time.Second)
	a := makeVideo(t, work, "ra.webm", 8, 2, 160, 120, 20)
	b := makeVideo(t, work, "rb.webm", 8, 2, 160, 120, 220)
	run("add two videos", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{a, b}))
	waitFor(t, ctx, "both indexed", fmt.Sprintf(allIndexed, 2), 40*time.Second)
	before := embeddings(t, ctx)

	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the index after the reload", fmt.Sprintf(`window.__clip4clip && window.__clip4clip.state().ready && %s`, fmt.Sprintf(allIndexed, 2)), 30*time.Second)
	if st := state(t, ctx); st.Videos[0].HasFile || st.Videos[1].HasFile {
		t.Fatalf("after a reload the page has files: %+v", st.Videos)
	}
	relink := eval[string](t, ctx, `(() => { const r = document.querySelector('#relink'); return r && !r.hidden ? r.textContent : ''; })()`)
	if !strings.Contains(relink, "ra.webm, rb.webm") || !strings.Contains(relink, "not indexed again") {
		t.Errorf("the note on files to choose again says %q", relink)
	}

	// A click on ra.webm's thumbnail: the note is in its card, in view.
	run("scroll down", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
	run("click ra.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="ra.webm"] .thumb-button`)))
	waitFor(t, ctx, "the note in the card", `!!document.querySelector('.video[data-key^="ra.webm"] .card-note')`, 5*time.Second)
	where := eval[struct {
		Text     string
		InView   bool
		AtTop    int
		Messages string
	}](t, ctx, `(() => { const n = document.querySelector('.video[data-key^="ra.webm"] .card-note'); const r = n.getBoundingClientRect(); return { text: n.textContent, inView: r.top >= 0 && r.bottom <= innerHeight, atTop: [...document.querySelectorAll('.message')].filter(m => m.textContent.includes('To play')).length }; })()`)
	if !strings.Contains(where.Text, "choose its file again") || !where.InView || where.AtTop != 0 {
		t.Errorf("the note on ra.webm's file: %+v", where)
	}
	placementShot(t, ctx, "relink-note.png")
	// A file of the same name with other contents is not taken for it.
	other := makeVideo(t, filepath.Join(work, "other"), "ra.webm", 4, 2, 160, 120, 300)
	run("choose another ra.webm", chromedp.SetUploadFiles(chromedp.CSS(`.video[data-key^="ra.webm"] .relink-file`), []string{other}))
	waitFor(t, ctx, "the note on the other file", `document.querySelector('.video[data-key^="ra.webm"] .card-note').textContent.includes('is not the file')`, 5*time.Second)
	run("choose ra.webm in the card", chromedp.SetUploadFiles(chromedp.CSS(`.video[data-key^="ra.webm"] .relink-file`), []string{a}))
	waitFor(t, ctx, "ra.webm playing", `document.querySelector('#player').open && document.querySelector('#player-title').textContent === 'ra.webm' && document.querySelector('#player-video').readyState > 0`, 10*time.Second)
	run("close the player", chromedp.Click(chromedp.CSS("#player-close")))

	// The other from the list above the videos.
	run("choose rb.webm again", chromedp.SetUploadFiles(chromedp.CSS("#relink-files"), []string{b}))
	waitFor(t, ctx, "both files linked", `window.__clip4clip.state().videos.every(v => v.hasFile) && document.querySelector('#relink').hidden`, 10*time.Second)
	st := state(t, ctx)
	embedded := eval[int](t, ctx, `window.__clip4clip.state().embedded`)
	if embedded != 0 || st.Indexing || st.Reused != 2 {
		t.Errorf("relinking: %d frames embedded again, indexing %v, reused %d (want 0, false, 2)", embedded, st.Indexing, st.Reused)
	}
	after := embeddings(t, ctx)
	for _, name := range []string{"ra.webm", "rb.webm"} {
		if after[name].Features == "" || after[name].Features != before[name].Features {
			t.Errorf("%s: the features changed across the reload and relink", name)
		}
	}
}

// TestResumeIndexing starts indexing a longer video (at 4 frames/s), lets
// the page keep some frames, reloads in the middle, adds the same file on
// the next visit and checks that indexing starts at the first frame not
// kept, embeds only the rest, and ends with the features of a clean run
// (the same bytes under another name, indexed from the start in the same
// page) within float tolerance. The reload is real; to know where it cuts,
// the test pauses the indexer (the page stays busy) just before it.
func TestResumeIndexing(t *testing.T) {
	work := t.TempDir()
	ctx, _, run := relinkPage(t, work, "?fps=4", 120*time.Second)
	dialogs := acceptDialogs(t, ctx)
	long := makeVideo(t, work, "long.webm", 80, 2, 160, 120, 60) // 40 s: 160 frames at 4 fps
	copyPath := filepath.Join(work, "copy", "clean.webm")
	os.MkdirAll(filepath.Dir(copyPath), 0o755)
	raw, err := os.ReadFile(long)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	run("add the long video", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{long}))
	waitFor(t, ctx, "some frames kept", `(() => { const v = window.__clip4clip.state().videos[0]; return v && v.saved >= 16; })()`, 60*time.Second)
	run("pause", chromedp.Evaluate[chromedp.Void](`window.__clip4clip.pause()`))
	time.Sleep(500 * time.Millisecond) // the frames in flight land, the last write ends
	cut := eval[struct{ Saved, Prefix, Total int }](t, ctx, `window.__clip4clip.state().videos[0]`)
	if cut.Total != 160 || cut.Saved >= cut.Total {
		t.Fatalf("before the reload: %+v, want 160 frames, not all kept", cut)
	}
	cancelled := eval[bool](t, ctx, `(() => { const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented; })()`)
	if !cancelled {
		t.Error("beforeunload was not cancelled while indexing")
	}
	t.Logf("reload at %d of %d frames embedded, %d kept", cut.Prefix, cut.Total, cut.Saved)
	run("reload mid-way", chromedp.Reload())
	waitFor(t, ctx, "the interrupted video", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.videos.length === 1 && s.videos[0].status === 'interrupted'; })()`, 30*time.Second)
	// The page had a user gesture (chromedp's polls run as one), so the
	// reload met the real beforeunload question, which acceptDialogs answered.
	if n := dialogs.Load(); n != 1 {
		t.Errorf("the reload mid-way opened %d beforeunload dialogs, want 1", n)
	}
	partial := eval[struct{ Done, Total int }](t, ctx, `window.__clip4clip.state().videos[0].partial`)
	if partial.Total != 160 || partial.Done < cut.Saved || partial.Done > cut.Prefix {
		t.Fatalf("kept across the reload: %+v, want 160 frames, from %d to %d done", partial, cut.Saved, cut.Prefix)
	}
	run("add the same file again", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{long}))
	waitFor(t, ctx, "the rest indexed", fmt.Sprintf(allIndexed, 1), 60*time.Second)
	got := eval[struct{ Start, Embedded int }](t, ctx, `(() => { const s = window.__clip4clip.state(); return { start: s.videos[0].start, embedded: s.embedded }; })()`)
	if got.Start != partial.Done || got.Embedded != 160-partial.Done {
		t.Errorf("the second visit started at frame %d and embedded %d frames; want %d and %d", got.Start, got.Embedded, partial.Done, 160-partial.Done)
	}
	if n := eval[int](t, ctx, `(async () => (await (await import('./lib/db.js')).listPartial(window.__clip4clip.state().model.id)).length)()`); n != 0 {
		t.Errorf("%d interrupted records left after the video finished", n)
	}

	run("add a clean copy", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{copyPath}))
	waitFor(t, ctx, "the clean copy indexed", fmt.Sprintf(allIndexed, 2), 60*time.Second)
	emb := embeddings(t, ctx)
	resumed, clean := float32s(t, emb["long.webm"].Features), float32s(t, emb["clean.webm"].Features)
	if len(resumed) != len(clean) || len(clean) != 160*emb["clean.webm"].EmbedDim {
		t.Fatalf("features: resumed %d values, clean %d", len(resumed), len(clean))
	}
	d := emb["clean.webm"].EmbedDim
	head, tail := maxAbsDiff(resumed[:partial.Done*d], clean[:partial.Done*d]), maxAbsDiff(resumed[partial.Done*d:], clean[partial.Done*d:])
	t.Logf("resumed vs clean run: frames before the cut max |diff| %.3g, after %.3g", head, tail)
	if head > 1e-5 || tail > 1e-5 {
		t.Errorf("resumed features differ from a clean run's: max |diff| %.3g before the cut, %.3g after (limit 1e-5)\n resumed %v\n   clean %v", head, tail, resumed[:4], clean[:4])
	}
}

// TestBeforeUnloadGuard: a cancelable beforeunload event is cancelled
// while indexing runs and not when the page is idle.
func TestBeforeUnloadGuard(t *testing.T) {
	work := t.TempDir()
	ctx, _, run := relinkPage(t, work, "", 60*time.Second)
	v := makeVideo(t, work, "g.webm", 8, 2, 160, 120, 120)
	const fire = `(() => { const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented; })()`
	if eval[bool](t, ctx, fire) {
		t.Error("beforeunload cancelled with nothing to index")
	}
	run("pause", chromedp.Evaluate[chromedp.Void](`window.__clip4clip.pause()`))
	run("add a video", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{v}))
	waitFor(t, ctx, "indexing", `window.__clip4clip.state().indexing`, 10*time.Second)
	if !eval[bool](t, ctx, fire) {
		t.Error("beforeunload not cancelled while indexing")
	}
	run("resume", chromedp.Evaluate[chromedp.Void](`document.querySelector('#pause').click()`))
	waitFor(t, ctx, "the video indexed", fmt.Sprintf(allIndexed, 1), 30*time.Second)
	if eval[bool](t, ctx, fire) {
		t.Error("beforeunload cancelled after indexing finished")
	}
}

// TestUndoRemove: the ✕ of an indexed video takes it out of the list and
// the search at once and offers Undo; Undo brings it back searchable;
// removed again and left, it is gone from IndexedDB after the toast's
// time; removed and reloaded at once, it is gone after the reload too.
func TestUndoRemove(t *testing.T) {
	work := t.TempDir()
	ctx, _, run := relinkPage(t, work, "", 90*time.Second)
	a := makeVideo(t, work, "ua.webm", 8, 2, 160, 120, 0)
	b := makeVideo(t, work, "ub.webm", 8, 2, 160, 120, 180)
	run("add videos", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{a, b}))
	waitFor(t, ctx, "both indexed", fmt.Sprintf(allIndexed, 2), 40*time.Second)
	run("search", chromedp.SendKeys(chromedp.CSS("#query"), "a square"))
	waitFor(t, ctx, "two hits", `(() => { const r = window.__clip4clip.state().results; return r && r.hits.length === 2; })()`, 10*time.Second)
	records := `(async () => (await (await import('./lib/db.js')).list(window.__clip4clip.state().model.id)).map(r => r.name).sort().join(','))()`

	run("remove ua.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="ua.webm"] .remove`)))
	waitFor(t, ctx, "ua.webm gone from the list and the search", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 1 && s.results.hits.length === 1 && !document.querySelector('.video[data-key^="ua.webm"]'); })()`, 5*time.Second)
	if got := eval[string](t, ctx, records); got != "ua.webm,ub.webm" {
		t.Errorf("saved records during the undo time: %s", got)
	}
	toastText := eval[string](t, ctx, `document.querySelector('.toast').textContent`)
	if !strings.Contains(toastText, "Removed “ua.webm”") || !strings.Contains(toastText, "Undo") {
		t.Errorf("the toast says %q", toastText)
	}
	run("undo", chromedp.Click(chromedp.CSS(`.toast button`)))
	waitFor(t, ctx, "ua.webm back and searchable", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 2 && s.results.hits.length === 2 && s.pendingDeletes.length === 0 && !!document.querySelector('.video[data-key^="ua.webm"]'); })()`, 5*time.Second)

	run("remove ua.webm again", chromedp.Click(chromedp.CSS(`.video[data-key^="ua.webm"] .remove`)))
	waitFor(t, ctx, "ua.webm pending", `window.__clip4clip.state().pendingDeletes.length === 1`, 5*time.Second)
	waitFor(t, ctx, "the removal to go through", `window.__clip4clip.state().pendingDeletes.length === 0 && !document.querySelector('.toast')`, 10*time.Second)
	waitEval(t, ctx, "ua.webm's record deleted", records, "ub.webm", 5*time.Second)

	// Removed, then the page reloaded within the undo time.
	run("remove ub.webm", chromedp.Click(chromedp.CSS(`.video[data-key^="ub.webm"] .remove`)))
	waitFor(t, ctx, "ub.webm pending", `window.__clip4clip.state().pendingDeletes.length === 1`, 5*time.Second)
	run("reload", chromedp.Reload())
	waitFor(t, ctx, "the page after the reload", `window.__clip4clip && window.__clip4clip.state().ready`, 30*time.Second)
	if st := state(t, ctx); len(st.Videos) != 0 {
		t.Errorf("after removing and reloading: %+v", st.Videos)
	}
	waitEval(t, ctx, "no record left", records, "", 5*time.Second)
}

// waitEval evaluates expr (awaiting it) until it gives want.
func waitEval(t *testing.T, ctx context.Context, what, expr, want string, timeout time.Duration) {
	t.Helper()
	var got string
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got = eval[string](t, ctx, expr); got == want {
			return
		}
	}
	t.Fatalf("waiting for %s: %q, want %q", what, got, want)
}
