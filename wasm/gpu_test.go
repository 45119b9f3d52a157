//go:build js && wasm

package main

import (
	"testing"
	"unsafe"

	"clip4clip/quant"
	"clip4clip/weights"
)

// TestGPUBindings: weights describes every weight where Go holds it (the
// address and size of the model's own slices), pixels is embedFrame's
// preprocessing and tokenize embedQuery's ids.
func TestGPUBindings(t *testing.T) {
	call := bindings(t)
	wantError(t, "weights", call("weights"), "state", "no model is loaded")
	info := call("loadModel", uint8Array(weights.Default()))
	if info.Get("error").Truthy() {
		t.Fatalf("loadModel: %s", info.Get("error").String())
	}
	list := call("weights")
	ws := eng.Weights()
	if list.Length() != len(ws) {
		t.Fatalf("weights: %d entries, the model has %d", list.Length(), len(ws))
	}
	for i, w := range ws {
		o := list.Index(i)
		if o.Get("name").String() != w.Name || o.Get("shape").Length() != len(w.Shape) {
			t.Fatalf("weights[%d]: %s %v, want %s %v", i, o.Get("name").String(), o.Get("shape"), w.Name, w.Shape)
		}
		ptr, n := uintptr(o.Get("ptr").Float()), o.Get("bytes").Int()
		var want unsafe.Pointer
		var wantN int
		dtype := "f32"
		switch m := w.Matrix; {
		case m == nil:
			want, wantN = unsafe.Pointer(unsafe.SliceData(w.Vec)), 4*len(w.Vec)
		case m.DType == quant.F16:
			want, wantN, dtype = unsafe.Pointer(unsafe.SliceData(m.F16)), 2*len(m.F16), "f16"
		case m.DType == quant.Int8:
			want, wantN, dtype = unsafe.Pointer(unsafe.SliceData(m.I8)), len(m.I8), "int8"
			if uintptr(o.Get("scalesPtr").Float()) != uintptr(unsafe.Pointer(unsafe.SliceData(m.Scales))) || o.Get("scalesBytes").Int() != 4*len(m.Scales) || o.Get("block").Int() != m.Block {
				t.Errorf("%s: the scales' view is wrong", w.Name)
			}
		default:
			want, wantN = unsafe.Pointer(unsafe.SliceData(m.F32)), 4*len(m.F32)
		}
		if o.Get("matrix").Truthy() != (w.Matrix != nil) {
			t.Errorf("%s: matrix %v", w.Name, o.Get("matrix"))
		}
		if ptr != uintptr(want) || n != wantN || o.Get("dtype").String() != dtype {
			t.Errorf("%s: %s at %#x, %d bytes; want %s at %#x, %d bytes", w.Name, o.Get("dtype").String(), ptr, n, dtype, want, wantN)
		}
	}

	res := info.Get("resolution").Int()
	frame := make([]byte, 4*40*30)
	for i := range frame {
		frame[i] = byte(i * 13)
	}
	pix := call("pixels", uint8Array(frame), 40, 30)
	want := make([]float32, 3*res*res)
	if err := eng.Pixels(want, frame, 40, 30); err != nil {
		t.Fatal(err)
	}
	if !pix.InstanceOf(jsFloat32Array) || pix.Length() != len(want) {
		t.Fatalf("pixels: %v", pix)
	}
	for _, i := range []int{0, len(want) / 2, len(want) - 1} {
		if got := float32(pix.Index(i).Float()); got != want[i] {
			t.Errorf("pixels[%d] = %v, want %v", i, got, want[i])
		}
	}
	wantError(t, "pixels", call("pixels", uint8Array(frame), 40, 31), "error")

	tok := call("tokenize", "a small red square")
	q := call("embedQuery", "a small red square")
	ids, qids := tok.Get("ids"), q.Get("ids")
	if ids.Length() != qids.Length() || tok.Get("context").Int() != q.Get("context").Int() {
		t.Fatalf("tokenize: %v, embedQuery's ids %v", ids, qids)
	}
	for i := 0; i < ids.Length(); i++ {
		if ids.Index(i).Int() != qids.Index(i).Int() {
			t.Errorf("tokenize id %d: %d, embedQuery's %d", i, ids.Index(i).Int(), qids.Index(i).Int())
		}
	}
	wantError(t, "tokenize", call("tokenize", " "), "empty")
}
