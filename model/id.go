package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"math"
	"strings"

	"clip4clip/quant"
	"clip4clip/weights"
)

// KeepDType, given to Save and StateDict, keeps every matrix in the dtype
// (and int8 block) it is stored in, so the weights are written bit for bit.
const KeepDType quant.DType = 0

// ID returns the model's identity: Meta["model_id"] where the file sets it
// (a text-only file carries its full model's ID there), otherwise the hex
// SHA-256 of a canonical serialisation of the config, every weight's name,
// shape and values as float32 (the logit scale among them), and the
// tokenizer's vocabulary and merges. Two files hold the same model exactly
// when their IDs match; an f16 copy of an f32 model is another model.
func (m *CLIP) ID() string {
	if id := m.Meta["model_id"]; id != "" {
		return id
	}
	m.idOnce.Do(func() { m.id = m.hashID() })
	return m.id
}

// hashID writes the canonical serialisation into SHA-256: a version line,
// the config as JSON, then per weight its name, rank, dims and float32
// values (little-endian), then the vocabulary and the merges, every string
// length-prefixed.
func (m *CLIP) hashID() string {
	h := sha256.New()
	io := &idWriter{h: h}
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		panic(err) // Config holds only ints, strings and bools
	}
	io.str("clip4clip model id v1")
	io.str(string(cfg))
	var buf []float32
	for _, p := range m.params {
		io.str(p.name)
		io.u64(uint64(len(p.shape)))
		for _, d := range p.shape {
			io.u64(uint64(d))
		}
		var v []float32
		if p.mat != nil {
			mat := *p.mat
			if mat.DType == quant.F32 {
				v = mat.F32
			} else {
				if cap(buf) < mat.Cols {
					buf = make([]float32, mat.Cols)
				}
				for r := 0; r < mat.Rows; r++ {
					mat.Row(buf[:mat.Cols], r)
					io.floats(buf[:mat.Cols])
				}
				continue
			}
		} else {
			v = *p.vec
		}
		io.floats(v)
	}
	if t := m.Tokenizer; t != nil {
		vocab, merges := t.Vocab(), t.Merges()
		io.u64(uint64(len(vocab)))
		for _, s := range vocab {
			io.str(s)
		}
		io.u64(uint64(len(merges)))
		for _, mg := range merges {
			io.str(mg[0])
			io.str(mg[1])
		}
	} else {
		io.str("no tokenizer")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idWriter feeds little-endian values to a hash through one buffer.
type idWriter struct {
	h   hash.Hash
	buf [4096]byte
}

func (w *idWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(w.buf[:8], v)
	w.h.Write(w.buf[:8])
}

func (w *idWriter) str(s string) {
	w.u64(uint64(len(s)))
	w.h.Write([]byte(s))
}

func (w *idWriter) floats(v []float32) {
	for len(v) > 0 {
		n := min(len(v), len(w.buf)/4)
		for i, f := range v[:n] {
			binary.LittleEndian.PutUint32(w.buf[4*i:], math.Float32bits(f))
		}
		w.h.Write(w.buf[:4*n])
		v = v[n:]
	}
}

// TextOnly returns the query side of m as a model of its own: the text
// tower, its projection, the logit scale and the tokenizer, with the
// weights copied in the dtype m stores them in (KeepDType). Its Config keeps the
// full model's vision and head description with TextOnly set, and its Meta
// records the full model's ID (model_id) and text_only "true", so an index
// built with the full model accepts it. The loose heads (meanP, seqLSTM,
// seqTransf) act on the video side only; tightTransf cannot be split.
func (m *CLIP) TextOnly() (*CLIP, error) {
	if m.Config.TextOnly {
		return m, nil
	}
	if !IsLoose(m.Config.Head.Type) {
		return nil, fmt.Errorf("model: the %s head scores each query with each video's frames, so its query side cannot stand alone; text-only files are for loose heads (%s, %s, %s)", m.Config.Head.Type, MeanP, SeqLSTM, SeqTransf)
	}
	id := m.ID()
	sd, err := exportDict(m.params, KeepDType, 0)
	if err != nil {
		return nil, err
	}
	var text weights.StateDict
	for _, name := range sd.Order {
		if isTextParam(strings.TrimSuffix(name, ".scales")) {
			text.Add(sd.Tensors[name])
		}
	}
	cfg := m.Config
	cfg.TextOnly = true
	t, err := New(cfg, &text)
	if err != nil {
		return nil, err
	}
	t.Tokenizer = m.Tokenizer
	t.Meta = maps.Clone(m.Meta)
	if t.Meta == nil {
		t.Meta = map[string]string{}
	}
	t.Meta["model_id"] = id
	t.Meta["text_only"] = "true"
	return t, nil
}

// isTextParam reports whether a canonical weight name belongs to the text
// tower, its projection or the logit scale (build's text half).
func isTextParam(name string) bool {
	switch name {
	case "token_embedding.weight", "positional_embedding", "text_projection", "logit_scale":
		return true
	}
	return strings.HasPrefix(name, "transformer.") || strings.HasPrefix(name, "ln_final.")
}
