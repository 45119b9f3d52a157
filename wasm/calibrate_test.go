//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
	"testing"

	"clip4clip/weights"
)

// TestBindingsCalibration: the page's calibration round, as its workers
// make it: calibrationSet in one engine, calibrate in another, then
// setCalibration with what the page kept; search marks weak results.
func TestBindingsCalibration(t *testing.T) {
	call := bindings(t)
	info := call("loadModel", uint8Array(weights.Default()))
	if info.Get("error").Truthy() {
		t.Fatalf("loadModel: %s", info.Get("error").String())
	}
	if c := info.Get("calibration"); !c.IsNull() {
		t.Fatalf("the default model's file has no calibration, info has %v", jsJSON.Call("stringify", c))
	}
	set := call("calibrationSet")
	if set.Get("error").Truthy() {
		t.Fatalf("calibrationSet: %s", set.Get("error").String())
	}
	if !strings.Contains(set.Get("set").String(), `"ownWorld":true`) || !set.Get("features").InstanceOf(jsFloat32Array) {
		t.Fatalf("calibrationSet: %v", set)
	}
	wantError(t, "calibrate", call("calibrate", "{not json", set.Get("features")), "argument", "calibrate: argument 1 is not a calibration set")
	wantError(t, "calibrate", call("calibrate", set.Get("set"), jsFloat32Array.New(3)), "error", "feature values")
	c := call("calibrate", set.Get("set"), set.Get("features"))
	if c.Get("error").Truthy() {
		t.Fatalf("calibrate: %s", c.Get("error").String())
	}
	if c.Get("head").String() != "seqTransf" || c.Get("source").String() != "computed" || !c.Get("ownWorld").Bool() || c.Get("outside").IsNull() {
		t.Errorf("calibrate: %v", jsJSON.Call("stringify", c))
	}
	th := c.Get("threshold").Float()
	if th < 0.5 || th > 0.9 {
		t.Errorf("threshold %v", th)
	}
	if got, want := c.Get("thresholdScore").Float(), th*info.Get("logitScale").Float(); got < want-1e-3 || got > want+1e-3 {
		t.Errorf("thresholdScore %v, want %v", got, want)
	}
	if call("info").Get("calibration").Get("threshold").Float() != th {
		t.Error("info does not carry the calibration")
	}

	kept := jsJSON.Call("stringify", c.Get("calibration")).String()
	wantError(t, "setCalibration", call("setCalibration", `{"v":1,"heads":{}}`), "argument", "levels")
	wantError(t, "setCalibration", call("setCalibration", strings.Replace(kept, `"seqTransf"`, `"seqLSTM"`, 1)), "argument", "no seqTransf head")
	if g := call("setCalibration", kept); g.Get("error").Truthy() || g.Get("source").String() != "given" || g.Get("threshold").Float() != th {
		t.Errorf("setCalibration: %v", jsJSON.Call("stringify", g))
	}

	// A video of the probe set's own features: its caption's best hit is
	// not weak; an out-of-world query's is.
	feats := set.Get("features")
	d := info.Get("embedDim").Int()
	if r := call("addVideo", "v", feats.Call("subarray", 0, 4*d), 4); !r.Equal(js.ValueOf(true)) {
		t.Fatalf("addVideo: %v", r)
	}
	for _, q := range []struct {
		text string
		weak bool
	}{{jsJSON.Call("parse", set.Get("set")).Get("captions").Index(0).String(), false}, {"a dog catches a frisbee", true}} {
		hits := call("search", call("embedQuery", q.text).Get("feature"), 1)
		h := hits.Index(0)
		if h.Get("weak").Bool() != q.weak || h.Get("moments").Index(0).Get("weak").Type() != js.TypeBoolean {
			t.Errorf("%q: %v", q.text, jsJSON.Call("stringify", h))
		}
	}
}
