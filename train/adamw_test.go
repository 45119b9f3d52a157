package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"clip4clip/weights"
)

// adamWRef is torch.optim.AdamW's update in float64, one parameter.
func adamWRef(w, m, v, g float64, step int, lr, b1, b2, eps, wd float64) (float64, float64, float64) {
	w *= 1 - lr*wd
	m = b1*m + (1-b1)*g
	v = b2*v + (1-b2)*g*g
	mh := m / (1 - math.Pow(b1, float64(step)))
	vh := v / (1 - math.Pow(b2, float64(step)))
	return w - lr*mh/(math.Sqrt(vh)+eps), m, v
}

func TestAdamWMatchesTorchFormula(t *testing.T) {
	sd := &weights.StateDict{}
	sd.Add(weights.FromFloat32("visual.proj", []int{3, 4}, make([]float32, 12)))
	sd.Add(weights.FromFloat32("ln_final.bias", []int{4}, make([]float32, 4)))
	sd.Add(weights.FromFloat32("token_embedding.weight", []int{5, 4}, make([]float32, 20)))
	p, err := newParams(sd)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Tensors[0].Decay || p.Tensors[1].Decay || p.Tensors[2].Decay {
		t.Fatalf("decay flags %v %v %v; want only the projection decayed", p.Tensors[0].Decay, p.Tensors[1].Decay, p.Tensors[2].Decay)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range p.Data {
		p.Data[i] = float32(rng.NormFloat64())
	}
	g := p.zerosLike()
	opt := NewAdamW(p)
	ref := widen(p.Data)
	m, v := make([]float64, len(ref)), make([]float64, len(ref))
	for step := 1; step <= 5; step++ {
		for i := range g.Data {
			g.Data[i] = float32(rng.NormFloat64())
		}
		lr := 1e-2 * float64(step)
		opt.Update(p, g, lr)
		for _, tn := range p.Tensors {
			wd := 0.0
			if tn.Decay {
				wd = opt.WeightDecay
			}
			for i := tn.Off; i < tn.Off+tn.Size; i++ {
				ref[i], m[i], v[i] = adamWRef(ref[i], m[i], v[i], float64(g.Data[i]), step, lr, opt.Beta1, opt.Beta2, opt.Eps, wd)
			}
		}
	}
	requireClose(t, "weights after 5 steps", ref, p.Data, 1e-5, 1e-5)
}

func TestClipGradNorm(t *testing.T) {
	g := &Params{Data: []float32{3, 4}}
	if n := ClipGradNorm(g, 1); n != 5 || math.Abs(float64(g.Data[0])-0.6) > 1e-6 || math.Abs(float64(g.Data[1])-0.8) > 1e-6 {
		t.Fatalf("norm %g, clipped %v; want 5, [0.6 0.8]", n, g.Data)
	}
	g.Data = []float32{0.3, 0.4}
	if n := ClipGradNorm(g, 1); math.Abs(n-0.5) > 1e-7 || g.Data[0] != 0.3 {
		t.Fatalf("norm %g, %v; a norm under the bound must not change", n, g.Data)
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Peak: 1e-3, Warmup: 10, Total: 110}
	for _, c := range []struct {
		step int
		want float64
	}{{0, 1e-4}, {4, 5e-4}, {9, 1e-3}, {10, 1e-3}, {60, 5e-4}, {110, 0}, {200, 0}} {
		if got := s.At(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("step %d: lr %g, want %g", c.step, got, c.want)
		}
	}
}
