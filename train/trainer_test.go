package train

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"clip4clip/model"
	"clip4clip/quant"
)

// colourClips is a toy dataset: n clips of flat colours with their names
// as captions, a few frames each, at resolution res.
func colourClips(t testing.TB, n, res int) *MemDataset {
	t.Helper()
	names := []string{"red", "green", "blue", "yellow", "purple", "cyan", "white", "black", "orange", "grey"}
	cols := []color.NRGBA{{220, 20, 20, 255}, {20, 200, 20, 255}, {20, 20, 220, 255}, {230, 230, 20, 255},
		{150, 20, 160, 255}, {20, 220, 220, 255}, {250, 250, 250, 255}, {5, 5, 5, 255}, {250, 140, 0, 255}, {128, 128, 128, 255}}
	d := &MemDataset{}
	for i := 0; i < n; i++ {
		var frames []image.Image
		for f := 0; f < 2+i%2; f++ {
			img := image.NewNRGBA(image.Rect(0, 0, res, res))
			for p := 0; p < res*res; p++ {
				c := cols[i]
				img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = c.R, c.G, c.B+uint8(3*f), 255
			}
			frames = append(frames, img)
		}
		if err := d.Add(frames, fmt.Sprintf("a %s square", names[i]), res); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func toyTrainer(t testing.TB, head string, data *MemDataset, opts Options) *Trainer {
	t.Helper()
	tok := testTokenizer(t, data.Captions)
	cfg := tinyConfig(head)
	cfg.Text.VocabSize = tok.VocabSize()
	net, err := New(cfg, opts.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(net, tok, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrainLearnsToyData trains the tiny model on eight coloured clips and
// checks that the loss falls and the inference engine then retrieves them.
func TestTrainLearnsToyData(t *testing.T) {
	for _, head := range []string{model.MeanP, model.SeqTransf} {
		t.Run(head, func(t *testing.T) {
			data := colourClips(t, 8, 8)
			opts := Options{Steps: 80, Batch: 8, LR: 3e-3, Warmup: 0.1, WeightDecay: 0.05, ClipNorm: 1, MaxFrames: 3, MaxWords: 8, Seed: 3}
			tr := toyTrainer(t, head, data, opts)
			var log bytes.Buffer
			tr.Log, tr.LogEvery, tr.Eval = &log, 20, data
			first, err := tr.Batch(0)
			if err != nil {
				t.Fatal(err)
			}
			l0, err := tr.Net.Forward(first)
			if err != nil {
				t.Fatal(err)
			}
			var res EvalResult
			tr.EvalHook = func(_ int, r EvalResult) { res = r }
			if err := tr.Run(); err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.4f -> %.4f; text-to-video R@1 %.1f MdR %.1f\n%s", l0.Loss, tr.Loss, res.TextToVideo.R1, res.TextToVideo.MedianR, log.String())
			if tr.Loss > 0.5*l0.Loss {
				t.Errorf("loss went from %.4f to %.4f; want at least halved", l0.Loss, tr.Loss)
			}
			if res.N != 8 || res.TextToVideo.R1 < 75 {
				t.Errorf("text-to-video R@1 %.1f over %d pairs after training; want >= 75", res.TextToVideo.R1, res.N)
			}
			if !strings.Contains(log.String(), "clips/s") || !strings.Contains(log.String(), "eval step 80") {
				t.Errorf("the log lacks progress or evaluation lines:\n%s", log.String())
			}
		})
	}
}

// TestResumeIsExact: a run checkpointed at step 3 and resumed ends with the
// same weights, bit for bit, as the run that went straight through.
func TestResumeIsExact(t *testing.T) {
	data := colourClips(t, 6, 8)
	opts := Options{Steps: 6, Batch: 4, LR: 3e-3, Warmup: 0.3, WeightDecay: 0.1, ClipNorm: 1, MaxFrames: 3, MaxWords: 8, Seed: 5}
	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	a := toyTrainer(t, model.SeqTransf, data, opts)
	a.CheckpointEvery, a.CheckpointPath = 3, ckpt
	if err := a.Run(); err != nil {
		t.Fatal(err)
	}
	b := toyTrainer(t, model.SeqTransf, data, opts)
	b.CheckpointPath = ckpt
	if err := b.Resume(); err != nil {
		t.Fatal(err)
	}
	if b.Step != 3 || b.Opt.Steps != 3 {
		t.Fatalf("resumed at step %d (optimiser %d), want 3", b.Step, b.Opt.Steps)
	}
	if err := b.Run(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Net.Params.Data, b.Net.Params.Data) || !slices.Equal(a.Opt.M, b.Opt.M) || !slices.Equal(a.Opt.V, b.Opt.V) {
		t.Fatalf("resumed run differs: max weight diff %g", maxDiff(a.Net.Params.Data, b.Net.Params.Data))
	}
	if a.Loss != b.Loss {
		t.Fatalf("last loss %v straight, %v resumed", a.Loss, b.Loss)
	}

	// Other settings are refused with the difference named.
	other := opts
	other.LR = 1e-3
	c := toyTrainer(t, model.SeqTransf, data, other)
	c.CheckpointPath = ckpt
	if err := c.Resume(); err == nil || !strings.Contains(err.Error(), "same flags") {
		t.Fatalf("resume with another learning rate: %v", err)
	}
}

func TestSavedModelLoads(t *testing.T) {
	data := colourClips(t, 4, 8)
	opts := Options{Steps: 2, Batch: 4, LR: 1e-3, Warmup: 0, MaxFrames: 3, MaxWords: 8, Seed: 1}
	tr := toyTrainer(t, model.MeanP, data, opts)
	tr.Meta = map[string]string{"command": "clip4clip train -test"}
	if err := tr.Run(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.c4c")
	if err := tr.Save(path, quant.F16); err != nil {
		t.Fatal(err)
	}
	m, err := model.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta["command"] != "clip4clip train -test" || m.Meta["step"] != "2" || m.Meta["dtype"] != "f16" {
		t.Fatalf("meta %v", m.Meta)
	}
	if m.Tokenizer == nil || m.Tokenizer.VocabSize() != tr.Tok.VocabSize() {
		t.Fatal("the model file lost its tokenizer")
	}
	r, err := Evaluate(m, data, 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 4 {
		t.Fatalf("evaluated %d pairs", r.N)
	}
}

func TestStop(t *testing.T) {
	data := colourClips(t, 4, 8)
	tr := toyTrainer(t, model.MeanP, data, Options{Steps: 10, Batch: 4, LR: 1e-3, MaxFrames: 3, MaxWords: 8, Seed: 1})
	tr.Stop = func() bool { return tr.Step == 3 }
	if err := tr.Run(); err != ErrStopped || tr.Step != 3 {
		t.Fatalf("Run: %v at step %d; want ErrStopped at step 3", err, tr.Step)
	}
}

// TestCheckpointLeavesNoTemp: a checkpoint whose state file cannot be
// written (its path is a directory) fails, naming the checkpoint, and
// leaves no temporary file beside it.
func TestCheckpointLeavesNoTemp(t *testing.T) {
	data := colourClips(t, 4, 8)
	opts := Options{Steps: 1, Batch: 4, LR: 1e-3, MaxFrames: 3, MaxWords: 8, Seed: 1}
	tr := toyTrainer(t, model.MeanP, data, opts)
	dir := t.TempDir()
	tr.CheckpointPath = filepath.Join(dir, "run.ckpt")
	if err := os.Mkdir(tr.CheckpointPath+".opt", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveCheckpoint(); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("checkpoint over a directory: %v", err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if want := []string{tr.CheckpointPath, tr.CheckpointPath + ".opt"}; !slices.Equal(names, want) {
		t.Fatalf("files after the failed checkpoint: %q, want %q", names, want)
	}
}
