package train

import "math"

// AdamW is Adam with decoupled weight decay (Loshchilov and Hutter), as
// torch.optim.AdamW computes it: each step decays the tensors marked Decay
// by lr * WeightDecay, then moves every weight by
// lr * mhat / (sqrt(vhat) + Eps) with bias-corrected moments.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	Steps        int       // updates done so far (for the bias correction)
	M, V         []float32 // first and second moments, in the layout of Params.Data
}

// NewAdamW returns an optimiser with zero moments for p, with CLIP's
// defaults: betas (0.9, 0.98), eps 1e-6, weight decay 0.2.
func NewAdamW(p *Params) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.98, Eps: 1e-6, WeightDecay: 0.2,
		M: make([]float32, len(p.Data)), V: make([]float32, len(p.Data))}
}

// Update applies one step with learning rate lr to p from its gradients g.
func (o *AdamW) Update(p, g *Params, lr float64) {
	o.Steps++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := float32(1 - math.Pow(o.Beta1, float64(o.Steps)))
	c2 := float32(1 - math.Pow(o.Beta2, float64(o.Steps)))
	eps, lr32 := float32(o.Eps), float32(lr)
	for _, t := range p.Tensors {
		decay := float32(1)
		if t.Decay {
			decay = float32(1 - lr*o.WeightDecay)
		}
		w, d := p.Data[t.Off:t.Off+t.Size], g.Data[t.Off:t.Off+t.Size]
		m, v := o.M[t.Off:t.Off+t.Size], o.V[t.Off:t.Off+t.Size]
		parallelFor(t.Size, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gi := d[i]
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				mh, vh := m[i]/c1, v[i]/c2
				w[i] = w[i]*decay - lr32*mh/(float32(math.Sqrt(float64(vh)))+eps)
			}
		})
	}
}

// ClipGradNorm scales g so that its global L2 norm is at most maxNorm
// (torch.nn.utils.clip_grad_norm_), and returns the norm before clipping.
// maxNorm <= 0 only measures.
func ClipGradNorm(g *Params, maxNorm float64) float64 {
	var s float64
	for _, v := range g.Data {
		s += float64(v) * float64(v)
	}
	norm := math.Sqrt(s)
	if maxNorm > 0 && norm > maxNorm {
		f := float32(maxNorm / (norm + 1e-6))
		for i := range g.Data {
			g.Data[i] *= f
		}
	}
	return norm
}

// Schedule is a learning rate that rises linearly from 0 over Warmup steps
// to Peak, then follows a half cosine down to 0 at Total steps (CLIP4Clip's
// warmup_cosine).
type Schedule struct {
	Peak          float64
	Warmup, Total int
}

// At returns the learning rate of update step (0-based).
func (s Schedule) At(step int) float64 {
	if step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	if s.Total <= s.Warmup {
		return s.Peak
	}
	p := math.Min(1, float64(step-s.Warmup)/float64(s.Total-s.Warmup))
	return s.Peak * 0.5 * (1 + math.Cos(math.Pi*p))
}
