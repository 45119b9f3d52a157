package model

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

// Vision is CLIP's VisionTransformer (clip/model.py). Matrices are (out, in).
type Vision struct {
	Conv1   *quant.Matrix // visual.conv1.weight (width, 3*patch*patch), the conv kernel flattened (c, ky, kx)
	Conv2   *quant.Matrix // visual.conv2.weight (width, 3*3*patch*patch), 3d only: taps (t-1, t, t+1), then (c, ky, kx)
	Class   []float32     // visual.class_embedding (width)
	Pos     []float32     // visual.positional_embedding (1+grid*grid, width)
	LNPreW  []float32     // visual.ln_pre.weight (width)
	LNPreB  []float32     // visual.ln_pre.bias (width)
	Blocks  []Block       // visual.transformer.resblocks.N.*
	LNPostW []float32     // visual.ln_post.weight (width)
	LNPostB []float32     // visual.ln_post.bias (width)
	Proj    *quant.Matrix // visual.proj, stored transposed: (embed, width)
}

// Text is CLIP's text Transformer with its embeddings and projection.
type Text struct {
	TokenEmb *quant.Matrix // token_embedding.weight (vocab, width)
	Pos      []float32     // positional_embedding (context, width)
	Blocks   []Block       // transformer.resblocks.N.*
	LNFinalW []float32     // ln_final.weight (width)
	LNFinalB []float32     // ln_final.bias (width)
	Proj     *quant.Matrix // text_projection, stored transposed: (embed, width)
}

// CLIP is a loaded model: both encoders, the logit scale and the CLIP4Clip
// head. It is read-only once built; use one Encoder per goroutine.
type CLIP struct {
	Config     Config
	Vision     Vision
	Text       Text
	LogitScale float32 // logit_scale, the log of the temperature (exp'd when used)
	Head       *Head   // CLIP4Clip head weights, nil for meanP

	Tokenizer *bpe.Tokenizer    // the vocabulary the text encoder was trained with; nil if none was stored
	Meta      map[string]string // provenance from the model file

	params []param
	idOnce sync.Once
	id     string // ID's hash, computed once
}

// New builds a CLIP from tensors with canonical names (OpenAI's keys, the
// projections and conv kernels in the shapes documented on Vision and
// Text), checking every tensor's name and shape. The tensors' data is used
// in place where possible, so sd must not change afterwards.
func New(cfg Config, sd *weights.StateDict) (*CLIP, error) {
	return build(cfg, newParams(sd))
}

// Random builds a model of the given config with weights drawn from a
// seeded generator: for benchmarks, tests, and training from scratch.
func Random(cfg Config, seed uint64) (*CLIP, error) {
	p := newParams(&weights.StateDict{})
	p.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return build(cfg, p)
}

func build(cfg Config, p *params) (*CLIP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &CLIP{Config: cfg}
	if cfg.TextOnly {
		if !IsLoose(cfg.Head.Type) {
			return nil, fmt.Errorf("model: a text-only model of the %s head: that head scores text and video together, so its query side cannot stand alone", cfg.Head.Type)
		}
	} else {
		m.Vision = vision(p, cfg)
	}
	// A loose head's weights act on the video side only.
	if err := m.textSide(p, cfg, !cfg.TextOnly); err != nil {
		return nil, err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	m.params = p.list
	return m, nil
}

// textSide loads the text tower, its projection and the logit scale, and
// the head's weights if head.
func (m *CLIP) textSide(p *params, cfg Config, head bool) error {
	t, e := cfg.Text, cfg.EmbedDim
	m.Text = Text{
		TokenEmb: p.mat("token_embedding.weight", t.VocabSize, t.Width),
		Pos:      p.vec("positional_embedding", t.Context, t.Width),
		Blocks:   blocks(p, "transformer.resblocks.", t.Layers, t.Width, t.Heads, 1e-5),
		LNFinalW: p.vec("ln_final.weight", t.Width),
		LNFinalB: p.vec("ln_final.bias", t.Width),
		Proj:     p.mat("text_projection", e, t.Width),
	}
	m.LogitScale = p.scalar("logit_scale")
	if head {
		h, err := newHead(p, cfg)
		if err != nil {
			return err
		}
		m.Head = h
	}
	return nil
}

// vision loads the VisionTransformer's weights.
func vision(p *params, cfg Config) Vision {
	v, e := cfg.Vision, cfg.EmbedDim
	pp := 3 * v.PatchSize * v.PatchSize
	vt := Vision{
		Conv1:  p.mat("visual.conv1.weight", v.Width, pp),
		Class:  p.vec("visual.class_embedding", v.Width),
		Pos:    p.vec("visual.positional_embedding", v.Tokens(), v.Width),
		LNPreW: p.vec("visual.ln_pre.weight", v.Width),
		LNPreB: p.vec("visual.ln_pre.bias", v.Width),
	}
	if v.Patch == "3d" {
		vt.Conv2 = p.mat("visual.conv2.weight", v.Width, 3*pp)
	}
	vt.Blocks = blocks(p, "visual.transformer.resblocks.", v.Layers, v.Width, v.Heads, 1e-5)
	vt.LNPostW = p.vec("visual.ln_post.weight", v.Width)
	vt.LNPostB = p.vec("visual.ln_post.bias", v.Width)
	vt.Proj = p.mat("visual.proj", e, v.Width)
	return vt
}

// blocks loads n residual attention blocks under prefix + "N.".
func blocks(p *params, prefix string, n, width, heads int, eps float64) []Block {
	bs := make([]Block, n)
	for i := range bs {
		bs[i] = block(p, fmt.Sprintf("%s%d.", prefix, i), width, heads, eps)
	}
	return bs
}

// block loads the residual attention block whose keys start with k.
func block(p *params, k string, width, heads int, eps float64) Block {
	return Block{
		Width: width, Heads: heads, Eps: eps,
		LN1W:  p.vec(k+"ln_1.weight", width),
		LN1B:  p.vec(k+"ln_1.bias", width),
		QKV:   p.mat(k+"attn.in_proj_weight", 3*width, width),
		QKVB:  p.vec(k+"attn.in_proj_bias", 3*width),
		Out:   p.mat(k+"attn.out_proj.weight", width, width),
		OutB:  p.vec(k+"attn.out_proj.bias", width),
		LN2W:  p.vec(k+"ln_2.weight", width),
		LN2B:  p.vec(k+"ln_2.bias", width),
		FC:    p.mat(k+"mlp.c_fc.weight", 4*width, width),
		FCB:   p.vec(k+"mlp.c_fc.bias", 4*width),
		Proj:  p.mat(k+"mlp.c_proj.weight", width, 4*width),
		ProjB: p.vec(k+"mlp.c_proj.bias", width),
	}
}

// StateDict returns the model's weights under their canonical names, with
// every matrix stored as dtype (int8: one scale per `block` elements of a
// row, 0 for one per row; KeepDType: as stored). Feeding it back to New
// rebuilds the model.
func (m *CLIP) StateDict(dtype quant.DType, block int) (*weights.StateDict, error) {
	return exportDict(m.params, dtype, block)
}

// WeightBytes returns the memory the model's weights take.
func (m *CLIP) WeightBytes() int {
	n := 0
	for _, p := range m.params {
		if p.mat != nil {
			n += (*p.mat).Bytes()
		} else {
			n += 4 * len(*p.vec)
		}
	}
	return n
}
