package siteindex

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"clip4clip/quant"
)

// Probe returns the nprobe lists whose centroids score best against the
// query (a unit vector; normalised here), best first, empty lists left out.
// nprobe >= Lists probes them all.
func (m *Meta) Probe(query []float32, nprobe int) []int {
	if len(query) != m.EmbedDim {
		return nil
	}
	q, step := roundQuery(query)
	if step == 0 {
		return nil
	}
	dots := make([]int32, m.Lists)
	quant.DotsInt8(dots, m.Centroids, m.EmbedDim, q)
	var ls []int
	for l := range m.Lists {
		if m.ChunkLen[l] > 0 {
			ls = append(ls, l)
		}
	}
	score := func(l int) float64 { return float64(dots[l]) * float64(m.CScales[l]) }
	slices.SortStableFunc(ls, func(a, b int) int { return cmp.Compare(score(b), score(a)) })
	return ls[:min(len(ls), max(nprobe, 0))]
}

// Candidates returns the fragments (file names, relative to the folder)
// holding the moments whose PQ codes score best against the query among
// the chunks given, at most nfrag of them (nfrag <= 0: every fragment the
// chunks name), best first: each fragment scores its best moment's code.
func (m *Meta) Candidates(query []float32, chunks []*Chunk, nfrag int) []string {
	if len(query) != m.EmbedDim {
		return nil
	}
	sub := m.EmbedDim / PQM
	u := slices.Clone(query)
	normalize(u)
	lut := make([]float32, PQM*pqK) // (PQM, 256) the query's dot with each codeword
	for s := range PQM {
		qs := u[s*sub : (s+1)*sub]
		for k := range pqK {
			c := m.Codebooks[(s*pqK+k)*sub:]
			var dot float32
			for j, v := range qs {
				dot += v * c[j]
			}
			lut[s*pqK+k] = dot
		}
	}
	best := map[string]float32{}
	var order []string
	for _, c := range chunks {
		for i, e := range c.Entries {
			code := c.Codes[i*PQM : (i+1)*PQM]
			var sc float32
			for s, k := range code {
				sc += lut[s*pqK+int(k)]
			}
			name := c.FragmentName(int(e >> fragShift))
			if b, ok := best[name]; !ok || sc > b {
				if !ok {
					order = append(order, name)
				}
				best[name] = sc
			}
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(best[b], best[a]) })
	if nfrag > 0 {
		order = order[:min(len(order), nfrag)]
	}
	return order
}

// ChunkedHit is a moment found in a chunked index, with the fragment that
// holds it (its video's metadata and this stretch's thumbnails) and the
// thumbnail nearest the moment's middle (-1: the fragment has none).
type ChunkedHit struct {
	MomentHit
	Fragment *Fragment `json:"-"`
	Thumb    int       `json:"thumb"`
}

// Rank ranks the moments of the fragments given against the query exactly
// as Index.Search does (the same int8 dot products, the same scores, ties
// in index order) and returns the k best; a fragment given twice counts once.
func (m *Meta) Rank(query []float32, frags []*Fragment, k int) []ChunkedHit {
	if len(query) != m.EmbedDim {
		return nil
	}
	q, step := roundQuery(query)
	if step == 0 {
		return nil
	}
	d := m.EmbedDim
	seen := map[string]bool{}
	var hits []ChunkedHit
	for _, f := range frags {
		if seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		rows := len(f.Scales)
		dots := make([]int32, rows)
		quant.DotsInt8(dots, f.Q, d, q)
		w := 0
		if f.Whole {
			w = 1
		}
		for j := range f.Count {
			mo := f.First + j
			start := float64(mo) * m.Window
			end := max(start, min(float64(mo+1)*m.Window, f.Video.Duration))
			sc := float32(float64(dots[w+j]) * step * float64(f.Scales[w+j]))
			hits = append(hits, ChunkedHit{MomentHit: MomentHit{Video: f.Index, Moment: mo, Start: start, End: end, Score: sc}, Fragment: f})
		}
	}
	slices.SortFunc(hits, func(a, b ChunkedHit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Video, b.Video); c != 0 {
			return c
		}
		return cmp.Compare(a.Moment, b.Moment)
	})
	hits = hits[:min(len(hits), max(k, 0))]
	for i := range hits {
		h := &hits[i]
		h.Thumb = nearestThumb(h.Fragment.Video.Thumbs, (h.Start+h.End)/2)
	}
	return hits
}

func nearestThumb(thumbs []Thumb, t float64) int {
	best, bd := -1, math.Inf(1)
	for i, th := range thumbs {
		if dd := math.Abs(th.Time - t); dd < bd {
			best, bd = i, dd
		}
	}
	return best
}

// SearchOptions are a chunked search's knobs.
type SearchOptions struct {
	NProbe    int // lists probed (>= Lists: all, exact with Fragments <= 0)
	Fragments int // fragments re-ranked (<= 0: all the probed chunks name)
}

// ChunkedResults is what ChunkedSearch finds, with what it cost.
type ChunkedResults struct {
	Moments  []ChunkedHit
	Problems []error // chunks and fragments that could not be used, each naming its file
	Bytes    int64   // fetched, chunks and fragments
	Chunks   []string
	Frags    []string
}

// ChunkedSearch runs a query against a chunked index through fetch, which
// returns a file of the folder by name (ChunkName, FragmentName): Probe,
// fetch the chunks, Candidates, fetch the fragments, Rank. A chunk or
// fragment that cannot be fetched or read is reported in Problems and the
// search goes on without it. (The widget's worker runs the same steps,
// fetching in parallel.)
func (m *Meta) ChunkedSearch(query []float32, k int, o SearchOptions, fetch func(name string) ([]byte, error)) ChunkedResults {
	var r ChunkedResults
	var chunks []*Chunk
	for _, l := range m.Probe(query, o.NProbe) {
		name := m.ChunkName(l)
		r.Chunks = append(r.Chunks, name)
		data, err := fetch(name)
		if err == nil {
			r.Bytes += int64(len(data))
			var c *Chunk
			if c, err = m.ReadChunk(l, data); err == nil {
				chunks = append(chunks, c)
				continue
			}
		}
		r.Problems = append(r.Problems, fileError(name, err))
	}
	var frags []*Fragment
	for _, name := range m.Candidates(query, chunks, o.Fragments) {
		r.Frags = append(r.Frags, name)
		data, err := fetch(name)
		if err == nil {
			r.Bytes += int64(len(data))
			var f *Fragment
			if f, err = ReadFragment(name, data, m.EmbedDim); err == nil {
				frags = append(frags, f)
				continue
			}
		}
		r.Problems = append(r.Problems, fileError(name, err))
	}
	r.Moments = m.Rank(query, frags, k)
	return r
}

func fileError(name string, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("siteindex: %s could not be loaded: %w", name, err)
}

// ReadChunked reads a whole chunked index back into an Index (to update it
// or merge it) through fetch: the meta, the catalog, every fragment. The
// result equals the Index it was written from, as MarshalBinary sees it.
func ReadChunked(fetch func(name string) ([]byte, error)) (*Index, *Meta, error) {
	data, err := fetch(MetaName)
	if err != nil {
		return nil, nil, err
	}
	m, err := ReadMeta(data)
	if err != nil {
		return nil, nil, err
	}
	cat, err := fetch(m.Catalog)
	if err != nil {
		return nil, nil, fileError(m.Catalog, err)
	}
	if err := CheckName(m.Catalog, cat); err != nil {
		return nil, nil, err
	}
	var names [][]string
	if err := json.Unmarshal(cat, &names); err != nil || len(names) != m.Videos {
		return nil, nil, &FormatError{fmt.Sprintf("%s: not the catalog of %d videos: corrupt", m.Catalog, m.Videos)}
	}
	x := &Index{ModelID: m.ModelID, ModelName: m.ModelName, Head: m.Head, EmbedDim: m.EmbedDim, FPS: m.FPS, Window: m.Window, Videos: make([]Video, m.Videos)}
	d := m.EmbedDim
	for i, fs := range names {
		if len(fs) == 0 {
			return nil, nil, &FormatError{fmt.Sprintf("%s: video %d has no fragments: corrupt", m.Catalog, i)}
		}
		var v Video
		st := &stored{}
		for j, name := range fs {
			data, err := fetch(name)
			if err != nil {
				return nil, nil, fileError(name, err)
			}
			f, err := ReadFragment(name, data, d)
			if err != nil {
				return nil, nil, err
			}
			if f.Index != i || f.Whole != (j == 0) || f.First != len(st.scales) {
				return nil, nil, &FormatError{fmt.Sprintf("%s: not fragment %d of video %d: corrupt", name, j, i)}
			}
			q, sc := f.Q, f.Scales
			if j == 0 {
				v = f.Video
				v.Thumbs = nil
				v.Feature = make([]float32, d)
				dequantize(v.Feature, q[:d], sc[0])
				q, sc = q[d:], sc[1:]
			}
			v.Thumbs = append(v.Thumbs, f.Video.Thumbs...)
			st.q = append(st.q, q...)
			st.scales = append(st.scales, sc...)
			if j == len(fs)-1 && len(st.scales) != f.Moments {
				return nil, nil, &FormatError{fmt.Sprintf("video %d (%q): its fragments hold %d of its %d moments: corrupt", i, v.Path, len(st.scales), f.Moments)}
			}
		}
		v.Moments = make([][]float32, len(st.scales))
		v.stored = st
		x.Videos[i] = v
	}
	return x, m, nil
}
