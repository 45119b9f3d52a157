//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
	"testing"

	"clip4clip/weights"
)

// The bindings as the worker calls them, in Node (test.sh): registered on
// an object, called with JS values, answering values or error objects.

func bindings(t *testing.T) func(name string, in ...any) js.Value {
	t.Helper()
	eng, loader = nil, nil
	t.Cleanup(func() { eng, loader = nil, nil })
	api := jsObject.New()
	register(api)
	return func(name string, in ...any) js.Value { return api.Call(name, in...) }
}

// wantError checks that v is an error object of the kind whose message
// contains each of parts.
func wantError(t *testing.T, call string, v js.Value, kind string, parts ...string) {
	t.Helper()
	if v.Type() != js.TypeObject || v.Get("error").Type() != js.TypeString {
		t.Fatalf("%s: %v, want an error object of kind %q", call, v, kind)
	}
	msg := v.Get("error").String()
	if got := v.Get("kind").String(); got != kind {
		t.Errorf("%s: error kind %q (%s), want %q", call, got, msg, kind)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: error %q does not say %q", call, msg, p)
		}
	}
}

func uint8Array(b []byte) js.Value {
	u := jsUint8Array.New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

func TestBindingsWithoutModel(t *testing.T) {
	call := bindings(t)
	wantError(t, "embedQuery", call("embedQuery", "a red square"), "state", "no model is loaded")
	wantError(t, "embedFrame", call("embedFrame"), "state", "no model is loaded")
	wantError(t, "modelWrite", call("modelWrite", uint8Array([]byte{1}), 0), "state", "modelBegin first")
	wantError(t, "headerSize", call("headerSize"), "argument", "headerSize: argument 1 (bytes) is missing")
	wantError(t, "headerSize", call("headerSize", 7), "argument", "argument 1 is not a Uint8Array")
	wantError(t, "modelBegin", call("modelBegin", uint8Array(make([]byte, 16)), "big", "all"), "argument", "modelBegin: argument 2 is a string, want a number")
	wantError(t, "loadModel", call("loadModel", uint8Array([]byte("not a model"))), "format")
	wantError(t, "decodeIndex", call("decodeIndex", jsFloat32Array.New(4)), "argument", "argument 1 is not a Uint8Array")
}

func TestBindingsWithModel(t *testing.T) {
	call := bindings(t)
	info := call("loadModel", uint8Array(weights.Default()))
	if info.Get("error").Truthy() {
		t.Fatalf("loadModel: %s", info.Get("error").String())
	}
	d, res := info.Get("embedDim").Int(), info.Get("resolution").Int()

	// Arguments of the wrong kind name the argument and what it should be;
	// the first wrong one is reported.
	wantError(t, "embedFrame", call("embedFrame", "pixels", 2, 2), "argument", "embedFrame: argument 1 is not a Uint8Array")
	wantError(t, "embedFrame", call("embedFrame", uint8Array(make([]byte, 16)), "2"), "argument", "argument 2 is a string, want a number")
	wantError(t, "embedFrame", call("embedFrame", uint8Array(make([]byte, 16)), 2), "argument", "argument 3 (a number) is missing")
	wantError(t, "embedFrame", call("embedFrame", uint8Array(make([]byte, 15)), 2, 2), "error")
	wantError(t, "addVideo", call("addVideo", "v", []any{1, 2}, 1), "argument", "addVideo: argument 2 is not a Float32Array")
	wantError(t, "embedQuery", call("embedQuery", 42), "argument", "argument 1 is a number, want a string")
	wantError(t, "embedQuery", call("embedQuery", "   "), "empty")

	// And the right ones work: two frames make a video that a query finds.
	frame := make([]byte, 4*res*res)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	feats := jsFloat32Array.New(2 * d)
	for k := 0; k < 2; k++ {
		f := call("embedFrame", uint8Array(frame), res, res)
		if !f.InstanceOf(jsFloat32Array) || f.Length() != d {
			t.Fatalf("embedFrame: %v", f)
		}
		feats.Call("set", f, k*d)
	}
	if r := call("addVideo", "v", feats, 2); !r.Equal(js.ValueOf(true)) {
		t.Fatalf("addVideo: %v", r)
	}
	q := call("embedQuery", "a small red square moves left")
	hits := call("search", q.Get("feature"), 1)
	if hits.Length() != 1 || hits.Index(0).Get("key").String() != "v" || hits.Index(0).Get("timeline").Length() != 2 {
		t.Fatalf("search: %v", hits)
	}
	if s, w := hits.Index(0).Get("score").Float(), hits.Index(0).Get("whole").Float(); s < w {
		t.Errorf("search: score %v below the whole video's %v", s, w)
	}

	// An index with a bad thumbnail names it.
	video := jsObject.New()
	video.Set("key", "v")
	video.Set("times", jsFloat64Array.New(2))
	video.Set("features", feats)
	video.Set("thumbs", []any{uint8Array([]byte{1}), 5})
	index := jsObject.New()
	index.Set("modelId", "x")
	index.Set("embedDim", d)
	index.Set("videos", []any{video})
	wantError(t, "encodeIndex", call("encodeIndex", index), "argument", "encodeIndex: video 0 thumbnails: argument 2 is not a Uint8Array")
}
