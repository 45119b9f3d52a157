//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clip4clip/quant"
	"clip4clip/siteindex"
	"clip4clip/synth"
	"clip4clip/wasm/engine"
	"clip4clip/weights"
)

// The int8 model runs on four kinds of kernel that round activations
// differently: Go's (x stays f32), amd64's (x to int8 per row), SIMD128's
// (x to int16) and relaxed SIMD's (x to 7 bits with a zero point). A site
// index is built natively and queried with features computed in a
// browser, so the paths must agree. TestInt8PathsAgree runs the default
// model over the same frames and captions on every path this machine and
// headless Chromium have, and bounds each pair of paths, and each path
// against the model in f32, by the lowest cosine of any feature; and
// searches one natively built site index with every path's query features,
// natively and in the browser: the same feature must get the same results
// and scores bit for bit on both, and another path's feature may reorder
// only moments its difference cannot tell apart (consistentTop). The
// default world's moments are near twins (stills of one scene), so some
// top 10s do reorder; the log says how many are identical.

// agreeMin is the lowest cosine allowed between two paths' features.
const agreeMin = 0.999

// agreeInputs are the frames and captions every path embeds: frames of a
// few demo-world videos at 1 fps, and their events' captions with a few
// queries the world does not hold.
type agreeInputs struct {
	videos   []*synth.Video
	frames   [][]byte // RGBA, size x size
	perVideo []int    // frames of each video
	size     int
	captions []string
}

func makeAgreeInputs() agreeInputs {
	in := agreeInputs{size: 128}
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 6; seed++ {
		v := synth.Demo(seed, 24)
		in.videos = append(in.videos, v)
		n := 0
		for i := 0; float64(i)+0.5 < v.Duration; i++ {
			in.frames = append(in.frames, v.Frame(float64(i)+0.5, in.size).Pix)
			n++
		}
		in.perVideo = append(in.perVideo, n)
		for _, e := range v.Events {
			if !seen[e.Caption] {
				seen[e.Caption] = true
				in.captions = append(in.captions, e.Caption)
			}
		}
	}
	in.captions = append(in.captions, "a dog runs on the beach", "a red car at night", "two people talking in a kitchen")
	return in
}

// features are one path's outputs: (frames, d) and (captions, d).
type features struct {
	image, text []float32
}

func nativeFeatures(t *testing.T, e *engine.Engine, in agreeInputs) features {
	t.Helper()
	d := e.Info().EmbedDim
	f := features{image: make([]float32, len(in.frames)*d), text: make([]float32, len(in.captions)*d)}
	for i, rgba := range in.frames {
		if err := e.EmbedFrame(f.image[i*d:(i+1)*d], rgba, in.size, in.size); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range in.captions {
		q, err := e.EmbedQuery(c)
		if err != nil {
			t.Fatal(err)
		}
		copy(f.text[i*d:], q.Feature)
	}
	return f
}

// worstCosine is the lowest cosine between corresponding rows of a and b.
func worstCosine(a, b []float32, d int) float64 {
	worst := 1.0
	for i := 0; i+d <= len(a); i += d {
		worst = min(worst, cosine(a[i:i+d], b[i:i+d]))
	}
	return worst
}

// buildAgreeSite embeds each video's frames as `clip4clip index` does
// (engine.VideoFeature over the whole video and over each 4-frame moment)
// from the image features f, and writes the site index.
func buildAgreeSite(t *testing.T, e *engine.Engine, in agreeInputs, f features) []byte {
	t.Helper()
	info := e.Info()
	d := info.EmbedDim
	const window = 4 // seconds, at 1 frame a second
	x := &siteindex.Index{ModelID: info.ID, ModelName: "default", Head: info.Head, EmbedDim: d, FPS: 1, Window: window}
	at := 0
	for i, v := range in.videos {
		n := in.perVideo[i]
		feats := f.image[at*d : (at+n)*d]
		at += n
		vid := siteindex.Video{Path: v.ID + ".webm", Duration: v.Duration, Width: in.size, Height: in.size, Size: 1, Feature: make([]float32, d)}
		if err := e.VideoFeature(vid.Feature, feats, n); err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < n; lo += window {
			hi := min(lo+window, n)
			m := make([]float32, d)
			if err := e.VideoFeature(m, feats[lo*d:hi*d], hi-lo); err != nil {
				t.Fatal(err)
			}
			vid.Moments = append(vid.Moments, m)
		}
		x.Videos = append(x.Videos, vid)
	}
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ranking is a search's top moments ("video/moment"), their scores and the
// videos in order.
type ranking struct {
	Moments []string
	Scores  []float32
	Videos  []int
}

// search ranks the site index loaded in e (engine.SearchSite, as the
// browser's engine does) with each caption's query feature of f, k moments
// (k = every moment: all scores).
func search(t *testing.T, e *engine.Engine, f features, d, k int) []ranking {
	t.Helper()
	var out []ranking
	for i := 0; i+d <= len(f.text); i += d {
		r, err := e.SearchSite(f.text[i:i+d], k)
		if err != nil {
			t.Fatal(err)
		}
		var rk ranking
		for _, m := range r.Moments {
			rk.Moments = append(rk.Moments, fmt.Sprintf("%d/%d", m.Video, m.Moment))
			rk.Scores = append(rk.Scores, m.Score)
		}
		for _, v := range r.Videos {
			rk.Videos = append(rk.Videos, v.Video)
		}
		out = append(out, rk)
	}
	return out
}

// unitDistance is |a/|a| - b/|b||.
func unitDistance(a, b []float32) float64 {
	var aa, bb float64
	for i := range a {
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	var s float64
	for i := range a {
		d := float64(a[i])/math.Sqrt(aa) - float64(b[i])/math.Sqrt(bb)
		s += d * d
	}
	return math.Sqrt(s)
}

// consistentTop reports why got (another path's top moments) cannot be a
// top-len(got) of the reference's scores all (every moment's), when each
// score may have moved by at most slack: a moment ranked above another
// whose reference score is higher by more than 2*slack, or a moment left
// out that beats one kept by more than that. "" when it can.
func consistentTop(got []string, all ranking, slack float64) string {
	ref := map[string]float64{}
	for i, m := range all.Moments {
		ref[m] = float64(all.Scores[i])
	}
	in := map[string]bool{}
	for i, m := range got {
		in[m] = true
		for _, n := range got[i+1:] {
			if ref[n]-ref[m] > 2*slack {
				return fmt.Sprintf("%s ranked above %s, whose reference score is %.5f higher", m, n, ref[n]-ref[m])
			}
		}
	}
	for _, m := range all.Moments {
		for _, n := range got {
			if !in[m] && ref[m]-ref[n] > 2*slack {
				return fmt.Sprintf("%s left out for %s, whose reference score is %.5f lower", m, n, ref[m]-ref[n])
			}
		}
	}
	return ""
}

// browserResult is what agree-worker.js posts back for one variant.
type browserResult struct {
	Error    string
	Kernels  string // self.clip4clipSIMD(): the variant that ran
	Image    string // base64 float32 (frames, d)
	Text     string // base64 float32 (captions, d)
	Rankings []ranking
}

// agreeWorker runs in a module Worker of the built app: it starts the
// engine with the kernel variant asked for, loads the default model,
// embeds agree/frames.bin and the captions, and searches agree/site.idx
// with its own query features.
const agreeWorker = `import { startEngine } from './lib/engine.js';

const b64 = (f) => {
  const u = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
};
const check = (r, what) => {
  if (r && r.error) throw new Error(what + ': ' + r.error);
  return r;
};
const get = async (p) => new Uint8Array(await (await fetch(p)).arrayBuffer());

onmessage = async ({ data: { variant, captions, size, frames } }) => {
  try {
    const api = await startEngine({ variant });
    check(api.loadModel(await get('models/default.c4c')), 'loadModel');
    const d = check(api.info(), 'info').embedDim;
    const pix = await get('agree/frames.bin');
    const image = new Float32Array(frames * d);
    for (let i = 0; i < frames; i++) {
      const f = check(api.embedFrame(pix.subarray(i * size * size * 4, (i + 1) * size * size * 4), size, size), 'embedFrame');
      image.set(f, i * d);
    }
    check(api.loadSite(await get('agree/site.idx')), 'loadSite');
    const text = new Float32Array(captions.length * d);
    const rankings = [];
    captions.forEach((c, i) => {
      const q = check(api.embedQuery(c), 'embedQuery').feature;
      text.set(q, i * d);
      const r = check(api.searchSite(q, 10), 'searchSite');
      rankings.push({ moments: r.moments.map((m) => m.video + '/' + m.moment), scores: r.moments.map((m) => m.score), videos: r.videos.map((v) => v.video) });
    });
    postMessage({ kernels: self.clip4clipSIMD(), image: b64(image), text: b64(text), rankings });
  } catch (e) {
    postMessage({ error: String(e && e.stack || e) });
  }
};
`

func TestInt8PathsAgree(t *testing.T) {
	// The default model ships in f16: its weights widened are the f32
	// reference, and quantized to int8 (per row, as convert -dtype int8)
	// the model every path runs.
	def, err := engine.New(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	var f32file, i8file bytes.Buffer
	if err := def.Model().Save(&f32file, quant.F32, 0); err != nil {
		t.Fatal(err)
	}
	if err := def.Model().Save(&i8file, quant.Int8, 0); err != nil {
		t.Fatal(err)
	}
	e32, err := engine.New(f32file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	e8, err := engine.New(i8file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	in := makeAgreeInputs()
	d := e8.Info().EmbedDim
	t.Logf("default model in int8 (%s head), %d frames of %d demo videos, %d captions", e8.Info().Head, len(in.frames), len(in.videos), len(in.captions))

	// Natively: f32 on the best kernels, int8 on each.
	start := quant.Kernel()
	defer quant.UseKernel(start)
	paths := map[string]features{"f32": nativeFeatures(t, e32, in)}
	names := []string{"f32"}
	for _, k := range quant.Kernels() {
		if _, err := quant.UseKernel(k); err != nil {
			t.Fatal(err)
		}
		paths["native/"+k] = nativeFeatures(t, e8, in)
		names = append(names, "native/"+k)
	}
	if _, err := quant.UseKernel(start); err != nil {
		t.Fatal(err)
	}
	if missing := missingAmd64Kernels(); missing != "" {
		t.Logf("not on this CPU, so not compared: %s", missing)
	}
	site := buildAgreeSite(t, e8, in, paths["native/"+start])
	if _, err := e8.LoadSite(site); err != nil {
		t.Fatal(err)
	}

	// In headless Chromium: the Go kernels, SIMD128 and relaxed SIMD.
	dir := siteWithDefault(t, writeFile(t, filepath.Join(t.TempDir(), "default-int8.c4c"), i8file.Bytes()))
	if err := os.MkdirAll(filepath.Join(dir, "agree"), 0o755); err != nil {
		t.Fatal(err)
	}
	var pix []byte
	for _, f := range in.frames {
		pix = append(pix, f...)
	}
	for name, b := range map[string][]byte{"agree/frames.bin": pix, "agree/site.idx": site, "agree-worker.js": []byte(agreeWorker)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, _ := startServer(t, dir)
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 5*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"favicon.svg")); err != nil {
		t.Fatal(err)
	}
	rankings := map[string][]ranking{}
	cj, err := json.Marshal(in.captions)
	if err != nil {
		t.Fatal(err)
	}
	captionsJSON := string(cj)
	for _, variant := range []struct{ ask, name, reports string }{{"none", "go", "none"}, {"simd", "simd128", "SIMD128"}, {"relaxed", "relaxed", "relaxed SIMD"}, {"pair", "pair", "relaxed SIMD, paired int8"}} {
		r := eval[browserResult](t, ctx, fmt.Sprintf(`new Promise((resolve) => {
			const w = new Worker('agree-worker.js', { type: 'module' });
			w.onmessage = ({ data }) => { w.terminate(); resolve(data); };
			w.onerror = (e) => resolve({ error: 'worker: ' + e.message });
			w.postMessage({ variant: %q, captions: %s, size: %d, frames: %d });
		})`, variant.ask, captionsJSON, in.size, len(in.frames)))
		if r.Error != "" {
			t.Fatalf("browser, %s kernels: %s", variant.ask, r.Error)
		}
		// Every variant the browser picks for a user must run here: a
		// missing one is a failure, not a skip.
		if r.Kernels != variant.reports {
			t.Fatalf("browser: asked for the %s kernels, the engine ran %q", variant.ask, r.Kernels)
		}
		name := "chromium/" + variant.name
		paths[name] = features{image: float32s(t, r.Image), text: float32s(t, r.Text)}
		rankings[name] = r.Rankings
		names = append(names, name)
	}

	// The matrix of lowest cosines, images and texts.
	var b strings.Builder
	fmt.Fprintf(&b, "lowest cosine between paths over %d frame and %d caption features (image / text):\n%-17s", len(in.frames), len(in.captions), "")
	for _, n := range names {
		fmt.Fprintf(&b, " %17s", n)
	}
	worst, worstPair := 1.0, ""
	for _, a := range names {
		fmt.Fprintf(&b, "\n%-17s", a)
		for _, c := range names {
			ci, ct := worstCosine(paths[a].image, paths[c].image, d), worstCosine(paths[a].text, paths[c].text, d)
			fmt.Fprintf(&b, " %8.5f/%8.5f", ci, ct)
			if a < c && a != "f32" && c != "f32" && min(ci, ct) < worst {
				worst, worstPair = min(ci, ct), a+" vs "+c
			}
		}
	}
	t.Log(b.String())

	t.Logf("worst pair of int8 paths: %s, cosine %.5f", worstPair, worst)
	if worst < agreeMin {
		t.Errorf("%s: lowest cosine %.5f < %g", worstPair, worst, agreeMin)
	}

	// The browser's search of the native index ranks a query feature
	// exactly as the native search does: the same moments, videos and
	// scores, bit for bit.
	for n, got := range rankings {
		want := search(t, e8, paths[n], d, 10)
		for i, c := range in.captions {
			if !slices.Equal(got[i].Moments, want[i].Moments) || !slices.Equal(got[i].Scores, want[i].Scores) || !slices.Equal(got[i].Videos, want[i].Videos) {
				t.Errorf("%q, %s features: the browser's search gives %v %v, videos %v; the native search %v %v, %v", c, n, got[i].Moments, got[i].Scores, got[i].Videos, want[i].Moments, want[i].Scores, want[i].Videos)
			}
		}
	}

	// Another path's query feature may reorder moments whose scores are
	// closer than the two features can tell apart: each score moves by at
	// most |q_a - q_b| (unit vectors, unit rows) plus the query rounding
	// of Search (half a step of DotsLimit per value, times |row|_1 <=
	// sqrt(d)). Beyond that the top 10 must agree with native/<start>'s.
	ref := "native/" + start
	all := search(t, e8, paths[ref], d, math.MaxInt32)
	step := math.Sqrt(float64(d)) / float64(quant.DotsLimit(d))
	for _, n := range names {
		got := rankings[n]
		if got == nil {
			got = search(t, e8, paths[n], d, 10)
		}
		same, worstMove := 0, 0.0
		for i, c := range in.captions {
			top := all[i].Moments[:len(got[i].Moments)]
			if slices.Equal(got[i].Moments, top) {
				same++
			}
			slack := unitDistance(paths[n].text[i*d:(i+1)*d], paths[ref].text[i*d:(i+1)*d]) + step
			for j, m := range got[i].Moments {
				k := slices.Index(all[i].Moments, m)
				worstMove = max(worstMove, math.Abs(float64(got[i].Scores[j]-all[i].Scores[k])))
			}
			if why := consistentTop(got[i].Moments, all[i], slack); why != "" {
				t.Errorf("%q, %s: top moments %v; %s: %v; %s (slack %.5f)", c, n, got[i].Moments, ref, top, why, slack)
			}
		}
		t.Logf("%s: top 10 identical to %s's for %d of %d queries; largest change of a listed moment's score %.5f", n, ref, same, len(in.captions), worstMove)
	}
}

// missingAmd64Kernels names the amd64 kernel sets this CPU lacks ("" off
// amd64, which has none to miss).
func missingAmd64Kernels() string {
	if runtime.GOARCH != "amd64" {
		return ""
	}
	var miss []string
	for _, k := range []string{"avx2", "avxvnni", "avx512"} {
		if !slices.Contains(quant.Kernels(), k) {
			miss = append(miss, k)
		}
	}
	return strings.Join(miss, ", ")
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
