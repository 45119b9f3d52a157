//go:build !js

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clip4clip/model"
)

// TestWorkersLoadTheirPart: the app's query worker holds the model's text
// side and its frame workers the vision tower, which together are the
// whole model's weights; the model's identity is still the SHA-256 of the
// file, hashed as it streams past; and each worker's WebAssembly memory
// stays near the weights it holds. (CLIP4CLIP_MEASURE=1 go test -run
// Measure ./e2e/ gives the figures for a ViT-B/32.)
func TestWorkersLoadTheirPart(t *testing.T) {
	chromium(t)
	path := bundledModel(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := model.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)

	base, _ := startServer(t, siteWithDefault(t, path))
	bctx, cancel := browser(t)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"?workers=2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the default model", `(() => { const s = window.__clip4clip && window.__clip4clip.state(); return s && s.ready; })()`, 60*time.Second)

	type info struct {
		Part        string
		WeightBytes int
	}
	st := eval[struct {
		Model struct {
			ID   string
			Info info
		}
		FrameModel info
		Workers    int
	}](t, ctx, `window.__clip4clip.state()`)
	if st.Model.ID != hex.EncodeToString(sum[:]) {
		t.Errorf("model id %s, want the file's SHA-256 %x", st.Model.ID, sum)
	}
	if st.Model.Info.Part != "text" || st.FrameModel.Part != "vision" {
		t.Errorf("the query worker holds part %q, the frame workers %q; want text and vision", st.Model.Info.Part, st.FrameModel.Part)
	}
	if got, want := st.Model.Info.WeightBytes+st.FrameModel.WeightBytes, whole.WeightBytes(); got != want {
		t.Errorf("the parts' weights: %d + %d bytes = %d, the whole model's %d", st.Model.Info.WeightBytes, st.FrameModel.WeightBytes, got, want)
	}

	mem := eval[struct{ Wasm []float64 }](t, ctx, `window.__clip4clip.memory()`)
	if len(mem.Wasm) != 1+st.Workers || st.Workers != 2 {
		t.Fatalf("wasm memory of %d workers for %d frame workers and the query worker", len(mem.Wasm), st.Workers)
	}
	// The Go runtime and the binary take about 10 MB; loading must not
	// leave the heap at twice the weights.
	const slack = 32 << 20
	for i, b := range mem.Wasm {
		w := st.FrameModel.WeightBytes
		if i == 0 {
			w = st.Model.Info.WeightBytes
		}
		if b > float64(w+slack) {
			t.Errorf("worker %d: %.1f MB of wasm memory for %.1f MB of weights", i, b/1e6, float64(w)/1e6)
		}
		t.Logf("worker %d: %.1f MB of wasm memory for %.1f MB of weights", i, b/1e6, float64(w)/1e6)
	}
}
