//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clip4clip/internal/npy"
	"clip4clip/model"
	"clip4clip/quant"
)

// The WebGPU backend's tests run in headless Chromium on SwiftShader, the
// software Vulkan device Chromium ships: correct compute, no shader-f16,
// no meaningful timings. WebGPU needs a secure context; an http origin on
// 127.0.0.1 is one.

// webGPUFlags are what headless Chromium needs to offer WebGPU here.
var webGPUFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("enable-unsafe-webgpu", true),
	chromedp.Flag("use-webgpu-adapter", "swiftshader"),
}

// gpuSite copies the app into a temporary directory with the WebGPU test
// pages (testdata/webgpu) under gpu-test/.
func gpuSite(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "site")
	if b, err := exec.Command("cp", "-R", buildSite(t), dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the site: %v\n%s", err, b)
	}
	if b, err := exec.Command("cp", "-R", filepath.Join("testdata", "webgpu"), filepath.Join(dir, "gpu-test")).CombinedOutput(); err != nil {
		t.Fatalf("copying the test pages: %v\n%s", err, b)
	}
	return dir
}

// gpuBrowser opens url in headless Chromium with WebGPU on SwiftShader.
func gpuBrowser(t *testing.T, url string, timeout time.Duration) (context.Context, func()) {
	t.Helper()
	bctx, cancel := browser(t, webGPUFlags...)
	ctx, cancelT := context.WithTimeout(bctx, timeout)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		cancelT()
		cancel()
		t.Fatal(err)
	}
	return ctx, func() {
		cancelT()
		cancel()
	}
}

type kernelResult struct {
	Name                 string
	MaxDiff, MaxRef, Tol float64
	OK                   bool
	Error                string
	At                   int
	Got, Want            []float64
}

// TestWebGPUKernels runs every WGSL kernel (web/lib/gpu/kernels.js) in
// each weight format and epilogue against its JavaScript reference
// (web/lib/gpu/reference.js, float64) on seeded random data, through
// web/lib/gpu/check.js, the suite a worker's self-check also runs part of.
func TestWebGPUKernels(t *testing.T) {
	chromium(t)
	base, _ := startServer(t, gpuSite(t))
	ctx, done := gpuBrowser(t, base+"gpu-test/kernels.html", 3*time.Minute)
	defer done()
	res := eval[struct {
		Adapter   string
		ShaderF16 bool
		Error     string
		Results   []kernelResult
	}](t, ctx, `window.__result`)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	t.Logf("adapter %s, shader-f16 %v", res.Adapter, res.ShaderF16)
	if len(res.Results) == 0 {
		t.Fatal("no kernel was checked")
	}
	for _, r := range res.Results {
		switch {
		case r.Error != "":
			t.Errorf("%s: %s", r.Name, r.Error)
		case !r.OK:
			t.Errorf("%s: max |diff| %.3g at %d > %.3g (max |want| %.3g); got %v..., want %v...", r.Name, r.MaxDiff, r.At, r.Tol, r.MaxRef, r.Got, r.Want)
		default:
			t.Logf("%-45s max |diff| %.2g (max |want| %.3g)", r.Name, r.MaxDiff, r.MaxRef)
		}
	}
}

// gpuModels writes the fixture tiny CLIP (tinyModel) in every weight
// format the GPU kernels take into dir: f32, f16, int8 with a scale per
// row and int8 with a scale per 32 columns (conv1 stays f16 in both, as
// int8 conversions keep it). Every fixture weight is an fp16 value, so
// f16 and f32 hold the same numbers.
func gpuModels(t *testing.T, dir string) []gpuModel {
	t.Helper()
	m, err := model.LoadFile(tinyModel(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	var out []gpuModel
	for _, c := range []gpuModel{{"f32", quant.F32, 0, ""}, {"f16", quant.F16, 0, ""}, {"int8", quant.Int8, 0, ""}, {"int8 block 32", quant.Int8, 32, ""}} {
		c.file = strings.ReplaceAll("tiny-"+c.name+".c4c", " ", "-")
		m.Meta["dtype"] = c.dtype.String()
		if err := m.SaveFile(filepath.Join(dir, c.file), c.dtype, c.block); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

type gpuModel struct {
	name  string
	dtype quant.DType
	block int
	file  string
}

// readNpy reads a fixture array as float32 with its shape.
func readNpy(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if a.DType[1] == 'i' {
		v, err := a.Int64()
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return f, a.Shape
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v, a.Shape
}

// TestWebGPUFeatures runs the fixture tiny CLIP's image and text encoders
// on the GPU (web/lib/gpu/encoder.js, in a worker with the engine, which
// hands over its weights) in f32, f16 and int8, and compares the features
// with the original PyTorch code's (../shared/fixtures/clip): per element
// within 1e-3 and cosine >= 0.9999 for f32 and f16 weights, cosine >=
// 0.995 for int8. SwiftShader has no shader-f16, which the f16 path does
// not need: its weights stay f16 and widen to f32 in the shader
// (unpack2x16float). The features of the engine's own (WebAssembly)
// encoders on the same model file are logged beside them.
func TestWebGPUFeatures(t *testing.T) {
	chromium(t)
	if _, err := os.Stat(filepath.Join(fixtures, "clip", "image_features.npy")); err != nil {
		t.Skipf("the fixtures are missing (%v)", err)
	}
	dir := gpuSite(t)
	models := gpuModels(t, filepath.Join(dir, "gpu-test"))
	pix, pshape := readNpy(t, "preprocess/pixel_values.npy")
	raw := make([]byte, 4*len(pix))
	for i, v := range pix {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	writeFile(t, filepath.Join(dir, "gpu-test", "pixels.f32"), raw)
	tok, tshape := readNpy(t, "clip/text_tokens.npy")
	ids := make([][]int, tshape[0])
	for i := range ids {
		for _, v := range tok[i*tshape[1] : (i+1)*tshape[1]] {
			ids[i] = append(ids[i], int(v))
		}
	}
	b, _ := json.Marshal(ids)
	writeFile(t, filepath.Join(dir, "gpu-test", "ids.json"), b)
	wantImg, _ := readNpy(t, "clip/image_features.npy")
	wantTxt, _ := readNpy(t, "clip/text_features.npy")

	base, _ := startServer(t, dir)
	ctx, done := gpuBrowser(t, base+"gpu-test/features.html", 4*time.Minute)
	defer done()
	for _, c := range models {
		res := eval[struct {
			Adapter, Error, Image, Text string
			Images                      int
			GPUBytes                    float64
		}](t, ctx, fmt.Sprintf(`window.run(%q)`, c.file))
		if res.Error != "" {
			t.Fatalf("%s: %s", c.name, res.Error)
		}
		img, txt := float32s(t, res.Image), float32s(t, res.Text)
		if res.Images != pshape[0] || len(img) != len(wantImg) || len(txt) != len(wantTxt) {
			t.Fatalf("%s: %d images, %d and %d values; want %d images, %d and %d values", c.name, res.Images, len(img), len(txt), pshape[0], len(wantImg), len(wantTxt))
		}
		// The engine's own encoders on the same file, natively.
		m, err := model.LoadFile(filepath.Join(dir, "gpu-test", c.file))
		if err != nil {
			t.Fatal(err)
		}
		e := m.NewEncoder()
		d := m.Config.EmbedDim
		native := func(i int, image bool) []float32 {
			out := make([]float32, d)
			if image {
				size := len(pix) / pshape[0]
				if err := e.EncodeImage(out, pix[i*size:(i+1)*size]); err != nil {
					t.Fatal(err)
				}
			} else if err := e.EncodeText(out, ids[i]); err != nil {
				t.Fatal(err)
			}
			return out
		}
		check := func(what string, got, want []float32, image bool) {
			for i := 0; i < len(want)/d; i++ {
				g, w := got[i*d:(i+1)*d], want[i*d:(i+1)*d]
				diff, cos := maxAbsDiff(g, w), cosine(g, w)
				nat := native(i, image)
				t.Logf("%-13s %s %d: max |diff| %.2g, cosine %.7f to PyTorch's; cosine %.7f to the engine's (native) on the same file", c.name, what, i, diff, cos, cosine(g, nat))
				if c.dtype == quant.Int8 {
					if cos < 0.995 {
						t.Errorf("%s %s %d: cosine %.6f < 0.995 (got %v..., want %v...)", c.name, what, i, cos, g[:4], w[:4])
					}
				} else if diff > 1e-3 || cos < 0.9999 {
					t.Errorf("%s %s %d: max |diff| %.3g (bound 1e-3), cosine %.7f (bound 0.9999); got %v..., want %v...", c.name, what, i, diff, cos, g[:4], w[:4])
				}
			}
		}
		t.Logf("%s on %s: %.1f MB of weights on the GPU", c.name, res.Adapter, res.GPUBytes/1e6)
		check("image", img, wantImg, true)
		check("text", txt, wantTxt, false)
	}
}

// TestWebGPUFilesCached: every file of the GPU backend is in the service
// worker's app shell, since worker.js loads them (offline too).
func TestWebGPUFilesCached(t *testing.T) {
	sw, err := os.ReadFile("../web/sw.js")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../web/lib/gpu/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in web/lib/gpu: %v", err)
	}
	for _, f := range files {
		if name := "'lib/gpu/" + filepath.Base(f) + "'"; !strings.Contains(string(sw), name) {
			t.Errorf("sw.js FILES lacks %s", name)
		}
	}
}

// TestWebGPUPage indexes two short videos in the app and searches them,
// once with ?backend=wasm and once with ?backend=webgpu (SwiftShader):
// the model panel names the backend, and WebGPU gives the same frame
// features (cosine >= 0.9999 each, the tiny CLIP in f16), the same
// ranking and the same scores within 1e-3.
func TestWebGPUPage(t *testing.T) {
	chromium(t)
	ffmpeg(t)
	work := t.TempDir()
	modelPath := tinyModel(t, work)
	base, _ := startServer(t, buildSite(t))
	warm := makeVideo(t, work, "warm.webm", 12, 2, 320, 240, 0)
	cool := makeVideo(t, work, "cool.webm", 12, 2, 320, 240, 180)
	const query = "a white square on a red background"

	type run struct {
		backend string
		facts   string
		hits    []string
		scores  []float64
		feats   map[string][]float32
		frames  map[string][]sentFrame // the RGBA bytes sent to the frame workers
	}
	index := func(backend string) run {
		ctx, done := gpuBrowser(t, base+"?debug=1&backend="+backend, 3*time.Minute)
		defer done()
		waitFor(t, ctx, "the page", `window.__clip4clip !== undefined`, 20*time.Second)
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{modelPath})); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitFor(t, ctx, "the model to load", `window.__clip4clip.state().ready`, 90*time.Second)
		t.Logf("%s: the model loaded in %v", backend, time.Since(start).Round(time.Millisecond))
		r := run{backend: backend, feats: map[string][]float32{}, frames: map[string][]sentFrame{}}
		t.Logf("%s: query worker's backend %s", backend, eval[string](t, ctx, `JSON.stringify(window.__clip4clip.state().model.info.backend)`))
		r.facts = eval[string](t, ctx, `(() => { const dt = [...document.querySelectorAll('#model-facts dt')].find((d) => d.textContent === 'Backend'); return dt ? dt.nextElementSibling.textContent : ''; })()`)
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#video-files"), []string{warm, cool})); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		waitFor(t, ctx, "indexing to finish", `(() => { const s = window.__clip4clip.state(); return s.videos.length === 2 && !s.indexing && s.videos.every(v => v.status === 'indexed'); })()`, 90*time.Second)
		t.Logf("%s: 2 videos indexed in %v", backend, time.Since(start).Round(time.Millisecond))
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#query"), query)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "results", `(() => { const s = window.__clip4clip.state(); return s.results && s.results.text === '`+query+`' && s.results.hits.length === 2; })()`, 30*time.Second)
		for _, h := range state(t, ctx).Results.Hits {
			r.hits = append(r.hits, h.Key)
			r.scores = append(r.scores, h.Score)
		}
		for name, v := range embeddings(t, ctx) {
			r.feats[name] = float32s(t, v.Features)
			for _, f := range v.Frames {
				rgba, err := base64.StdEncoding.DecodeString(f.RGBA)
				if err != nil {
					t.Fatal(err)
				}
				r.frames[name] = append(r.frames[name], sentFrame{rgba, f.Width, f.Height})
			}
		}
		return r
	}
	wasm := index("wasm")
	gpu := index("webgpu")
	t.Logf("wasm backend: %s", wasm.facts)
	t.Logf("webgpu backend: %s", gpu.facts)
	if !strings.HasPrefix(wasm.facts, "WebAssembly") || !strings.Contains(wasm.facts, "not WebGPU: WebAssembly was asked for") {
		t.Errorf("?backend=wasm: the model panel says %q", wasm.facts)
	}
	if !strings.HasPrefix(gpu.facts, "WebGPU (google swiftshader") {
		t.Errorf("?backend=webgpu: the model panel says %q, want WebGPU on SwiftShader for frames and queries alike", gpu.facts)
	}
	t.Logf("ranking: wasm %v %v, webgpu %v %v", wasm.hits, wasm.scores, gpu.hits, gpu.scores)
	if !slices.Equal(wasm.hits, gpu.hits) {
		t.Errorf("the ranking differs: wasm %v, webgpu %v", wasm.hits, gpu.hits)
	}
	for i := range min(len(wasm.scores), len(gpu.scores)) {
		if d := math.Abs(wasm.scores[i] - gpu.scores[i]); d > 1e-3 {
			t.Errorf("hit %d: score %v with wasm, %v with webgpu", i, wasm.scores[i], gpu.scores[i])
		}
	}
	// Each backend's features against the native encoder's on the bytes
	// it was sent (the sampler may land on another frame from run to run),
	// and against each other where the bytes are the same.
	m, err := model.LoadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	enc := m.NewEncoder()
	d := m.Config.EmbedDim
	for name, w := range wasm.feats {
		g := gpu.feats[name]
		if len(g) != len(w) || len(w) == 0 || len(gpu.frames[name]) != len(g)/d {
			t.Fatalf("%s: %d feature values with wasm, %d with webgpu", name, len(w), len(g))
		}
		worst, diff, same, worstNative := 1.0, 0.0, 0, 1.0
		for i := 0; i < len(g)/d; i++ {
			gi := g[i*d : (i+1)*d]
			f := gpu.frames[name][i]
			want := nativeEmbed(t, enc, f.rgba, f.w, f.h)
			c := cosine(gi, want)
			worstNative = math.Min(worstNative, c)
			if dd := maxAbsDiff(gi, want); c < 0.9999 || dd > 1e-3 {
				t.Errorf("%s frame %d: webgpu vs native on the same RGBA: cosine %.6f, max |diff| %.3g", name, i, c, dd)
			}
			if bytes.Equal(f.rgba, wasm.frames[name][i].rgba) {
				same++
				worst = math.Min(worst, cosine(w[i*d:(i+1)*d], gi))
				diff = math.Max(diff, maxAbsDiff(w[i*d:(i+1)*d], gi))
			}
		}
		t.Logf("%s: %d frames; webgpu vs native on the same bytes: lowest cosine %.7f; vs wasm on the %d frames sent alike: lowest cosine %.7f, max |diff| %.2g", name, len(g)/d, worstNative, same, worst, diff)
		if worst < 0.9999 {
			t.Errorf("%s: a frame's feature differs between the backends: cosine %.6f", name, worst)
		}
	}
}

type sentFrame struct {
	rgba []byte
	w, h int
}

// TestWebGPUFallback: the WebAssembly SIMD path runs, and the page says
// why, where WebGPU cannot: in Chromium without WebGPU (no flags), with
// only a software adapter and ?backend=auto (SwiftShader: auto refuses
// it), and when the self-check finds the GPU's features far from the
// engine's (startGPU against an engine that answers a wrong image or
// text feature).
func TestWebGPUFallback(t *testing.T) {
	chromium(t)
	dir := gpuSite(t)
	modelPath := tinyModel(t, filepath.Join(dir, "gpu-test"))
	base, _ := startServer(t, dir)

	panel := func(flags []chromedp.ExecAllocatorOption, query string) (string, string) {
		bctx, cancel := browser(t, flags...)
		defer cancel()
		ctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
		defer cancelT()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"?debug=1"+query)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the page", `window.__clip4clip !== undefined`, 20*time.Second)
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#model-file"), []string{modelPath})); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the model to load", `window.__clip4clip.state().ready`, 90*time.Second)
		return eval[string](t, ctx, `(() => { const dt = [...document.querySelectorAll('#model-facts dt')].find((d) => d.textContent === 'Backend'); return dt ? dt.nextElementSibling.textContent : ''; })()`),
			eval[string](t, ctx, `window.__clip4clip.state().model.info.backend.name`)
	}
	for _, c := range []struct {
		what   string
		flags  []chromedp.ExecAllocatorOption
		query  string
		reason string
	}{
		{"no WebGPU flags, backend=webgpu", nil, "&backend=webgpu", "not WebGPU: "},
		{"SwiftShader, backend=auto", webGPUFlags, "", "not WebGPU: the only WebGPU adapter is a software one (google swiftshader, software)"},
	} {
		text, name := panel(c.flags, c.query)
		t.Logf("%s: %s", c.what, text)
		if name != "wasm" || !strings.HasPrefix(text, "WebAssembly") || !strings.Contains(text, c.reason) {
			t.Errorf("%s: the query worker runs %s and the panel says %q; want WebAssembly and %q", c.what, name, text, c.reason)
		}
	}

	ctx, done := gpuBrowser(t, base+"gpu-test/fallback.html", 3*time.Minute)
	defer done()
	type attempt struct {
		OK           bool
		Name, Reason string
		Check        struct{ Image, Text float64 }
	}
	res := eval[struct {
		Error                           string
		Faithful, WrongImage, WrongText attempt
	}](t, ctx, fmt.Sprintf(`window.run(%q)`, filepath.Base(modelPath)))
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	t.Logf("faithful engine: %+v", res.Faithful)
	if !res.Faithful.OK || res.Faithful.Check.Image < 0.9999 || res.Faithful.Check.Text < 0.9999 {
		t.Errorf("the self-check against the engine itself: %+v", res.Faithful)
	}
	for what, a := range map[string]attempt{"image": res.WrongImage, "text": res.WrongText} {
		t.Logf("wrong %s feature: %+v", what, a)
		if a.OK || a.Name != "GPUUnavailable" || !strings.Contains(a.Reason, "the GPU's "+what+" features differ from WebAssembly's") {
			t.Errorf("the self-check with a wrong %s feature: %+v", what, a)
		}
	}
}

// TestWebGPUViTB32 runs a random-weight CLIP ViT-B/32 (width 768, 12
// heads, 12 layers; the text tower's 49,408-token embedding) through the
// GPU encoders on SwiftShader, f16 and int8, and compares the features of
// two frames and two captions with the native encoder's on the same model
// file. It takes minutes on SwiftShader, so it runs only with
// CLIP4CLIP_GPU_VITB32=1.
func TestWebGPUViTB32(t *testing.T) {
	if os.Getenv("CLIP4CLIP_GPU_VITB32") == "" {
		t.Skip("set CLIP4CLIP_GPU_VITB32=1 to run ViT-B/32 on SwiftShader (minutes)")
	}
	chromium(t)
	dir := gpuSite(t)
	cfg := model.ViTB32()
	res := cfg.Vision.Resolution
	pix := normalsFloat32(2*3*res*res, 11)
	raw := make([]byte, 4*len(pix))
	for i, v := range pix {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	writeFile(t, filepath.Join(dir, "gpu-test", "pixels.f32"), raw)
	base, _ := startServer(t, dir)
	ctx, done := gpuBrowser(t, base+"gpu-test/features.html", 30*time.Minute)
	defer done()
	for _, dt := range []quant.DType{quant.F16, quant.Int8} {
		path := randomViTB32(t, dt)
		name := "vitb32-" + dt.String() + ".c4c"
		if err := os.Link(path, filepath.Join(dir, "gpu-test", name)); err != nil {
			if b, err := os.ReadFile(path); err != nil || os.WriteFile(filepath.Join(dir, "gpu-test", name), b, 0o644) != nil {
				t.Fatalf("putting %s in the site: %v", path, err)
			}
		}
		m, err := model.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var ids [][]int
		for _, c := range []string{"a man riding a red bicycle down the busy street", "a dog"} {
			toks, _, err := m.Tokenizer.Tokenize(c, cfg.Text.Context)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, toks)
		}
		b, _ := json.Marshal(ids)
		writeFile(t, filepath.Join(dir, "gpu-test", "ids.json"), b)
		start := time.Now()
		r := eval[struct{ Error, Image, Text string }](t, ctx, fmt.Sprintf(`window.run(%q)`, name))
		if r.Error != "" {
			t.Fatalf("%s: %s", dt, r.Error)
		}
		t.Logf("%s: the worker loaded, uploaded, and encoded 2 frames and 2 captions in %v", dt, time.Since(start).Round(time.Second))
		img, txt := float32s(t, r.Image), float32s(t, r.Text)
		e := m.NewEncoder()
		d := cfg.EmbedDim
		min := map[quant.DType]float64{quant.F16: 0.9999, quant.Int8: 0.995}[dt]
		for i := 0; i < 2; i++ {
			want := make([]float32, d)
			if err := e.EncodeImage(want, pix[i*3*res*res:(i+1)*3*res*res]); err != nil {
				t.Fatal(err)
			}
			wantT := make([]float32, d)
			if err := e.EncodeText(wantT, ids[i]); err != nil {
				t.Fatal(err)
			}
			ci, ct := cosine(img[i*d:(i+1)*d], want), cosine(txt[i*d:(i+1)*d], wantT)
			t.Logf("%s: image %d cosine %.7f (max |diff| %.2g), caption %d cosine %.7f (max |diff| %.2g) to the native encoder", dt, i, ci, maxAbsDiff(img[i*d:(i+1)*d], want), i, ct, maxAbsDiff(txt[i*d:(i+1)*d], wantT))
			if ci < min || ct < min {
				t.Errorf("%s: cosines %.6f, %.6f < %g", dt, ci, ct, min)
			}
		}
	}
}

// normalsFloat32 is n seeded N(0, 1) values: stand-in pixels.
func normalsFloat32(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}
