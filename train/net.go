package train

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"clip4clip/model"
	"clip4clip/quant"
)

// Net is CLIP4Clip in training form: f32 weights and their gradients in
// flat buffers (Params), and the activations of one batch, kept for the
// backward pass. The forward pass is CLIP4Clip's training forward
// (modules/modeling.py CLIP4Clip.forward with a loose head): every valid
// frame of the batch goes through the ViT as one batch of sequences, the
// captions through the causal text transformer, the frame features through
// the head (meanP, or seqTransf then meanP), and the B x B logits
// exp(logit_scale) * cos(caption, video) into the symmetric cross-entropy.
//
// A Net is not safe for concurrent use; its kernels use Threads
// goroutines.
type Net struct {
	Config model.Config
	Params *Params // weights
	Grads  *Params // d loss / d weights, accumulated by Backward

	w, g views // named slices of Params and Grads
	a    acts  // activations of the last Forward
}

// New returns a Net for cfg with CLIP's initialisation (see initCLIP) drawn
// from seed: a model to train from scratch.
func New(cfg model.Config, seed uint64) (*Net, error) {
	if err := checkTrainable(cfg); err != nil {
		return nil, err
	}
	sd, err := layout(cfg)
	if err != nil {
		return nil, err
	}
	p, err := newParams(sd)
	if err != nil {
		return nil, err
	}
	initCLIP(p, cfg, rand.New(rand.NewPCG(seed, 0x5eed)))
	return newNet(cfg, p), nil
}

// FromModel returns a Net holding an f32 copy of m's weights, to fine-tune
// a converted CLIP or continue from a trained model file.
func FromModel(m *model.CLIP) (*Net, error) {
	if err := checkTrainable(m.Config); err != nil {
		return nil, err
	}
	sd, err := m.StateDict(quant.F32, 0)
	if err != nil {
		return nil, err
	}
	p, err := newParams(sd)
	if err != nil {
		return nil, err
	}
	return newNet(m.Config, p), nil
}

// FromModelHead returns a Net from m's CLIP weights with the CLIP4Clip
// head hc instead of m's own. A new seqTransf head starts as CLIP4Clip's
// from_pretrained initialises it: frame_position_embeddings from the first
// rows of the text positional_embedding and transformerClip block i from
// text block i (for i below both layer counts); whatever is not copied
// keeps initCLIP's values drawn from seed. A head equal to m's keeps its
// weights.
func FromModelHead(m *model.CLIP, hc model.HeadConfig, seed uint64) (*Net, error) {
	if hc.Type == m.Config.Head.Type && (hc.Type == model.MeanP || hc == m.Config.Head) {
		return FromModel(m)
	}
	cfg := m.Config
	cfg.Head = hc
	net, err := New(cfg, seed)
	if err != nil {
		return nil, err
	}
	src, err := m.StateDict(quant.F32, 0)
	if err != nil {
		return nil, err
	}
	get := func(name string) []float32 {
		t, ok := src.Tensors[name]
		if !ok {
			return nil
		}
		v, err := t.Float32()
		if err != nil {
			return nil
		}
		return v
	}
	for _, t := range net.Params.Tensors {
		if v := get(t.Name); len(v) == t.Size && !strings.HasPrefix(t.Name, "transformerClip.") && !strings.HasPrefix(t.Name, "frame_position") {
			copy(net.Params.Get(t.Name), v)
		}
	}
	if hc.Type == model.SeqTransf {
		fp := net.Params.Get("frame_position_embeddings.weight")
		if pos := get("positional_embedding"); len(pos) >= len(fp) {
			copy(fp, pos)
		}
		for _, t := range net.Params.Tensors {
			if rest, ok := strings.CutPrefix(t.Name, "transformerClip."); ok {
				if v := get("transformer." + rest); len(v) == t.Size {
					copy(net.Params.Get(t.Name), v)
				}
			}
		}
	}
	return net, nil
}

// checkTrainable reports configurations this package cannot train.
func checkTrainable(cfg model.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Vision.Patch != "2d" {
		return fmt.Errorf("train: the %s linear patch is not trainable here; use 2d", cfg.Vision.Patch)
	}
	switch cfg.Head.Type {
	case "", model.MeanP:
	case model.SeqTransf:
		if cfg.EmbedDim != cfg.Text.Width {
			return fmt.Errorf("train: seqTransf needs embed_dim (%d) equal to the text width (%d), as CLIP4Clip's code does", cfg.EmbedDim, cfg.Text.Width)
		}
		if cfg.Head.Heads <= 0 || cfg.EmbedDim%cfg.Head.Heads != 0 || cfg.Head.MaxFrames <= 0 {
			return fmt.Errorf("train: seqTransf with %d heads and %d frame positions", cfg.Head.Heads, cfg.Head.MaxFrames)
		}
	default:
		return fmt.Errorf("train: the %s head is not trainable here; use %s or %s", cfg.Head.Type, model.MeanP, model.SeqTransf)
	}
	return nil
}

func newNet(cfg model.Config, p *Params) *Net {
	n := &Net{Config: cfg, Params: p, Grads: p.zerosLike()}
	n.w = newViews(p, cfg)
	n.g = newViews(n.Grads, cfg)
	return n
}

// Model builds an inference model (package model) from the current
// weights, for evaluation and saving. The tokenizer and meta are left for
// the caller to set.
func (n *Net) Model() (*model.CLIP, error) {
	return model.New(n.Config, n.Params.StateDict())
}

// ZeroGrad clears the gradients.
func (n *Net) ZeroGrad() { clear(n.Grads.Data) }

// blockView names one residual attention block's tensors (clip/model.py
// ResidualAttentionBlock), each a slice of Params.Data.
type blockView struct {
	ln1w, ln1b []float32 // ln_1 (C)
	qkvw       []float32 // attn.in_proj_weight (3C, C)
	qkvb       []float32 // attn.in_proj_bias (3C)
	outw       []float32 // attn.out_proj.weight (C, C)
	outb       []float32 // attn.out_proj.bias (C)
	ln2w, ln2b []float32 // ln_2 (C)
	fcw        []float32 // mlp.c_fc.weight (4C, C)
	fcb        []float32 // mlp.c_fc.bias (4C)
	projw      []float32 // mlp.c_proj.weight (C, 4C)
	projb      []float32 // mlp.c_proj.bias (C)
}

// views names every tensor of the model (W vision width, Wt text width, E
// embed, P = 3 patch^2, T = 1 + grid^2, V vocabulary, L context).
type views struct {
	conv1            []float32 // visual.conv1.weight (W, P)
	class            []float32 // visual.class_embedding (W)
	vpos             []float32 // visual.positional_embedding (T, W)
	lnPreW, lnPreB   []float32 // visual.ln_pre (W)
	vblocks          []blockView
	lnPostW, lnPostB []float32 // visual.ln_post (W)
	vproj            []float32 // visual.proj (E, W), transposed from OpenAI's
	tok              []float32 // token_embedding.weight (V, Wt)
	tpos             []float32 // positional_embedding (L, Wt)
	tblocks          []blockView
	lnFinW, lnFinB   []float32 // ln_final (Wt)
	tproj            []float32 // text_projection (E, Wt), transposed from OpenAI's
	logitScale       []float32 // logit_scale (1)
	framePos         []float32 // frame_position_embeddings.weight (max_frames, E), seqTransf
	hblocks          []blockView
}

func newViews(p *Params, cfg model.Config) views {
	blocks := func(prefix string, n int) []blockView {
		bs := make([]blockView, n)
		for i := range bs {
			k := fmt.Sprintf("%s%d.", prefix, i)
			bs[i] = blockView{
				ln1w: p.Get(k + "ln_1.weight"), ln1b: p.Get(k + "ln_1.bias"),
				qkvw: p.Get(k + "attn.in_proj_weight"), qkvb: p.Get(k + "attn.in_proj_bias"),
				outw: p.Get(k + "attn.out_proj.weight"), outb: p.Get(k + "attn.out_proj.bias"),
				ln2w: p.Get(k + "ln_2.weight"), ln2b: p.Get(k + "ln_2.bias"),
				fcw: p.Get(k + "mlp.c_fc.weight"), fcb: p.Get(k + "mlp.c_fc.bias"),
				projw: p.Get(k + "mlp.c_proj.weight"), projb: p.Get(k + "mlp.c_proj.bias"),
			}
		}
		return bs
	}
	v := views{
		conv1:  p.Get("visual.conv1.weight"),
		class:  p.Get("visual.class_embedding"),
		vpos:   p.Get("visual.positional_embedding"),
		lnPreW: p.Get("visual.ln_pre.weight"), lnPreB: p.Get("visual.ln_pre.bias"),
		vblocks: blocks("visual.transformer.resblocks.", cfg.Vision.Layers),
		lnPostW: p.Get("visual.ln_post.weight"), lnPostB: p.Get("visual.ln_post.bias"),
		vproj:   p.Get("visual.proj"),
		tok:     p.Get("token_embedding.weight"),
		tpos:    p.Get("positional_embedding"),
		tblocks: blocks("transformer.resblocks.", cfg.Text.Layers),
		lnFinW:  p.Get("ln_final.weight"), lnFinB: p.Get("ln_final.bias"),
		tproj:      p.Get("text_projection"),
		logitScale: p.Get("logit_scale"),
	}
	if cfg.Head.Type == model.SeqTransf {
		v.framePos = p.Get("frame_position_embeddings.weight")
		v.hblocks = blocks("transformerClip.resblocks.", cfg.Head.Layers)
	}
	return v
}

// Batch is one step's input: B clips of F frame slots with their captions,
// caption i belonging to clip i.
type Batch struct {
	B, F   int
	Mask   []bool    // (B, F) true for a real frame slot
	Frames []float32 // (frames, 3, res, res) the real frames only, preprocessed, clip by clip in slot order
	IDs    []int     // (B, L) caption ids: SOT, BPE ids, EOT, then zero padding
	L      int
}

// Loss is the result of a forward pass.
type Loss struct {
	Loss        float64   // (TextToVideo + VideoToText) / 2, what Backward differentiates
	TextToVideo float64   // cross-entropy over the rows of Logits
	VideoToText float64   // cross-entropy over the columns
	Logits      []float32 // (B, B) rows captions, columns clips; valid until the next Forward
}

// tower is one transformer's activations for S sequences of T tokens of
// width C: the residual stream between blocks and each block's
// intermediates.
type tower struct {
	S, T, C, NH int
	eps         float64
	causal      bool
	keyMask     []float32   // (S, T) additive key mask, or nil
	xs          [][]float32 // (S*T, C) layers+1 streams: xs[0] the input, xs[l+1] block l's output
	blocks      []blockActs
	dbig        []float32 // (S*T, 4C) backward scratch
	dsmall      []float32 // (S*T, C) backward scratch
	datt        []float32 // (S, NH, T, T) backward scratch
}

// blockActs are one block's saved activations, N = S*T rows.
type blockActs struct {
	ln1              []float32 // (N, C) ln_1 output
	ln1Mean, ln1Rstd []float32 // (N)
	qkv              []float32 // (N, 3C) in_proj output
	att              []float32 // (S, NH, T, T) attention probabilities
	atty             []float32 // (N, C) attention output before out_proj
	res2             []float32 // (N, C) x + attn(ln_1(x))
	ln2              []float32 // (N, C) ln_2 output
	ln2Mean, ln2Rstd []float32 // (N)
	fch              []float32 // (N, 4C) c_fc output
	fchGelu          []float32 // (N, 4C) QuickGELU of it
}

// grow makes room for S sequences of T tokens, reusing the buffers when
// they are large enough.
func (t *tower) grow(layers, S, T, C, NH int) {
	N := S * T
	t.S, t.T, t.C, t.NH = S, T, C, NH
	if len(t.xs) != layers+1 {
		t.xs = make([][]float32, layers+1)
		t.blocks = make([]blockActs, layers)
	}
	for i := range t.xs {
		fit(&t.xs[i], N*C)
	}
	for i := range t.blocks {
		a := &t.blocks[i]
		fit(&a.ln1, N*C)
		fit(&a.ln1Mean, N)
		fit(&a.ln1Rstd, N)
		fit(&a.qkv, N*3*C)
		fit(&a.att, S*NH*T*T)
		fit(&a.atty, N*C)
		fit(&a.res2, N*C)
		fit(&a.ln2, N*C)
		fit(&a.ln2Mean, N)
		fit(&a.ln2Rstd, N)
		fit(&a.fch, N*4*C)
		fit(&a.fchGelu, N*4*C)
	}
	fit(&t.dbig, N*4*C)
	fit(&t.dsmall, N*C)
	fit(&t.datt, S*NH*T*T)
}

// out returns the tower's output (S*T, C).
func (t *tower) out() []float32 { return t.xs[len(t.xs)-1] }

// forward runs the blocks over xs[0]:
// x = x + out_proj(attn(ln_1(x))); x = x + c_proj(QuickGELU(c_fc(ln_2(x)))).
func (t *tower) forward(ws []blockView) {
	S, T, C, NH := t.S, t.T, t.C, t.NH
	N := S * T
	for l, w := range ws {
		a, in, out := &t.blocks[l], t.xs[l], t.xs[l+1]
		layernormForward(a.ln1, a.ln1Mean, a.ln1Rstd, in, w.ln1w, w.ln1b, N, C, t.eps)
		matmulForward(a.qkv, a.ln1, w.qkvw, w.qkvb, N, C, 3*C)
		attentionForward(a.atty, a.att, a.qkv, t.keyMask, S, T, C, NH, t.causal)
		matmulForward(a.res2, a.atty, w.outw, w.outb, N, C, C)
		add(a.res2, in)
		layernormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.res2, w.ln2w, w.ln2b, N, C, t.eps)
		matmulForward(a.fch, a.ln2, w.fcw, w.fcb, N, C, 4*C)
		quickGELUForward(a.fchGelu, a.fch)
		matmulForward(out, a.fchGelu, w.projw, w.projb, N, 4*C, C)
		add(out, a.res2)
	}
}

// backward turns dx (S*T, C), the gradient of the tower's output, into the
// gradient of its input in place, adding the blocks' weight gradients
// into gs.
func (t *tower) backward(dx []float32, ws, gs []blockView) {
	S, T, C, NH := t.S, t.T, t.C, t.NH
	N := S * T
	dbig, dsmall := t.dbig[:N*4*C], t.dsmall[:N*C]
	for l := len(ws) - 1; l >= 0; l-- {
		a, w, g := &t.blocks[l], ws[l], gs[l]
		// MLP branch; dx also flows straight through the residual.
		matmulBackward(dbig, g.projw, g.projb, dx, a.fchGelu, w.projw, N, 4*C, C)
		quickGELUBackwardInPlace(dbig, a.fch)
		matmulBackward(dsmall, g.fcw, g.fcb, dbig, a.ln2, w.fcw, N, C, 4*C)
		layernormBackward(dx, g.ln2w, g.ln2b, dsmall, a.res2, w.ln2w, a.ln2Mean, a.ln2Rstd, N, C)
		// Attention branch.
		matmulBackward(dsmall, g.outw, g.outb, dx, a.atty, w.outw, N, C, C)
		dqkv := dbig[:N*3*C]
		attentionBackward(dqkv, t.datt, dsmall, a.qkv, a.att, S, T, C, NH, t.causal)
		matmulBackward(dsmall, g.qkvw, g.qkvb, dqkv, a.ln1, w.qkvw, N, C, 3*C)
		layernormBackward(dx, g.ln1w, g.ln1b, dsmall, t.xs[l], w.ln1w, a.ln1Mean, a.ln1Rstd, N, C)
	}
}

// acts holds everything the backward pass needs from the forward pass,
// allocated on the first batch and grown when a batch is larger. nv is
// the number of real frames, B clips, F slots, Lt caption tokens.
type acts struct {
	B, F, nv, Lt int
	mask         []bool
	ids          []int // (B, Lt) ids, cut after the last end-of-text token of the batch
	eot          []int // (B) end-of-text position of each caption

	patches      []float32 // (nv, grid^2, P)
	pe           []float32 // (nv, grid^2, W) patch embeddings
	vemb         []float32 // (nv, T, W) class + patches + positions
	lnPreMean    []float32 // (nv*T)
	lnPreRstd    []float32
	vt           tower     // vision transformer; xs[0] is ln_pre's output
	vcls         []float32 // (nv, W) class tokens after the blocks
	vpost        []float32 // (nv, W) ln_post output
	vpostMean    []float32 // (nv)
	vpostRstd    []float32
	vfeat        []float32 // (nv, E) projected frame features
	tt           tower     // text transformer; xs[0] is token + position embedding
	teot         []float32 // (B, Wt) end-of-text rows after the blocks
	tfin         []float32 // (B, Wt) ln_final output
	tfinMean     []float32 // (B)
	tfinRstd     []float32
	tfeat        []float32 // (B, E) projected caption features
	hin          []float32 // (B, F, E) frame features in their slots, zero in padding
	ht           tower     // seqTransf's transformerClip; xs[0] is hin + frame positions
	hout         []float32 // (B, F, E) head output: hin, or transformerClip(...) + hin
	vvec, vnorm  []float32 // (B, E) pooled unit video vectors, (B) norms
	vmean        []float32 // (B, E) masked mean before normalising
	fnrm, fnorm  []float32 // (B, F, E) unit frame vectors, (B, F) norms
	tvec, tnorm  []float32 // (B, E) unit caption vectors, (B) norms
	scale        float32   // exp(logit_scale), clamped at 100
	logits       []float32 // (B, B)
	prow, pcol   []float32 // (B, B) row and column softmaxes
	dlogits      []float32 // (B, B)
	dtvec, dvvec []float32 // (B, E)
	dtfeat       []float32 // (B, E)
	dhout, dhin  []float32 // (B, F, E)
	dmean, dnrm  []float32 // (B, E), (E) meanP scratch
	dvfeat       []float32 // (nv, E)
	dvpost       []float32 // (nv, W)
	dvcls        []float32 // (nv, W)
	dvx          []float32 // (nv*T, W) gradient of the vision stream
	dvemb        []float32 // (nv*T, W)
	dpe          []float32 // (nv*grid^2, W)
	dtfin, dteot []float32 // (B, Wt)
	dtx          []float32 // (B*Lt, Wt) gradient of the text stream
}

func fit(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return *b
}

// check validates a batch against the model.
func (n *Net) check(b *Batch) (nv int, err error) {
	cfg := n.Config
	size := 3 * cfg.Vision.Resolution * cfg.Vision.Resolution
	if b.B < 1 || b.F < 1 || len(b.Mask) != b.B*b.F {
		return 0, fmt.Errorf("train: batch of %d clips with %d slots and %d mask entries", b.B, b.F, len(b.Mask))
	}
	for i := 0; i < b.B; i++ {
		k := 0
		for _, m := range b.Mask[i*b.F : (i+1)*b.F] {
			if m {
				k++
			}
		}
		if k == 0 {
			return 0, fmt.Errorf("train: clip %d of the batch has no frame", i)
		}
		nv += k
	}
	if len(b.Frames) != nv*size {
		return 0, fmt.Errorf("train: %d frame values for %d frames of 3x%dx%d", len(b.Frames), nv, cfg.Vision.Resolution, cfg.Vision.Resolution)
	}
	if cfg.Head.Type == model.SeqTransf && b.F > cfg.Head.MaxFrames {
		return 0, fmt.Errorf("train: %d frame slots, but seqTransf has %d frame positions", b.F, cfg.Head.MaxFrames)
	}
	if b.L < 2 || b.L > cfg.Text.Context || len(b.IDs) != b.B*b.L {
		return 0, fmt.Errorf("train: %d ids for %d captions of %d tokens (the text encoder takes 2 to %d)", len(b.IDs), b.B, b.L, cfg.Text.Context)
	}
	for _, id := range b.IDs {
		if id < 0 || id >= cfg.Text.VocabSize {
			return 0, fmt.Errorf("train: token id %d outside the vocabulary of %d", id, cfg.Text.VocabSize)
		}
	}
	return nv, nil
}

// Forward runs the training forward pass on b and returns the loss. The
// activations stay in the Net for Backward.
func (n *Net) Forward(b *Batch) (Loss, error) {
	nv, err := n.check(b)
	if err != nil {
		return Loss{}, err
	}
	cfg, w, a := n.Config, &n.w, &n.a
	B, F, E := b.B, b.F, cfg.EmbedDim
	a.B, a.F, a.nv = B, F, nv
	a.mask = append(a.mask[:0], b.Mask...)

	// Vision: patches as a matrix product with conv1 (model/encoder.go),
	// class token, positions, ln_pre, blocks, ln_post on the class token,
	// projection; all real frames of the batch as one batch of sequences.
	vc := cfg.Vision
	W, res, p := vc.Width, vc.Resolution, vc.PatchSize
	G2, T, P := vc.Grid()*vc.Grid(), vc.Tokens(), 3*p*p
	size := 3 * res * res
	patches := fit(&a.patches, nv*G2*P)
	parallelFor(nv, size, func(lo, hi int) {
		for f := lo; f < hi; f++ {
			extractPatches(patches[f*G2*P:(f+1)*G2*P], b.Frames[f*size:(f+1)*size], res, p)
		}
	})
	pe := fit(&a.pe, nv*G2*W)
	matmulForward(pe, patches, w.conv1, nil, nv*G2, P, W)
	vemb := fit(&a.vemb, nv*T*W)
	for f := 0; f < nv; f++ {
		copy(vemb[f*T*W:], w.class)
		copy(vemb[f*T*W+W:(f+1)*T*W], pe[f*G2*W:(f+1)*G2*W])
	}
	posForward(vemb, vemb, w.vpos, nv, T, W)
	a.vt.eps = 1e-5
	a.vt.grow(vc.Layers, nv, T, W, vc.Heads)
	layernormForward(a.vt.xs[0], fit(&a.lnPreMean, nv*T), fit(&a.lnPreRstd, nv*T), vemb, w.lnPreW, w.lnPreB, nv*T, W, 1e-5)
	a.vt.forward(w.vblocks)
	vcls := fit(&a.vcls, nv*W)
	for f := 0; f < nv; f++ {
		copy(vcls[f*W:(f+1)*W], a.vt.out()[f*T*W:])
	}
	vpost := fit(&a.vpost, nv*W)
	layernormForward(vpost, fit(&a.vpostMean, nv), fit(&a.vpostRstd, nv), vcls, w.lnPostW, w.lnPostB, nv, W, 1e-5)
	vfeat := fit(&a.vfeat, nv*E)
	matmulForward(vfeat, vpost, w.vproj, nil, nv, W, E)

	// Text: token and position embeddings, causal blocks, ln_final at the
	// end-of-text token (argmax of the ids), projection. Positions after
	// the batch's last end-of-text token cannot change the result (the mask
	// is causal), so the captions are cut there.
	tc := cfg.Text
	Wt := tc.Width
	a.eot = a.eot[:0]
	Lt := 1
	for i := 0; i < B; i++ {
		e := model.EOTIndex(b.IDs[i*b.L : (i+1)*b.L])
		a.eot = append(a.eot, e)
		Lt = max(Lt, e+1)
	}
	a.Lt = Lt
	a.ids = a.ids[:0]
	for i := 0; i < B; i++ {
		a.ids = append(a.ids, b.IDs[i*b.L:i*b.L+Lt]...)
	}
	a.tt.eps, a.tt.causal = 1e-5, true
	a.tt.grow(tc.Layers, B, Lt, Wt, tc.Heads)
	embedForward(a.tt.xs[0], w.tok, a.ids, B*Lt, Wt)
	posForward(a.tt.xs[0], a.tt.xs[0], w.tpos, B, Lt, Wt)
	a.tt.forward(w.tblocks)
	teot := fit(&a.teot, B*Wt)
	for i := 0; i < B; i++ {
		copy(teot[i*Wt:(i+1)*Wt], a.tt.out()[(i*Lt+a.eot[i])*Wt:])
	}
	tfin := fit(&a.tfin, B*Wt)
	layernormForward(tfin, fit(&a.tfinMean, B), fit(&a.tfinRstd, B), teot, w.lnFinW, w.lnFinB, B, Wt, 1e-5)
	tfeat := fit(&a.tfeat, B*E)
	matmulForward(tfeat, tfin, w.tproj, nil, B, Wt, E)

	// Head: frame features into their slots (padding slots zero: the key
	// mask and the masked mean drop them), seqTransf's transformerClip
	// with frame positions and a residual, then meanP.
	hin := fit(&a.hin, B*F*E)
	clear(hin)
	k := 0
	for i, m := range b.Mask {
		if m {
			copy(hin[i*E:(i+1)*E], vfeat[k*E:(k+1)*E])
			k++
		}
	}
	hout := hin
	if cfg.Head.Type == model.SeqTransf {
		h := &a.ht
		h.eps = 1e-12
		h.grow(cfg.Head.Layers, B, F, E, cfg.Head.Heads)
		h.keyMask = fit(&h.keyMask, B*F)
		for i, m := range b.Mask {
			h.keyMask[i] = 0
			if !m {
				h.keyMask[i] = -1e6
			}
		}
		posForward(h.xs[0], hin, w.framePos, B, F, E)
		h.forward(w.hblocks)
		hout = fit(&a.hout, B*F*E)
		for i, v := range h.out() {
			hout[i] = v + hin[i]
		}
	}
	a.hout = hout
	vvec, vnorm := fit(&a.vvec, B*E), fit(&a.vnorm, B)
	meanPForward(vvec, vnorm, fit(&a.vmean, B*E), fit(&a.fnrm, B*F*E), fit(&a.fnorm, B*F), hout, b.Mask, B, F, E)
	tvec, tnorm := fit(&a.tvec, B*E), fit(&a.tnorm, B)
	l2normForward(tvec, tnorm, tfeat, B, E)

	// Logits and the symmetric cross-entropy.
	logits := fit(&a.logits, B*B)
	a.scale = logitsForward(logits, tvec, vvec, B, B, E, w.logitScale[0])
	l, t2v, v2t := symmetricCEForward(fit(&a.prow, B*B), fit(&a.pcol, B*B), logits, B)
	return Loss{Loss: l, TextToVideo: t2v, VideoToText: v2t, Logits: logits}, nil
}

// Backward adds d loss / d weights of the last Forward into Grads.
func (n *Net) Backward() {
	cfg, w, g, a := n.Config, &n.w, &n.g, &n.a
	B, F, E, nv := a.B, a.F, cfg.EmbedDim, a.nv

	// Loss, logits, normalisation, pooling.
	dlogits := fit(&a.dlogits, B*B)
	symmetricCEBackward(dlogits, a.prow, a.pcol, B)
	dtvec, dvvec := fit(&a.dtvec, B*E), fit(&a.dvvec, B*E)
	clear(dtvec)
	clear(dvvec)
	g.logitScale[0] += logitsBackward(dtvec, dvvec, dlogits, a.tvec, a.vvec, B, B, E, w.logitScale[0], a.scale)
	dtfeat := fit(&a.dtfeat, B*E)
	clear(dtfeat)
	l2normBackward(dtfeat, dtvec, a.tvec, a.tnorm, B, E)
	dhout := fit(&a.dhout, B*F*E)
	clear(dhout)
	meanPBackward(dhout, dvvec, a.vvec, a.vnorm, a.fnrm, a.fnorm, fit(&a.dmean, B*E), fit(&a.dnrm, E), a.mask, B, F, E)

	// Head: through the residual and, for seqTransf, transformerClip and
	// the frame positions.
	dhin := dhout
	if cfg.Head.Type == model.SeqTransf {
		dhin = fit(&a.dhin, B*F*E)
		copy(dhin, dhout)
		a.ht.backward(dhout, w.hblocks, g.hblocks)
		posBackward(g.framePos, dhout, B, F, E)
		add(dhin, dhout)
	}
	dvfeat := fit(&a.dvfeat, nv*E)
	k := 0
	for i, m := range a.mask {
		if m {
			copy(dvfeat[k*E:(k+1)*E], dhin[i*E:(i+1)*E])
			k++
		}
	}

	// Text tower.
	tc := cfg.Text
	Wt, Lt := tc.Width, a.Lt
	dtfin := fit(&a.dtfin, B*Wt)
	matmulBackward(dtfin, g.tproj, nil, dtfeat, a.tfin, w.tproj, B, Wt, E)
	dteot := fit(&a.dteot, B*Wt)
	clear(dteot)
	layernormBackward(dteot, g.lnFinW, g.lnFinB, dtfin, a.teot, w.lnFinW, a.tfinMean, a.tfinRstd, B, Wt)
	dtx := fit(&a.dtx, B*Lt*Wt)
	clear(dtx)
	for i := 0; i < B; i++ {
		copy(dtx[(i*Lt+a.eot[i])*Wt:], dteot[i*Wt:(i+1)*Wt])
	}
	a.tt.backward(dtx, w.tblocks, g.tblocks)
	embedBackward(g.tok, dtx, a.ids, B*Lt, Wt)
	posBackward(g.tpos, dtx, B, Lt, Wt)

	// Vision tower.
	vc := cfg.Vision
	W, p := vc.Width, vc.PatchSize
	G2, T, P := vc.Grid()*vc.Grid(), vc.Tokens(), 3*p*p
	dvpost := fit(&a.dvpost, nv*W)
	matmulBackward(dvpost, g.vproj, nil, dvfeat, a.vpost, w.vproj, nv, W, E)
	dvcls := fit(&a.dvcls, nv*W)
	clear(dvcls)
	layernormBackward(dvcls, g.lnPostW, g.lnPostB, dvpost, a.vcls, w.lnPostW, a.vpostMean, a.vpostRstd, nv, W)
	dvx := fit(&a.dvx, nv*T*W)
	clear(dvx)
	for f := 0; f < nv; f++ {
		copy(dvx[f*T*W:f*T*W+W], dvcls[f*W:(f+1)*W])
	}
	a.vt.backward(dvx, w.vblocks, g.vblocks)
	dvemb := fit(&a.dvemb, nv*T*W)
	clear(dvemb)
	layernormBackward(dvemb, g.lnPreW, g.lnPreB, dvx, a.vemb, w.lnPreW, a.lnPreMean, a.lnPreRstd, nv*T, W)
	posBackward(g.vpos, dvemb, nv, T, W)
	dpe := fit(&a.dpe, nv*G2*W)
	for f := 0; f < nv; f++ {
		add(g.class, dvemb[f*T*W:f*T*W+W])
		copy(dpe[f*G2*W:(f+1)*G2*W], dvemb[f*T*W+W:(f+1)*T*W])
	}
	matmulBackward(nil, g.conv1, nil, dpe, a.patches, w.conv1, nv*G2, P, W)
}

// extractPatches writes the (c, ky, kx)-ordered pixels of each patch of img
// (3, res, res), patches in row-major grid order, into dst (grid^2, 3 p^2):
// conv1 as a matrix over patch vectors, as model/encoder.go does it.
func extractPatches(dst, img []float32, res, p int) {
	grid := res / p
	P := 3 * p * p
	for gy := 0; gy < grid; gy++ {
		for gx := 0; gx < grid; gx++ {
			row := dst[(gy*grid+gx)*P : (gy*grid+gx+1)*P]
			k := 0
			for c := 0; c < 3; c++ {
				for ky := 0; ky < p; ky++ {
					src := img[c*res*res+(gy*p+ky)*res+gx*p:]
					copy(row[k:k+p], src[:p])
					k += p
				}
			}
		}
	}
}

// add adds src to dst element-wise.
func add(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
