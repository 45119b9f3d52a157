package model

import (
	"fmt"
	"math"
)

// headScratch holds the similarity heads' buffers, grown on demand.
type headScratch struct {
	x     []float32 // (frames+1, embed) sequence through a head's transformer
	orig  []float32 // (frames, embed) the head's input, for the residual
	s     *scratch
	sN    int
	gates []float32 // (4*embed) LSTM gates
	hh    []float32 // (4*embed) LSTM recurrent term
	km    []float32 // (frames+1) additive key mask
	h, c  []float32 // (embed) LSTM state
	v     []float32 // (embed)
}

func (e *Encoder) heads(n, d int) *headScratch {
	if e.hs == nil {
		e.hs = &headScratch{}
	}
	hs := e.hs
	if hs.sN < n {
		hs.x = make([]float32, n*d)
		hs.orig = make([]float32, n*d)
		hs.s = newScratch(n, d, max(1, e.m.Config.Head.Heads))
		hs.sN = n
	}
	if len(hs.v) != d {
		hs.gates, hs.hh = make([]float32, 4*d), make([]float32, 4*d)
		hs.h, hs.c, hs.v = make([]float32, d), make([]float32, d), make([]float32, d)
	}
	return hs
}

// checkHead reports whether the model can score with head.
func (m *CLIP) checkHead(head string, frames int) error {
	if m.Config.TextOnly {
		return ErrTextOnly
	}
	switch head {
	case MeanP:
		return nil
	case SeqLSTM, SeqTransf, TightTransf:
		if m.Head == nil || m.Head.Type != head {
			have := MeanP
			if m.Head != nil {
				have = m.Head.Type
			}
			return fmt.Errorf("model: the %s head needs its trained weights, and this model carries %s; use -head %s or %s", head, have, have, MeanP)
		}
		if max := m.MaxFrames(head); max > 0 && frames > max {
			return fmt.Errorf("model: %d frames, but the %s head's position embeddings allow at most %d", frames, head, max)
		}
		return nil
	}
	return fmt.Errorf("model: unknown head %q (want %s, %s, %s or %s)", head, MeanP, SeqLSTM, SeqTransf, TightTransf)
}

// IsLoose reports whether head scores text and video independently (meanP,
// seqLSTM, seqTransf), so video features can be indexed ahead of time.
func IsLoose(head string) bool { return head != TightTransf }

// VideoFeature pools a clip's frame features, (t, embed) projected CLS
// tokens as EncodeFrames returns them, into the unit vector a loose head
// compares captions with (CLIP4Clip's _loose_similarity up to the logit
// product). mask[i] false marks padding slots; valid frames come first,
// as CLIP4Clip's dataloader fills them.
func (e *Encoder) VideoFeature(dst, frames []float32, mask []bool, t int, head string) error {
	d := e.m.Config.EmbedDim
	if err := e.m.checkHead(head, t); err != nil {
		return err
	}
	if !IsLoose(head) {
		return fmt.Errorf("model: %s is a tight head: it scores each caption with each video and has no video feature", head)
	}
	if len(frames) != t*d || len(mask) != t || len(dst) < d {
		return fmt.Errorf("model: %d frame values and %d mask entries for %d frames of %d features", len(frames), len(mask), t, d)
	}
	hs := e.heads(t+1, d)
	x := hs.x[:t*d]
	copy(x, frames)
	switch head {
	case SeqLSTM:
		e.lstm(x, mask, t)
	case SeqTransf:
		e.seqTransf(x, mask, t)
	}
	// meanP pooling: normalise frames, masked mean, normalise again.
	v := dst[:d]
	clear(v)
	count := 0
	for i := 0; i < t; i++ {
		if !mask[i] {
			continue
		}
		f := x[i*d : (i+1)*d]
		L2Normalize(f)
		add(v, f)
		count++
	}
	if count > 0 {
		for k := range v {
			v[k] /= float32(count)
		}
	}
	L2Normalize(v)
	return nil
}

// lstm runs CLIP4Clip's seqLSTM on x (t, d) in place: a one-layer LSTM over
// the first sum(mask) frames (pack_padded_sequence) plus the input; later
// slots keep a multiple of the input, which normalising makes equal.
func (e *Encoder) lstm(x []float32, mask []bool, t int) {
	h := e.m.Head
	d := e.m.Config.EmbedDim
	hs := e.hs
	n := 0
	for _, m := range mask {
		if m {
			n++
		}
	}
	clear(hs.h)
	clear(hs.c)
	g := hs.gates
	tmp := hs.hh
	for s := 0; s < n; s++ {
		in := x[s*d : (s+1)*d]
		h.LSTMIH.Linear(g, in, 1, h.LSTMBIH)
		h.LSTMHH.Linear(tmp, hs.h, 1, h.LSTMBHH)
		add(g, tmp)
		for k := 0; k < d; k++ {
			i := sigmoid(g[k])
			f := sigmoid(g[d+k])
			gg := float32(math.Tanh(float64(g[2*d+k])))
			o := sigmoid(g[3*d+k])
			hs.c[k] = f*hs.c[k] + i*gg
			hs.h[k] = o * float32(math.Tanh(float64(hs.c[k])))
		}
		add(in, hs.h) // the residual: lstm output + input
	}
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// seqTransf runs CLIP4Clip's seqTransf on x (t, d) in place: + frame
// position embeddings, transformerClip with padding keys masked by -1e6,
// + the input.
func (e *Encoder) seqTransf(x []float32, mask []bool, t int) {
	h := e.m.Head
	d := e.m.Config.EmbedDim
	hs := e.hs
	orig := hs.orig[:t*d]
	copy(orig, x)
	add(x, h.FramePos[:t*d])
	keyMask := keyMask(hs, mask, 0)
	for i := range h.Transf {
		h.Transf[i].forward(x, t, false, keyMask, hs.s)
	}
	e.trace("transformerClip_out", x)
	add(x, orig)
}

// keyMask writes CLIP4Clip's additive key mask, (1 - mask) * -1e6, after
// `lead` always-valid keys, into the head scratch.
func keyMask(hs *headScratch, mask []bool, lead int) []float32 {
	if cap(hs.km) < lead+len(mask) {
		hs.km = make([]float32, lead+len(mask))
	}
	km := hs.km[:lead+len(mask)]
	clear(km)
	for i, m := range mask {
		if !m {
			km[lead+i] = -1e6
		}
	}
	return km
}

// TightLogit scores one caption feature (embed) against one clip's frame
// features (t, embed) with the tightTransf head: the caption's EOT feature
// followed by the frames, + position embeddings, the cross transformer
// (padding keys masked), the pooler on the first token (ln_pool, dense,
// QuickGELU) and similarity_dense. No normalisation, no logit scale.
func (e *Encoder) TightLogit(text, frames []float32, mask []bool, t int) (float32, error) {
	d := e.m.Config.EmbedDim
	if err := e.m.checkHead(TightTransf, t); err != nil {
		return 0, err
	}
	if len(text) != d || len(frames) != t*d || len(mask) != t {
		return 0, fmt.Errorf("model: caption of %d values, %d frame values and %d mask entries for %d frames of %d features", len(text), len(frames), len(mask), t, d)
	}
	h := e.m.Head
	hs := e.heads(t+1, d)
	n := t + 1
	x := hs.x[:n*d]
	copy(x[:d], text)
	copy(x[d:], frames)
	add(x, h.CrossPos[:n*d])
	keyMask := keyMask(hs, mask, 1)
	for i := range h.Cross {
		h.Cross[i].forward(x, n, false, keyMask, hs.s)
	}
	pooled := hs.orig[:d]
	layerNorm(pooled, x[:d], 1, d, h.PoolLNW, h.PoolLNB, 1e-12)
	dense := hs.orig[d : 2*d]
	h.PoolDense.Linear(dense, pooled, 1, h.PoolDenseB)
	quickGELU(dense)
	e.trace("cross_pooled_output", dense)
	var out [1]float32
	h.SimDense.Linear(out[:], dense, 1, h.SimDenseB)
	return out[0], nil
}

// Logits returns CLIP4Clip's get_similarity_logits for nt caption features
// (nt, embed) and nv clips of t frame features each (nv, t, embed) with
// their masks (nv, t): a (nt, nv) matrix, rows are captions. Loose heads
// give exp(logit_scale) * cos(caption, pooled video); tightTransf gives the
// cross model's score.
func (e *Encoder) Logits(head string, text []float32, nt int, frames []float32, mask []bool, nv, t int) ([]float32, error) {
	d := e.m.Config.EmbedDim
	if len(text) != nt*d || len(frames) != nv*t*d || len(mask) != nv*t {
		return nil, fmt.Errorf("model: %d caption values for %d captions, %d frame values and %d mask entries for %d clips of %d frames (features of %d)", len(text), nt, len(frames), len(mask), nv, t, d)
	}
	if err := e.m.checkHead(head, t); err != nil {
		return nil, err
	}
	out := make([]float32, nt*nv)
	if !IsLoose(head) {
		for i := 0; i < nt; i++ {
			for j := 0; j < nv; j++ {
				l, err := e.TightLogit(text[i*d:(i+1)*d], frames[j*t*d:(j+1)*t*d], mask[j*t:(j+1)*t], t)
				if err != nil {
					return nil, err
				}
				out[i*nv+j] = l
			}
		}
		return out, nil
	}
	videos := make([]float32, nv*d)
	for j := 0; j < nv; j++ {
		if err := e.VideoFeature(videos[j*d:(j+1)*d], frames[j*t*d:(j+1)*t*d], mask[j*t:(j+1)*t], t, head); err != nil {
			return nil, err
		}
	}
	scale := float32(math.Exp(float64(e.m.LogitScale)))
	tn := make([]float32, d)
	for i := 0; i < nt; i++ {
		copy(tn, text[i*d:(i+1)*d])
		L2Normalize(tn)
		for j := 0; j < nv; j++ {
			out[i*nv+j] = scale * dot(tn, videos[j*d:(j+1)*d])
		}
	}
	return out, nil
}
