//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestMeasure reports indexing speed with 1 and 2 frame workers, the time
// from typing a 10-token query to its results, and the page's peak memory,
// for the tiny test model in headless Chromium. It asserts nothing about
// speed; run it by hand:
//
//	CLIP4CLIP_MEASURE=1 go test -run Measure -v ./e2e/
//
// CLIP4CLIP_MEASURE_MODEL=FILE measures another model file instead.
func TestMeasure(t *testing.T) {
	if os.Getenv("CLIP4CLIP_MEASURE") == "" {
		t.Skip("set CLIP4CLIP_MEASURE=1 to measure speed and memory")
	}
	chromium(t)
	ff := ffmpeg(t)
	work := t.TempDir()
	modelPath := os.Getenv("CLIP4CLIP_MEASURE_MODEL") // e.g. a ViT-B/32-shaped model file
	if modelPath == "" {
		modelPath = tinyModel(t, work)
	}
	base, _ := startServer(t, buildSite(t))
	const seconds = 30
	var videos []string
	for i, size := range []string{"1280x720", "1280x720"} {
		out := filepath.Join(work, fmt.Sprintf("clip%d.webm", i))
		cmd := exec.Command(ff, "-v", "error", "-y", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=30", size), "-t", strconv.Itoa(seconds),
			"-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "2M", "-deadline", "realtime", "-cpu-used", "8", "-g", "60", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		videos = append(videos, out)
	}
	for _, workers := range []int{1, 2} {
		measure(t, base, modelPath, videos, workers)
	}
}

func measure(t *testing.T, base, modelPath string, videos []string, workers int) {
	bctx, cancel := browser(t, chromedp.Flag("enable-blink-features", "ForceEagerMeasureMemory"))
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 5*time.Minute)
	defer cancelT()
	do := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("open", chromedp.Navigate(fmt.Sprintf("%s?workers=%d", base, workers)))
	waitFor(t, ctx, "the page", `window.__clip4clip !== undefined`, 20*time.Second)
	do("model", chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{modelPath}))
	waitFor(t, ctx, "the model", `window.__clip4clip.state().ready`, 60*time.Second)
	browserPID := 0
	if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
		browserPID = p.Pid
	}

	var peakRenderer, peakAll int64
	sample := func() {
		r, a := chromiumRSS(browserPID)
		peakRenderer, peakAll = max(peakRenderer, r), max(peakAll, a)
	}
	sample()
	idleRenderer, idleAll := peakRenderer, peakAll
	start := time.Now()
	do("videos", chromedp.SetUploadFiles(chromedp.CSS("#video-files"), videos))
	waitFor(t, ctx, "indexing to start", `window.__clip4clip.state().indexing`, 20*time.Second)
	for {
		sample()
		st := state(t, ctx)
		if !st.Indexing {
			break
		}
		if time.Since(start) > 4*time.Minute {
			t.Fatal("indexing took more than 4 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(start)
	st := state(t, ctx)
	split := eval[map[string]float64](t, ctx, `(({msPerGrab, msPerEmbed}) => ({msPerGrab, msPerEmbed}))(window.__clip4clip.state().stats)`)
	frames := 0
	for _, v := range st.Videos {
		if v.Status != "indexed" {
			t.Fatalf("%s: %s", v.Name, v.Status)
		}
		frames += v.Frames
	}
	w := st.Workers

	// A 10-token query, typed: the time from the last key to results
	// (the page waits 200 ms of quiet before searching), then with Enter.
	const query = "a man riding a red bicycle down the busy street"
	do("type", chromedp.SendKeys(chromedp.CSS("#query"), query))
	waitFor(t, ctx, "results", fmt.Sprintf(`(() => { const s = window.__clip4clip.state(); return s.lastSearch && s.lastSearch.text === %q; })()`, query), 10*time.Second)
	typed := eval[map[string]float64](t, ctx, `(({msFromTyping, embedMs, rankMs, tokens}) => ({msFromTyping, embedMs, rankMs, tokens}))(window.__clip4clip.state().lastSearch)`)
	var best float64 = 1e9
	for i := 0; i < 5; i++ {
		r := eval[map[string]any](t, ctx, fmt.Sprintf(`window.__clip4clip.timeSearch(%q)`, query))
		best = min(best, r["ms"].(float64))
	}
	sample()
	mem := eval[map[string]any](t, ctx, `window.__clip4clip.memory()`)

	t.Logf("workers=%d: %d frames (2 videos, %d s of 1280x720 VP9 each, 1 frame/s) in %v: %.1f frames/s",
		w, frames, 30, elapsed.Round(time.Millisecond), float64(frames)/elapsed.Seconds())
	t.Logf("workers=%d: per frame, %.1f ms to seek, draw and copy out of the <video> (two videos at once), %.1f ms in a worker (preprocess and embed, with the round trip)",
		w, split["msPerGrab"], split["msPerEmbed"])
	t.Logf("workers=%d: query of %v tokens plus start and end: %.0f ms from the last key to results (200 ms of it the typing pause; embed %.1f ms, rank %.1f ms); with Enter, best of 5: %.1f ms",
		w, typed["tokens"]-2, typed["msFromTyping"], typed["embedMs"], typed["rankMs"], best)
	t.Logf("workers=%d: peak PSS: renderer (page and its workers) %.0f MB, all Chromium processes %.0f MB (with the model loaded, before indexing: %.0f MB and %.0f MB); at the end: %v",
		w, float64(peakRenderer)/1e6, float64(peakAll)/1e6, float64(idleRenderer)/1e6, float64(idleAll)/1e6, mem)
}

// chromiumRSS sums the memory (PSS) of the renderer processes under the
// browser process, and of all its processes.
func chromiumRSS(browserPID int) (renderer, all int64) {
	if browserPID == 0 {
		return 0, 0
	}
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			parent[pid], _ = strconv.Atoi(fields[1])
		}
	}
	under := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid == browserPID {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	for pid := range parent {
		if !under(pid) {
			continue
		}
		rss := rssOf(pid)
		all += rss
		cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if strings.Contains(string(cmd), "--type=renderer") {
			renderer += rss
		}
	}
	return renderer, all
}

// rssOf is the proportional set size of a process (resident memory, with
// pages shared between processes divided among them), from smaps_rollup.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Pss:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
