package train

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"clip4clip/model"
	"clip4clip/quant"
	"clip4clip/weights"
)

// tinyConfig is a model small enough for finite differences over every
// tensor.
func tinyConfig(head string) model.Config {
	return model.Config{
		EmbedDim: 16,
		Vision:   model.VisionConfig{Width: 16, Layers: 2, Heads: 2, PatchSize: 4, Resolution: 8, Patch: "2d"},
		Text:     model.TextConfig{Width: 16, Layers: 2, Heads: 2, Context: 8, VocabSize: 30},
		Head:     model.HeadConfig{Type: head, Layers: 2, Heads: 2, MaxFrames: 4, MaxWords: 8},
	}
}

// randomBatch makes B clips of up to F frames with random pixels and
// captions SOT, random ids, EOT (the largest id), padding.
func randomBatch(cfg model.Config, B, F, L int, rng *rand.Rand) *Batch {
	b := &Batch{B: B, F: F, L: L, Mask: make([]bool, B*F), IDs: make([]int, B*L)}
	size := 3 * cfg.Vision.Resolution * cfg.Vision.Resolution
	V := cfg.Text.VocabSize
	for i := 0; i < B; i++ {
		n := 1 + (i*7+1)%F
		for f := 0; f < n; f++ {
			b.Mask[i*F+f] = true
			for k := 0; k < size; k++ {
				b.Frames = append(b.Frames, float32(rng.NormFloat64()))
			}
		}
		words := 1 + (i*5+2)%(L-2)
		b.IDs[i*L] = V - 2
		for k := 1; k <= words; k++ {
			b.IDs[i*L+k] = 1 + rng.IntN(V-3)
		}
		b.IDs[i*L+words+1] = V - 1
	}
	return b
}

// TestNetGradient checks Backward against central differences of Forward
// for every tensor of a tiny model with each trainable head, along a
// random direction per tensor (a float32 forward is too coarse for single
// entries of the deep tensors).
func TestNetGradient(t *testing.T) {
	for _, head := range []string{model.MeanP, model.SeqTransf} {
		t.Run(head, func(t *testing.T) {
			cfg := tinyConfig(head)
			net, err := New(cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(2, 3))
			// Perturb norms and biases off their 1/0 start so that they matter.
			for _, tn := range net.Params.Tensors {
				x := net.Params.Get(tn.Name)
				for i := range x {
					x[i] += float32(0.1 * rng.NormFloat64())
				}
			}
			net.Params.Get("logit_scale")[0] = 2.5
			b := randomBatch(cfg, 4, 3, 8, rng)
			if _, err := net.Forward(b); err != nil {
				t.Fatal(err)
			}
			net.ZeroGrad()
			net.Backward()
			loss := func() float64 {
				l, err := net.Forward(b)
				if err != nil {
					t.Fatal(err)
				}
				return l.Loss
			}
			worst := 0.0
			for _, tn := range net.Params.Tensors {
				x, g := net.Params.Get(tn.Name), net.Grads.Get(tn.Name)
				// The direction: a random unit vector plus the gradient's own
				// direction, so that the derivative stands well above the
				// float32 noise of the loss and a wrong component still shows.
				dir := make([]float64, len(x))
				var rn, gn float64
				for i := range dir {
					dir[i] = rng.NormFloat64()
					rn += dir[i] * dir[i]
					gn += float64(g[i]) * float64(g[i])
				}
				var norm float64
				for i := range dir {
					dir[i] /= math.Sqrt(rn)
					if gn > 0 {
						dir[i] += float64(g[i]) / math.Sqrt(gn)
					}
					norm += dir[i] * dir[i]
				}
				if norm < 1e-6 { // a one-element tensor whose two parts cancelled
					dir[0], norm = 1, 1
				}
				var analytic float64
				for i := range dir {
					dir[i] /= math.Sqrt(norm)
					analytic += dir[i] * float64(g[i])
				}
				orig := append([]float32(nil), x...)
				const h = 1e-2
				for i := range x {
					x[i] = float32(float64(orig[i]) + h*dir[i])
				}
				lp := loss()
				for i := range x {
					x[i] = float32(float64(orig[i]) - h*dir[i])
				}
				lm := loss()
				copy(x, orig)
				numeric := (lp - lm) / (2 * h)
				// float32 rounding of the loss leaves about 1e-5 of noise in numeric
				rel := math.Abs(numeric-analytic) / (1e-3 + math.Abs(numeric))
				worst = math.Max(worst, rel)
				if rel > 5e-3 || math.IsNaN(rel) {
					t.Errorf("%s: analytic %.6g, numeric %.6g", tn.Name, analytic, numeric)
				}
			}
			t.Logf("%d tensors, max relative difference %.2g", len(net.Params.Tensors), worst)
		})
	}
}

// TestFixtureSeqTransfLoss runs the training forward with the fixture's
// seqTransf head and compares the loss and logits with the reference.
func TestFixtureSeqTransfLoss(t *testing.T) {
	base, err := weights.ReadTorchFile(fixture(t, "clip/clip_tiny_openai.pt"))
	if err != nil {
		t.Fatal(err)
	}
	head, err := weights.ReadTorchFile(fixture(t, "clip4clip/seqTransf/pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sd := &weights.StateDict{}
	for _, n := range base.Order {
		tt := *base.Tensors[n]
		tt.Name = "clip." + n
		sd.Add(&tt)
	}
	for _, n := range head.Order {
		sd.Add(head.Tensors[n])
	}
	cfg, csd, err := model.Canonical(sd, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, csd)
	if err != nil {
		t.Fatal(err)
	}
	net, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := net.Forward(fixtureBatch(t, cfg.Vision.Resolution))
	if err != nil {
		t.Fatal(err)
	}
	_, want := loadNpy(t, "clip4clip/seqTransf/retrieve_logits.npy")
	requireClose(t, "logits", want, loss.Logits, 1e-4, 1e-4)
	var res struct {
		Loss float64 `json:"loss"`
	}
	data, err := os.ReadFile(fixture(t, "clip4clip/seqTransf/result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("loss: want %.7f got %.7f", res.Loss, loss.Loss)
	if math.Abs(loss.Loss-res.Loss) > 1e-5 {
		t.Fatalf("loss %.7f, want %.7f", loss.Loss, res.Loss)
	}
}

// BenchmarkStep times one forward and backward pass of the small preset
// (res 64, patch 8, widths 128, 3 + 2 layers) on 32 clips of 8 frames, and
// reports clips per second, per head and micro-kernel.
func BenchmarkStep(b *testing.B) {
	for _, head := range []string{model.MeanP, model.SeqTransf} {
		for _, k := range kernels()[1:] {
			b.Run(head+"/"+k.name, func(b *testing.B) {
				saved := kern
				kern = k
				defer func() { kern = saved }()
				cfg, err := Preset("small", 2000)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Head.Type = head
				net, err := New(cfg, 1)
				if err != nil {
					b.Fatal(err)
				}
				batch := randomBatch(cfg, 32, 8, 32, rand.New(rand.NewPCG(1, 2)))
				for i := range batch.Mask {
					batch.Mask[i] = true
				}
				size := 3 * cfg.Vision.Resolution * cfg.Vision.Resolution
				batch.Frames = make([]float32, 32*8*size)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := net.Forward(batch); err != nil {
						b.Fatal(err)
					}
					net.ZeroGrad()
					net.Backward()
				}
				b.ReportMetric(32*float64(b.N)/b.Elapsed().Seconds(), "clips/s")
			})
		}
	}
}

// TestFromModelHead adds a seqTransf head to the fixture CLIP the way
// CLIP4Clip's from_pretrained does.
func TestFromModelHead(t *testing.T) {
	m := tinyModel(t)
	hc := model.HeadConfig{Type: model.SeqTransf, Layers: 1, Heads: 2, MaxFrames: 6, MaxWords: 32}
	net, err := FromModelHead(m, hc, 1)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := m.StateDict(quant.F32, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := func(name string) []float32 {
		v, err := sd.Tensors[name].Float32()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	requireClose(t, "frame positions", want("positional_embedding")[:6*128], net.Params.Get("frame_position_embeddings.weight"), 0, 0)
	requireClose(t, "block 0", want("transformer.resblocks.0.mlp.c_fc.weight"), net.Params.Get("transformerClip.resblocks.0.mlp.c_fc.weight"), 0, 0)
	requireClose(t, "backbone", want("visual.proj"), net.Params.Get("visual.proj"), 0, 0)
	if _, err := net.Forward(fixtureBatch(t, 224)); err != nil {
		t.Fatal(err)
	}
}
