package engine

import (
	"errors"
	"fmt"

	"clip4clip/model"
	"clip4clip/siteindex"
)

// A chunked site index (`clip4clip index -chunked`, siteindex/chunked.go)
// is searched in steps, the caller fetching files between them (the
// widget's worker, in parallel, from its cache or the host):
//
//	LoadChunkedSite(meta)                          the meta file
//	ChunkedNeed(query, nprobe, 0)                  chunks to fetch -> AddChunk each
//	ChunkedNeed(query, nprobe, nfrag)              fragments to fetch -> AddFragment each
//	SearchChunked(query, k, nprobe, nfrag)         rank with what was added
//
// Parsed chunks and fragments are kept (the newest maxChunks and
// maxFragments), so a further query fetches only what it adds.

// ErrNoChunked is returned before a chunked site index is loaded.
var ErrNoChunked = errors.New("engine: no chunked site index is loaded; load its meta file first")

const (
	maxChunks    = 512
	maxFragments = 2048
)

type chunkedSite struct {
	meta   *siteindex.Meta
	chunks *lru[*siteindex.Chunk]
	frags  *lru[*siteindex.Fragment]
}

// lru keeps the newest n values by name.
type lru[T any] struct {
	n     int
	m     map[string]T
	order []string
}

func newLRU[T any](n int) *lru[T] { return &lru[T]{n: n, m: map[string]T{}} }

func (c *lru[T]) get(name string) (T, bool) {
	v, ok := c.m[name]
	return v, ok
}

func (c *lru[T]) put(name string, v T) {
	if _, ok := c.m[name]; !ok {
		c.order = append(c.order, name)
	}
	c.m[name] = v
	for len(c.order) > c.n {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

// LoadChunkedSite reads a chunked index's meta file and checks it against
// the loaded model, as LoadSite does a single file.
func (e *Engine) LoadChunkedSite(meta []byte) (*siteindex.Meta, error) {
	if !e.m.Config.HasText() {
		return nil, ErrNoText
	}
	if e.m.ID() == "" {
		return nil, fmt.Errorf("engine: this engine holds part of the model (%s), whose identity is unknown, so a site index cannot be checked against it; load the whole model file", e.m.Config.Part)
	}
	m, err := siteindex.ReadMeta(meta)
	if err != nil {
		return nil, err
	}
	if err := m.Check(e.m.ID()); err != nil {
		return nil, err
	}
	if m.EmbedDim != e.m.Config.EmbedDim {
		return nil, fmt.Errorf("engine: the site index holds features of %d values, the model makes %d", m.EmbedDim, e.m.Config.EmbedDim)
	}
	e.chunked = &chunkedSite{meta: m, chunks: newLRU[*siteindex.Chunk](maxChunks), frags: newLRU[*siteindex.Fragment](maxFragments)}
	return m, nil
}

// ChunkedFile is a file of the chunked index a step needs: its name
// (relative to the folder), whether it is already added, and for a chunk
// its list.
type ChunkedFile struct {
	Name  string `json:"name"`
	List  int    `json:"list"` // -1 for a fragment
	Bytes int    `json:"bytes"`
	Have  bool   `json:"have"`
}

func (e *Engine) chunkedQuery(text []float32) (*chunkedSite, []float32, error) {
	c := e.chunked
	if c == nil {
		return nil, nil, ErrNoChunked
	}
	if len(text) != c.meta.EmbedDim {
		return nil, nil, fmt.Errorf("engine: query feature of %d values, want %d", len(text), c.meta.EmbedDim)
	}
	return c, Normalize(text), nil
}

// probed returns the probed lists' chunks that were added, and the lists.
func (c *chunkedSite) probed(q []float32, nprobe int) ([]*siteindex.Chunk, []int) {
	lists := c.meta.Probe(q, nprobe)
	var have []*siteindex.Chunk
	for _, l := range lists {
		if ch, ok := c.chunks.get(c.meta.ChunkName(l)); ok {
			have = append(have, ch)
		}
	}
	return have, lists
}

// ChunkedNeed lists the files a query needs next: with nfrag 0, the nprobe
// best lists' chunks; otherwise the nfrag fragments the added chunks rank
// best (siteindex.Meta.Candidates), best first.
func (e *Engine) ChunkedNeed(text []float32, nprobe, nfrag int) ([]ChunkedFile, error) {
	c, q, err := e.chunkedQuery(text)
	if err != nil {
		return nil, err
	}
	chunks, lists := c.probed(q, nprobe)
	out := []ChunkedFile{}
	if nfrag == 0 {
		for _, l := range lists {
			name := c.meta.ChunkName(l)
			_, have := c.chunks.get(name)
			out = append(out, ChunkedFile{Name: name, List: l, Bytes: c.meta.ChunkSize[l], Have: have})
		}
		return out, nil
	}
	for _, name := range c.meta.Candidates(q, chunks, nfrag) {
		_, have := c.frags.get(name)
		out = append(out, ChunkedFile{Name: name, List: -1, Have: have})
	}
	return out, nil
}

// AddChunk parses and keeps list l's chunk (checked against the meta: a
// truncated, corrupt or stale file is an error naming it).
func (e *Engine) AddChunk(l int, data []byte) error {
	c := e.chunked
	if c == nil {
		return ErrNoChunked
	}
	if l < 0 || l >= c.meta.Lists {
		return fmt.Errorf("engine: list %d of %d", l, c.meta.Lists)
	}
	ch, err := c.meta.ReadChunk(l, data)
	if err != nil {
		return err
	}
	c.chunks.put(c.meta.ChunkName(l), ch)
	return nil
}

// AddFragment parses and keeps the fragment file name (its hash checked).
func (e *Engine) AddFragment(name string, data []byte) error {
	c := e.chunked
	if c == nil {
		return ErrNoChunked
	}
	f, err := siteindex.ReadFragment(name, data, c.meta.EmbedDim)
	if err != nil {
		return err
	}
	c.frags.put(name, f)
	return nil
}

// ChunkedMoment is a moment a chunked search found, with what the page
// shows of it: its video's path (relative to the folder), title, duration
// and the thumbnail nearest it (nil: none).
type ChunkedMoment struct {
	siteindex.MomentHit
	Path     string  `json:"path"`
	Title    string  `json:"title"`
	Duration float64 `json:"duration"`
	Moments  int     `json:"moments"` // the video's
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Fragment string  `json:"fragment"`
	Thumb    int     `json:"thumb"` // index of the thumbnail in the fragment, -1: none
	JPEG     []byte  `json:"-"`
	Weak     bool    `json:"weak"`
}

// ChunkedResults is SearchChunked's answer.
type ChunkedResults struct {
	Moments []ChunkedMoment `json:"moments"`
	Match   *model.Verdict  `json:"match"`
}

// SearchChunked ranks the moments of the fragments added that the query's
// nprobe lists and nfrag fragments name (the files not added, missing or
// bad, are left out) and returns the k best.
func (e *Engine) SearchChunked(text []float32, k, nprobe, nfrag int) (ChunkedResults, error) {
	c, q, err := e.chunkedQuery(text)
	if err != nil {
		return ChunkedResults{}, err
	}
	if k < 1 {
		return ChunkedResults{}, fmt.Errorf("engine: %d results asked for", k)
	}
	chunks, _ := c.probed(q, nprobe)
	var frags []*siteindex.Fragment
	for _, name := range c.meta.Candidates(q, chunks, nfrag) {
		if f, ok := c.frags.get(name); ok {
			frags = append(frags, f)
		}
	}
	hits := c.meta.Rank(q, frags, k)
	out := ChunkedResults{Moments: make([]ChunkedMoment, len(hits))}
	v, ok := model.Verdict{}, false
	if e.cal != nil && len(hits) > 0 {
		v, ok = e.cal.Judge(c.meta.Head, float64(hits[0].Score))
		if ok {
			out.Match = &v
		}
	}
	for i, h := range hits {
		vid := h.Fragment.Video
		cm := ChunkedMoment{MomentHit: h.MomentHit, Path: vid.Path, Title: vid.Title, Duration: vid.Duration, Moments: h.Fragment.Moments, Width: vid.Width, Height: vid.Height,
			Fragment: h.Fragment.Name, Thumb: h.Thumb, Weak: ok && float64(h.Score) < v.Threshold}
		if h.Thumb >= 0 {
			cm.JPEG = vid.Thumbs[h.Thumb].JPEG
		}
		out.Moments[i] = cm
	}
	return out, nil
}
