//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ffmpegTestVideo encodes 4 s of ffmpeg's test pattern at 320x240 and 10
// frames/s with the encoder args (e.g. -c:v libx264) into dir/name.
func ffmpegTestVideo(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	a := append([]string{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=4", "-pix_fmt", "yuv420p"}, args...)
	if b, err := exec.Command(ffmpeg(t), append(a, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", name, err, b)
	}
	return out
}

// cutFile writes the first half of src's bytes to dir/name: a copy or
// download that stopped half-way.
func cutFile(t testing.TB, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// messageOf returns the text shown (without its details) and the details
// of the newest message that mentions name, or "", "".
func messageOf(t *testing.T, ctx context.Context, name string) (shown, details string) {
	t.Helper()
	m := eval[[]string](t, ctx, fmt.Sprintf(`(() => {
		const m = [...document.querySelectorAll('#messages .message')].find((m) => m.textContent.includes(%q));
		if (!m) return ['', ''];
		const p = m.querySelector('p').cloneNode(true);
		p.querySelectorAll('details').forEach((d) => d.remove());
		const d = m.querySelector('.message-details code');
		return [p.textContent, d ? d.textContent : ''];
	})()`, "“"+name+"”"))
	return m[0], m[1]
}

// TestBadVideos adds, in one pick, good videos between bad ones made for
// the purpose: an H.264 MP4 cut in half (moov at the end, so the browser
// cannot even open it), one cut in half with its moov first (it opens and
// breaks mid-way), a text file named .mp4, random bytes named .webm, HEVC
// in MP4, MPEG-4 Part 2 in Matroska and an empty file. Each bad one gets
// its own sentence, saying what is wrong and what to do, with the
// browser's own words behind "details"; the good ones are indexed all the
// same (the queue goes on after each bad file).
func TestBadVideos(t *testing.T) {
	chromium(t)
	work := t.TempDir()
	modelPath := tinyModel(t, work)
	base, _ := startServer(t, buildSite(t))

	good1 := ffmpegTestVideo(t, work, "good-h264.mp4", "-c:v", "libx264")
	good2 := makeVideo(t, work, "good-vp9.webm", 8, 2, 256, 144, 90)
	whole := ffmpegTestVideo(t, work, "whole.mp4", "-c:v", "libx264")
	wholeFast := ffmpegTestVideo(t, work, "whole-fast.mp4", "-c:v", "libx264", "-movflags", "+faststart")
	cut := cutFile(t, whole, work, "cut.mp4")
	cutFast := cutFile(t, wholeFast, work, "cut-faststart.mp4")
	hevc := ffmpegTestVideo(t, work, "hevc.mp4", "-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error")
	mpeg4 := ffmpegTestVideo(t, work, "divx.mkv", "-c:v", "mpeg4")
	text := filepath.Join(work, "notes.mp4")
	if err := os.WriteFile(text, []byte("Notes for Monday's meeting.\nBring the holiday videos.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(work, "junk.webm")
	noise := make([]byte, 8192)
	for i := range noise {
		noise[i] = byte(i*7919 + i*i*31)
	}
	if err := os.WriteFile(junk, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(work, "empty.mp4")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

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
	waitFor(t, ctx, "the page", `!!window.__clip4clip`, 20*time.Second)
	run("pick the model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{modelPath}))
	waitFor(t, ctx, "the model", `window.__clip4clip.state().ready`, 60*time.Second)

	files := []string{cut, good1, text, cutFast, hevc, junk, good2, mpeg4, empty}
	run("add the videos", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), files))
	waitFor(t, ctx, "every file to be indexed or refused", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 9 && !s.indexing && s.videos.every(v => v.status === 'indexed' || v.status === 'failed'); })()`, 3*time.Minute)

	st := state(t, ctx)
	status := map[string]string{}
	cardError := map[string]string{}
	for _, v := range st.Videos {
		status[v.Name] = v.Status
		if v.Error != nil {
			cardError[v.Name] = *v.Error
		}
	}
	for _, name := range []string{"good-h264.mp4", "good-vp9.webm"} {
		if status[name] != "indexed" {
			t.Errorf("%s, between bad files: %s (%s), want indexed", name, status[name], cardError[name])
		}
	}

	// Each bad file: what is wrong (want) and what to do (todo), in the
	// message and on its card, and none of the browser's codes in view.
	for _, c := range []struct{ name, want, todo, not string }{
		{"cut.mp4", "the file is cut short", "Copy it again", "not a video"},
		{"cut-faststart.mp4", "the file is cut short", "Copy it again", "not a video"},
		{"notes.mp4", "this is not a video: the file holds text", "Pick the video file itself", "cut short"},
		{"junk.webm", "this is not a video", "Pick the video file itself", "cut short"},
		{"hevc.mp4", "this browser cannot decode HEVC (H.265) video here", "libx264", "damaged"},
		{"divx.mkv", "this browser cannot decode MPEG-4 Part 2 (DivX, Xvid) video here", "libx264", "damaged"},
		{"empty.mp4", "the file is empty (0 bytes)", "Copy it again", "not a video"},
	} {
		shown, details := messageOf(t, ctx, c.name)
		t.Logf("%s: %q (details %q)", c.name, shown, details)
		if status[c.name] != "failed" {
			t.Errorf("%s: status %s, want failed", c.name, status[c.name])
		}
		if !strings.Contains(shown, "Could not index “"+c.name+"”: "+c.want) || !strings.Contains(shown, c.todo) {
			t.Errorf("%s: the message reads %q; want %q and %q", c.name, shown, c.want, c.todo)
		}
		if strings.Contains(shown, c.not) || strings.Contains(shown, "PipelineStatus") || strings.Contains(shown, "unsupported format or codec") {
			t.Errorf("%s: the message reads %q, which it should not (%q, the browser's codes, the old catch-all)", c.name, shown, c.not)
		}
		if !strings.Contains(cardError[c.name], c.want) {
			t.Errorf("%s: the card says %q; want %q", c.name, cardError[c.name], c.want)
		}
		if c.name != "empty.mp4" && c.name != "cut-faststart.mp4" && !strings.Contains(details, "PipelineStatus") && !strings.Contains(details, "Format error") {
			t.Errorf("%s: the details %q do not hold the browser's own error", c.name, details)
		}
	}

	// The bad-video messages as they are placed: the newest two, the
	// others folded behind one line with "Clear all".
	run("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	placementShot(t, ctx, "bad-videos-folded.png")
	run("unfold the messages", chromedp.Click(chromedp.CSS("#messages .message-fold .more")))
	placementShot(t, ctx, "bad-videos-unfolded.png")
	if n := eval[int](t, ctx, `[...document.querySelectorAll('#messages .message')].filter(m => m.offsetParent !== null).length`); n < 7 {
		t.Errorf("unfolded, %d messages are shown; want the 7 bad files'", n)
	}
	run("clear all", chromedp.Click(chromedp.CSS("#messages .message-fold .clear")))
	if n := eval[int](t, ctx, `document.querySelectorAll('#messages .message').length`); n != 0 {
		t.Errorf("after Clear all, %d messages are left", n)
	}
}

// placementShot writes a screenshot of the window (not the whole page) to
// testdata/out/name, or with -update to testdata/screens/name, where the
// message placements are committed.
func placementShot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	eval[bool](t, ctx, `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
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
