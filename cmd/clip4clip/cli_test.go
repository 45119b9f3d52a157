package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"clip4clip/internal/npy"
	"clip4clip/internal/testenv"
	"github.com/stretchr/testify/require"
)

const fixtures = "../../../shared/fixtures"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clip4clip-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "clip4clip")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("building the CLI: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func fixture(t *testing.T, rel string) string {
	t.Helper()
	abs, _ := filepath.Abs(testenv.Fixture(t, fixtures, rel))
	return abs
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stderr.String(), err
	}
	return stdout.String(), nil
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	require.NoError(t, err, "clip4clip %s: %s", strings.Join(args, " "), out)
	return out
}

// convertModel converts the fixture CLIP (plus head checkpoints) into a
// model file in a temp dir.
func convertModel(t *testing.T, dtype string, ins ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "m.c4c")
	args := []string{"convert", "-out", out, "-dtype", dtype, "-vocab", fixture(t, "bpe_simple_vocab_16e6.txt.gz")}
	for _, in := range ins {
		args = append(args, "-in", in)
	}
	mustRun(t, args...)
	return out
}

func requireMatrix(t *testing.T, name string, want []float32, got [][]float64, atol float64) {
	t.Helper()
	var flat []float64
	for _, r := range got {
		flat = append(flat, r...)
	}
	require.Len(t, flat, len(want), name)
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(want[i])-flat[i]))
	}
	require.LessOrEqual(t, worst, atol, "%s: max |diff| %g", name, worst)
	t.Logf("%s: max |diff| %.3g", name, worst)
}

func readNpy(t *testing.T, rel string) []float32 {
	a, err := npy.ReadFile(fixture(t, rel))
	require.NoError(t, err)
	v, err := a.Float32()
	require.NoError(t, err)
	return v
}

func TestConvertAndEmbed(t *testing.T) {
	for _, src := range []string{"clip/clip_tiny_openai.pt", "hf"} {
		m := convertModel(t, "f32", fixture(t, src))
		out := mustRun(t, "embed", "-model", m, "-pixels", fixture(t, "preprocess/pixel_values.npy"), "-texts", fixture(t, "clip/captions.json"))
		var res struct {
			Image [][]float64 `json:"image_features"`
			Text  [][]float64 `json:"text_features"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		requireMatrix(t, src+" image_features", readNpy(t, "clip/image_features.npy"), res.Image, 1e-4)
		requireMatrix(t, src+" text_features", readNpy(t, "clip/text_features.npy"), res.Text, 1e-4)
	}
}

// TestEmbedImages runs the Go preprocessing on the fixture PNGs.
func TestEmbedImages(t *testing.T) {
	m := convertModel(t, "f16", fixture(t, "clip/clip_tiny_openai.pt"))
	dir := fixture(t, "preprocess")
	out := mustRun(t, "embed", "-model", m, "-images",
		filepath.Join(dir, "image_0_portrait_300x422.png"), filepath.Join(dir, "image_1_landscape_512x289.png"), filepath.Join(dir, "image_2_small_100x80.png"))
	var res struct {
		Image [][]float64 `json:"image_features"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	requireMatrix(t, "image_features from PNGs", readNpy(t, "clip/image_features.npy"), res.Image, 1e-4)
}

func TestTokenize(t *testing.T) {
	m := convertModel(t, "int8", fixture(t, "clip/clip_tiny_openai.pt"))
	b, err := os.ReadFile(fixture(t, "tokenizer/cases.json"))
	require.NoError(t, err)
	var cases []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	var wrapped struct {
		Cases json.RawMessage `json:"cases"`
	}
	if json.Unmarshal(b, &wrapped) == nil && wrapped.Cases != nil {
		b = wrapped.Cases
	}
	require.NoError(t, json.Unmarshal(b, &cases))
	args := []string{"tokenize", "-model", m, "-context", "1000"}
	for _, c := range cases {
		args = append(args, c.Text)
	}
	out := mustRun(t, args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(cases))
	for i, line := range lines {
		var got struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &got))
		require.Equal(t, cases[i].Text, got.Text)
		require.Equal(t, cases[i].IDs, got.IDs, "case %d %q", i, cases[i].Text)
	}
}

func TestScoreHeads(t *testing.T) {
	base := fixture(t, "clip/clip_tiny_openai.pt")
	for _, h := range []string{"meanP", "seqLSTM", "seqTransf", "tightTransf", "meanP_3d"} {
		ins := []string{base}
		if h != "meanP" {
			ins = append(ins, fixture(t, "clip4clip/"+h+"/pytorch_model.bin"))
		}
		m := convertModel(t, "f32", ins...)
		out := mustRun(t, "score", "-model", m, "-frames", fixture(t, "clip4clip/video_frames_uint8.npy"),
			"-video-mask", fixture(t, "clip4clip/video_mask.npy"), "-texts", fixture(t, "clip4clip/captions.json"))
		var res struct {
			Logits [][]float64 `json:"logits"`
			Loss   float64     `json:"loss"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		atol := 1e-4
		if h == "tightTransf" {
			atol = 1e-6
		}
		requireMatrix(t, h+" logits", readNpy(t, "clip4clip/"+h+"/retrieve_logits.npy"), res.Logits, atol)
		var want struct {
			Loss float64 `json:"loss"`
		}
		b, _ := os.ReadFile(fixture(t, "clip4clip/"+h+"/result.json"))
		require.NoError(t, json.Unmarshal(b, &want))
		require.InDelta(t, want.Loss, res.Loss, 1e-4, h+" loss")
	}
}

func TestScoreErrors(t *testing.T) {
	m := convertModel(t, "f16", fixture(t, "clip/clip_tiny_openai.pt"))
	frames, mask, texts := fixture(t, "clip4clip/video_frames_uint8.npy"), fixture(t, "clip4clip/video_mask.npy"), fixture(t, "clip4clip/captions.json")
	out, err := run(t, "score", "-model", m, "-head", "seqTransf", "-frames", frames, "-video-mask", mask, "-texts", texts)
	require.Error(t, err)
	require.Contains(t, out, "carries meanP")
	out, err = run(t, "score", "-model", m, "-frames", frames, "-video-mask", fixture(t, "clip4clip/input_ids.npy"), "-texts", texts)
	require.Error(t, err)
	require.Contains(t, out, "want (4, 6)")
	out, err = run(t, "score", "-model", m, "-frames", fixture(t, "preprocess/resized_cropped_uint8.npy"), "-video-mask", mask, "-texts", texts)
	require.Error(t, err)
	require.Contains(t, out, "want uint8 (B, T, 224, 224, 3)")
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	vocab := fixture(t, "bpe_simple_vocab_16e6.txt.gz")
	bad := filepath.Join(dir, "bad.pt")
	require.NoError(t, os.WriteFile(bad, []byte("not a zip at all"), 0o644))
	out, err := run(t, "convert", "-in", bad, "-out", filepath.Join(dir, "x"), "-vocab", vocab)
	require.Error(t, err)
	require.Contains(t, out, "bad.pt")
	// a head checkpoint alone lacks the CLIP backbone
	out, err = run(t, "convert", "-in", fixture(t, "clip4clip/seqTransf/pytorch_model.bin"), "-out", filepath.Join(dir, "x"), "-vocab", vocab)
	require.Error(t, err)
	require.Contains(t, out, "visual.conv1.weight")
	out, err = run(t, "convert", "-in", fixture(t, "clip/clip_tiny_openai.pt"), "-out", filepath.Join(dir, "x"))
	require.Error(t, err)
	require.Contains(t, out, "-vocab")
	_, err = os.Stat(filepath.Join(dir, "x"))
	require.True(t, os.IsNotExist(err), "a failed convert leaves no file")
	// a model file that is not one
	out, err = run(t, "embed", "-model", bad, "-text", "a dog")
	require.Error(t, err)
	require.Contains(t, out, "not a clip4clip model file")
}

func TestEval(t *testing.T) {
	dir := t.TempDir()
	sim := filepath.Join(dir, "sim.npy")
	f, err := os.Create(sim)
	require.NoError(t, err)
	// captions 0 and 1 find their video first, caption 2 finds it third
	require.NoError(t, npy.WriteFloat32(f, []int{3, 3}, []float32{
		0.9, 0.1, 0.2,
		0.3, 0.8, 0.1,
		0.7, 0.6, 0.5,
	}))
	f.Close()
	out := mustRun(t, "eval", "-sim", sim, "-json")
	var res struct {
		T2V struct{ R1, MedianR, MeanR float64 } `json:"text_to_video"`
		V2T struct{ R1 float64 }                 `json:"video_to_text"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.InDelta(t, 200.0/3, res.T2V.R1, 1e-9)
	require.InDelta(t, 1, res.T2V.MedianR, 1e-9)
	require.InDelta(t, (1+1+3)/3.0, res.T2V.MeanR, 1e-9)
	// columns: video 0 ranks caption 0 first (0.9 > 0.7), video 1 caption 1, video 2 caption 2 (0.5 > 0.2, 0.1)
	require.InDelta(t, 100, res.V2T.R1, 1e-9)
	table := mustRun(t, "eval", "-sim", sim)
	require.Contains(t, table, "text-to-video")
}

// TestEvalData embeds a dataset directory (the fixture clips as folders of
// PNG frames) and checks the metrics against those of the reference logits.
func TestEvalData(t *testing.T) {
	m := convertModel(t, "f32", fixture(t, "clip/clip_tiny_openai.pt"))
	a, err := npy.ReadFile(fixture(t, "clip4clip/video_frames_uint8.npy"))
	require.NoError(t, err)
	pix, err := a.Uint8()
	require.NoError(t, err)
	ma, err := npy.ReadFile(fixture(t, "clip4clip/video_mask.npy"))
	require.NoError(t, err)
	mask, err := ma.Int64()
	require.NoError(t, err)
	var caps []string
	b, _ := os.ReadFile(fixture(t, "clip4clip/captions.json"))
	require.NoError(t, json.Unmarshal(b, &caps))
	dir := t.TempDir()
	nv, nf, res := a.Shape[0], a.Shape[1], a.Shape[2]
	var pairs []map[string]string
	for v := 0; v < nv; v++ {
		name := fmt.Sprintf("clip%d", v)
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		for s := 0; s < nf; s++ {
			if mask[v*nf+s] == 0 {
				continue
			}
			img := image.NewNRGBA(image.Rect(0, 0, res, res))
			src := pix[(v*nf+s)*res*res*3:]
			for i := 0; i < res*res; i++ {
				copy(img.Pix[4*i:4*i+3], src[3*i:3*i+3])
				img.Pix[4*i+3] = 255
			}
			f, err := os.Create(filepath.Join(dir, name, fmt.Sprintf("%03d.png", s)))
			require.NoError(t, err)
			require.NoError(t, png.Encode(f, img))
			f.Close()
		}
		pairs = append(pairs, map[string]string{"video": name, "caption": caps[v]})
	}
	js, _ := json.Marshal(pairs)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "captions.json"), js, 0o644))
	got := mustRun(t, "eval", "-model", m, "-data", dir, "-json")

	sim := filepath.Join(t.TempDir(), "sim.npy")
	f, err := os.Create(sim)
	require.NoError(t, err)
	require.NoError(t, npy.WriteFloat32(f, []int{nv, nv}, readNpy(t, "clip4clip/meanP/retrieve_logits.npy")))
	f.Close()
	want := mustRun(t, "eval", "-sim", sim, "-json")
	require.JSONEq(t, want, got)
	t.Logf("metrics: %s", got)
}

// TestEvalSynth runs eval on clips of the synthetic world drawn on the fly,
// with the temporal-order pairs (the fixture CLIP is random, so only the
// shape of the output is checked here; the default model's figures are
// checked in weights/).
func TestEvalSynth(t *testing.T) {
	m := convertModel(t, "f16", fixture(t, "clip/clip_tiny_openai.pt"))
	out := mustRun(t, "eval", "-model", m, "-data", "synth:5:4", "-order", "2", "-json")
	var res struct {
		N     int                `json:"n"`
		Order map[string]float64 `json:"temporal_order"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, 4, res.N)
	require.Contains(t, res.Order, "meanP")
	_, err := run(t, "eval", "-model", m, "-data", "synth:x:4")
	require.Error(t, err)

	// Moment search over long videos, alone.
	out = mustRun(t, "eval", "-model", m, "-moments", "2", "-moments-length", "20", "-json")
	var mres struct{ Moments momentResult }
	require.NoError(t, json.Unmarshal([]byte(out), &mres))
	r := mres.Moments
	require.Equal(t, 2, r.Videos)
	require.Greater(t, r.Events, 4)
	require.True(t, r.Found >= 0 && r.Found <= 1, "found %v", r.Found)
	// A 4 s moment of a 20 s video with events about 3 s apart overlaps
	// an event's time now and then, never always.
	require.True(t, r.Chance > 0.05 && r.Chance < 0.6, "chance %v", r.Chance)
	msg, err := run(t, "eval", "-model", m, "-moments", "1", "-moments-length", "5")
	require.Error(t, err)
	require.Contains(t, msg, "-moments-length 5")
}

// TestDefaultModelFigures measures the shipped model (weights/default.c4c)
// against the targets, on data of seeds never used in training
// (training used 1, its progress evaluation 1000):
//
//   - 1,000 held-out clips (seed 2000): text-to-video R@1 >= 60% with
//     median rank 1 (measured: 61.0%, R@5 93.4%);
//   - 100 temporal-order pairs (seed 3000): seqTransf picks the right clip
//     for >= 80% of the captions (measured: 80.5%; meanP 57.5%), and for the
//     same pairs cut and swapped, where meanP ties by construction (50.0%),
//     seqTransf 80.0%;
//   - moment search in 50 long videos (seeds 9000 on), the demo videos'
//     figure over 929 events: 77.0% (a random moment: 11.6%).
//
// The floors asserted sit a little under the measured figures where those
// are at the target, so that a kernel change moving a caption or two
// across does not fail the test while a broken model or head does.
func TestDefaultModelFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the default model's evaluation embeds 14,000 frames")
	}
	out := mustRun(t, "eval", "-model", "default", "-data", "synth:2000:1000", "-order", "100", "-moments", "50", "-json")
	var res struct {
		T2V     struct{ R1, R5, MedianR float64 } `json:"text_to_video"`
		V2T     struct{ R1, MedianR float64 }     `json:"video_to_text"`
		Order   map[string]float64                `json:"temporal_order"`
		Cut     map[string]float64                `json:"temporal_order_cut"`
		Moments momentResult                      `json:"moments"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	t.Logf("default model, 1,000 held-out clips: text-to-video R@1 %.1f R@5 %.1f MdR %.0f; video-to-text R@1 %.1f MdR %.0f (issue target: t2v R@1 >= 60, MdR 1)",
		res.T2V.R1, res.T2V.R5, res.T2V.MedianR, res.V2T.R1, res.V2T.MedianR)
	t.Logf("temporal order, 200 captions: %v; cut and swapped: %v (issue target: seqTransf >= 0.8)", res.Order, res.Cut)
	t.Logf("moment search: %+v", res.Moments)
	require.GreaterOrEqual(t, res.T2V.R1, 60.0)
	require.LessOrEqual(t, res.T2V.MedianR, 1.0)
	require.GreaterOrEqual(t, res.T2V.R5, 90.0)
	require.Contains(t, res.Order, "seqTransf")
	require.GreaterOrEqual(t, res.Order["seqTransf"], 0.78)
	require.GreaterOrEqual(t, res.Cut["seqTransf"], 0.75)
	require.Equal(t, 0.5, res.Cut["meanP"], "meanP pools the same frames alike in any order")
	require.Equal(t, 929, res.Moments.Events)
	require.GreaterOrEqual(t, res.Moments.Found, 0.72)
}
