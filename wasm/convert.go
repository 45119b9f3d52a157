//go:build js && wasm

package main

// The in-browser conversion of a checkpoint (a Hugging Face CLIP being
// downloaded, or files the person dropped) into a model file. The worker
// keeps the checkpoint's bytes (in OPFS, or the File) and lends them
// through a synchronous readAt; convertStep converts what has arrived, so
// a safetensors download converts as it comes and memory holds only the
// converted weights and the tensor in hand.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall/js"

	clipmodel "clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/wasm/engine"
	"clip4clip/weights"
)

// conv is the conversion in progress, or nil.
var conv *conversion

type conversion struct {
	dtype     quant.DType
	block     int
	meta      map[string]string
	hfConfig  []byte
	vocabJSON []byte
	merges    []byte // merges.txt
	tok       *bpe.Tokenizer
	weights   string // the weights file's name
	r         *jsReaderAt
	c         *clipmodel.Converter
	byName    map[string]*weights.LazyTensor
	todo      []*weights.LazyTensor
	next      int
}

var errNoConversion = errors.New("no conversion is in progress in this worker; call convertBegin first")

// stepBytes bounds the source bytes one convertStep converts, so that the
// worker returns to its event loop (and its download) often.
const stepBytes = 64 << 20

func convertBegin(a *args) (any, error) {
	opts, ok := a.get(0, "an options object")
	if err := a.done(); err != nil || !ok {
		return nil, err
	}
	c := &conversion{dtype: quant.Int8, meta: map[string]string{}}
	if d := opts.Get("dtype"); d.Type() == js.TypeString {
		dt, err := quant.ParseDType(d.String())
		if err != nil {
			return nil, argError{a.name + ": " + err.Error()}
		}
		c.dtype = dt
	}
	if b := opts.Get("block"); b.Type() == js.TypeNumber {
		c.block = b.Int()
	}
	if m := opts.Get("meta"); m.Type() == js.TypeObject {
		keys := jsObject.Call("keys", m)
		for i := 0; i < keys.Length(); i++ {
			k := keys.Index(i).String()
			if v := m.Get(k); v.Type() == js.TypeString {
				c.meta[k] = v.String()
			}
		}
	}
	conv = c
	return true, nil
}

// convertFile takes a small file: config.json, vocab.json, merges.txt, or
// CLIP's bpe_simple_vocab_16e6.txt.gz.
func convertFile(a *args) (any, error) {
	if conv == nil {
		return nil, errNoConversion
	}
	name, data := a.string(0), a.bytes(1)
	if err := a.done(); err != nil {
		return nil, err
	}
	switch base := name[strings.LastIndex(name, "/")+1:]; {
	case base == "config.json":
		if err := clipmodel.CheckHFConfig(data); err != nil {
			return nil, err
		}
		conv.hfConfig = data
	case base == "vocab.json":
		conv.vocabJSON = data
	case base == "merges.txt":
		conv.merges = data
	case strings.HasSuffix(base, ".txt.gz") || strings.HasSuffix(base, ".txt"):
		t, err := bpe.FromCLIPMerges(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		conv.tok = t
	default:
		return nil, argError{fmt.Sprintf("%s: %s is not a file a conversion takes (config.json, vocab.json, merges.txt, bpe_simple_vocab_16e6.txt.gz)", a.name, name)}
	}
	if conv.vocabJSON != nil && conv.merges != nil && conv.tok == nil {
		t, err := bpe.FromHF(conv.vocabJSON, conv.merges)
		if err != nil {
			return nil, fmt.Errorf("vocab.json / merges.txt: %w", err)
		}
		conv.tok = t
	}
	return true, nil
}

// convertWeights opens the weights file once enough of it is there: a
// safetensors file's header, a zip archive (.bin, .pt) whole.
func convertWeights(a *args) (any, error) {
	if conv == nil {
		return nil, errNoConversion
	}
	name, size, fn, avail := a.string(0), a.int(1), a.fn(2), a.int(3)
	if err := a.done(); err != nil {
		return nil, err
	}
	if conv.c != nil {
		return nil, argError{a.name + ": this conversion already has its weights file " + conv.weights}
	}
	r := &jsReaderAt{fn: fn, size: int64(size), avail: int64(avail)}
	need := func(n int64) (any, error) {
		o := jsObject.New()
		o.Set("need", float64(n))
		return o, nil
	}
	var l *weights.Lazy
	var err error
	if strings.HasSuffix(name, ".safetensors") {
		if size < 8 {
			return nil, &weights.FormatError{File: name, Msg: fmt.Sprintf("%d bytes: too short to be a safetensors file (truncated download?)", size)}
		}
		if avail < 8 {
			return need(8)
		}
		first := make([]byte, 8)
		if _, err := r.ReadAt(first, 0); err != nil {
			return nil, err
		}
		hs, err := weights.SafetensorsHeaderSize(first, int64(size), name)
		if err != nil {
			return nil, err
		}
		if int64(avail) < hs {
			return need(hs)
		}
		l, err = weights.OpenSafetensors(r, int64(size), name)
		if err != nil {
			return nil, err
		}
	} else {
		if avail < size {
			return need(int64(size))
		}
		if l, err = weights.OpenTorch(r, int64(size), name); err != nil {
			return nil, err
		}
	}
	meta := &weights.StateDict{}
	for _, t := range l.Tensors {
		meta.Add(&weights.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape})
	}
	c, err := clipmodel.NewConverter(meta, conv.hfConfig, conv.dtype, conv.block)
	if err != nil {
		return nil, &clipmodel.NotCLIPError{Msg: name + " is not a CLIP ViT checkpoint: " + strings.TrimPrefix(err.Error(), "model: ")}
	}
	conv.c, conv.r, conv.weights = c, r, name
	conv.byName = map[string]*weights.LazyTensor{}
	for _, t := range l.Tensors {
		conv.byName[t.Name] = t
		if c.Wants(t.Name) {
			conv.todo = append(conv.todo, t)
		}
	}
	o := jsObject.New()
	o.Set("tensors", len(conv.todo))
	o.Set("total", size)
	return o, nil
}

// convertStep converts the tensors whose bytes lie within the first
// `available` bytes of the weights file.
func convertStep(a *args) (any, error) {
	if conv == nil || conv.c == nil {
		return nil, errNoConversion
	}
	avail := int64(a.int(0))
	if err := a.done(); err != nil {
		return nil, err
	}
	conv.r.avail = max(conv.r.avail, avail)
	var did int64
	for conv.next < len(conv.todo) && conv.todo[conv.next].End <= conv.r.avail && did < stepBytes {
		lt := conv.todo[conv.next]
		t, err := lt.Load()
		if err != nil {
			return nil, err
		}
		if err := conv.c.Add(t); err != nil {
			return nil, err
		}
		did += int64(len(t.Data))
		conv.next++
	}
	o := jsObject.New()
	o.Set("done", conv.next)
	o.Set("total", len(conv.todo))
	need := conv.r.size
	if conv.next < len(conv.todo) {
		need = conv.todo[conv.next].End
	}
	o.Set("need", float64(need))
	return o, nil
}

// convertFinish builds the model, probes it against the checkpoint's own
// weights and writes the model file through write(u8) in pieces.
func convertFinish(a *args) (any, error) {
	if conv == nil || conv.c == nil {
		return nil, errNoConversion
	}
	write := a.fn(0)
	if err := a.done(); err != nil {
		return nil, err
	}
	c := conv
	if c.next < len(c.todo) {
		return nil, fmt.Errorf("%d of %d tensors are converted: the weights file is not all there yet", c.next, len(c.todo))
	}
	if c.tok == nil {
		return nil, fmt.Errorf("no vocabulary: give vocab.json and merges.txt (Hugging Face) or CLIP's bpe_simple_vocab_16e6.txt.gz (OpenAI)")
	}
	m, err := c.c.Finish()
	if err != nil {
		return nil, err
	}
	if c.tok.VocabSize() != m.Config.Text.VocabSize {
		return nil, fmt.Errorf("the vocabulary has %d tokens but the text encoder %d: wrong vocabulary file?", c.tok.VocabSize(), m.Config.Text.VocabSize)
	}
	m.Tokenizer = c.tok
	probe, err := c.c.Probe(m, func(name string) (*weights.Tensor, error) {
		lt := c.byName[name]
		if lt == nil {
			return nil, fmt.Errorf("no tensor %s in %s", name, c.weights)
		}
		return lt.Load()
	})
	if err != nil {
		return nil, fmt.Errorf("probing the converted model: %w", err)
	}
	m.Meta = map[string]string{"dtype": c.dtype.String(), "converted_by": "clip4clip page"}
	if _, ok := c.meta["source"]; !ok {
		m.Meta["source"] = c.weights
	}
	for k, v := range c.meta {
		m.Meta[k] = v
	}
	for k, v := range clipmodel.ProbeMeta(probe) {
		m.Meta[k] = v
	}
	warning := clipmodel.ProbeWarning(probe, c.dtype)
	if warning != "" {
		m.Meta["probe_warning"] = warning
	}
	conv.c, conv.byName, conv.todo = nil, nil, nil
	// What a weak match is for this model, measured once here so that
	// loading the file need not (engine/calibrate.go).
	e, err := engine.FromModel(m)
	if err != nil {
		return nil, err
	}
	cal, err := e.Calibrate()
	if err != nil {
		return nil, fmt.Errorf("calibrating the converted model: %w", err)
	}
	m.Meta[clipmodel.CalibrationKey] = cal.MarshalMeta()
	w := &jsWriter{fn: write, h: sha256.New()}
	if err := m.Save(w, clipmodel.KeepDType, 0); err != nil {
		return nil, err
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	o := jsObject.New()
	o.Set("bytes", float64(w.n))
	o.Set("sha256", hex.EncodeToString(w.h.Sum(nil)))
	o.Set("id", m.ID())
	o.Set("dtype", c.dtype.String())
	pr := jsObject.New()
	pr.Set("image", floats(probe.Image))
	pr.Set("text", floats(probe.Text))
	pr.Set("min", probe.Min)
	o.Set("probes", pr)
	if warning != "" {
		o.Set("warning", warning)
	}
	mt := jsObject.New()
	for k, v := range m.Meta {
		mt.Set(k, v)
	}
	o.Set("meta", mt)
	conv = nil
	m = nil
	runtime.GC()
	debug.FreeOSMemory()
	return o, nil
}

func convertAbort(a *args) (any, error) {
	conv = nil
	runtime.GC()
	debug.FreeOSMemory()
	return true, nil
}

func floats(v []float64) js.Value {
	arr := js.Global().Get("Array").New(len(v))
	for i, x := range v {
		arr.SetIndex(i, x)
	}
	return arr
}

// jsReaderAt reads a file the worker holds through its readAt(u8, offset)
// callback, in pieces of at most ioPiece bytes through one reused
// Uint8Array.
type jsReaderAt struct {
	fn          js.Value
	size, avail int64
	buf         js.Value
}

const ioPiece = 4 << 20

func (r *jsReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > r.size {
		return 0, fmt.Errorf("read at %d of a %d-byte file", off, r.size)
	}
	n := 0
	var err error
	if end := off + int64(len(p)); end > r.size {
		p, err = p[:r.size-off], io.EOF
	}
	if off+int64(len(p)) > r.avail {
		return 0, fmt.Errorf("bytes %d..%d of the file are not there yet (%d of %d arrived)", off, off+int64(len(p)), r.avail, r.size)
	}
	if r.buf.IsUndefined() {
		r.buf = jsUint8Array.New(ioPiece)
	}
	for n < len(p) {
		k := min(len(p)-n, ioPiece)
		view := r.buf
		if k < ioPiece {
			view = r.buf.Call("subarray", 0, k)
		}
		if _, err := invoke(r.fn, view, float64(off+int64(n))); err != nil {
			return n, fmt.Errorf("reading the file at %d: %w", off+int64(n), err)
		}
		js.CopyBytesToGo(p[n:n+k], view)
		n += k
	}
	return n, err
}

// jsWriter hands the model file to write(u8) in pieces of ioPiece bytes,
// hashing it on the way.
type jsWriter struct {
	fn  js.Value
	h   hash.Hash
	buf []byte
	u8  js.Value
	n   int64
}

func (w *jsWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), ioPiece-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ioPiece {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return total, nil
}

func (w *jsWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.u8.IsUndefined() {
		w.u8 = jsUint8Array.New(ioPiece)
	}
	view := w.u8.Call("subarray", 0, len(w.buf))
	js.CopyBytesToJS(view, w.buf)
	_, err := invoke(w.fn, view)
	w.n += int64(len(w.buf))
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("storing the model file: %w", err)
	}
	return nil
}

// invoke calls a JS callback; an exception it throws (a full storage
// quota, a read error) comes back as an error, as does a returned
// {error} object.
func invoke(fn js.Value, args ...any) (res js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = fmt.Errorf("%s", je.Value.Get("message").String())
				if name := je.Value.Get("name"); name.Type() == js.TypeString && name.String() != "Error" {
					err = fmt.Errorf("%s: %s", name.String(), je.Value.Get("message").String())
				}
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	res = fn.Invoke(args...)
	if res.Type() == js.TypeObject && res.Get("error").Truthy() {
		return res, fmt.Errorf("%s", res.Get("error").String())
	}
	return res, nil
}
