package model

import (
	"fmt"
	"strings"

	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

// A Converter turns a checkpoint into a model one tensor at a time: each
// tensor is mapped to its canonical name (Canonical's mapping) and its
// matrices converted to the target dtype as it comes, so that only the
// converted weights and the tensor in hand are ever held. A ViT-B/32
// checkpoint is 605 MB of float32; converting it to int8 holds about
// 150 MB plus its largest tensor, the token embedding. Tensors may come in
// any order; a safetensors download gives them in data order as it arrives.
//
// The result is the model Canonical, New and requantizing to dtype give,
// down to the bytes of the saved file.
type Converter struct {
	Config Config
	dtype  quant.DType
	block  int
	hf     bool
	hfCfg  []byte

	target  map[string]string   // source name -> canonical name; absent: dropped
	sources map[string][]string // canonical name -> its source names (HF q, k, v: three)
	matrix  map[string]bool     // canonical names of the matrices
	pending map[string]*weights.StateDict
	out     *weights.StateDict
	added   map[string]bool // source names given to Add
}

// NewConverter plans the conversion of a checkpoint whose tensors meta
// lists by name, dtype and shape (their Data may be unset), several
// checkpoints merged into it as Canonical takes them; hfConfig is a
// Hugging Face model's config.json or nil. It infers the model's config
// and checks every tensor's name and shape before any data is read: a
// checkpoint that is not a CLIP ViT is refused here, its missing and
// unknown tensors named.
func NewConverter(meta *weights.StateDict, hfConfig []byte, dtype quant.DType, block int) (*Converter, error) {
	shapes := &weights.StateDict{}
	for _, name := range meta.Order {
		t := *meta.Tensors[name]
		t.Data = nil
		shapes.Add(&t)
	}
	cfg, canon, err := Canonical(shapes, hfConfig)
	if err != nil {
		return nil, err
	}
	p := newParams(canon)
	p.dry = true
	if _, err := build(cfg, p); err != nil {
		return nil, err
	}
	c := &Converter{Config: cfg, dtype: dtype, block: block, hfCfg: hfConfig,
		target: map[string]string{}, sources: map[string][]string{}, matrix: map[string]bool{},
		pending: map[string]*weights.StateDict{}, out: &weights.StateDict{}, added: map[string]bool{}}
	_, c.hf = shapes.Tensors["vision_model.embeddings.patch_embedding.weight"]
	for _, q := range p.list {
		if q.mat != nil {
			c.matrix[q.name] = true
		}
	}
	for _, name := range shapes.Order {
		key, err := c.canonicalName(shapes, name)
		if err != nil {
			return nil, err
		}
		if key == "" {
			continue
		}
		c.target[name] = key
		c.sources[key] = append(c.sources[key], name)
	}
	return c, nil
}

// canonicalName is the canonical tensor the source tensor name of shapes
// goes into, or "" if the conversion drops it.
func (c *Converter) canonicalName(shapes *weights.StateDict, name string) (string, error) {
	if c.hf {
		if m := hfLayer.FindStringSubmatch(name); m != nil {
			for _, p := range []string{"q", "k", "v"} {
				if strings.HasPrefix(m[3], "self_attn."+p+"_proj.") {
					prefix := "transformer.resblocks." + m[2] + "."
					if m[1] == "vision" {
						prefix = "visual." + prefix
					}
					if strings.HasSuffix(m[3], ".bias") {
						return prefix + "attn.in_proj_bias", nil
					}
					return prefix + "attn.in_proj_weight", nil
				}
			}
		}
		one := &weights.StateDict{}
		one.Add(shapes.Tensors[name])
		out, err := fromHF(one, nil)
		if err != nil || len(out.Order) == 0 {
			return "", err
		}
		return out.Order[0], nil
	}
	if key := strings.TrimPrefix(name, "clip."); key == name && shapes.Tensors["clip."+key] != nil {
		return "", nil // a CLIP4Clip checkpoint's fine-tuned copy wins
	}
	one := &weights.StateDict{}
	one.Add(shapes.Tensors[name])
	out, err := fromOpenAI(one)
	if err != nil || len(out.Order) == 0 {
		return "", err
	}
	return out.Order[0], nil
}

// Wants reports whether the conversion uses the source tensor name.
func (c *Converter) Wants(name string) bool { return c.target[name] != "" }

// Add converts the source tensor t (the checkpoint's name, its data read).
// Tensors the conversion drops are ignored.
func (c *Converter) Add(t *weights.Tensor) error {
	key := c.target[t.Name]
	if key == "" {
		return nil
	}
	if c.added[t.Name] {
		return fmt.Errorf("model: tensor %s was given twice", t.Name)
	}
	c.added[t.Name] = true
	ct, err := c.canonical(key, map[string]*weights.Tensor{t.Name: t})
	if err != nil || ct == nil {
		return err
	}
	return c.store(ct)
}

// canonical maps the given source tensors of key (all or some of them) to
// key's canonical float tensor, or nil while some of its sources (HF's q,
// k, v) are still to come.
func (c *Converter) canonical(key string, given map[string]*weights.Tensor) (*weights.Tensor, error) {
	srcs := c.sources[key]
	sd := c.pending[key]
	if sd == nil {
		sd = &weights.StateDict{}
	}
	for _, name := range srcs {
		if t, ok := given[name]; ok {
			sd.Add(t)
		}
	}
	if len(sd.Order) < len(srcs) {
		c.pending[key] = sd
		return nil, nil
	}
	delete(c.pending, key)
	var out *weights.StateDict
	var err error
	if c.hf {
		out, err = fromHF(sd, nil)
	} else {
		out, err = fromOpenAI(sd)
	}
	if err != nil {
		return nil, err
	}
	if len(out.Order) != 1 {
		return nil, fmt.Errorf("model: %s maps to %d tensors", strings.Join(srcs, ", "), len(out.Order))
	}
	return out.Tensors[out.Order[0]], nil
}

// store converts one canonical tensor as exportDict would and keeps it.
func (c *Converter) store(t *weights.Tensor) error {
	if !c.matrix[t.Name] {
		v, err := t.Float32()
		if err != nil {
			return err
		}
		c.out.Add(weights.FromFloat32(t.Name, t.Shape, v))
		return nil
	}
	if len(t.Shape) != 2 {
		return fmt.Errorf("model: %s has shape %v; want a matrix", t.Name, t.Shape)
	}
	var v []float32
	var err error
	if t.DType == weights.F32 {
		v, err = t.F32View() // no copy of the largest tensors where aligned
	} else {
		v, err = t.Float32()
	}
	if err != nil {
		return err
	}
	q, err := quant.Quantize(t.Shape[0], t.Shape[1], v, matrixDType(t.Name, c.dtype), c.block)
	if err != nil {
		return fmt.Errorf("model: %s: %w", t.Name, err)
	}
	for _, x := range matrixTensors(t.Name, t.Shape, q) {
		c.out.Add(x)
	}
	return nil
}

// Missing lists the source tensors the conversion still needs.
func (c *Converter) Missing() []string {
	var out []string
	for name := range c.target {
		if !c.added[name] {
			out = append(out, name)
		}
	}
	return out
}

// Finish builds the converted model (its weights alias the converter's,
// which it hands over).
func (c *Converter) Finish() (*CLIP, error) {
	if miss := c.Missing(); len(miss) > 0 {
		return nil, fmt.Errorf("model: %d tensors of the checkpoint were not converted (%s ...); was the download cut off?", len(miss), miss[0])
	}
	m, err := New(c.Config, c.out)
	if err != nil {
		return nil, err
	}
	c.out = nil
	return m, nil
}

// Reference returns the canonical float32 tensors called names, in the
// checkpoint's own precision (not converted to the target dtype), reading
// their source tensors with load: what the probes compare against.
func (c *Converter) Reference(load func(source string) (*weights.Tensor, error), names ...string) (*weights.StateDict, error) {
	sd := &weights.StateDict{}
	for _, key := range names {
		srcs := c.sources[key]
		if len(srcs) == 0 {
			return nil, fmt.Errorf("model: the checkpoint has no source for %s", key)
		}
		given := map[string]*weights.Tensor{}
		for _, s := range srcs {
			t, err := load(s)
			if err != nil {
				return nil, err
			}
			given[s] = t
		}
		saved := c.pending[key]
		delete(c.pending, key)
		t, err := c.canonical(key, given)
		if saved != nil {
			c.pending[key] = saved
		}
		if err != nil {
			return nil, err
		}
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		sd.Add(weights.FromFloat32(key, t.Shape, v))
	}
	return sd, nil
}

// ConvertLazy converts checkpoints read lazily (weights.OpenSafetensors,
// weights.OpenTorch; a later one's tensor replaces an earlier one's of the
// same name, as a CLIP4Clip head checkpoint given after its CLIP backbone)
// into a model of dtype with tokenizer tok (nil: none), and probes it
// against the checkpoint's own weights. progress, if set, hears after
// each tensor how many of how many are converted.
func ConvertLazy(srcs []*weights.Lazy, hfConfig []byte, dtype quant.DType, block int, tok *bpe.Tokenizer, progress func(done, total int)) (*CLIP, *Probe, error) {
	byName := map[string]*weights.LazyTensor{}
	meta := &weights.StateDict{}
	for _, l := range srcs {
		for _, t := range l.Tensors {
			byName[t.Name] = t
			meta.Add(&weights.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape})
		}
	}
	c, err := NewConverter(meta, hfConfig, dtype, block)
	if err != nil {
		return nil, nil, err
	}
	var todo []*weights.LazyTensor
	for _, l := range srcs {
		for _, t := range l.Tensors {
			if byName[t.Name] == t && c.Wants(t.Name) {
				todo = append(todo, t)
			}
		}
	}
	for i, lt := range todo {
		t, err := lt.Load()
		if err != nil {
			return nil, nil, err
		}
		if err := c.Add(t); err != nil {
			return nil, nil, err
		}
		if progress != nil {
			progress(i+1, len(todo))
		}
	}
	m, err := c.Finish()
	if err != nil {
		return nil, nil, err
	}
	if tok != nil {
		if tok.VocabSize() != m.Config.Text.VocabSize {
			return nil, nil, fmt.Errorf("model: the vocabulary has %d tokens but the text encoder %d: wrong vocabulary file?", tok.VocabSize(), m.Config.Text.VocabSize)
		}
		m.Tokenizer = tok
	}
	probe, err := c.Probe(m, func(name string) (*weights.Tensor, error) {
		lt := byName[name]
		if lt == nil {
			return nil, fmt.Errorf("model: no tensor %s", name)
		}
		return lt.Load()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("model: probing the converted model: %w", err)
	}
	return m, probe, nil
}

// ProbeMeta returns the meta entries that record probe p in a model file.
func ProbeMeta(p *Probe) map[string]string {
	mins := func(cs []float64) string {
		if len(cs) == 0 {
			return ""
		}
		m := 1.0
		for _, c := range cs {
			m = min(m, c)
		}
		return fmt.Sprintf("%.6f", m)
	}
	out := map[string]string{"probe_cosines": p.String(), "probe_cosine_image_min": mins(p.Image)}
	if s := mins(p.Text); s != "" {
		out["probe_cosine_text_min"] = s
	}
	return out
}

// ProbeWarning is the warning for a conversion whose probe falls below
// 0.99 anywhere, or "".
func ProbeWarning(p *Probe, dtype quant.DType) string {
	if p.Min >= 0.99 {
		return ""
	}
	what := "image"
	for _, c := range p.Text {
		if c == p.Min {
			what = "caption"
		}
	}
	w := fmt.Sprintf("the %s weights follow the original poorly: cosine %.4f on a probe %s (0.99 or more is good)", dtype, p.Min, what)
	if dtype == quant.Int8 {
		w += "; convert to f16 instead"
	}
	return w
}
