//go:build js && wasm

package main

import (
	"syscall/js"

	"clip4clip/wasm/engine"
)

// The site index bindings serve the embeddable widget
// (web/widget/clip-search.js): a text-only model is loaded with loadModel,
// then a prebuilt site index with loadSite, and each query's feature
// (embedQuery) is ranked with searchSite.

// loadSite reads a site index (Uint8Array), checks it against the loaded
// model and returns {modelId, modelName, head, embedDim, fps, window,
// moments, videos: [{path, title, duration, width, height, size, modTime,
// moments, thumbs: [{time, jpeg: Uint8Array}]}]}. The thumbnails cross
// once, here; searchSite names them by index.
func loadSite(a *args) (any, error) {
	data := a.bytes(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	x, err := e.LoadSite(data)
	if err != nil {
		return nil, err
	}
	vs := make([]any, len(x.Videos))
	for i, v := range x.Videos {
		thumbs := make([]any, len(v.Thumbs))
		for j, t := range v.Thumbs {
			u := jsUint8Array.New(len(t.JPEG))
			js.CopyBytesToJS(u, t.JPEG)
			to := jsObject.New()
			to.Set("time", t.Time)
			to.Set("jpeg", u)
			thumbs[j] = to
		}
		o := jsObject.New()
		for k, val := range map[string]any{
			"path": v.Path, "title": v.Title, "duration": v.Duration, "width": v.Width, "height": v.Height,
			"size": v.Size, "modTime": v.ModTime, "moments": len(v.Moments), "thumbs": thumbs,
		} {
			o.Set(k, val)
		}
		vs[i] = o
	}
	o := jsObject.New()
	for k, val := range map[string]any{
		"modelId": x.ModelID, "modelName": x.ModelName, "head": x.Head, "embedDim": x.EmbedDim,
		"fps": x.FPS, "window": x.Window, "moments": engine.SiteMoments(x), "videos": vs,
	} {
		o.Set(k, val)
	}
	return o, nil
}

// searchSite ranks the loaded site index: (Float32Array query feature, k)
// -> {videos: [{video, score, whole}], moments: [{video, moment, start, end,
// score, thumb}]}, best first, indices into loadSite's videos and their
// thumbs (thumb -1: none).
func searchSite(a *args) (any, error) {
	q, k := a.float32s(0), a.int(1)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	r, err := e.SearchSite(q, k)
	if err != nil {
		return nil, err
	}
	return toJSON(r)
}
