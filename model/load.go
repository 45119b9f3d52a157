package model

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"clip4clip/internal/atomicfile"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

// Load builds a model from the bytes of a model file (weights.ModelFile).
// Weights are used in place, so data must not change while the model lives.
func Load(data []byte) (*CLIP, error) {
	f, err := weights.ReadModel(data)
	if err != nil {
		return nil, err
	}
	return fromFile(f)
}

// LoadFile reads the model file at path and builds the model.
func LoadFile(path string) (*CLIP, error) {
	f, err := weights.ReadModelFile(path)
	if err != nil {
		return nil, err
	}
	m, err := fromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func fromFile(f *weights.ModelFile) (*CLIP, error) {
	var cfg Config
	if err := json.Unmarshal(f.Config, &cfg); err != nil {
		return nil, &weights.FormatError{Msg: "config in the header is not valid: " + err.Error()}
	}
	m, err := New(cfg, f.Tensors)
	if err != nil {
		return nil, err
	}
	m.Meta = f.Meta
	if m.Tokenizer, err = tokenizer(f, cfg); err != nil {
		return nil, err
	}
	return m, nil
}

// tokenizer builds the tokenizer f stores, or nil if it stores none.
func tokenizer(f *weights.ModelFile, cfg Config) (*bpe.Tokenizer, error) {
	if len(f.Vocab) == 0 {
		return nil, nil
	}
	t, err := bpe.New(f.Vocab, f.Merges)
	if err != nil {
		return nil, fmt.Errorf("model: the stored tokenizer: %w", err)
	}
	if t.VocabSize() != cfg.Text.VocabSize {
		return nil, fmt.Errorf("model: the stored tokenizer has %d tokens, the text encoder %d", t.VocabSize(), cfg.Text.VocabSize)
	}
	return t, nil
}

// ParsePart returns the part named s: "" or "all" (WholeModel), "text"
// (QueryPart) or "vision" (FramePart).
func ParsePart(s string) (Part, error) {
	switch Part(s) {
	case WholeModel, "all":
		return WholeModel, nil
	case QueryPart, FramePart:
		return Part(s), nil
	}
	return "", fmt.Errorf("model: unknown part %q (want all, text or vision)", s)
}

// Needs reports whether part of a model of config cfg uses the tensor
// called name (an int8 matrix's ".scales" go with it): what a
// weights.PlanModel of the part keeps.
func (part Part) Needs(cfg Config, name string) bool {
	name = strings.TrimSuffix(name, ".scales")
	vision := strings.HasPrefix(name, "visual.")
	switch part {
	case FramePart:
		return vision
	case QueryPart:
		if isTextParam(name) {
			return true
		}
		// Everything else that is not the vision tower is the head's: the
		// query worker pools with a loose head; a tight one it replaces
		// with meanP (engine), and a text-only file has no head weights.
		return !vision && IsLoose(cfg.Head.Type) && !cfg.TextOnly
	}
	return true
}

// PartConfig returns the configuration of the model in f (its header is
// enough) that Needs and LoadPart read part of it with, or why the file
// cannot give that part.
func PartConfig(f *weights.ModelFile, part Part) (Config, error) {
	if _, err := ParsePart(string(part)); err != nil {
		return Config{}, err
	}
	var cfg Config
	if err := json.Unmarshal(f.Config, &cfg); err != nil {
		return Config{}, &weights.FormatError{Msg: "config in the header is not valid: " + err.Error()}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	if part == FramePart && cfg.TextOnly {
		return Config{}, fmt.Errorf("model: a text-only model file holds no vision tower, so it cannot embed frames; load the full model file")
	}
	return cfg, nil
}

// LoadPart builds part of the model in f, whose Tensors hold at least the
// tensors part Needs (weights.Plan copies just those; others are ignored).
// A FramePart embeds frames only; a QueryPart embeds text, pools frame
// features with the head and scores. Config.Part records which part it is.
// A part's weights do not determine the model, so its ID is the file's
// model_id meta (a text-only file's) or "". A text-only file's QueryPart is
// the whole file; it has no FramePart.
func LoadPart(f *weights.ModelFile, part Part) (*CLIP, error) {
	cfg, err := PartConfig(f, part)
	if err != nil {
		return nil, err
	}
	if part == WholeModel || (part == QueryPart && cfg.TextOnly) {
		return fromFile(f)
	}
	sd := &weights.StateDict{}
	for _, name := range f.Tensors.Order {
		if part.Needs(cfg, name) {
			sd.Add(f.Tensors.Tensors[name])
		}
	}
	p := newParams(sd)
	m := &CLIP{Meta: f.Meta}
	if part == FramePart {
		m.Vision = vision(p, cfg)
	} else {
		if err := m.textSide(p, cfg, IsLoose(cfg.Head.Type)); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	m.params = p.list
	cfg.Part = part
	m.Config = cfg
	if part == QueryPart {
		var err error
		if m.Tokenizer, err = tokenizer(f, cfg); err != nil {
			return nil, err
		}
	}
	m.idOnce.Do(func() {}) // ID: the meta's model_id or "", never a hash of part of the weights
	return m, nil
}

// Save writes the model as a model file with its matrices in dtype (int8:
// one scale per `block` elements of a row, 0 for one per row; KeepDType
// writes each matrix as it is stored), together with its tokenizer and meta.
func (m *CLIP) Save(w io.Writer, dtype quant.DType, block int) error {
	if m.Config.Part != WholeModel {
		return fmt.Errorf("model: this model holds only its %s part (LoadPart); save the whole model", m.Config.Part)
	}
	sd, err := m.StateDict(dtype, block)
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	f := &weights.ModelFile{Config: cfg, Meta: m.Meta, Tensors: sd}
	if m.Tokenizer != nil {
		f.Vocab, f.Merges = m.Tokenizer.Vocab(), m.Tokenizer.Merges()
	}
	return weights.WriteModel(w, f)
}

// SaveFile writes the model to path (see Save), replacing it only once the
// whole file is written and synced (atomicfile.WriteFile).
func (m *CLIP) SaveFile(path string, dtype quant.DType, block int) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error { return m.Save(w, dtype, block) })
}
