//go:build !js

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clip4clip/internal/serve"
	"clip4clip/internal/testenv"
	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

// fixtures is the shared reference data, beside the repository.
const fixtures = "../../shared/fixtures"

// chromium finds Debian's Chromium (or another Chrome, or $CHROMIUM) or
// reports it missing (testenv.Missing).
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium is not installed (apt-get install -y chromium, or set CHROMIUM); the browser tests need it")
	return ""
}

// ffmpeg finds ffmpeg or reports it missing (testenv.Missing).
func ffmpeg(t testing.TB) string {
	t.Helper()
	return testenv.Command(t, "ffmpeg", "apt-get install -y ffmpeg: the browser tests make their videos with it")
}

// TestMain removes the assembled app after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if site.tmp != "" {
		os.RemoveAll(site.tmp)
	}
	os.Exit(code)
}

var site struct {
	once  sync.Once
	tmp   string // removed at the end
	dir   string // the app without a default model
	model string // the default model build.sh bundled, or ""
	err   error
}

// buildSite assembles the app once per test binary with build.sh. The
// default model build.sh bundles (weights/default.c4c) is moved out of the
// site, so that the tests start without one; siteWithDefault puts a model
// back.
func buildSite(t testing.TB) string {
	site.once.Do(func() {
		site.tmp, site.err = os.MkdirTemp("", "clip4clip-site-")
		if site.err != nil {
			return
		}
		site.dir = filepath.Join(site.tmp, "site")
		cmd := exec.Command("bash", "../build.sh", site.dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			site.err = fmt.Errorf("build.sh: %v\n%s", err, out)
			return
		}
		bundled := filepath.Join(site.dir, "models", "default.c4c")
		if _, err := os.Stat(bundled); err == nil {
			site.model = filepath.Join(site.tmp, "default.c4c")
			if site.err = os.Rename(bundled, site.model); site.err != nil {
				return
			}
			site.err = os.Remove(filepath.Dir(bundled))
		}
	})
	if site.err != nil {
		t.Fatal(site.err)
	}
	return site.dir
}

// bundledModel is the default model build.sh put in the site
// (weights/default.c4c); without it the test fails (testenv.Missing): it
// is committed, so its absence is a broken checkout.
func bundledModel(t testing.TB) string {
	t.Helper()
	repoDefaultModel(t)
	buildSite(t)
	if site.model == "" {
		t.Fatal("build.sh did not bundle weights/default.c4c as models/default.c4c")
	}
	return site.model
}

// siteWithDefault copies the app into a temporary directory with model as
// its default model (models/default.c4c).
func siteWithDefault(t testing.TB, model string) string {
	dir := filepath.Join(t.TempDir(), "site")
	if b, err := exec.Command("cp", "-R", buildSite(t), dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the site: %v\n%s", err, b)
	}
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("cp", model, filepath.Join(dir, "models", "default.c4c")).CombinedOutput(); err != nil {
		t.Fatalf("copying the model: %v\n%s", err, b)
	}
	return dir
}

// tinyModel converts the fixture tiny CLIP to a model file in dir, as
// `clip4clip convert -dtype f16` does, or reports the fixtures missing.
func tinyModel(t testing.TB, dir string) string {
	t.Helper()
	pt := testenv.Fixture(t, fixtures, filepath.Join("clip", "clip_tiny_openai.pt"))
	vocab := testenv.Fixture(t, fixtures, "bpe_simple_vocab_16e6.txt.gz")
	sd, err := weights.ReadTorchFile(pt)
	if err != nil {
		t.Fatal(err)
	}
	cfg, sd, err := model.Canonical(sd, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, sd)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(vocab)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m.Tokenizer, err = bpe.FromCLIPMerges(f); err != nil {
		t.Fatal(err)
	}
	m.Meta = map[string]string{"source": "clip_tiny_openai.pt", "dtype": "f16", "converted_by": "clip4clip e2e test"}
	out := filepath.Join(dir, "tiny.c4c")
	if err := m.SaveFile(out, quant.F16, 0); err != nil {
		t.Fatal(err)
	}
	return out
}

// frameImage is frame k of a test video: a background hue that turns with
// k, a white square that moves, and a gradient band, so that frames differ
// and resizing has edges to work on.
func frameImage(k, w, h int, hue0 float64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r, g, b := hsv(math.Mod(hue0+float64(k)*47, 360), 0.8, 0.9)
	sq := h / 3
	sx, sy := (k*37)%(w-sq), (k*23)%(h-sq)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{r, g, b, 255}
			if x >= sx && x < sx+sq && y >= sy && y < sy+sq {
				c = color.NRGBA{250, 250, 250, 255}
			} else if y > h*5/6 {
				v := uint8(255 * x / w)
				c = color.NRGBA{v, 255 - v, uint8(k * 20), 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func hsv(h, s, v float64) (uint8, uint8, uint8) {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	return uint8(255 * (r + m)), uint8(255 * (g + m)), uint8(255 * (b + m))
}

// makeVideo encodes n frames at fps as a VP9 WebM of w x h with ffmpeg.
func makeVideo(t testing.TB, dir, name string, n, fps, w, h int, hue0 float64) string {
	ff := ffmpeg(t)
	frames := filepath.Join(dir, name+"-src")
	if err := os.MkdirAll(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < n; k++ {
		writePNG(t, filepath.Join(frames, fmt.Sprintf("%03d.png", k)), frameImage(k, w, h, hue0))
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(ff, "-v", "error", "-y", "-framerate", fmt.Sprint(fps), "-i", filepath.Join(frames, "%03d.png"),
		"-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", "18", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// decodeFrames decodes every frame of a video with ffmpeg to RGBA.
func decodeFrames(t testing.TB, video, dir string) []*image.NRGBA {
	ff := ffmpeg(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ff, "-v", "error", "-y", "-i", video, "-fps_mode", "passthrough", "-pix_fmt", "rgba", filepath.Join(dir, "%03d.png"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	var out []*image.NRGBA
	for k := 1; ; k++ {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%03d.png", k)))
		if err != nil {
			break
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		n := image.NewNRGBA(img.Bounds())
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				n.Set(x, y, img.At(x, y))
			}
		}
		out = append(out, n)
	}
	return out
}

func writePNG(t testing.TB, path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// startServer serves dir on 127.0.0.1 at a random port with the app's
// server and returns its base URL and a func that stops it (to go
// offline).
func startServer(t testing.TB, dir string) (string, func()) {
	h, err := serve.New(dir, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			h.Close()
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String() + "/", stop
}

// browser starts headless Chromium with a fresh profile; the returned
// context drives one tab. Page console errors and exceptions are logged.
func browser(t testing.TB, extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("starting %s: %v", exe, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				t.Logf("page %s", m)
			}
		}
	}()
	return ctx, func() {
		cancelCtx()
		cancelAlloc()
		<-done
	}
}

// eval runs a JS expression (awaiting a promise) and decodes its value.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JS expression until it is truthy.
func waitFor(t testing.TB, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({state: window.__clip4clip && __clip4clip.state(), messages: [...document.querySelectorAll('.message')].map(m => m.textContent), status: document.querySelector('#model-status') && document.querySelector('#model-status').textContent})`))
		t.Fatalf("waiting for %s (%s): %v\npage: %s", what, expr, err, state)
	}
}

// float32s decodes base64 little-endian float32s.
func float32s(t testing.TB, b64 string) []float32 {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// screenshot writes a full-page PNG of the tab to testdata/out/name and
// logs where.
func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("testdata", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := filepath.Abs(filepath.Join(out, name))
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// runner runs chromedp actions in a tab, failing the test with what on an
// error.
type runner func(what string, actions ...chromedp.Action[chromedp.Void])

func runIn(t testing.TB, ctx context.Context) runner {
	return func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// openApp serves the app with its bundled default model (siteWithDefault,
// startServer), opens it in a fresh headless Chromium tab after the
// actions before (a viewport, say) and waits until the default model is
// ready. It returns the tab's context, which ends after timeout or with
// the test, and a runner of actions in it.
func openApp(t testing.TB, timeout time.Duration, before ...chromedp.Action[chromedp.Void]) (context.Context, runner) {
	t.Helper()
	base, _ := startServer(t, siteWithDefault(t, bundledModel(t)))
	bctx, cancel := browser(t)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancelT)
	run := runIn(t, ctx)
	run("open the app", append(before, chromedp.Navigate(base))...)
	waitFor(t, ctx, "the default model", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready && s.model.source === 'default'; })()`, 60*time.Second)
	return ctx, run
}
