package model

import (
	"fmt"

	"clip4clip/quant"
)

// Head holds the weights of a CLIP4Clip similarity head beyond CLIP's own
// (modules/modeling.py, module_cross.py). Which fields are set depends on
// Type; meanP has none and needs no Head.
type Head struct {
	Type string

	// seqLSTM and seqTransf
	FramePos []float32 // frame_position_embeddings.weight (positions, embed)

	// seqTransf: transformerClip, CLIP blocks with eps 1e-12
	Transf []Block // transformerClip.resblocks.N.*

	// seqLSTM: nn.LSTM(embed, embed), gates (i, f, g, o)
	LSTMIH  *quant.Matrix // lstm_visual.weight_ih_l0 (4*embed, embed)
	LSTMHH  *quant.Matrix // lstm_visual.weight_hh_l0 (4*embed, embed)
	LSTMBIH []float32     // lstm_visual.bias_ih_l0 (4*embed)
	LSTMBHH []float32     // lstm_visual.bias_hh_l0 (4*embed)

	// tightTransf: CrossModel and similarity_dense
	CrossPos   []float32     // cross.embeddings.position_embeddings.weight (positions, embed)
	Cross      []Block       // cross.transformer.resblocks.N.*
	PoolLNW    []float32     // cross.pooler.ln_pool.weight (embed)
	PoolLNB    []float32     // cross.pooler.ln_pool.bias (embed)
	PoolDense  *quant.Matrix // cross.pooler.dense.weight (embed, embed)
	PoolDenseB []float32     // cross.pooler.dense.bias (embed)
	SimDense   *quant.Matrix // similarity_dense.weight (1, embed)
	SimDenseB  []float32     // similarity_dense.bias (1)
}

// MaxFrames returns how many frames a clip may have under head: the
// frame positions of seqTransf and tightTransf, or 0 for no limit.
func (m *CLIP) MaxFrames(head string) int {
	if m.Head == nil || m.Head.Type != head {
		return 0
	}
	switch head {
	case SeqTransf:
		return m.Config.Head.MaxFrames
	case TightTransf:
		return m.Config.Head.MaxFrames
	}
	return 0
}

// newHead loads the head cfg.Head describes; meanP has no weights.
func newHead(p *params, cfg Config) (*Head, error) {
	hc := cfg.Head
	switch hc.Type {
	case "", MeanP:
		return nil, nil
	case SeqLSTM, SeqTransf, TightTransf:
	default:
		return nil, fmt.Errorf("model: unknown CLIP4Clip head %q (want %s, %s, %s or %s)", hc.Type, MeanP, SeqLSTM, SeqTransf, TightTransf)
	}
	d := cfg.EmbedDim
	if d != cfg.Text.Width {
		return nil, fmt.Errorf("model: the %s head needs embed_dim (%d) equal to the text width (%d), as CLIP4Clip's code does", hc.Type, d, cfg.Text.Width)
	}
	if hc.Heads <= 0 || d%hc.Heads != 0 || hc.MaxFrames <= 0 {
		return nil, fmt.Errorf("model: %s head with %d attention heads and %d frame positions", hc.Type, hc.Heads, hc.MaxFrames)
	}
	h := &Head{Type: hc.Type}
	switch hc.Type {
	case SeqLSTM:
		// CLIP4Clip builds frame_position_embeddings for seqLSTM too, unused.
		h.FramePos = p.vec("frame_position_embeddings.weight", hc.MaxFrames, d)
		h.LSTMIH = p.mat("lstm_visual.weight_ih_l0", 4*d, d)
		h.LSTMHH = p.mat("lstm_visual.weight_hh_l0", 4*d, d)
		h.LSTMBIH = p.vec("lstm_visual.bias_ih_l0", 4*d)
		h.LSTMBHH = p.vec("lstm_visual.bias_hh_l0", 4*d)
	case SeqTransf:
		h.FramePos = p.vec("frame_position_embeddings.weight", hc.MaxFrames, d)
		h.Transf = blocks(p, "transformerClip.resblocks.", hc.Layers, d, hc.Heads, 1e-12)
	case TightTransf:
		h.CrossPos = p.vec("cross.embeddings.position_embeddings.weight", hc.MaxFrames+1, d)
		h.Cross = blocks(p, "cross.transformer.resblocks.", hc.Layers, d, hc.Heads, 1e-12)
		h.PoolLNW = p.vec("cross.pooler.ln_pool.weight", d)
		h.PoolLNB = p.vec("cross.pooler.ln_pool.bias", d)
		h.PoolDense = p.mat("cross.pooler.dense.weight", d, d)
		h.PoolDenseB = p.vec("cross.pooler.dense.bias", d)
		h.SimDense = p.mat("similarity_dense.weight", 1, d)
		h.SimDenseB = p.vec("similarity_dense.bias", 1)
	}
	return h, nil
}
