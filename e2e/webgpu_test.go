//go:build !js

package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
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
