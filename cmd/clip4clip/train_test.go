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

func TestSynthDataOrderPairs(t *testing.T) {
	d, err := parseSynthData("synth:5:7", 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.withOrderPairs(0.3); err != nil {
		t.Fatal(err)
	}
	// 0.3 of the set: 7 clips and 2*round(0.3*7/0.7/2) = 2*2 = 4 pair clips (4/11).
	if d.Len() != 11 {
		t.Fatalf("Len %d, want 11", d.Len())
	}
	if _, ok := d.Partner(6); ok {
		t.Fatal("clip 6 (a plain clip) has a partner")
	}
	for i, want := range map[int]int{7: 8, 8: 7, 9: 10, 10: 9} {
		if j, ok := d.Partner(i); !ok || j != want {
			t.Fatalf("Partner(%d) = %d, %v; want %d", i, j, ok, want)
		}
	}
	pair := synth.OrderPairAt(5, 1, synth.Options{Frames: 4, Resolution: 16})
	for k := 0; k < 2; k++ {
		frames, caption, err := d.Clip(9 + k)
		if err != nil {
			t.Fatal(err)
		}
		if caption != pair[k].Caption || len(frames) != 4 {
			t.Fatalf("clip %d: %q with %d frames, want order pair 1's %q with 4", 9+k, caption, len(frames), pair[k].Caption)
		}
	}
	if err := d.withOrderPairs(1); err == nil {
		t.Fatal("-order-frac 1 accepted")
	}
}
