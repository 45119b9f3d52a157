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

	"clip4clip/quant"
)

// TestMeasurePipeline reports how fast the page indexes a long 1080p
// H.264 video end to end: the browser decodes it (WebCodecs, or seeking a
// <video>), the page draws each sampled frame and reads its pixels, and the frame workers
// resize and embed them. The figure is video-seconds indexed per
// wall-second (at the page's 1 frame/s), with the time split between the
// decode side and the workers. It asserts nothing about speed; run it by
// hand:
//
//	CLIP4CLIP_MEASURE=1 go test -run MeasurePipeline -v -timeout 60m ./e2e/
//
// CLIP4CLIP_PIPELINE_SECONDS sets the video's length (default 600, a
// 10-minute file; it is encoded once with ffmpeg and kept in the temporary
// directory), CLIP4CLIP_PIPELINE_MODELS the models (default: the bundled
// default model and a random-weight ViT-B/32 in int8; or model files),
// CLIP4CLIP_PIPELINE_BACKENDS the page's backends (default wasm; webgpu
// runs on SwiftShader here, where its timings mean nothing),
// CLIP4CLIP_PIPELINE_WORKERS the frame workers (default 2),
// CLIP4CLIP_PIPELINE_DECODE how the page reads frames (default auto,seek:
// WebCodecs where it can, then seeking the <video> element per frame; all
// is WebCodecs decoding every frame, not told the times it is asked for).
func TestMeasurePipeline(t *testing.T) {
	if os.Getenv("CLIP4CLIP_MEASURE") == "" {
		t.Skip("set CLIP4CLIP_MEASURE=1 to measure the whole indexing pipeline")
	}
	chromium(t)
	seconds := 600
	if s := os.Getenv("CLIP4CLIP_PIPELINE_SECONDS"); s != "" {
		seconds, _ = strconv.Atoi(s)
	}
	video := longVideo(t, seconds)
	models := []string{"default", "vitb32-int8"}
	if s := os.Getenv("CLIP4CLIP_PIPELINE_MODELS"); s != "" {
		models = strings.Split(s, ",")
	}
	backends := []string{"wasm"}
	if s := os.Getenv("CLIP4CLIP_PIPELINE_BACKENDS"); s != "" {
		backends = strings.Split(s, ",")
	}
	decodes := []string{"auto", "seek"}
	if s := os.Getenv("CLIP4CLIP_PIPELINE_DECODE"); s != "" {
		decodes = strings.Split(s, ",")
	}
	workers := 2
	if s := os.Getenv("CLIP4CLIP_PIPELINE_WORKERS"); s != "" {
		workers, _ = strconv.Atoi(s)
	}
	for _, m := range models {
		path := m
		switch m {
		case "default":
			path = bundledModel(t)
		case "vitb32-int8":
			path = randomViTB32(t, quant.Int8)
		}
		base, _ := startServer(t, siteWithDefault(t, path))
		for _, b := range backends {
			for _, d := range decodes {
				pipeline(t, base, m, video, seconds, workers, b, d)
			}
		}
	}
}

// longVideo is a seconds-long 1920x1080 H.264 file at 25 frames/s with
// x264's default keyframe interval (250 frames), encoded once and kept.
func longVideo(t *testing.T, seconds int) string {
	path := filepath.Join(os.TempDir(), "clip4clip-bench", fmt.Sprintf("testsrc2-1080p-%ds.mp4", seconds))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	ff := ffmpeg(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tmp := path + ".tmp.mp4"
	cmd := exec.Command(ff, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("encoded %s in %v", path, time.Since(start).Round(time.Second))
	return path
}

func pipeline(t *testing.T, base, name, video string, seconds, workers int, backend, decode string) {
	var flags []chromedp.ExecAllocatorOption
	if backend != "wasm" {
		flags = webGPUFlags
	}
	bctx, cancel := browser(t, flags...)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 50*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s?workers=%d&backend=%s&decode=%s", base, workers, backend, decode))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the default model", `window.__clip4clip !== undefined && window.__clip4clip.state().ready`, 2*time.Minute)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{video})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "indexing to start", `window.__clip4clip.state().indexing`, 30*time.Second)
	for state(t, ctx).Indexing {
		if time.Since(start) > 45*time.Minute {
			t.Fatal("indexing took more than 45 minutes")
		}
		time.Sleep(time.Second)
	}
	elapsed := time.Since(start)
	st := state(t, ctx)
	if len(st.Videos) != 1 || st.Videos[0].Status != "indexed" {
		t.Fatalf("the video was not indexed: %+v", st.Videos)
	}
	split := eval[map[string]float64](t, ctx, `(({msPerGrab, msPerFrame, msPerPixels, msPerThumb, msPerEmbed, decoded, skipped, dropped}) => ({msPerGrab, msPerFrame, msPerPixels, msPerThumb, msPerEmbed, decoded, skipped, dropped}))(window.__clip4clip.state().stats)`)
	decodeWith := eval[string](t, ctx, `window.__clip4clip.state().videos[0].decodeWith`)
	kern := eval[string](t, ctx, `(() => { const f = window.__clip4clip.state().frameModel; return f.backend && f.backend.name === 'webgpu' ? 'WebGPU ' + f.backend.adapter : 'WebAssembly ' + f.simd; })()`)
	frames := st.Videos[0].Frames
	t.Logf("%s, %s backend (%s), %d frame workers, decoding by %s: %d s of 1920x1080 H.264 (25 frames/s, keyframe every 10 s), %d frames at 1 frame/s, in %v: %.2f video-seconds per wall-second, %.2f frames/s; per frame %.1f ms to read it (%.1f waiting for the decoded or seeked frame, %.1f drawing it and reading the pixels, %.1f the thumbnail), %.1f ms in a worker (resize and embed, with the round trip); WebCodecs decoded %.0f frames, skipped %.0f, let go of %.0f at once",
		name, backend, kern, workers, decodeWith, seconds, frames, elapsed.Round(time.Second), float64(seconds)/elapsed.Seconds(), float64(frames)/elapsed.Seconds(),
		split["msPerGrab"], split["msPerFrame"], split["msPerPixels"], split["msPerThumb"], split["msPerEmbed"], split["decoded"], split["skipped"], split["dropped"])
}
