package model

import (
	"errors"
	"fmt"

	"clip4clip/quant"
)

// ErrTextOnly is returned when a text-only model (Config.TextOnly) is asked
// for anything on the video side.
var ErrTextOnly = errors.New("model: text-only model: it cannot embed frames; use the full model file")

// Encoder runs a CLIP's encoders with scratch buffers allocated once. It is
// not safe for concurrent use; make one per goroutine (they share weights).
type Encoder struct {
	m *CLIP

	// Trace, if set, receives named intermediate activations (batch-first,
	// row-major), e.g. "vision_block0_out" (tokens, width). The text tower
	// then runs ln_final over every position, so tests can compare all of
	// them with the reference.
	Trace func(stage string, data []float32)

	vx      []float32 // (tokens, vision width) residual stream
	vs      *scratch  // vision block scratch
	patches []float32 // (grid*grid, taps*3*patch*patch) patch vectors
	vcls    []float32 // (vision width) ln_post of the class token

	tx   []float32 // (context, text width) residual stream
	ts   *scratch  // text block scratch
	trow []float32 // (text width) ln_final of the end-of-text token

	hs *headScratch // similarity heads, allocated on first use
}

// NewEncoder allocates an Encoder's buffers for m.
func (m *CLIP) NewEncoder() *Encoder {
	v, t := m.Config.Vision, m.Config.Text
	taps := 1
	if v.Patch == "3d" {
		taps = 3
	}
	e := &Encoder{
		m:    m,
		tx:   make([]float32, t.Context*t.Width),
		ts:   newScratch(t.Context, t.Width, t.Heads),
		trow: make([]float32, t.Width),
	}
	if !m.Config.TextOnly {
		e.vx = make([]float32, v.Tokens()*v.Width)
		e.vs = newScratch(v.Tokens(), v.Width, v.Heads)
		e.patches = make([]float32, v.Grid()*v.Grid()*taps*3*v.PatchSize*v.PatchSize)
		e.vcls = make([]float32, v.Width)
	}
	return e
}

// Model returns the CLIP the encoder runs.
func (e *Encoder) Model() *CLIP { return e.m }

func (e *Encoder) trace(stage string, data []float32) {
	if e.Trace != nil {
		e.Trace(stage, data)
	}
}

// EncodeImage writes CLIP's encode_image of one preprocessed image
// (3, resolution, resolution) into dst (embed_dim): the projected class
// token, not normalised. A 3d-patch model sees the image as a one-frame clip.
func (e *Encoder) EncodeImage(dst, pixels []float32) error {
	return e.EncodeFrames(dst, pixels, 1)
}

// EncodeFrames encodes the t frames of one clip, (t, 3, res, res), into dst
// (t, embed_dim). Frames are independent for the 2d patch embedding; the
// 3d one convolves each frame with its neighbours, zero beyond the clip's
// first and last slot, as CLIP4Clip's conv2 (module_clip.py). Masked slots
// must be all-zero input, as CLIP4Clip's dataloader makes them.
func (e *Encoder) EncodeFrames(dst, frames []float32, t int) error {
	if e.m.Config.TextOnly {
		return ErrTextOnly
	}
	v := e.m.Config.Vision
	size := 3 * v.Resolution * v.Resolution
	if t <= 0 || len(frames) != t*size {
		return fmt.Errorf("model: %d values for %d frames of 3x%dx%d", len(frames), t, v.Resolution, v.Resolution)
	}
	if len(dst) < t*e.m.Config.EmbedDim {
		return fmt.Errorf("model: output of %d values for %d frames of %d features", len(dst), t, e.m.Config.EmbedDim)
	}
	pp := 3 * v.PatchSize * v.PatchSize
	for s := 0; s < t; s++ {
		if v.Patch == "3d" {
			for j := 0; j < 3; j++ {
				f := s + j - 1
				if f < 0 || f >= t {
					for i := 0; i < v.Grid()*v.Grid(); i++ {
						clear(e.patches[i*3*pp+j*pp : i*3*pp+(j+1)*pp])
					}
					continue
				}
				extractPatches(e.patches, 3*pp, j*pp, frames[f*size:(f+1)*size], v.Resolution, v.PatchSize)
			}
			e.encodePatches(dst[s*e.m.Config.EmbedDim:(s+1)*e.m.Config.EmbedDim], e.m.Vision.Conv2)
		} else {
			extractPatches(e.patches, pp, 0, frames[s*size:(s+1)*size], v.Resolution, v.PatchSize)
			e.encodePatches(dst[s*e.m.Config.EmbedDim:(s+1)*e.m.Config.EmbedDim], e.m.Vision.Conv1)
		}
	}
	return nil
}

// extractPatches writes the (c, ky, kx)-ordered pixels of each patch of img
// (3, res, res), patches in row-major grid order, into dst row i at
// dst[i*stride+off:].
func extractPatches(dst []float32, stride, off int, img []float32, res, patch int) {
	grid := res / patch
	for gy := 0; gy < grid; gy++ {
		for gx := 0; gx < grid; gx++ {
			row := dst[(gy*grid+gx)*stride+off:]
			k := 0
			for c := 0; c < 3; c++ {
				for ky := 0; ky < patch; ky++ {
					src := img[c*res*res+(gy*patch+ky)*res+gx*patch:]
					copy(row[k:k+patch], src[:patch])
					k += patch
				}
			}
		}
	}
}

// encodePatches runs VisionTransformer.forward from the patch embedding on:
// conv (as a matrix over the patch vectors), class token, positional
// embedding, ln_pre, the blocks, ln_post on the class token, projection.
func (e *Encoder) encodePatches(dst []float32, conv *quant.Matrix) {
	v := e.m.Vision
	cfg := e.m.Config.Vision
	w, n := cfg.Width, cfg.Tokens()
	x := e.vx
	conv.Linear(x[w:], e.patches, n-1, nil)
	e.trace("vision_conv1_out", x[w:n*w])
	copy(x[:w], v.Class)
	add(x[:n*w], v.Pos)
	layerNorm(x, x, n, w, v.LNPreW, v.LNPreB, 1e-5)
	e.trace("vision_ln_pre_out", x[:n*w])
	for i := range v.Blocks {
		v.Blocks[i].forward(x, n, false, nil, e.vs)
		if e.Trace != nil {
			e.Trace(fmt.Sprintf("vision_block%d_out", i), x[:n*w])
		}
	}
	layerNorm(e.vcls, x[:w], 1, w, v.LNPostW, v.LNPostB, 1e-5)
	e.trace("vision_ln_post_out", e.vcls)
	v.Proj.Linear(dst, e.vcls, 1, nil)
}

// EOTIndex returns where CLIP pools a caption: the first position of the
// largest id (text.argmax(dim=-1)), which is the end-of-text token.
func EOTIndex(ids []int) int {
	best := 0
	for i, id := range ids {
		if id > ids[best] {
			best = i
		}
	}
	return best
}

// EncodeText writes CLIP's encode_text of one tokenized caption (start and
// end tokens included, padding optional) into dst (embed_dim), not
// normalised. Only positions up to the end-of-text token are computed:
// the mask is causal, so later positions cannot change the result.
func (e *Encoder) EncodeText(dst []float32, ids []int) error {
	t := e.m.Config.Text
	if len(ids) == 0 || len(ids) > t.Context {
		return fmt.Errorf("model: %d tokens; the text encoder takes 1 to %d", len(ids), t.Context)
	}
	if len(dst) < e.m.Config.EmbedDim {
		return fmt.Errorf("model: output of %d values for %d features", len(dst), e.m.Config.EmbedDim)
	}
	for _, id := range ids {
		if id < 0 || id >= t.VocabSize {
			return fmt.Errorf("model: token id %d outside the vocabulary of %d", id, t.VocabSize)
		}
	}
	eot := EOTIndex(ids)
	n := eot + 1
	if e.Trace != nil {
		n = len(ids) // compute every position so each can be compared
	}
	w := t.Width
	x := e.tx[:n*w]
	tx := &e.m.Text
	for i := 0; i < n; i++ {
		tx.TokenEmb.Row(x[i*w:(i+1)*w], ids[i])
	}
	add(x, tx.Pos[:n*w])
	e.trace("text_embed_out", x)
	for i := range tx.Blocks {
		tx.Blocks[i].forward(x, n, true, nil, e.ts)
		if e.Trace != nil {
			e.Trace(fmt.Sprintf("text_block%d_out", i), x)
		}
	}
	if e.Trace != nil {
		all := make([]float32, n*w)
		layerNorm(all, x, n, w, tx.LNFinalW, tx.LNFinalB, 1e-5)
		e.trace("text_ln_final_out", all)
	}
	layerNorm(e.trow, x[eot*w:(eot+1)*w], 1, w, tx.LNFinalW, tx.LNFinalB, 1e-5)
	tx.Proj.Linear(dst, e.trow, 1, nil)
	return nil
}
