package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"clip4clip/model"
	"clip4clip/quant"
	"clip4clip/weights"
)

// Params holds every trainable tensor of a model in one flat f32 buffer,
// in the model's own order and under its canonical names (model/clip.go),
// so that the optimiser, the gradient norm and the checkpoint each see one
// slice. Gradients are a second Params with the same layout.
type Params struct {
	Tensors []Tensor
	Data    []float32

	index map[string]int
}

// Tensor is one parameter's place in Params.Data.
type Tensor struct {
	Name  string
	Shape []int
	Off   int  // first element in Data
	Size  int  // number of elements
	Decay bool // AdamW decays it: weight matrices, not biases, norms, embeddings or the logit scale
}

// newParams lays out the tensors of sd (canonical names, any float dtype)
// and copies their values.
func newParams(sd *weights.StateDict) (*Params, error) {
	p := &Params{index: map[string]int{}}
	off := 0
	for _, name := range sd.Order {
		t := sd.Tensors[name]
		n := t.Numel()
		p.index[name] = len(p.Tensors)
		p.Tensors = append(p.Tensors, Tensor{Name: name, Shape: append([]int(nil), t.Shape...), Off: off, Size: n, Decay: decays(name, t.Shape)})
		off += n
	}
	p.Data = make([]float32, off)
	for i, name := range sd.Order {
		v, err := sd.Tensors[name].Float32()
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", name, err)
		}
		if len(v) != p.Tensors[i].Size {
			return nil, fmt.Errorf("train: %s has %d values for shape %v", name, len(v), p.Tensors[i].Shape)
		}
		copy(p.Data[p.Tensors[i].Off:], v)
	}
	return p, nil
}

// decays says whether weight decay applies to a tensor: CLIP's recipe
// exempts gains, biases, embeddings and the logit scale.
func decays(name string, shape []int) bool {
	return len(shape) == 2 && !strings.Contains(name, "embedding")
}

// zerosLike returns a Params with p's layout and zero data.
func (p *Params) zerosLike() *Params {
	return &Params{Tensors: p.Tensors, Data: make([]float32, len(p.Data)), index: p.index}
}

// Get returns the named tensor's slice of Data. Asking for a tensor the
// model does not have is a programming error and panics.
func (p *Params) Get(name string) []float32 {
	i, ok := p.index[name]
	if !ok {
		panic("train: no parameter " + name)
	}
	t := p.Tensors[i]
	return p.Data[t.Off : t.Off+t.Size : t.Off+t.Size]
}

// Has reports whether the model has the named tensor.
func (p *Params) Has(name string) bool {
	_, ok := p.index[name]
	return ok
}

// StateDict returns a copy of the tensors under their canonical names, as
// model.New takes them.
func (p *Params) StateDict() *weights.StateDict {
	sd := &weights.StateDict{}
	for _, t := range p.Tensors {
		sd.Add(weights.FromFloat32(t.Name, t.Shape, p.Data[t.Off:t.Off+t.Size]))
	}
	return sd
}

// layout returns the tensors a model of cfg has, as canonical names and
// shapes (values from model.Random, to be overwritten).
func layout(cfg model.Config) (*weights.StateDict, error) {
	m, err := model.Random(cfg, 1)
	if err != nil {
		return nil, err
	}
	return m.StateDict(quant.F32, 0)
}

// initCLIP draws the weights the way CLIP's initialize_parameters does
// (clip/model.py), applied to both towers and to CLIP4Clip's
// transformerClip: token embedding N(0, 0.02^2), text positions N(0, 0.01^2),
// in_proj N(0, 1/width), out_proj and c_proj N(0, 1/(2 layers width)),
// c_fc N(0, 1/(2 width)), projections N(0, 1/width); the vision class and
// position embeddings N(0, 1/width), conv1 U(+-1/sqrt(fan_in)) (PyTorch's
// default for Conv2d); frame positions N(0, 0.02^2) (CLIP4Clip's
// init_weights); layer norms 1 and 0, biases 0, logit_scale ln(1/0.07).
func initCLIP(p *Params, cfg model.Config, rng *rand.Rand) {
	normal := func(name string, std float64) {
		x := p.Get(name)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
	}
	fill := func(name string, v float32) {
		x := p.Get(name)
		for i := range x {
			x[i] = v
		}
	}
	blocks := func(prefix string, n, width int) {
		attn := 1 / math.Sqrt(float64(width))
		proj := attn / math.Sqrt(float64(2*max(n, 1)))
		fc := 1 / math.Sqrt(float64(2*width))
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("%s%d.", prefix, i)
			normal(k+"attn.in_proj_weight", attn)
			normal(k+"attn.out_proj.weight", proj)
			normal(k+"mlp.c_fc.weight", fc)
			normal(k+"mlp.c_proj.weight", proj)
		}
	}
	for _, t := range p.Tensors {
		switch {
		case strings.Contains(t.Name, "ln_") && strings.HasSuffix(t.Name, ".weight"):
			fill(t.Name, 1)
		default:
			fill(t.Name, 0)
		}
	}
	v, tx := cfg.Vision, cfg.Text
	bound := 1 / math.Sqrt(float64(3*v.PatchSize*v.PatchSize))
	conv := p.Get("visual.conv1.weight")
	for i := range conv {
		conv[i] = float32((2*rng.Float64() - 1) * bound)
	}
	vs := 1 / math.Sqrt(float64(v.Width))
	normal("visual.class_embedding", vs)
	normal("visual.positional_embedding", vs)
	blocks("visual.transformer.resblocks.", v.Layers, v.Width)
	normal("visual.proj", vs)
	normal("token_embedding.weight", 0.02)
	normal("positional_embedding", 0.01)
	blocks("transformer.resblocks.", tx.Layers, tx.Width)
	normal("text_projection", 1/math.Sqrt(float64(tx.Width)))
	p.Get("logit_scale")[0] = float32(math.Log(1 / 0.07))
	if p.Has("frame_position_embeddings.weight") {
		normal("frame_position_embeddings.weight", 0.02)
		blocks("transformerClip.resblocks.", cfg.Head.Layers, cfg.EmbedDim)
	}
}
