package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"clip4clip/model"
	"clip4clip/quant"
	"clip4clip/synth"
)

// TestTrainCLI trains a tiny model on `clip4clip synth` clips, checks the
// model file (meta, tokenizer, evaluation with `clip4clip eval`) and that a
// run resumed from its checkpoint ends with the same weights.
func TestTrainCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mustRun(t, "synth", "-o", data, "-n", "8", "-res", "16", "-frames", "3")
	out := filepath.Join(dir, "m.c4c")
	args := []string{"train", "-data", data, "-learn-merges", "40", "-o", out, "-config", "tiny", "-res", "16", "-patch", "8",
		"-head", "seqTransf", "-head-layers", "1", "-batch", "4", "-steps", "4", "-frames", "3", "-lr", "1e-3",
		"-eval", data, "-eval-every", "2", "-checkpoint-every", "2", "-log-every", "1", "-seed", "7"}
	log, err := run(t, args...)
	if err != nil {
		t.Fatalf("clip4clip train: %v\n%s", err, log)
	}
	m, err := model.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Head.Type != model.SeqTransf || m.Config.Vision.Resolution != 16 || m.Tokenizer == nil {
		t.Fatalf("trained model: head %s, resolution %d, tokenizer %v", m.Config.Head.Type, m.Config.Vision.Resolution, m.Tokenizer != nil)
	}
	for _, k := range []string{"command", "seed", "git_commit", "step"} {
		if m.Meta[k] == "" {
			t.Errorf("meta %q missing: %v", k, m.Meta)
		}
	}
	if m.Meta["seed"] != "7" || m.Meta["step"] != "4" || !strings.Contains(m.Meta["command"], "train") {
		t.Errorf("meta %v", m.Meta)
	}
	if ev := mustRun(t, "eval", "-model", out, "-data", data, "-max-frames", "3"); !strings.Contains(ev, "text-to-video") {
		t.Errorf("eval of the trained model:\n%s", ev)
	}

	// The checkpoint of step 2, resumed, ends where the straight run did.
	resumed := filepath.Join(dir, "r.c4c")
	rargs := append(slices.Clone(args), "-resume", "-checkpoint", out+".ckpt")
	rargs[slices.Index(rargs, out)] = resumed
	log, err = run(t, rargs...)
	if err != nil {
		t.Fatalf("clip4clip train -resume: %v\n%s", err, log)
	}
	r, err := model.LoadFile(resumed)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.StateDict(quant.F32, 0)
	b, _ := r.StateDict(quant.F32, 0)
	for _, name := range a.Order {
		if !slices.Equal(a.Tensors[name].Data, b.Tensors[name].Data) {
			t.Fatalf("%s differs between the straight and the resumed run", name)
		}
	}

	// Resuming with other settings is refused.
	bad := append(slices.Clone(rargs), "-lr", "5e-4")
	if msg, err := run(t, bad...); err == nil || !strings.Contains(msg, "same flags") {
		t.Fatalf("resume with another -lr: %v\n%s", err, msg)
	}
}

func TestSynthDataPairs(t *testing.T) {
	d, err := parseSynthData("synth:5:7", 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.withPairs(0.2, 0.1, 0.2, 3); err != nil {
		t.Fatal(err)
	}
	// 7 plain clips are half of a set of 14: order pairs 2*round(0.2*14/2)
	// = 2*1 clips, cut pairs 2*round(0.1*14/2) = 2*1, window pairs
	// 2*round(0.2*14/2) = 2*1.
	if d.Len() != 13 {
		t.Fatalf("Len %d, want 13", d.Len())
	}
	if _, ok := d.Partner(6); ok {
		t.Fatal("clip 6 (a plain clip) has a partner")
	}
	for i, want := range map[int]int{7: 8, 8: 7, 9: 10, 10: 9, 11: 12, 12: 11} {
		if j, ok := d.Partner(i); !ok || j != want {
			t.Fatalf("Partner(%d) = %d, %v; want %d", i, j, ok, want)
		}
	}
	pair := synth.OrderPairAt(5, 0, synth.Options{Frames: 4, Resolution: 16})
	cut := synth.CutPairAt(5, 1, synth.Options{Frames: 4, Resolution: 16}) // after the order pairs'
	window := synth.WindowPairAt(5, 0, synth.Options{Frames: 3, Resolution: 16})
	for k := 0; k < 2; k++ {
		for _, c := range []struct {
			i    int
			want synth.Clip
		}{{7 + k, pair[k]}, {9 + k, cut[k]}, {11 + k, window[k]}} {
			frames, caption, err := d.Clip(c.i)
			if err != nil {
				t.Fatal(err)
			}
			if caption != c.want.Caption || len(frames) != len(c.want.Frames) {
				t.Fatalf("clip %d: %q with %d frames, want %s's %q with %d", c.i, caption, len(frames), c.want.ID, c.want.Caption, len(c.want.Frames))
			}
		}
	}
	for _, f := range [][3]float64{{1, 0, 0}, {0.5, 0, 0.5}, {0.4, 0.4, 0.2}, {-0.1, 0, 0}, {0, -0.1, 0}, {0, 0, -0.1}} {
		if err := d.withPairs(f[0], f[1], f[2], 4); err == nil {
			t.Errorf("-order-frac %g -cut-frac %g -window-frac %g accepted", f[0], f[1], f[2])
		}
	}
	if err := d.withPairs(0, 0, 0.2, 0); err == nil {
		t.Error("-window-frames 0 accepted")
	}
}
