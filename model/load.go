package model

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

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
	if len(f.Vocab) > 0 {
		if m.Tokenizer, err = bpe.New(f.Vocab, f.Merges); err != nil {
			return nil, fmt.Errorf("model: the stored tokenizer: %w", err)
		}
		if m.Tokenizer.VocabSize() != cfg.Text.VocabSize {
			return nil, fmt.Errorf("model: the stored tokenizer has %d tokens, the text encoder %d", m.Tokenizer.VocabSize(), cfg.Text.VocabSize)
		}
	}
	return m, nil
}

// Save writes the model as a model file with its matrices in dtype (int8:
// one scale per `block` elements of a row, 0 for one per row; KeepDType
// writes each matrix as it is stored), together with its tokenizer and meta.
func (m *CLIP) Save(w io.Writer, dtype quant.DType, block int) error {
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
// whole file is written.
func (m *CLIP) SaveFile(path string, dtype quant.DType, block int) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := m.Save(f, dtype, block); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
