//go:build js && wasm

// Command wasm is the browser binding of the engine: build it with
// GOOS=js GOARCH=wasm (build.sh does) and run it in a Web Worker, one
// engine per worker. It sets globalThis.clip4clip to an object of
// functions (see the table in register) and blocks; the worker calls them
// synchronously.
//
// Every function returns its result or an error object
// {error: message, kind: "format" | "index" | "site" | "mismatch" | "empty" | "argument" | "state" | "part" | "panic" | "error"};
// nothing panics across the boundary. Arrays cross with js.CopyBytesToGo
// and js.CopyBytesToJS; features come back as Float32Array.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"unsafe"

	"syscall/js"

	clipmodel "clip4clip/model"
	"clip4clip/siteindex"
	"clip4clip/wasm/engine"
	"clip4clip/weights"
)

var (
	jsObject       = js.Global().Get("Object")
	jsJSON         = js.Global().Get("JSON")
	jsArrayBuffer  = js.Global().Get("ArrayBuffer")
	jsUint8Array   = js.Global().Get("Uint8Array")
	jsUint8Clamped = js.Global().Get("Uint8ClampedArray")
	jsFloat32Array = js.Global().Get("Float32Array")
	jsFloat64Array = js.Global().Get("Float64Array")
)

// eng is this worker's engine, nil until loadModel succeeds.
var eng *engine.Engine

// loader is the load in progress between modelBegin and modelEnd, or nil.
var loader *engine.Loader

// scratch receives the bytes of model file pieces and video frames: one
// buffer, grown to the largest, rather than a new one per call.
var scratch []byte

// gcPercent is the Go heap's growth over its live size before a
// collection (GOGC). WebAssembly memory never shrinks, so the heap's peak
// is what a worker costs for good: Go's default, 100, lets the garbage of
// loading and of each frame's preprocessing (a 720p frame leaves about
// 1 MB) grow the heap to twice the weights. The live heap is mostly
// weights, which the collector does not scan, so collecting more often is
// cheap. (10 saved only about 5 MB more per frame worker.)
const gcPercent = 20

func main() {
	debug.SetGCPercent(gcPercent)
	api := jsObject.New()
	register(api)
	js.Global().Set("clip4clip", api)
	select {}
}

// register puts the API's functions on api.
func register(api js.Value) {
	for name, f := range map[string]func(a *args) (any, error){
		"loadModel":    loadModel,    // (Uint8Array model file) -> info
		"headerSize":   headerSize,   // (Uint8Array first 16 bytes of a model file) -> bytes modelBegin needs
		"modelBegin":   modelBegin,   // (Uint8Array header, file size, part "all"|"text"|"vision", hash) -> {reads: Float64Array [from, to, ...], bytes}
		"modelWrite":   modelWrite,   // (Uint8Array piece, offset in the file) -> true
		"modelEnd":     modelEnd,     // () -> {info, sha256}
		"memStats":     memStats,     // () -> {heapAlloc, heapSys, sys, numGC} (Go's runtime.MemStats)
		"info":         info,         // () -> info
		"embedFrame":   embedFrame,   // (Uint8Array|Uint8ClampedArray rgba, width, height) -> Float32Array(embed)
		"embedQuery":   embedQuery,   // (text) -> {feature, ids, tokens, truncated, context}
		"pixels":       pixels,       // (Uint8Array|Uint8ClampedArray rgba, width, height) -> Float32Array(3*res*res), embedFrame's preprocessing (gpu.go)
		"tokenize":     tokenize,     // (text) -> {ids: Int32Array, truncated, context}, embedQuery's tokens (gpu.go)
		"weights":      weightList,   // () -> [{name, shape, matrix, dtype, block, ptr, bytes, scalesPtr, scalesBytes}], views of Go's memory (gpu.go)
		"videoFeature": videoFeature, // (Float32Array frames, t) -> Float32Array(embed), unit length
		"score":        score,        // (Float32Array query, Float32Array feats, n) -> Float32Array(n)
		"setWindow":    setWindow,    // (frames per moment) -> true
		"addVideo":     addVideo,     // (key, Float32Array frames, n) -> true
		"removeVideo":  removeVideo,  // (key) -> true
		"clearVideos":  clearVideos,  // () -> true
		"search":       search,       // (Float32Array query, moments per video) -> [{key, score, whole, timeline, moments: [{frame, first, last, score, weak}], weak}]
		"similar":      similar,      // (key, frame, moments per video) -> as search, with that video's moment as the query (left out: -Infinity)
		"parseQuery":   parseQuery,   // (text) -> [{text, weight}]: the query's terms (engine.ParseQuery)
		"encodeIndex":  encodeIndex,  // (index object) -> Uint8Array
		"decodeIndex":  decodeIndex,  // (Uint8Array) -> index object
		"loadSite":     loadSite,     // (Uint8Array site index) -> site object (site.go)
		"searchSite":   searchSite,   // (Float32Array query, k) -> {videos, moments} (site.go)
		// A chunked site index, searched in steps (site.go):
		"loadSiteMeta":  loadSiteMeta,  // (Uint8Array index.c4m) -> meta object
		"siteNeed":      siteNeed,      // (Float32Array query, nprobe, nfrag) -> [{name, list, bytes, have}]
		"siteAdd":       siteAdd,       // (name, list, Uint8Array) -> true
		"searchChunked": searchChunked, // (Float32Array query, k, nprobe, nfrag) -> {moments, match}
		// Calibration (what a weak match is, engine/calibrate.go): a frame
		// worker draws and embeds the probe clips, the query worker scores them.
		"calibrationSet": calibrationSet, // () -> {set: JSON string, features: Float32Array}
		"calibrate":      calibrate,      // (set JSON string, Float32Array features) -> info.calibration
		"setCalibration": setCalibration, // (calibration JSON string, as info.calibration.calibration holds it) -> info.calibration
		// Converting a checkpoint into a model file (convert.go):
		"convertBegin":   convertBegin,   // ({dtype, block, meta}) -> true
		"convertFile":    convertFile,    // (name, Uint8Array) -> true: config.json, vocab.json, merges.txt, *.txt.gz
		"convertWeights": convertWeights, // (name, size, readAt(u8, offset), available) -> {need} | {tensors, total}
		"convertStep":    convertStep,    // (available) -> {done, total, need}
		"convertFinish":  convertFinish,  // (write(u8)) -> {bytes, sha256, id, dtype, probes, warning?, meta}
		"convertAbort":   convertAbort,   // () -> true
	} {
		api.Set(name, js.FuncOf(wrap(name, f)))
	}
}

// wrap turns f into a js.Func body that returns errors as objects and
// recovers from panics.
func wrap(name string, f func(a *args) (any, error)) func(js.Value, []js.Value) any {
	return func(_ js.Value, in []js.Value) (ret any) {
		defer func() {
			if r := recover(); r != nil {
				ret = errorObject(fmt.Errorf("%s: internal error: %v", name, r), "panic")
			}
		}()
		v, err := f(&args{name: name, v: in})
		if err != nil {
			return errorObject(err, errorKind(err))
		}
		return v
	}
}

func errorKind(err error) string {
	var fe *weights.FormatError
	var ie *engine.IndexError
	var se *siteindex.FormatError
	var me *siteindex.ModelMismatchError
	var ae argError
	var nc *clipmodel.NotCLIPError
	var le *clipmodel.LoadError
	switch {
	case errors.As(err, &nc), errors.As(err, &le):
		return "notclip"
	case errors.As(err, &fe), errors.Is(err, weights.ErrMalformed), errors.Is(err, weights.ErrUnsupportedDType), errors.Is(err, weights.ErrUnsafePickle):
		return "format"
	case errors.As(err, &ie):
		return "index"
	case errors.As(err, &se):
		return "site"
	case errors.As(err, &me):
		return "mismatch"
	case errors.Is(err, engine.ErrEmptyQuery):
		return "empty"
	case errors.As(err, &ae):
		return "argument"
	case errors.Is(err, errNoModel), errors.Is(err, errNoLoad), errors.Is(err, engine.ErrNoSite), errors.Is(err, engine.ErrNoChunked), errors.Is(err, errNoConversion):
		return "state"
	case errors.Is(err, engine.ErrNoText), errors.Is(err, engine.ErrNoVision):
		return "part"
	}
	return "error"
}

func errorObject(err error, kind string) js.Value {
	o := jsObject.New()
	o.Set("error", err.Error())
	o.Set("kind", kind)
	return o
}

var errNoModel = errors.New("no model is loaded in this worker; load one first")

// model returns the engine or errNoModel.
func model() (*engine.Engine, error) {
	if eng == nil {
		return nil, errNoModel
	}
	return eng, nil
}

func loadModel(a *args) (any, error) {
	data := a.bytes(0)
	if err := a.done(); err != nil {
		return nil, err
	}
	e, err := engine.New(data)
	if err != nil {
		return nil, err
	}
	eng = e
	runtime.GC()
	return info(a)
}

var errNoLoad = errors.New("no model load is in progress in this worker; call modelBegin first")

// headerSize tells how many bytes at the start of a model file modelBegin
// needs (engine.HeaderSize).
func headerSize(a *args) (any, error) {
	b := a.bytes(0)
	if err := a.done(); err != nil {
		return nil, err
	}
	return engine.HeaderSize(b)
}

// modelBegin starts loading part of a model file from its header
// (engine.NewLoader); the worker then writes the file ranges it returns,
// piece by piece (modelWrite), and ends with modelEnd. The engine loaded
// before stays until modelEnd succeeds.
func modelBegin(a *args) (any, error) {
	header, size, name := a.bytes(0), a.int(1), a.string(2)
	if err := a.done(); err != nil {
		return nil, err
	}
	part, err := clipmodel.ParsePart(name)
	if err != nil {
		return nil, argError{a.name + ": " + err.Error()}
	}
	loader = nil
	l, err := engine.NewLoader(header, int64(size), part, len(a.v) > 3 && a.v[3].Truthy())
	if err != nil {
		return nil, err
	}
	loader = l
	reads := l.Reads()
	flat := make([]float64, 0, 2*len(reads))
	for _, r := range reads {
		flat = append(flat, float64(r[0]), float64(r[1]))
	}
	o := jsObject.New()
	o.Set("reads", float64Array(flat))
	o.Set("bytes", float64(l.Bytes()))
	return o, nil
}

// modelWrite passes one piece of the model file, at its offset, to the
// load in progress.
func modelWrite(a *args) (any, error) {
	if loader == nil {
		return nil, errNoLoad
	}
	b, off := a.bytesInto(0, &scratch), a.int(1)
	if err := a.done(); err != nil {
		return nil, err
	}
	if err := loader.Write(int64(off), b); err != nil {
		loader = nil
		return nil, err
	}
	return true, nil
}

// modelEnd builds the engine from the pieces written and returns {info,
// sha256} (sha256: the file's hex SHA-256 when modelBegin hashed, else "").
func modelEnd(a *args) (any, error) {
	if loader == nil {
		return nil, errNoLoad
	}
	l := loader
	loader = nil
	e, sum, err := l.Engine()
	if err != nil {
		return nil, err
	}
	eng = e
	scratch = nil
	// What loading left (the header's JSON, the tokenizer's input, the
	// pieces' buffer) goes now, before frames and queries need the space.
	debug.FreeOSMemory()
	in, err := info(a)
	if err != nil {
		return nil, err
	}
	o := jsObject.New()
	o.Set("info", in)
	o.Set("sha256", sum)
	return o, nil
}

func memStats(*args) (any, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	o := jsObject.New()
	o.Set("heapAlloc", float64(ms.HeapAlloc))
	o.Set("heapSys", float64(ms.HeapSys))
	o.Set("sys", float64(ms.Sys))
	o.Set("numGC", ms.NumGC)
	return o, nil
}

func info(*args) (any, error) {
	e, err := model()
	if err != nil {
		return nil, err
	}
	return toJSON(e.Info())
}

func embedFrame(a *args) (any, error) {
	rgba := a.bytesInto(0, &scratch) // a 720p frame is 3.7 MB: reuse one buffer
	w, h := a.int(1), a.int(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	out := make([]float32, e.Info().EmbedDim)
	if err := e.EmbedFrame(out, rgba, w, h); err != nil {
		return nil, err
	}
	return float32Array(out), nil
}

func embedQuery(a *args) (any, error) {
	text := a.string(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	q, err := e.EmbedQuery(text)
	if err != nil {
		return nil, err
	}
	ids := make([]any, len(q.IDs))
	for i, id := range q.IDs {
		ids[i] = id
	}
	o := jsObject.New()
	o.Set("feature", float32Array(q.Feature))
	o.Set("ids", ids)
	o.Set("tokens", len(q.IDs))
	o.Set("truncated", q.Truncated)
	o.Set("context", e.Model().Config.Text.Context)
	return o, nil
}

func videoFeature(a *args) (any, error) {
	frames, t := a.float32s(0), a.int(1)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	out := make([]float32, e.Info().EmbedDim)
	if err := e.VideoFeature(out, frames, t); err != nil {
		return nil, err
	}
	return float32Array(out), nil
}

func score(a *args) (any, error) {
	q, feats, n := a.float32s(0), a.float32s(1), a.int(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	s, err := e.Score(q, feats, n)
	if err != nil {
		return nil, err
	}
	return float32Array(s), nil
}

func setWindow(a *args) (any, error) {
	n := a.int(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	return true, e.SetWindow(n)
}

func addVideo(a *args) (any, error) {
	key, frames, n := a.string(0), a.float32s(1), a.int(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	return true, e.AddVideo(key, frames, n)
}

func removeVideo(a *args) (any, error) {
	key := a.string(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	e.RemoveVideo(key)
	return true, nil
}

func clearVideos(*args) (any, error) {
	e, err := model()
	if err != nil {
		return nil, err
	}
	e.ClearVideos()
	return true, nil
}

func search(a *args) (any, error) {
	q, k := a.float32s(0), a.int(1)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	hits, err := e.Search(q, k)
	if err != nil {
		return nil, err
	}
	return hitsJS(hits), nil
}

func similar(a *args) (any, error) {
	key, frame, k := a.string(0), a.int(1), a.int(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	hits, err := e.SimilarTo(key, frame, k)
	if err != nil {
		return nil, err
	}
	return hitsJS(hits), nil
}

func parseQuery(a *args) (any, error) {
	terms, err := engine.ParseQuery(a.string(0))
	if err != nil {
		return nil, err
	}
	out := make([]any, len(terms))
	for i, t := range terms {
		out[i] = map[string]any{"text": t.Text, "weight": t.Weight}
	}
	return out, nil
}

// hitsJS is Search's hits as the page reads them.
func hitsJS(hits []engine.Hit) []any {
	out := make([]any, len(hits))
	for i, h := range hits {
		o := jsObject.New()
		o.Set("key", h.Key)
		o.Set("score", h.Score)
		o.Set("whole", h.Whole)
		o.Set("timeline", float32Array(h.Timeline))
		ms := make([]any, len(h.Moments))
		for j, m := range h.Moments {
			ms[j] = map[string]any{"frame": m.Frame, "first": m.First, "last": m.Last, "score": m.Score, "weak": m.Weak}
		}
		o.Set("moments", ms)
		o.Set("weak", h.Weak)
		out[i] = o
	}
	return out
}

// calibrationSet draws the probe clips of the loaded model's calibration
// and embeds their frames (engine.Engine.CalibrationSet): the clips'
// description as JSON, their frames' features apart.
func calibrationSet(a *args) (any, error) {
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	set, err := e.CalibrationSet()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	o := jsObject.New()
	o.Set("set", string(b))
	o.Set("features", float32Array(set.Features))
	return o, nil
}

// calibrate scores a probe set calibrationSet made (in another worker of
// the same model) and makes it the engine's calibration.
func calibrate(a *args) (any, error) {
	text, feats := a.string(0), a.float32s(1)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	var set engine.CalibrationSet
	if err := json.Unmarshal([]byte(text), &set); err != nil {
		return nil, argError{a.name + ": argument 1 is not a calibration set: " + err.Error()}
	}
	set.Features = feats
	if _, err := e.CalibrateWith(&set); err != nil {
		return nil, err
	}
	return toJSON(e.Info().Calibration)
}

// setCalibration gives the engine a calibration the page kept; one that
// is malformed or of another model is an error (and the page measures
// again).
func setCalibration(a *args) (any, error) {
	text := a.string(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	c, err := clipmodel.ParseCalibration(text)
	if err != nil {
		return nil, argError{a.name + ": " + err.Error()}
	}
	if err := e.SetCalibration(c); err != nil {
		return nil, argError{a.name + ": " + err.Error()}
	}
	return toJSON(e.Info().Calibration)
}

// encodeIndex reads {modelId, modelName, embedDim, videos: [{key, name,
// type, size, lastModified, duration, width, height, fps, window, times:
// Float64Array, features: Float32Array, thumbs: [Uint8Array|ArrayBuffer]}]}.
func encodeIndex(a *args) (any, error) {
	if len(a.v) < 1 || a.v[0].Type() != js.TypeObject {
		return nil, argError{a.name + ": want an index object"}
	}
	o := a.v[0]
	x := &engine.Index{ModelID: o.Get("modelId").String(), ModelName: o.Get("modelName").String(), EmbedDim: o.Get("embedDim").Int()}
	vs := o.Get("videos")
	for i := 0; i < vs.Length(); i++ {
		v := vs.Index(i)
		f := &args{name: fmt.Sprintf("%s: video %d", a.name, i), v: []js.Value{v.Get("times"), v.Get("features")}}
		times, feats := f.float64s(0), f.float32s(1)
		if err := f.done(); err != nil {
			return nil, err
		}
		var thumbs [][]byte
		if t := v.Get("thumbs"); t.Truthy() {
			th := &args{name: f.name + " thumbnails", v: make([]js.Value, t.Length())}
			for j := range th.v {
				th.v[j] = t.Index(j)
				thumbs = append(thumbs, th.bytes(j))
			}
			if err := th.done(); err != nil {
				return nil, err
			}
		}
		x.Videos = append(x.Videos, engine.Video{
			Key: v.Get("key").String(), Name: v.Get("name").String(), Type: stringOr(v.Get("type")),
			Size: int64(v.Get("size").Float()), LastModified: int64(v.Get("lastModified").Float()),
			Duration: v.Get("duration").Float(), Width: v.Get("width").Int(), Height: v.Get("height").Int(),
			FPS: v.Get("fps").Float(), Window: intOr(v.Get("window")),
			Times: times, Features: feats, Thumbs: thumbs,
		})
	}
	b, err := x.MarshalBinary()
	if err != nil {
		return nil, err
	}
	u := jsUint8Array.New(len(b))
	js.CopyBytesToJS(u, b)
	return u, nil
}

func decodeIndex(a *args) (any, error) {
	b := a.bytes(0)
	if err := a.done(); err != nil {
		return nil, err
	}
	var x engine.Index
	if err := x.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	vs := make([]any, len(x.Videos))
	for i, v := range x.Videos {
		thumbs := make([]any, len(v.Thumbs))
		for j, t := range v.Thumbs {
			u := jsUint8Array.New(len(t))
			js.CopyBytesToJS(u, t)
			thumbs[j] = u
		}
		o := jsObject.New()
		for k, val := range map[string]any{
			"key": v.Key, "name": v.Name, "type": v.Type, "size": v.Size, "lastModified": v.LastModified,
			"duration": v.Duration, "width": v.Width, "height": v.Height, "fps": v.FPS, "window": v.Window,
			"times": float64Array(v.Times), "features": float32Array(v.Features), "thumbs": thumbs,
		} {
			o.Set(k, val)
		}
		vs[i] = o
	}
	o := jsObject.New()
	o.Set("modelId", x.ModelID)
	o.Set("modelName", x.ModelName)
	o.Set("embedDim", x.EmbedDim)
	o.Set("videos", vs)
	return o, nil
}

func stringOr(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

func intOr(v js.Value) int {
	if v.Type() == js.TypeNumber {
		return v.Int()
	}
	return 0
}

// toJSON turns a Go value into a plain JS object through JSON.
func toJSON(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Value{}, err
	}
	return jsJSON.Call("parse", string(b)), nil
}

// argError is a call with arguments of the wrong kind.
type argError struct{ msg string }

func (e argError) Error() string { return e.msg }

// args reads a call's arguments, naming the function in errors. Each
// reader returns the argument's value, or its type's zero value once an
// argument has been found wrong; done (or engine) then returns that first
// error, so a binding reads all its arguments and checks once.
type args struct {
	name string
	v    []js.Value
	err  error // the first wrong argument
}

// done returns the first argument error, or nil.
func (a *args) done() error { return a.err }

// engine returns the worker's engine, or errNoModel, or the first argument
// error.
func (a *args) engine() (*engine.Engine, error) {
	e, err := model()
	if err != nil {
		return nil, err
	}
	return e, a.err
}

// get returns argument i if it is there and no argument was wrong before.
func (a *args) get(i int, what string) (js.Value, bool) {
	if a.err != nil {
		return js.Value{}, false
	}
	if i >= len(a.v) || a.v[i].IsUndefined() || a.v[i].IsNull() {
		a.err = argError{fmt.Sprintf("%s: argument %d (%s) is missing", a.name, i+1, what)}
		return js.Value{}, false
	}
	return a.v[i], true
}

func (a *args) wrong(i int, format string, v ...any) {
	a.err = argError{fmt.Sprintf("%s: argument %d ", a.name, i+1) + fmt.Sprintf(format, v...)}
}

func (a *args) fn(i int) js.Value {
	v, ok := a.get(i, "a function")
	if !ok {
		return js.Value{}
	}
	if v.Type() != js.TypeFunction {
		a.wrong(i, "is a %s, want a function", v.Type())
		return js.Value{}
	}
	return v
}

func (a *args) int(i int) int {
	v, ok := a.get(i, "a number")
	if !ok {
		return 0
	}
	if v.Type() != js.TypeNumber {
		a.wrong(i, "is a %s, want a number", v.Type())
		return 0
	}
	return v.Int()
}

func (a *args) string(i int) string {
	v, ok := a.get(i, "a string")
	if !ok {
		return ""
	}
	if v.Type() != js.TypeString {
		a.wrong(i, "is a %s, want a string", v.Type())
		return ""
	}
	return v.String()
}

// bytes copies a Uint8Array, Uint8ClampedArray or ArrayBuffer.
func (a *args) bytes(i int) []byte {
	var b []byte
	return a.bytesInto(i, &b)
}

// bytesInto copies a Uint8Array, Uint8ClampedArray or ArrayBuffer into
// *buf, growing it if it is too small, and returns the bytes.
func (a *args) bytesInto(i int, buf *[]byte) []byte {
	v, ok := a.get(i, "bytes")
	if !ok {
		return nil
	}
	switch {
	case v.InstanceOf(jsArrayBuffer):
		v = jsUint8Array.New(v)
	case v.InstanceOf(jsUint8Array) || v.InstanceOf(jsUint8Clamped):
	default:
		a.wrong(i, "is not a Uint8Array, Uint8ClampedArray or ArrayBuffer")
		return nil
	}
	n := v.Length()
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	js.CopyBytesToGo(b, v)
	return b
}

// view returns a Uint8Array over the bytes of typed array argument i of
// class want, and its length in elements.
func (a *args) view(i int, want js.Value, what string) (js.Value, int, bool) {
	v, ok := a.get(i, what)
	if !ok {
		return js.Value{}, 0, false
	}
	if !v.InstanceOf(want) {
		a.wrong(i, "is not a %s", what)
		return js.Value{}, 0, false
	}
	return jsUint8Array.New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength")), v.Length(), true
}

func (a *args) float32s(i int) []float32 {
	u, n, ok := a.view(i, jsFloat32Array, "Float32Array")
	if !ok {
		return nil
	}
	out := make([]float32, n)
	if n > 0 {
		js.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n), u)
	}
	return out
}

func (a *args) float64s(i int) []float64 {
	u, n, ok := a.view(i, jsFloat64Array, "Float64Array")
	if !ok {
		return nil
	}
	out := make([]float64, n)
	if n > 0 {
		js.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 8*n), u)
	}
	return out
}

// float32Array copies v into a new Float32Array (wasm is little-endian,
// as typed arrays are on every platform browsers run on).
func float32Array(v []float32) js.Value {
	arr := jsFloat32Array.New(len(v))
	if len(v) > 0 {
		js.CopyBytesToJS(jsUint8Array.New(arr.Get("buffer")), unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
	}
	return arr
}

func float64Array(v []float64) js.Value {
	arr := jsFloat64Array.New(len(v))
	if len(v) > 0 {
		js.CopyBytesToJS(jsUint8Array.New(arr.Get("buffer")), unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 8*len(v)))
	}
	return arr
}
