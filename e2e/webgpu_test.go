//go:build !js

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
