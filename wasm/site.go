//go:build js && wasm

package main

import (
	"syscall/js"

	"clip4clip/siteindex"
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

// A chunked site index (clip4clip index -chunked) is searched in steps,
// the worker fetching the files each names (engine/chunked.go):
//
//	loadSiteMeta(Uint8Array index.c4m) -> {chunked: true, modelId, modelName, head, embedDim, fps, window, videos, moments, lists, metaBytes, nprobe, fragments (the defaults)}
//	siteNeed(Float32Array query, nprobe, nfrag) -> [{name, list, bytes, have}]: nfrag 0 the chunks, else the fragments (nfrag < 0: all)
//	siteAdd(name, list, Uint8Array) -> true: a chunk (list >= 0) or fragment (list -1), checked
//	searchChunked(Float32Array query, k, nprobe, nfrag) -> {moments: [{video, moment, start, end, score, path, title, duration, width, height, fragment, thumb, jpeg, weak}], match}

func loadSiteMeta(a *args) (any, error) {
	data := a.bytes(0)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	m, err := e.LoadChunkedSite(data)
	if err != nil {
		return nil, err
	}
	o := jsObject.New()
	for k, val := range map[string]any{
		"chunked": true, "modelId": m.ModelID, "modelName": m.ModelName, "head": m.Head, "embedDim": m.EmbedDim,
		"fps": m.FPS, "window": m.Window, "videos": m.Videos, "moments": m.Moments, "lists": m.Lists, "metaBytes": m.Size,
		"nprobe": siteindex.DefaultNProbe, "fragments": siteindex.DefaultFragments,
	} {
		o.Set(k, val)
	}
	return o, nil
}

func siteNeed(a *args) (any, error) {
	q, nprobe, nfrag := a.float32s(0), a.int(1), a.int(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	need, err := e.ChunkedNeed(q, nprobe, nfrag)
	if err != nil {
		return nil, err
	}
	return toJSON(need)
}

func siteAdd(a *args) (any, error) {
	name, list, data := a.string(0), a.int(1), a.bytes(2)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	if list >= 0 {
		err = e.AddChunk(list, data)
	} else {
		err = e.AddFragment(name, data)
	}
	if err != nil {
		return nil, err
	}
	return true, nil
}

func searchChunked(a *args) (any, error) {
	q, k, nprobe, nfrag := a.float32s(0), a.int(1), a.int(2), a.int(3)
	e, err := a.engine()
	if err != nil {
		return nil, err
	}
	r, err := e.SearchChunked(q, k, nprobe, nfrag)
	if err != nil {
		return nil, err
	}
	o, err := toJSON(r)
	if err != nil {
		return nil, err
	}
	ms := o.Get("moments")
	for i, m := range r.Moments {
		if m.JPEG == nil {
			ms.Index(i).Set("jpeg", js.Null())
			continue
		}
		u := jsUint8Array.New(len(m.JPEG))
		js.CopyBytesToJS(u, m.JPEG)
		ms.Index(i).Set("jpeg", u)
	}
	return o, nil
}
