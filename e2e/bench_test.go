//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clip4clip/internal/testenv"
	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
)

// TestBenchPage drives the benchmark page (web/bench.html) in headless
// Chromium: image embedding in ms per frame and frames per second with 1
// and 2 workers, a 10-token query from text to ranked scores, and the
// peak memory of the page, for random-weight ViT-B/32 model files (int8
// and f16; the speed does not depend on the values). It asserts nothing
// about speed; run it by hand, beside the onnxruntime harness
// (../shared/bench) for comparison:
//
//	CLIP4CLIP_BENCH=1 go test -run BenchPage -v -timeout 30m ./e2e/
//
// CLIP4CLIP_BENCH_MODELS=a.c4c,b.c4c measures those model files instead;
// CLIP4CLIP_BENCH_FRAMES sets the frames per worker count (default 24),
// CLIP4CLIP_BENCH_SIZE the frames' size (default 224; 1280x720 includes
// the resize and a video frame's memory), CLIP4CLIP_BENCH_WORKERS the
// frame worker counts (default 1,2; the page starts the largest).
// CLIP4CLIP_BENCH_BACKEND lists the page's backends to run each model on
// (default auto; e.g. wasm,webgpu): anything but wasm starts Chromium
// with WebGPU (--enable-unsafe-webgpu), on the machine's GPU, or on
// SwiftShader with CLIP4CLIP_BENCH_SWIFTSHADER=1 (which only shows that
// it works: its timings mean nothing). CLIP4CLIP_BENCH_SIMD=relaxed or
// simd makes the workers use that kernel variant instead of timing both.
func TestBenchPage(t *testing.T) {
	if os.Getenv("CLIP4CLIP_BENCH") == "" {
		t.Skip("set CLIP4CLIP_BENCH=1 to run the benchmark page")
	}
	chromium(t)
	var models []string
	if s := os.Getenv("CLIP4CLIP_BENCH_MODELS"); s != "" {
		models = strings.Split(s, ",")
	} else {
		for _, dt := range []quant.DType{quant.Int8, quant.F16} {
			models = append(models, randomViTB32(t, dt))
		}
	}
	frames := 24
	if s := os.Getenv("CLIP4CLIP_BENCH_FRAMES"); s != "" {
		fmt.Sscan(s, &frames)
	}
	size, workers := "224", "1,2"
	if s := os.Getenv("CLIP4CLIP_BENCH_SIZE"); s != "" {
		size = s
	}
	if s := os.Getenv("CLIP4CLIP_BENCH_WORKERS"); s != "" {
		workers = s
	}
	dir := siteWithDefault(t, models[0])
	for i, m := range models {
		name := fmt.Sprintf("bench%d.c4c", i)
		if err := os.Link(m, filepath.Join(dir, "models", name)); err != nil {
			if b, err := os.ReadFile(m); err != nil || os.WriteFile(filepath.Join(dir, "models", name), b, 0o644) != nil {
				t.Fatalf("putting %s in the site: %v", m, err)
			}
		}
	}
	backends := []string{"auto"}
	if s := os.Getenv("CLIP4CLIP_BENCH_BACKEND"); s != "" {
		backends = strings.Split(s, ",")
	}
	base, _ := startServer(t, dir)
	for i, m := range models {
		for _, b := range backends {
			benchPage(t, base, fmt.Sprintf("models/bench%d.c4c", i), filepath.Base(m), frames, size, workers, b, benchFlags(b, os.Getenv("CLIP4CLIP_BENCH_SWIFTSHADER") != "")...)
		}
	}
}

// benchFlags are the Chromium flags for the bench page's backend: WebGPU
// for all but wasm, on SwiftShader if swiftshader.
func benchFlags(backend string, swiftshader bool) []chromedp.ExecAllocatorOption {
	switch {
	case backend == "wasm":
		return nil
	case swiftshader:
		return webGPUFlags
	}
	return []chromedp.ExecAllocatorOption{chromedp.Flag("enable-unsafe-webgpu", true)}
}

// TestBenchPageWebGPU runs the benchmark page on the WebGPU backend in
// headless Chromium on SwiftShader with the fixture tiny CLIP: the page
// reports the backend, its adapter and frames/s. SwiftShader's timings
// mean nothing; on a real GPU, TestBenchPage with
// CLIP4CLIP_BENCH_BACKEND=wasm,webgpu measures.
func TestBenchPageWebGPU(t *testing.T) {
	chromium(t)
	dir := siteWithDefault(t, tinyModel(t, t.TempDir()))
	base, _ := startServer(t, dir)
	res := benchPage(t, base, "models/default.c4c", "tiny CLIP (f16)", 8, "224", "1,2", "webgpu", webGPUFlags...)
	if res.Backend.Name != "webgpu" || !strings.Contains(res.Backend.Adapter, "swiftshader") || res.Backend.Batch < 2 {
		t.Errorf("the page's frame workers ran on %+v, want WebGPU on SwiftShader with batches", res.Backend)
	}
	if res.QueryBackend.Name != "webgpu" {
		t.Errorf("the query worker ran on %+v, want WebGPU", res.QueryBackend)
	}
	if !strings.HasPrefix(res.BackendText, "WebGPU (google swiftshader") {
		t.Errorf("the page says the backend is %q", res.BackendText)
	}
	if len(res.Runs) == 0 || res.Runs[0].FPS <= 0 || res.Query.Ms <= 0 {
		t.Errorf("no frames/s or query time: %+v %+v", res.Runs, res.Query)
	}
}

type benchResult struct {
	Done       bool
	Error      string
	ModelBytes int64
	Frame      string
	Info       struct{ SIMD string }
	Backend    struct { // the frame workers'
		Name, Adapter, Reason string
		Batch                 int
		GPUBytes              float64
	}
	QueryBackend struct{ Name, Adapter, Reason string }
	BackendText  string
	Runs         []struct {
		Workers    int
		Frames     int
		WallMs     float64
		FPS        float64
		MsPerFrame float64
	}
	Query struct {
		Tokens              int
		Ms, EmbedMs, RankMs float64
	}
	Memory        []float64 // wasm memory of each worker, the query worker first
	GoHeap        []float64 // Go's heap in use in each
	MemoryWorkers []string  // their names
}

func benchPage(t *testing.T, base, url, name string, frames int, size, workers, backend string, flags ...chromedp.ExecAllocatorOption) benchResult {
	bctx, cancel := browser(t, flags...)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 20*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%sbench.html?model=%s&workers=%s&frames=%d&size=%s&backend=%s&simd=%s", base, url, workers, frames, size, backend, os.Getenv("CLIP4CLIP_BENCH_SIMD")))); err != nil {
		t.Fatal(err)
	}
	browserPID := 0
	if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
		browserPID = p.Pid
	}
	var peakRenderer, peakAll int64
	started := time.Now()
	for {
		if time.Since(started) > 30*time.Second && !eval[bool](t, ctx, `window.__bench !== undefined`) {
			t.Fatal("the benchmark page did not start in 30 s (a script error?)")
		}
		r, a := chromiumRSS(browserPID)
		peakRenderer, peakAll = max(peakRenderer, r), max(peakAll, a)
		if eval[bool](t, ctx, `window.__bench !== undefined && window.__bench.done`) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the benchmark page did not finish in 20 minutes")
		}
		time.Sleep(250 * time.Millisecond)
	}
	res := eval[benchResult](t, ctx, `window.__bench`)
	if res.Error != "" {
		t.Fatalf("%s: %s", name, res.Error)
	}
	t.Logf("%s (%.1f MB), %s frames, backend=%s: %s", name, float64(res.ModelBytes)/1e6, res.Frame, backend, res.BackendText)
	if res.Backend.Batch > 1 {
		t.Logf("  frame workers take up to %d frames per call; %.1f MB of weights on the GPU each", res.Backend.Batch, res.Backend.GPUBytes/1e6)
	}
	for _, r := range res.Runs {
		t.Logf("  %d worker(s): %.2f frames/s (%d frames in %.0f ms), %.1f ms per frame in a worker", r.Workers, r.FPS, r.Frames, r.WallMs, r.MsPerFrame)
	}
	t.Logf("  query of %d tokens (start and end included): %.1f ms from text to ranked scores (embed %.1f ms, rank %.2f ms)", res.Query.Tokens, res.Query.Ms, res.Query.EmbedMs, res.Query.RankMs)
	mem := make([]string, len(res.Memory))
	for i, b := range res.Memory {
		mem[i] = fmt.Sprintf("%s %.0f MB", res.MemoryWorkers[i], b/1e6)
		if i < len(res.GoHeap) {
			mem[i] += fmt.Sprintf(" (Go heap in use %.0f MB)", res.GoHeap[i]/1e6)
		}
	}
	t.Logf("  wasm memory per worker: %s; peak PSS: renderer %.0f MB, all Chromium %.0f MB", strings.Join(mem, ", "), float64(peakRenderer)/1e6, float64(peakAll)/1e6)
	return res
}

// randomViTB32 writes (once per machine, in the temp directory) a
// random-weight CLIP ViT-B/32 model file in dtype with CLIP's vocabulary
// from the fixtures, or skips without them.
func randomViTB32(t *testing.T, dt quant.DType) string {
	path := filepath.Join(os.TempDir(), "clip4clip-bench", "vitb32-random-"+dt.String()+".c4c")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	vocab := filepath.Join(fixtures, "bpe_simple_vocab_16e6.txt.gz")
	f, err := os.Open(vocab)
	if err != nil {
		testenv.Fixtures(t, fixtures)
		testenv.Missing(t, "no CLIP vocabulary for the random ViT-B/32 (%v); give CLIP4CLIP_BENCH_MODELS", err)
	}
	defer f.Close()
	m, err := model.Random(model.ViTB32(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Tokenizer, err = bpe.FromCLIPMerges(f); err != nil {
		t.Fatal(err)
	}
	m.Meta = map[string]string{"source": "random ViT-B/32 (benchmark)"}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := m.SaveFile(tmp, dt, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}
