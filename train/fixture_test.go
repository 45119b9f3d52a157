package train

import (
	"encoding/json"
	"os"
	"sync"
	"testing"

	"clip4clip/internal/npy"
	"clip4clip/internal/testenv"
	"clip4clip/model"
	"clip4clip/model/preprocess"
	"clip4clip/weights"
)

// fixtures is where CI puts the reference outputs of the original PyTorch
// code: ../shared/fixtures beside the checkout.
const fixtures = "../../shared/fixtures"

func fixture(t testing.TB, rel string) string {
	t.Helper()
	return testenv.Fixture(t, fixtures, rel)
}

func loadNpy(t testing.TB, rel string) (*npy.Array, []float32) {
	t.Helper()
	a, err := npy.ReadFile(fixture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return a, v
}

func loadInts(t testing.TB, rel string) (*npy.Array, []int) {
	t.Helper()
	a, err := npy.ReadFile(fixture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Int64()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return a, out
}

var tinyOnce struct {
	sync.Once
	m   *model.CLIP
	err error
}

// tinyModel is the fixture CLIP, read once per test binary.
func tinyModel(t testing.TB) *model.CLIP {
	t.Helper()
	path := fixture(t, "clip/clip_tiny_openai.pt")
	tinyOnce.Do(func() {
		sd, err := weights.ReadTorchFile(path)
		if err != nil {
			tinyOnce.err = err
			return
		}
		cfg, csd, err := model.Canonical(sd, nil)
		if err != nil {
			tinyOnce.err = err
			return
		}
		tinyOnce.m, tinyOnce.err = model.New(cfg, csd)
	})
	if tinyOnce.err != nil {
		t.Fatal(tinyOnce.err)
	}
	return tinyOnce.m
}

// fixtureBatch is CLIP4Clip's fixture batch as the dataloader delivers it:
// input_ids, and the real frames of each video normalised from uint8.
func fixtureBatch(t testing.TB, res int) *Batch {
	t.Helper()
	a, pix8 := loadNpyU8(t, "clip4clip/video_frames_uint8.npy")
	_, m := loadInts(t, "clip4clip/video_mask.npy")
	ia, ids := loadInts(t, "clip4clip/input_ids.npy")
	nv, nf := a.Shape[0], a.Shape[1]
	if a.Shape[2] != res {
		t.Fatalf("frames of %d pixels, model of %d", a.Shape[2], res)
	}
	size := 3 * res * res
	b := &Batch{B: nv, F: nf, Mask: make([]bool, nv*nf), IDs: ids, L: ia.Shape[1]}
	for i := range b.Mask {
		b.Mask[i] = m[i] != 0
		if b.Mask[i] {
			f := make([]float32, size)
			preprocess.NormalizeHWC(f, pix8[i*size:(i+1)*size], res, res, 3)
			b.Frames = append(b.Frames, f...)
		}
	}
	return b
}

func loadNpyU8(t testing.TB, rel string) (*npy.Array, []uint8) {
	t.Helper()
	a, err := npy.ReadFile(fixture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Uint8()
	if err != nil {
		t.Fatal(err)
	}
	return a, v
}

// TestFixtureGradients runs the training forward and backward of CLIP4Clip
// meanP on the fixture batch and compares the loss and the gradients the
// original code computed (clip4clip/meanP/result.json, grad_*.npy).
func TestFixtureGradients(t *testing.T) {
	m := tinyModel(t)
	net, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	b := fixtureBatch(t, m.Config.Vision.Resolution)
	var res struct {
		Loss            float64 `json:"train_forward_loss"`
		LossTextToVideo float64 `json:"loss_text_to_video"`
		LossVideoToText float64 `json:"loss_video_to_text"`
		GradLogitScale  float64 `json:"grad_logit_scale"`
	}
	data, err := os.ReadFile(fixture(t, "clip4clip/meanP/result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	loss, err := net.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	_, wantLogits := loadNpy(t, "clip4clip/meanP/retrieve_logits.npy")
	requireClose(t, "logits", wantLogits, loss.Logits, 1e-4, 1e-4)
	for _, c := range []struct {
		name      string
		want, got float64
	}{{"loss", res.Loss, loss.Loss}, {"text-to-video", res.LossTextToVideo, loss.TextToVideo}, {"video-to-text", res.LossVideoToText, loss.VideoToText}} {
		t.Logf("%s: want %.7f got %.7f (diff %.2g)", c.name, c.want, c.got, c.got-c.want)
		if d := c.got - c.want; d > 5e-6 || d < -5e-6 {
			t.Errorf("%s: got %.7f, want %.7f", c.name, c.got, c.want)
		}
	}
	net.ZeroGrad()
	net.Backward()
	E := m.Config.EmbedDim
	for _, c := range []struct{ file, name string }{
		{"clip4clip/meanP/grad_text_projection.npy", "text_projection"},
		{"clip4clip/meanP/grad_visual_proj.npy", "visual.proj"},
	} {
		a, want := loadNpy(t, c.file)
		width := a.Shape[0]
		got := model.Transpose(net.Grads.Get(c.name), E, width) // (E, width) -> OpenAI's (width, E)
		t.Logf("%s: max |diff| %.3g (gradient scale %.3g); first got %v want %v", c.name, maxDiff(want, got), maxAbs(want), got[:3], want[:3])
		requireClose(t, c.name, want, got, 1e-5, 0)
	}
	gotLS := float64(net.Grads.Get("logit_scale")[0])
	t.Logf("logit_scale: want %.7f got %.7f (diff %.2g)", res.GradLogitScale, gotLS, gotLS-res.GradLogitScale)
	if d := gotLS - res.GradLogitScale; d > 1e-5 || d < -1e-5 {
		t.Errorf("grad logit_scale: got %.7f, want %.7f", gotLS, res.GradLogitScale)
	}
}

func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, float64(v), -float64(v))
	}
	return m
}
