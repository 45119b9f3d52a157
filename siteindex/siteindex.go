// Package siteindex is the index file of a static site: the videos a site
// owner embedded ahead of time with `clip4clip index`, so that a visitor's
// browser only encodes the query (with a text-only model file) and ranks
// the prebuilt features.
//
// The file is one little-endian file:
//
//	magic   [8]byte  Magic, "C4CSITE\x00"
//	version uint32   Version
//	hlen    uint32   header length in bytes
//	header  [hlen]byte JSON: model identity, head, embed_dim, fps, window, and
//	                 per video its path, title, duration, size, mtime,
//	                 moment count and thumbnails' (time, bytes)
//	thumbs  the thumbnails' JPEG bytes back to back, in header order
//	padding zero bytes to a multiple of 4 from the file start
//	scales  (videos+moments) float32: every video's feature, then every
//	        moment of every video, in header order
//	vectors (videos+moments, embed_dim) int8, in the same order
//
// A vector v is stored as q = round(v * 127 / max|v|) (symmetric int8, round
// to nearest) with the scale 1/|q|, so q*scale is the unit vector nearest
// v's direction the int8 grid holds and a dot product with a unit query is
// its cosine. A 512-d moment costs 516 bytes; with the header and the
// thumbnails `clip4clip index` makes (see ThumbEvery), under 600.
//
// After Read every vector lives in one contiguous int8 matrix (aliasing the
// file's bytes) that Search multiplies by the query with quant's int8
// kernels: wasm SIMD in the browser, AVX natively.
package siteindex

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"sync"
	"unsafe"

	"clip4clip/quant"
)

// Magic and Version open every site index file.
const (
	Magic   = "C4CSITE\x00"
	Version = 1
)

// The defaults `clip4clip index` uses, as the CLIP4Clip paper samples
// frames (1 per second), with moments of 4 s.
const (
	DefaultFPS    = 1.0
	DefaultWindow = 4.0
)

// The thumbnail rule `clip4clip index` follows, which keeps an index of
// 4-minute videos of a 512-d model under 600 bytes per moment: one JPEG,
// ThumbSize pixels on its longer side, for every ThumbEvery seconds of
// video (taken at the middle of each span, at least one per video),
// re-encoded at lower quality (and, failing that, smaller) until it is at
// most MaxThumbBytes. One every 30 s at 2-3 KB would take the
// 90,000-moment index of the issue from 53 MB to about 77 MB.
const (
	ThumbEvery    = 120.0
	ThumbSize     = 128
	MaxThumbBytes = 1800
)

// maxEmbedDim bounds the feature size a file may claim.
const maxEmbedDim = 1 << 16

// FormatError describes data that is not a readable site index: corrupt,
// truncated, another kind of file, or a newer format version.
type FormatError struct{ Msg string }

func (e *FormatError) Error() string { return "siteindex: " + e.Msg }

// ModelMismatchError is returned by Check when the index was built with
// another model than the one that would encode queries: their features do
// not share a space. Index and Model describe the two models (a name where
// known and the first 12 hex digits of the ID).
type ModelMismatchError struct{ Index, Model string }

func (e *ModelMismatchError) Error() string {
	return fmt.Sprintf("siteindex: the index was built with model %s but the query model is %s; rebuild the index or load the model it was built with", e.Index, e.Model)
}

// Index is a site index: the model the videos were embedded with, how they
// were sampled, and every video's features and thumbnails.
type Index struct {
	ModelID   string  // model.CLIP.ID() of the model that embedded the videos
	ModelName string  // file name / meta name, for messages
	Head      string  // the loose head that pooled the features: "meanP", "seqTransf", "seqLSTM"
	EmbedDim  int     // feature size
	FPS       float64 // frames sampled per second (DefaultFPS, as the paper)
	Window    float64 // seconds per moment window; moment j is [j*Window, min((j+1)*Window, Duration))
	Videos    []Video

	mu     sync.Mutex
	search *matrix // the vectors Search ranks, built by Read or the first Search
}

// Video is one indexed video.
type Video struct {
	Path          string      // URL relative to the index file (or absolute URL), as the page will load it
	Title         string      // default: file name without extension (DefaultTitle)
	Duration      float64     // seconds
	Width, Height int         // pixels
	Size          int64       // bytes of the source file, and
	ModTime       int64       // its mtime in unix ms: with Path they decide whether a re-run must re-embed it
	Thumbs        []Thumb     // small JPEGs, few per video (see ThumbEvery)
	Feature       []float32   // (EmbedDim) the whole-video feature, L2-normalised
	Moments       [][]float32 // (moments, EmbedDim) one L2-normalised feature per window; after Read the rows are nil and the vectors stay int8 (see Index.MomentFeature)

	stored *stored // the int8 moment vectors this video was read with, or nil
}

// stored is one video's moment vectors as a file holds them.
type stored struct {
	q      []int8    // (moments, dim)
	scales []float32 // (moments)
}

// Thumb is a thumbnail: a small JPEG of the frame at Time seconds.
type Thumb struct {
	Time float64
	JPEG []byte
}

// DefaultTitle is a video's title when the index gives none: the last
// element of its path without the extension.
func DefaultTitle(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 && strings.Contains(p, "://") {
		p = p[:i]
	}
	base := path.Base(p)
	if ext := path.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

type header struct {
	ModelID   string        `json:"model_id"`
	ModelName string        `json:"model_name"`
	Head      string        `json:"head"`
	EmbedDim  int           `json:"embed_dim"`
	FPS       float64       `json:"fps"`
	Window    float64       `json:"window"`
	Videos    []videoHeader `json:"videos"`
}

type videoHeader struct {
	Path     string       `json:"path"`
	Title    string       `json:"title,omitempty"` // omitted when it is DefaultTitle(path)
	Duration float64      `json:"duration"`
	Width    int          `json:"w"`
	Height   int          `json:"h"`
	Size     int64        `json:"size"`
	ModTime  int64        `json:"mtime"`
	Moments  int          `json:"moments"`
	Thumbs   [][2]float64 `json:"thumbs"` // (time, bytes)
}

// Check returns a *ModelMismatchError unless the index was built with the
// model whose model.CLIP.ID is modelID.
func (x *Index) Check(modelID string) error {
	if modelID == x.ModelID && modelID != "" {
		return nil
	}
	return &ModelMismatchError{Index: Describe(x.ModelName, x.ModelID), Model: Describe("", modelID)}
}

// Describe names a model for messages: its name and the first 12 hex
// digits of its ID.
func Describe(name, id string) string {
	short := id[:min(12, len(id))]
	switch {
	case id == "":
		short = "with no ID"
	case name == "":
		return short
	}
	return fmt.Sprintf("%s (%s)", name, short)
}

// MomentFeature returns the feature of moment j of video v, dequantized
// where the index was read from a file.
func (x *Index) MomentFeature(v, j int) []float32 {
	vid := &x.Videos[v]
	if row := vid.Moments[j]; row != nil || vid.stored == nil {
		return row
	}
	out := make([]float32, x.EmbedDim)
	dequantize(out, vid.stored.q[j*x.EmbedDim:(j+1)*x.EmbedDim], vid.stored.scales[j])
	return out
}

// MomentSpan returns the seconds [start, end) moment j of video v covers.
func (x *Index) MomentSpan(v, j int) (start, end float64) {
	start = float64(j) * x.Window
	end = min(float64(j+1)*x.Window, x.Videos[v].Duration)
	return start, max(end, start)
}

// quantize stores v (dim values) as q with the scale 1/|q|; a zero vector
// gets scale 0. Non-finite values are an error.
func quantize(q []int8, v []float32) (float32, error) {
	var amax float64
	for _, f := range v {
		a := math.Abs(float64(f))
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return 0, errors.New("a feature value is not finite")
		}
		amax = max(amax, a)
	}
	if amax == 0 {
		clear(q)
		return 0, nil
	}
	var ss float64
	for i, f := range v {
		r := math.Round(float64(f) * 127 / amax)
		q[i] = int8(max(-127, min(127, r)))
		ss += r * r
	}
	return float32(1 / math.Sqrt(ss)), nil
}

func dequantize(dst []float32, q []int8, scale float32) {
	for i, v := range q {
		dst[i] = float32(v) * scale
	}
}

// MarshalBinary writes x in the site index format (see the package doc). It
// fails on what the format cannot hold or a search could not use: a head
// that cannot be pre-indexed, vectors of the wrong size, non-finite numbers.
func (x *Index) MarshalBinary() ([]byte, error) {
	d := x.EmbedDim
	if d <= 0 || d > maxEmbedDim {
		return nil, fmt.Errorf("siteindex: embed_dim %d", d)
	}
	if x.ModelID == "" {
		return nil, errors.New("siteindex: the index has no model ID (model.CLIP.ID of the model that embedded the videos)")
	}
	if err := CheckHead(x.Head); err != nil {
		return nil, err
	}
	if !finitePos(x.FPS) || !finitePos(x.Window) {
		return nil, fmt.Errorf("siteindex: fps %v and window %v must be positive", x.FPS, x.Window)
	}
	h := header{ModelID: x.ModelID, ModelName: x.ModelName, Head: x.Head, EmbedDim: d, FPS: x.FPS, Window: x.Window, Videos: make([]videoHeader, len(x.Videos))}
	nvec, thumbBytes := len(x.Videos), 0
	for i := range x.Videos {
		v := &x.Videos[i]
		if v.Path == "" {
			return nil, fmt.Errorf("siteindex: video %d has no path", i)
		}
		if math.IsNaN(v.Duration) || math.IsInf(v.Duration, 0) || v.Duration < 0 {
			return nil, fmt.Errorf("siteindex: video %q: duration %v", v.Path, v.Duration)
		}
		if len(v.Feature) != d {
			return nil, fmt.Errorf("siteindex: video %q: a feature of %d values, want %d", v.Path, len(v.Feature), d)
		}
		for j, m := range v.Moments {
			if m == nil && v.stored != nil && len(v.stored.scales) == len(v.Moments) && len(v.stored.q) == len(v.Moments)*d {
				continue
			}
			if len(m) != d {
				return nil, fmt.Errorf("siteindex: video %q: moment %d has %d values, want %d", v.Path, j, len(m), d)
			}
		}
		vh := videoHeader{Path: v.Path, Duration: v.Duration, Width: v.Width, Height: v.Height, Size: v.Size, ModTime: v.ModTime,
			Moments: len(v.Moments), Thumbs: make([][2]float64, len(v.Thumbs))}
		if v.Title != DefaultTitle(v.Path) {
			vh.Title = v.Title
		}
		for j, th := range v.Thumbs {
			if math.IsNaN(th.Time) || math.IsInf(th.Time, 0) {
				return nil, fmt.Errorf("siteindex: video %q: thumbnail %d at %v s", v.Path, j, th.Time)
			}
			vh.Thumbs[j] = [2]float64{th.Time, float64(len(th.JPEG))}
			thumbBytes += len(th.JPEG)
		}
		h.Videos[i] = vh
		nvec += len(v.Moments)
	}
	js, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	start := 16 + len(js) + thumbBytes
	pad := (4 - start%4) % 4
	out := make([]byte, start+pad+nvec*(4+d))
	copy(out, Magic)
	binary.LittleEndian.PutUint32(out[8:], Version)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(js)))
	off := 16 + copy(out[16:], js)
	for _, v := range x.Videos {
		for _, th := range v.Thumbs {
			off += copy(out[off:], th.JPEG)
		}
	}
	scales := out[start+pad : start+pad+4*nvec]
	vecs := unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(out[start+pad+4*nvec:]))), nvec*d)
	put := func(k int, v []float32) error {
		s, err := quantize(vecs[k*d:(k+1)*d], v)
		binary.LittleEndian.PutUint32(scales[4*k:], math.Float32bits(s))
		return err
	}
	for i, v := range x.Videos {
		if err := put(i, v.Feature); err != nil {
			return nil, fmt.Errorf("siteindex: video %q: %v", v.Path, err)
		}
	}
	k := len(x.Videos)
	for _, v := range x.Videos {
		for j, m := range v.Moments {
			if m == nil {
				copy(vecs[k*d:(k+1)*d], v.stored.q[j*d:(j+1)*d])
				binary.LittleEndian.PutUint32(scales[4*k:], math.Float32bits(v.stored.scales[j]))
			} else if err := put(k, m); err != nil {
				return nil, fmt.Errorf("siteindex: video %q, moment %d: %v", v.Path, j, err)
			}
			k++
		}
	}
	return out, nil
}

func finitePos(f float64) bool { return f > 0 && !math.IsInf(f, 0) }

// CheckHead reports whether features pooled by head can be pre-indexed:
// the loose heads score a query against a video feature computed without
// it; tightTransf runs every query through a cross model with the frames.
func CheckHead(head string) error {
	switch head {
	case "meanP", "seqLSTM", "seqTransf":
		return nil
	case "tightTransf":
		return errors.New("siteindex: the tightTransf head scores each query together with each video's frames, so its videos cannot be pre-indexed; use a model with a loose head (meanP, seqLSTM, seqTransf)")
	}
	return fmt.Errorf("siteindex: unknown head %q (want meanP, seqLSTM or seqTransf)", head)
}

// Read parses a site index held in memory. The thumbnails and the int8
// vectors alias data, which must not change afterwards. Video.Feature is
// dequantized; Video.Moments has one nil row per moment (MomentFeature
// dequantizes one). Any input that is not a valid index gives a
// *FormatError; Read never panics.
func Read(data []byte) (*Index, error) {
	if len(data) < 16 {
		if len(data) >= 8 || !strings.HasPrefix(Magic, string(data)) {
			return nil, foreign(data)
		}
		return nil, &FormatError{fmt.Sprintf("only %d bytes: truncated (a site index starts with a 16-byte prelude)", len(data))}
	}
	if string(data[:8]) != Magic {
		return nil, foreign(data)
	}
	switch v := binary.LittleEndian.Uint32(data[8:]); {
	case v > Version+100: // as weights.NewerVersion, without importing it into the widget
		return nil, &FormatError{fmt.Sprintf("its format version reads %d, far beyond any release (this build reads up to %d): the file is corrupt; index the videos again", v, Version)}
	case v > Version:
		return nil, &FormatError{fmt.Sprintf("format version %d is newer than this build reads (%d); update clip4clip (or reload the page)", v, Version)}
	case v == 0:
		return nil, &FormatError{"format version 0 is not valid: corrupt"}
	}
	hlen := int64(binary.LittleEndian.Uint32(data[12:]))
	if 16+hlen > int64(len(data)) {
		return nil, &FormatError{fmt.Sprintf("truncated: the header needs %d bytes, the file has %d", 16+hlen, len(data))}
	}
	var h header
	if err := json.Unmarshal(data[16:16+hlen], &h); err != nil {
		return nil, &FormatError{"the header is not valid JSON: " + err.Error()}
	}
	d := h.EmbedDim
	if d <= 0 || d > maxEmbedDim {
		return nil, &FormatError{fmt.Sprintf("embed_dim %d: corrupt", d)}
	}
	if !finitePos(h.FPS) || !finitePos(h.Window) {
		return nil, &FormatError{fmt.Sprintf("fps %v, window %v: corrupt", h.FPS, h.Window)}
	}
	if err := CheckHead(h.Head); err != nil {
		return nil, &FormatError{err.Error()}
	}
	// Sizes, summed in int64 with every count bounded by the file size.
	rest := int64(len(data)) - 16 - hlen
	var thumbBytes, nvec int64 = 0, int64(len(h.Videos))
	for i, vh := range h.Videos {
		if vh.Moments < 0 || int64(vh.Moments) > rest || math.IsNaN(vh.Duration) || vh.Duration < 0 || math.IsInf(vh.Duration, 0) {
			return nil, &FormatError{fmt.Sprintf("video %d (%q): %d moments, duration %v: corrupt or truncated", i, vh.Path, vh.Moments, vh.Duration)}
		}
		nvec += int64(vh.Moments)
		for _, th := range vh.Thumbs {
			n := th[1]
			if n < 0 || n != math.Trunc(n) || n > float64(rest) || math.IsNaN(th[0]) || math.IsInf(th[0], 0) {
				return nil, &FormatError{fmt.Sprintf("video %d (%q): a thumbnail of %v bytes at %v s: corrupt or truncated", i, vh.Path, n, th[0])}
			}
			thumbBytes += int64(n)
		}
		if thumbBytes > rest || nvec > rest {
			return nil, &FormatError{fmt.Sprintf("truncated: the thumbnails and vectors up to video %d need more than the %d bytes after the header", i, rest)}
		}
	}
	start := 16 + hlen + thumbBytes
	pad := (4 - start%4) % 4
	want := start + pad + nvec*int64(4+d)
	switch {
	case want > int64(len(data)):
		return nil, &FormatError{fmt.Sprintf("truncated: %d videos with %d moments need %d bytes, the file has %d", len(h.Videos), nvec-int64(len(h.Videos)), want, len(data))}
	case want < int64(len(data)):
		return nil, &FormatError{fmt.Sprintf("%d bytes after the last vector: corrupt", int64(len(data))-want)}
	}

	x := &Index{ModelID: h.ModelID, ModelName: h.ModelName, Head: h.Head, EmbedDim: d, FPS: h.FPS, Window: h.Window, Videos: make([]Video, len(h.Videos))}
	n := int(nvec)
	m := &matrix{Matrix: quant.Matrix{Rows: n, Cols: d, DType: quant.Int8, Block: d, Scales: make([]float32, n)}, videos: len(h.Videos), first: make([]int, len(h.Videos)+1)}
	for k := range m.Scales {
		m.Scales[k] = math.Float32frombits(binary.LittleEndian.Uint32(data[start+pad+4*int64(k):]))
		if s := m.Scales[k]; math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return nil, &FormatError{fmt.Sprintf("vector %d has scale %v: corrupt", k, s)}
		}
	}
	if n > 0 {
		m.I8 = unsafe.Slice((*int8)(unsafe.Pointer(&data[start+pad+4*nvec])), n*d)
	}
	off := 16 + hlen
	k := len(h.Videos)
	for i, vh := range h.Videos {
		v := Video{Path: vh.Path, Title: vh.Title, Duration: vh.Duration, Width: vh.Width, Height: vh.Height, Size: vh.Size, ModTime: vh.ModTime,
			Thumbs: make([]Thumb, len(vh.Thumbs)), Feature: make([]float32, d), Moments: make([][]float32, vh.Moments)}
		if v.Title == "" {
			v.Title = DefaultTitle(v.Path)
		}
		for j, th := range vh.Thumbs {
			end := off + int64(th[1])
			v.Thumbs[j] = Thumb{Time: th[0], JPEG: data[off:end:end]}
			off = end
		}
		dequantize(v.Feature, m.I8[i*d:(i+1)*d], m.Scales[i])
		m.first[i] = k - len(h.Videos)
		v.stored = &stored{q: m.I8[k*d : (k+vh.Moments)*d], scales: m.Scales[k : k+vh.Moments]}
		k += vh.Moments
		x.Videos[i] = v
	}
	m.first[len(h.Videos)] = k - len(h.Videos)
	m.of = x.Videos
	x.search = m
	return x, nil
}

// foreign is the error for data that is not a site index at all.
func foreign(data []byte) error {
	head := data[:min(8, len(data))]
	if string(head) == "C4CINDEX" {
		return &FormatError{"this is the app's own index file (C4CINDEX, exported from the page), not a clip4clip site index; build a site index with `clip4clip index`"}
	}
	if string(head) == "C4CMODEL" {
		return &FormatError{"this is a clip4clip model file (C4CMODEL), not a clip4clip site index"}
	}
	p := make([]rune, len(head))
	for i, c := range head {
		p[i] = '.'
		if c >= 0x20 && c < 0x7f {
			p[i] = rune(c)
		}
	}
	return &FormatError{fmt.Sprintf("not a clip4clip site index (it starts with %q, not %q); build one with `clip4clip index`", string(p), strings.TrimRight(Magic, "\x00"))}
}

// Merge joins indexes built with the same model, sampling and window (the
// shards of `clip4clip index -shard`) into one, videos in the order given.
// A Path present twice keeps the later video, in the place of the earlier.
// The result shares the parts' vectors and thumbnails.
func Merge(parts ...*Index) (*Index, error) {
	if len(parts) == 0 {
		return nil, errors.New("siteindex: nothing to merge")
	}
	first := parts[0]
	out := &Index{ModelID: first.ModelID, ModelName: first.ModelName, Head: first.Head, EmbedDim: first.EmbedDim, FPS: first.FPS, Window: first.Window}
	at := map[string]int{}
	for i, p := range parts {
		switch {
		case p.ModelID != first.ModelID || p.EmbedDim != first.EmbedDim:
			return nil, fmt.Errorf("siteindex: part %d was built with model %s, part 1 with %s: only indexes of the same model can be merged", i+1, Describe(p.ModelName, p.ModelID), Describe(first.ModelName, first.ModelID))
		case p.Head != first.Head:
			return nil, fmt.Errorf("siteindex: part %d pooled with the %s head, part 1 with %s", i+1, p.Head, first.Head)
		case p.FPS != first.FPS || p.Window != first.Window:
			return nil, fmt.Errorf("siteindex: part %d samples %v frames/s in %v s moments, part 1 %v in %v s: index them with the same -fps and -window", i+1, p.FPS, p.Window, first.FPS, first.Window)
		}
		for _, v := range p.Videos {
			if j, ok := at[v.Path]; ok {
				out.Videos[j] = v
				continue
			}
			at[v.Path] = len(out.Videos)
			out.Videos = append(out.Videos, v)
		}
	}
	return out, nil
}
