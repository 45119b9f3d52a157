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

// TestWebCodecsFrames checks the page's WebCodecs decoding (web/lib/demux.js
// and decoder.js) against seeking the <video> element, which the page did
// before and still does where WebCodecs cannot: for videos in the
// containers and codecs people have (H.264 in MP4 with B-frames and the
// index at the end, at 29.97 frames/s, without B-frames and with the index
// first; VP9 in WebM, also streamed without sizes, and in MP4; AV1 in MP4
// and WebM), the sampler must read the same frame at every sampled time,
// both at 1 frame/s and at 3 frames/s (times between the video's frames).
// Every frame of the test videos differs (a square moves, the hue turns),
// so a frame off by one shows as a large difference. Seeking itself now
// and then shows a neighbouring frame (about one time in a few hundred
// here), so a time where the two differ is sought once more with a fresh
// element, and the sampler must match one of the two seeks. Files WebCodecs is not
// used for (a rotated phone video, a fragmented MP4) must still read the
// same frames, by seeking, and say why.
func TestWebCodecsFrames(t *testing.T) {
	chromium(t)
	ff := ffmpeg(t)
	site := siteWithDefault(t, bundledModel(t))
	dir := filepath.Join(site, "testvideos")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const w, h, n = 320, 240, 60 // 6 s at 10 frames/s
	frames := filepath.Join(t.TempDir(), "frames")
	if err := os.MkdirAll(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < n; k++ {
		writePNG(t, filepath.Join(frames, fmt.Sprintf("%03d.png", k)), frameImage(k, w, h, 30))
	}
	x264 := []string{"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-crf", "16", "-g", "25"}
	vp9 := []string{"-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", "18", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8", "-g", "25"}
	av1 := []string{"-c:v", "libaom-av1", "-pix_fmt", "yuv420p", "-crf", "30", "-b:v", "0", "-cpu-used", "8", "-usage", "realtime", "-g", "25"}
	cases := []struct {
		name  string
		rate  string // input frame rate; none: args[0] is an earlier case's file
		args  []string
		codec string // in the sampler's decodeWith: WebCodecs used, or the reason it is not
	}{
		{"h264-bframes.mp4", "10", x264, "WebCodecs (mp4, avc1."},
		// B-frames forced, two of each three referred to by no frame (x264
		// leaves them out of this content on its own).
		{"h264-bpyramid.mp4", "10", append(append([]string{}, x264...), "-x264-params", "bframes=3:b-adapt=0:b-pyramid=normal"), "WebCodecs (mp4, avc1."},
		{"h264-2997.mp4", "30000/1001", x264, "WebCodecs (mp4, avc1."},
		{"h264-bt709.mp4", "10", append(append([]string{}, x264...), "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"), "WebCodecs (mp4, avc1."},
		{"h264-faststart.mp4", "10", append(append([]string{}, x264...), "-bf", "0", "-movflags", "+faststart"), "WebCodecs (mp4, avc1."},
		{"vp9.webm", "10", vp9, "WebCodecs (webm, vp09"},
		{"vp9-stream.webm", "10", append(append([]string{}, vp9...), "-f", "webm", "pipe:1"), "WebCodecs (webm, vp09"},
		{"vp9.mp4", "10", vp9, "WebCodecs (mp4, vp09"},
		{"av1.mp4", "10", av1, "WebCodecs (mp4, av01"},
		{"av1.webm", "10", av1, "WebCodecs (webm, av01"},
		{"h264-rotated.mp4", "", []string{"h264-bframes.mp4", "-c", "copy", "-metadata:s:v:0", "rotate=90"}, "rotated or flipped track"},
		{"h264-fragmented.mp4", "10", append(append([]string{}, x264...), "-movflags", "+frag_keyframe+empty_moov"), "fragmented MP4"},
	}
	for _, c := range cases {
		out := filepath.Join(dir, c.name)
		args := append([]string{"-v", "error", "-y", "-framerate", c.rate, "-i", filepath.Join(frames, "%03d.png")}, c.args...)
		if c.rate == "" { // remuxed from an earlier case (ffmpeg keeps a rotation only when copying)
			args = append([]string{"-v", "error", "-y", "-i", filepath.Join(dir, c.args[0])}, c.args[1:]...)
		}
		var cmd *exec.Cmd
		if args[len(args)-1] == "pipe:1" {
			// Written to a pipe, the muxer cannot go back to write sizes:
			// the Segment has an unknown size, as MediaRecorder's files.
			cmd = exec.Command(ff, args...)
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout = f
			defer f.Close()
		} else {
			cmd = exec.Command(ff, append(args, out)...)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("ffmpeg %s: %v\n%s", c.name, err, stderr.String())
		}
	}
	base, _ := startServer(t, site)
	ctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the page", `window.__clip4clip !== undefined`, 30*time.Second)
	type result struct {
		DecodeWith    string
		Notes         []string
		Frames        int
		MaxDiff       int
		MeanDiff      float64
		Worst         float64
		Width, Height int
		Error         string

		Decoded, Skipped, Dropped int // WebCodecs' frames
		Disposable                int // frames no frame refers to (H.264 in MP4)
	}
	for _, c := range cases {
		for _, fps := range []float64{1, 3} {
			r := eval[result](t, ctx, fmt.Sprintf(`(async () => {
				const { Sampler, frameTimes } = await import('./lib/sampler.js');
				const blob = await (await fetch('testvideos/%s')).blob();
				const file = new File([blob], %q, { type: blob.type });
				let a, b;
				try {
					a = await Sampler.open(file, { decode: 'auto' });
					b = await Sampler.open(file, { decode: 'seek' });
					const times = frameTimes(a.duration, %v);
					a.plan(times); // as the indexer does: WebCodecs skips and drops frames no time shows
					let max = 0, sum = 0, count = 0, worst = -1; const notes = [];
					for (const t of times) {
						const fa = await a.grab(t), fb = await b.grab(t);
						if (fa.rgba.length !== fb.rgba.length) throw new Error('sizes differ at ' + t);
						let m = 0;
						for (let i = 0; i < fa.rgba.length; i++) {
							if ((i & 3) === 3) continue;
							const d = Math.abs(fa.rgba[i] - fb.rgba[i]);
							sum += d; count++;
							if (d > m) m = d;
						}
						if (m > 1) {
							// Seeking now and then shows a neighbouring frame: read the
							// time once more by seeking, with a fresh element, and keep
							// the closer of the two seeks as the reference.
							const c = await Sampler.open(file, { decode: 'seek' });
							const fc = await c.grab(t);
							c.close();
							let ma = 0, mb = 0;
							for (let i = 0; i < fc.rgba.length; i++) { if ((i & 3) === 3) continue; ma = Math.max(ma, Math.abs(fc.rgba[i] - fa.rgba[i])); mb = Math.max(mb, Math.abs(fc.rgba[i] - fb.rgba[i])); }
							notes.push('at ' + t.toFixed(3) + ' s the first seek differs by ' + m + '; seeking again differs from it by ' + mb + ' and from the sampler by ' + ma);
							m = Math.min(m, ma);
						}
						if (m > max) { max = m; worst = t; }
					}
					const d = a.decoder || { decoded: 0, skipped: 0, dropped: 0 };
					let disposable = 0;
					const dm = await (await import('./lib/demux.js')).openDemuxer(file);
					if (dm.frames) for await (const f of dm.frames()) if (f.disposable) disposable++;
					return { decodeWith: a.decodeWith, notes, frames: times.length, maxDiff: max, meanDiff: sum / count, worst, width: a.width, height: a.height, decoded: d.decoded, skipped: d.skipped, dropped: d.dropped, disposable };
				} catch (err) {
					return { error: String(err && err.message || err), decodeWith: a ? a.decodeWith : '' };
				} finally {
					if (a) a.close();
					if (b) b.close();
				}
			})()`, c.name, c.name, fps))
			t.Logf("%s at %v frames/s: %s; %d frames, %dx%d, largest difference %d (at %.2f s), mean %.3f; WebCodecs decoded %d frames, skipped %d (of %d disposable), dropped %d", c.name, fps, r.DecodeWith, r.Frames, r.Width, r.Height, r.MaxDiff, r.Worst, r.MeanDiff, r.Decoded, r.Skipped, r.Disposable, r.Dropped)
			for _, n := range r.Notes {
				t.Logf("%s: %s", c.name, n)
			}
			if r.Error != "" {
				t.Errorf("%s: %s", c.name, r.Error)
				continue
			}
			if !strings.Contains(r.DecodeWith, c.codec) {
				t.Errorf("%s: the sampler decodes by %q, want %q in it", c.name, r.DecodeWith, c.codec)
			}
			// Sampled at 1 or 3 of 10 frames a second, most frames are shown
			// at no time: those no frame refers to are not decoded, the
			// others are let go once decoded.
			if strings.HasPrefix(c.name, "h264-bpyramid") && (r.Disposable == 0 || r.Skipped == 0) {
				t.Errorf("%s at %v frames/s: WebCodecs skipped %d of %d disposable frames; a plan should spare some", c.name, fps, r.Skipped, r.Disposable)
			}
			if strings.Contains(r.DecodeWith, "WebCodecs (") && r.Dropped == 0 {
				t.Errorf("%s at %v frames/s: WebCodecs let go of no frame at once; a plan should", c.name, fps)
			}
			if r.Frames < 2 {
				t.Errorf("%s: %d frames sampled", c.name, r.Frames)
			}
			// The same frame, converted the same way, differs by rounding
			// at most (here by nothing); the next frame by far more.
			if r.MaxDiff > 1 {
				t.Errorf("%s at %v frames/s: WebCodecs and seeking differ by up to %d (at %.2f s): not the same frame", c.name, fps, r.MaxDiff, r.Worst)
			}
		}
	}
}
