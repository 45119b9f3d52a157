package model

import (
	"math"

	"clip4clip/quant"
)

// Block is CLIP's ResidualAttentionBlock (clip/model.py), also used with
// eps 1e-12 by CLIP4Clip's transformerClip and cross (module_cross.py):
//
//	x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))
//
// Keys below are relative to the block's prefix, e.g.
// "visual.transformer.resblocks.0.".
type Block struct {
	Width, Heads int
	Eps          float64
	LN1W, LN1B   []float32     // ln_1.weight, ln_1.bias (width)
	QKV          *quant.Matrix // attn.in_proj_weight (3*width, width)
	QKVB         []float32     // attn.in_proj_bias (3*width)
	Out          *quant.Matrix // attn.out_proj.weight (width, width)
	OutB         []float32     // attn.out_proj.bias (width)
	LN2W, LN2B   []float32     // ln_2.weight, ln_2.bias (width)
	FC           *quant.Matrix // mlp.c_fc.weight (4*width, width)
	FCB          []float32     // mlp.c_fc.bias (4*width)
	Proj         *quant.Matrix // mlp.c_proj.weight (width, 4*width)
	ProjB        []float32     // mlp.c_proj.bias (width)
}

// scratch holds a tower's activations for up to n tokens, allocated once.
type scratch struct {
	h      []float32 // (n, width) layer-norm output, attention output
	qkv    []float32 // (n, 3*width)
	scores []float32 // (heads, n, n) attention weights
	vt     []float32 // (heads, head width, n) values, transposed
	mlp    []float32 // (n, 4*width)
	tmp    []float32 // (n, width) projection output before the residual
}

func newScratch(n, width, heads int) *scratch {
	return &scratch{
		h:      make([]float32, n*width),
		qkv:    make([]float32, n*3*width),
		scores: make([]float32, heads*n*n),
		vt:     make([]float32, width*n),
		mlp:    make([]float32, n*4*width),
		tmp:    make([]float32, n*width),
	}
}

// forward runs the block over x (n, width) in place. causal masks keys after
// the query (CLIP's text mask); keyMask, if not nil, is added to every
// query's scores per key (CLIP4Clip's (1 - mask) * -1e6).
func (b *Block) forward(x []float32, n int, causal bool, keyMask []float32, s *scratch) {
	w, heads := b.Width, b.Heads
	d := w / heads
	h, qkv, tmp := s.h[:n*w], s.qkv[:n*3*w], s.tmp[:n*w]

	// Attention: qkv = ln_1(x) @ in_proj^T + bias, then per head
	// softmax(q k^T / sqrt(d) + mask) v, as nn.MultiheadAttention.
	layerNorm(h, x, n, w, b.LN1W, b.LN1B, b.Eps)
	b.QKV.Linear(qkv, h, n, b.QKVB)
	// PyTorch scales q before the product; same rounding.
	scale := float32(1 / math.Sqrt(float64(d)))
	for i := 0; i < n; i++ {
		q := qkv[i*3*w : i*3*w+w]
		for t := range q {
			q[t] *= scale
		}
	}
	// Heads are independent: each has its own slice of scores and
	// transposed values, so the package's threads can share them out.
	attend := func(hd int) {
		att, vt := s.scores[hd*n*n:(hd+1)*n*n], s.vt[hd*d*n:(hd+1)*d*n]
		// att (n, n) = q_h k_h^T on the head's columns of qkv.
		quant.MatMulT(att, n, qkv[hd*d:], 3*w, qkv[w+hd*d:], 3*w, n, n, d)
		for i := 0; i < n; i++ {
			keys := n
			if causal {
				keys = i + 1
			}
			sc := att[i*n : i*n+keys]
			if keyMask != nil {
				for j := range sc {
					sc[j] += keyMask[j]
				}
			}
			softmax(sc)
			clear(att[i*n+keys : (i+1)*n])
		}
		// h_h (n, d) = att v_h, as att (v_h^T)^T.
		for j := 0; j < n; j++ {
			v := qkv[j*3*w+2*w+hd*d : j*3*w+2*w+hd*d+d]
			for t, x := range v {
				vt[t*n+j] = x
			}
		}
		quant.MatMulT(h[hd*d:], w, att, n, vt, n, n, d, n)
	}
	quant.Parallel(heads, n*n*d, attend)
	b.Out.Linear(tmp, h, n, b.OutB)
	add(x[:n*w], tmp)

	// MLP: c_proj(QuickGELU(c_fc(ln_2(x)))).
	mlp := s.mlp[:n*4*w]
	layerNorm(h, x, n, w, b.LN2W, b.LN2B, b.Eps)
	b.FC.Linear(mlp, h, n, b.FCB)
	quant.Parallel(n, 4*w, func(i int) { quickGELU(mlp[i*4*w : (i+1)*4*w]) })
	b.Proj.Linear(tmp, mlp, n, b.ProjB)
	add(x[:n*w], tmp)
}
