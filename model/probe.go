package model

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"

	"clip4clip/model/preprocess"
	"clip4clip/weights"
)

// ProbeCaptions are the captions a conversion is checked on.
var ProbeCaptions = []string{
	"a photo of a dog",
	"a red car parked on a city street at night",
	"two people playing football on the beach at sunset",
	"a bowl of fruit on a wooden kitchen table",
}

// ProbeImages is how many built-in images a conversion is checked on.
const ProbeImages = 4

// probeImage returns built-in probe image k (ProbeImage) preprocessed
// (3, res, res).
func probeImage(k, res int) []float32 {
	img := ProbeImage(k, res)
	dst := make([]float32, 3*res*res)
	preprocess.NormalizeHWC(dst, img.Pix, res, res, 4)
	return dst
}

// ProbeImage draws built-in probe image k at res x res: a gradient sky,
// ground, and a few discs and boxes of saturated colour, different for
// each k. No caption describes them.
func ProbeImage(k, res int) *image.NRGBA {
	r := rand.New(rand.NewPCG(uint64(k)+1, 0x70726f6265))
	pix := make([]uint8, 4*res*res)
	sky := [3]float64{r.Float64(), r.Float64(), r.Float64()}
	ground := [3]float64{r.Float64(), r.Float64(), r.Float64()}
	horizon := 0.4 + 0.3*r.Float64()
	type shape struct {
		x, y, s float64
		col     [3]float64
		disc    bool
	}
	var shapes []shape
	for i := 0; i < 2+k; i++ {
		shapes = append(shapes, shape{r.Float64(), r.Float64(), 0.05 + 0.2*r.Float64(),
			[3]float64{r.Float64(), r.Float64(), r.Float64()}, r.IntN(2) == 0})
	}
	for y := 0; y < res; y++ {
		for x := 0; x < res; x++ {
			u, v := float64(x)/float64(res), float64(y)/float64(res)
			var c [3]float64
			for j := range c {
				if v < horizon {
					c[j] = sky[j] * (0.6 + 0.4*v/horizon)
				} else {
					c[j] = ground[j] * (1 - 0.5*(v-horizon))
				}
			}
			for _, s := range shapes {
				dx, dy := u-s.x, v-s.y
				if (s.disc && dx*dx+dy*dy < s.s*s.s) || (!s.disc && math.Abs(dx) < s.s && math.Abs(dy) < s.s/2) {
					c = s.col
				}
			}
			o := 4 * (y*res + x)
			for j := range c {
				pix[o+j] = uint8(math.Round(255 * math.Min(1, math.Max(0, c[j]+0.03*r.NormFloat64()))))
			}
			pix[o+3] = 255
		}
	}
	return &image.NRGBA{Pix: pix, Stride: 4 * res, Rect: image.Rect(0, 0, res, res)}
}

// Probe is how closely a converted model's features follow the
// checkpoint's own weights on the built-in probe inputs.
type Probe struct {
	Image []float64 // cosine per probe image (ProbeImages)
	Text  []float64 // cosine per probe caption (ProbeCaptions); empty without a tokenizer
	Min   float64   // the smallest of them
}

// String formats the probe for a model's meta: "image 0.99991 0.99987 ...; text ...".
func (p *Probe) String() string {
	var b strings.Builder
	b.WriteString("image")
	for _, c := range p.Image {
		fmt.Fprintf(&b, " %.5f", c)
	}
	if len(p.Text) > 0 {
		b.WriteString("; text")
		for _, c := range p.Text {
			fmt.Fprintf(&b, " %.5f", c)
		}
	}
	return b.String()
}

// Probe compares the converted model m (from Finish) with the
// checkpoint's own weights, read again with load (the source tensors by
// their checkpoint names), on the built-in probe images and, if m has a
// tokenizer, captions. The reference runs in float32 one block at a time,
// so it holds one block's weights (and the token embedding) besides m.
func (c *Converter) Probe(m *CLIP, load func(source string) (*weights.Tensor, error)) (*Probe, error) {
	cfg := m.Config
	p := &Probe{Min: 1}
	enc := m.NewEncoder()
	ref := func(names ...string) (*params, error) {
		sd, err := c.Reference(load, names...)
		if err != nil {
			return nil, err
		}
		return newParams(sd), nil
	}

	// Vision: the probe images through the stem, each block, ln_post, proj.
	v := cfg.Vision
	w, n, pp := v.Width, v.Tokens(), 3*v.PatchSize*v.PatchSize
	conv, taps, tap := "visual.conv1.weight", 1, 0
	if v.Patch == "3d" {
		conv, taps, tap = "visual.conv2.weight", 3, 1 // one frame: the middle tap
	}
	stem, err := ref(conv, "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre.weight", "visual.ln_pre.bias")
	if err != nil {
		return nil, err
	}
	convW := stem.mat(conv, w, taps*pp)
	class, pos := stem.vec("visual.class_embedding", w), stem.vec("visual.positional_embedding", n, w)
	lnW, lnB := stem.vec("visual.ln_pre.weight", w), stem.vec("visual.ln_pre.bias", w)
	if len(stem.err.Other)+len(stem.err.Shape) > 0 {
		return nil, &stem.err
	}
	xs := make([][]float32, ProbeImages)
	got := make([][]float32, ProbeImages)
	patches := make([]float32, (n-1)*taps*pp)
	for k := range xs {
		img := probeImage(k, v.Resolution)
		got[k] = make([]float32, cfg.EmbedDim)
		if err := enc.EncodeImage(got[k], img); err != nil {
			return nil, err
		}
		extractPatches(patches, taps*pp, tap*pp, img, v.Resolution, v.PatchSize)
		x := make([]float32, n*w)
		convW.Linear(x[w:], patches, n-1, nil)
		copy(x[:w], class)
		add(x, pos)
		layerNorm(x, x, n, w, lnW, lnB, 1e-5)
		xs[k] = x
	}
	stem = nil
	vs := newScratch(n, w, v.Heads)
	for i := 0; i < v.Layers; i++ {
		b, err := c.refBlock(load, fmt.Sprintf("visual.transformer.resblocks.%d.", i), w, v.Heads)
		if err != nil {
			return nil, err
		}
		for _, x := range xs {
			b.forward(x, n, false, nil, vs)
		}
	}
	post, err := ref("visual.ln_post.weight", "visual.ln_post.bias", "visual.proj")
	if err != nil {
		return nil, err
	}
	postW, postB := post.vec("visual.ln_post.weight", w), post.vec("visual.ln_post.bias", w)
	proj := post.mat("visual.proj", cfg.EmbedDim, w)
	cls := make([]float32, w)
	want := make([]float32, cfg.EmbedDim)
	for k, x := range xs {
		layerNorm(cls, x[:w], 1, w, postW, postB, 1e-5)
		proj.Linear(want, cls, 1, nil)
		p.Image = append(p.Image, cosine(got[k], want))
	}
	xs, post = nil, nil

	// Text: the probe captions through the token embedding, the blocks
	// (causal), ln_final at the end-of-text token, the projection.
	if m.Tokenizer != nil {
		t := cfg.Text
		tw := t.Width
		emb, err := ref("token_embedding.weight", "positional_embedding")
		if err != nil {
			return nil, err
		}
		tok := emb.mat("token_embedding.weight", t.VocabSize, tw)
		tpos := emb.vec("positional_embedding", t.Context, tw)
		var ids [][]int
		var txs, gotText [][]float32
		for _, caption := range ProbeCaptions {
			id, _, err := m.Tokenizer.Tokenize(caption, t.Context)
			if err != nil {
				return nil, err
			}
			id = id[:EOTIndex(id)+1]
			g := make([]float32, cfg.EmbedDim)
			if err := enc.EncodeText(g, id); err != nil {
				return nil, err
			}
			x := make([]float32, len(id)*tw)
			for j, tk := range id {
				tok.Row(x[j*tw:(j+1)*tw], tk)
			}
			add(x, tpos[:len(x)])
			ids, txs, gotText = append(ids, id), append(txs, x), append(gotText, g)
		}
		emb, tok = nil, nil
		p.Text = make([]float64, len(ids))
		ts := newScratch(t.Context, tw, t.Heads)
		for i := 0; i < t.Layers; i++ {
			b, err := c.refBlock(load, fmt.Sprintf("transformer.resblocks.%d.", i), tw, t.Heads)
			if err != nil {
				return nil, err
			}
			for k, x := range txs {
				b.forward(x, len(ids[k]), true, nil, ts)
			}
		}
		fin, err := ref("ln_final.weight", "ln_final.bias", "text_projection")
		if err != nil {
			return nil, err
		}
		fw, fb := fin.vec("ln_final.weight", tw), fin.vec("ln_final.bias", tw)
		tproj := fin.mat("text_projection", cfg.EmbedDim, tw)
		row := make([]float32, tw)
		for k, x := range txs {
			eot := len(ids[k]) - 1
			layerNorm(row, x[eot*tw:(eot+1)*tw], 1, tw, fw, fb, 1e-5)
			tproj.Linear(want, row, 1, nil)
			p.Text[k] = cosine(gotText[k], want)
		}
	}
	for _, c := range append(append([]float64(nil), p.Image...), p.Text...) {
		p.Min = math.Min(p.Min, c)
	}
	return p, nil
}

// refBlock reads the residual block under prefix k at the checkpoint's
// precision.
func (c *Converter) refBlock(load func(string) (*weights.Tensor, error), k string, width, heads int) (*Block, error) {
	var names []string
	for _, s := range []string{"ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
		"attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"} {
		names = append(names, k+s)
	}
	sd, err := c.Reference(load, names...)
	if err != nil {
		return nil, err
	}
	p := newParams(sd)
	b := block(p, k, width, heads, 1e-5)
	if err := p.finish(); err != nil {
		return nil, err
	}
	return &b, nil
}

// cosine returns the cosine similarity of a and b in float64.
func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}
