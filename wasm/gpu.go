//go:build js && wasm

package main

import (
	"unsafe"

	"syscall/js"

	"clip4clip/quant"
)

// What the page's WebGPU encoders (web/lib/gpu/) ask of the engine: the
// loaded model's weights, without a second parser of the model file, and
// the frame preprocessing and tokenizer, which stay in Go.

var jsInt32Array = js.Global().Get("Int32Array")

// pixels preprocesses one RGBA frame as embedFrame does and returns the
// image encoder's input, (3, res, res) float32.
func pixels(a *args) (any, error) {
	rgba := a.bytesInto(0, &scratch)
	w, h := a.int(1), a.int(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	res := e.Info().Resolution
	out := make([]float32, 3*res*res)
	if err := e.Pixels(out, rgba, w, h); err != nil {
		return nil, err
	}
	return float32Array(out), nil
}

// tokenize returns the token ids embedQuery would encode for a text.
func tokenize(a *args) (any, error) {
	text := a.string(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	ids, truncated, err := e.Tokenize(text)
	if err != nil {
		return nil, err
	}
	arr := jsInt32Array.New(len(ids))
	for i, id := range ids {
		arr.SetIndex(i, id)
	}
	o := jsObject.New()
	o.Set("ids", arr)
	o.Set("truncated", truncated)
	o.Set("context", e.Model().Config.Text.Context)
	return o, nil
}

// weightList describes every weight of the loaded model (or part) by its
// checkpoint name and shape (matrix: true for a quant.Matrix, whatever its
// dtype), with where its bytes are in this instance's
// memory: ptr and bytes (little-endian f32, f16 or int8, row-major) and,
// for int8, scalesPtr and scalesBytes (float32, (rows, ceil(cols/block))).
// The caller reads them as new Uint8Array(memory.buffer, ptr, bytes)
// before it calls into Go again: no copy is made, and the model keeps the
// memory alive (Go's collector does not move objects) until another model
// loads. Vectors (norms, biases, embeddings) are f32.
func weightList(a *args) (any, error) {
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	list := e.Weights()
	out := make([]any, len(list))
	for i, w := range list {
		o := jsObject.New()
		o.Set("name", w.Name)
		shape := make([]any, len(w.Shape))
		for j, d := range w.Shape {
			shape[j] = d
		}
		o.Set("shape", shape)
		if m := w.Matrix; m != nil {
			o.Set("matrix", true)
			o.Set("dtype", m.DType.String())
			switch m.DType {
			case quant.F32:
				setView(o, "", unsafe.Pointer(unsafe.SliceData(m.F32)), 4*len(m.F32))
			case quant.F16:
				setView(o, "", unsafe.Pointer(unsafe.SliceData(m.F16)), 2*len(m.F16))
			case quant.Int8:
				setView(o, "", unsafe.Pointer(unsafe.SliceData(m.I8)), len(m.I8))
				setView(o, "scales", unsafe.Pointer(unsafe.SliceData(m.Scales)), 4*len(m.Scales))
				o.Set("block", m.Block)
			}
		} else {
			o.Set("dtype", "f32")
			setView(o, "", unsafe.Pointer(unsafe.SliceData(w.Vec)), 4*len(w.Vec))
		}
		out[i] = o
	}
	return out, nil
}

// setView sets o's ptr and bytes (prefix "": as they are; "scales":
// scalesPtr, scalesBytes) to a slice's address in linear memory and size.
func setView(o js.Value, prefix string, p unsafe.Pointer, n int) {
	ptr, bytes := "ptr", "bytes"
	if prefix != "" {
		ptr, bytes = prefix+"Ptr", prefix+"Bytes"
	}
	o.Set(ptr, float64(uintptr(p)))
	o.Set(bytes, n)
}
