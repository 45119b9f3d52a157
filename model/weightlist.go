package model

import "clip4clip/quant"

// Weight is one of a model's named weights as the model holds it, for a
// backend that keeps its own copy (the browser's WebGPU encoders): a matrix
// in the dtype it is stored in, or a float32 vector.
type Weight struct {
	Name   string        // the canonical checkpoint key, e.g. "visual.transformer.resblocks.0.attn.in_proj_weight"
	Shape  []int         // as the model file stores it: matrices (out, in), visual.proj and text_projection (embed, width)
	Matrix *quant.Matrix // set for matrices
	Vec    []float32     // set for everything else (norms, biases, embeddings, logit_scale)
}

// Weights lists the model's weights (of its part, for LoadPart) in the
// order they were loaded, aliasing the model's own storage: callers must
// not change them, and they live as long as the model.
func (m *CLIP) Weights() []Weight {
	out := make([]Weight, len(m.params))
	for i, p := range m.params {
		out[i] = Weight{Name: p.name, Shape: p.shape}
		if p.mat != nil {
			out[i].Matrix = *p.mat
		} else {
			out[i].Vec = *p.vec
		}
	}
	return out
}
