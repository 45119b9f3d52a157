// Package engine is what the browser app asks of the model: load a model
// file, embed video frames from raw RGBA and queries from text, pool frame
// features into video and moment features with the model's loose head,
// score them against a query, and write and read the index file.
//
// It has no syscall/js, so it builds and is tested natively; wasm/main.go
// binds one Engine per Web Worker to JavaScript. The model code is used
// as it is: preprocess.ResizeCrop and Normalize for frames (never canvas
// scaling), bpe.Tokenizer.Tokenize for queries, Encoder.VideoFeature for
// pooling, exp(logit_scale) * cosine for scores as in Encoder.Logits.
package engine

import (
	"errors"
	"fmt"
	"image"
	"math"
	"strings"

	"clip4clip/model"
	"clip4clip/model/preprocess"
	"clip4clip/siteindex"
)

// ErrEmptyQuery is returned for a query with nothing but white space.
var ErrEmptyQuery = errors.New("engine: the query is empty; type a few words that describe a scene")

// ErrNoText is returned by an engine of a model's FramePart (a frame
// worker's: the vision tower only) for anything but frames.
var ErrNoText = errors.New("engine: this engine holds only the vision tower (a frame worker's part of the model): it embeds frames, not text, and neither pools nor scores; load the text part or the whole model for that")

// ErrNoVision is returned by an engine of a model's QueryPart (the query
// worker's: text tower and head) for frames.
var ErrNoVision = errors.New("engine: this engine holds only the query side (the query worker's part of the model: text tower and head): it cannot embed frames; load the vision part or the whole model for that")

// DefaultWindow is the number of frames pooled into one moment (4 s at the
// default 1 frame per second).
const DefaultWindow = 4

// Engine is one loaded model with an encoder and the pooled features of the
// videos searched. It is not safe for concurrent use; the app makes one per
// worker.
type Engine struct {
	m    *model.CLIP
	enc  *model.Encoder
	head string    // the loose head used for pooling
	note string    // why head differs from the model's, if it does
	pix  []float32 // (3, res, res) preprocessed frame

	window int               // frames per moment
	videos map[string]*entry // pooled features by video key
	keys   []string          // video keys in the order they were added

	site    *siteindex.Index // the site index SearchSite ranks, or nil
	chunked *chunkedSite     // the chunked site index SearchChunked ranks, or nil

	cal       *model.Calibration // what scores are weak (calibrate.go), or nil
	calSource string             // where cal came from: "file", "computed" or "given"
	calNote   string             // why the file's calibration was not used, or ""
}

// entry is one video's pooled features.
type entry struct {
	n       int
	video   []float32 // (embed) the whole video, unit length
	moments []float32 // (n, embed) the window around each frame, unit length
}

// New loads a model file (model.Load) and prepares an encoder. A model
// file without a tokenizer is refused: the app could not embed queries.
// NewLoader loads part of a file, given in pieces.
func New(data []byte) (*Engine, error) {
	m, err := model.Load(data)
	if err != nil {
		return nil, err
	}
	return FromModel(m)
}

// FromModel wraps an already built model (or part of one, model.LoadPart).
func FromModel(m *model.CLIP) (*Engine, error) {
	if m.Tokenizer == nil && m.Config.HasText() {
		return nil, errors.New("engine: the model file stores no tokenizer, so queries cannot be embedded; convert it again with `clip4clip convert -vocab`")
	}
	res := m.Config.Vision.Resolution
	if !m.Config.HasVision() {
		res = 0 // no frames to preprocess
	}
	e := &Engine{
		m:      m,
		enc:    m.NewEncoder(),
		head:   m.Config.Head.Type,
		pix:    make([]float32, 3*res*res),
		window: DefaultWindow,
		videos: map[string]*entry{},
	}
	if e.head == "" {
		e.head = model.MeanP
	}
	if !model.IsLoose(e.head) {
		e.note = fmt.Sprintf("the model's %s head scores every query with every video and cannot be indexed ahead; search pools its CLIP frame features with %s instead", e.head, model.MeanP)
		e.head = model.MeanP
	}
	e.knownCalibration()
	return e, nil
}

// Model returns the loaded model.
func (e *Engine) Model() *model.CLIP { return e.m }

// Info is what the app shows about a model and needs to drive it.
type Info struct {
	ID          string            `json:"id"`          // the model's identity (model.CLIP.ID), which site indexes record
	TextOnly    bool              `json:"textOnly"`    // the file holds only the query side: no frames can be embedded
	Part        model.Part        `json:"part"`        // the part of the model loaded: "" (whole), "text" (no frames) or "vision" (frames only)
	EmbedDim    int               `json:"embedDim"`    // feature size
	Resolution  int               `json:"resolution"`  // frame side the vision encoder takes
	Context     int               `json:"context"`     // tokens a query is cut to, SOT and EOT included
	MaxWords    int               `json:"maxWords"`    // caption length CLIP4Clip trained with
	MaxFrames   int               `json:"maxFrames"`   // frames the head can pool at once, 0 for any
	Head        string            `json:"head"`        // the loose head search pools with
	ModelHead   string            `json:"modelHead"`   // the head the model file carries
	HeadNote    string            `json:"headNote"`    // why Head differs from ModelHead, or ""
	LogitScale  float64           `json:"logitScale"`  // exp(logit_scale), the score multiplier
	Window      int               `json:"window"`      // frames per moment
	WeightBytes int               `json:"weightBytes"` // memory the weights take
	Meta        map[string]string `json:"meta"`        // provenance: source, dtype, ...
	Config      model.Config      `json:"config"`      // the whole configuration

	Calibration     *CalibrationInfo `json:"calibration"`     // what scores are weak matches, null until known (Calibrate)
	CalibrationNote string           `json:"calibrationNote"` // why the file's calibration was not used, or ""
}

// Info describes the loaded model. The ID of a part (model.LoadPart) is
// "" unless its file records one.
func (e *Engine) Info() Info {
	c := e.m.Config
	mh := c.Head.Type
	if mh == "" {
		mh = model.MeanP
	}
	meta := e.m.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return Info{
		ID:          e.m.ID(),
		TextOnly:    c.TextOnly,
		Part:        c.Part,
		EmbedDim:    c.EmbedDim,
		Resolution:  c.Vision.Resolution,
		Context:     c.Text.Context,
		MaxWords:    c.Head.MaxWords,
		MaxFrames:   e.m.MaxFrames(e.head),
		Head:        e.head,
		ModelHead:   mh,
		HeadNote:    e.note,
		LogitScale:  float64(e.scale()),
		Window:      e.window,
		WeightBytes: e.m.WeightBytes(),
		Meta:        meta,
		Config:      c,

		Calibration:     e.calibrationInfo(),
		CalibrationNote: e.calibrationNote(),
	}
}

// scale is exp(logit_scale) in float32, as Encoder.Logits computes it.
func (e *Engine) scale() float32 { return float32(math.Exp(float64(e.m.LogitScale))) }

// EmbedFrame writes the feature (embed) of one video frame given as
// straight-alpha RGBA bytes (canvas ImageData), width w and height h, into
// dst: preprocess.ResizeCrop to the model's resolution, Normalize, then
// EncodeImage. The feature is not normalised, as encode_image returns it.
func (e *Engine) EmbedFrame(dst []float32, rgba []byte, w, h int) error {
	if err := e.Pixels(e.pix, rgba, w, h); err != nil {
		return err
	}
	return e.enc.EncodeImage(dst, e.pix)
}

// Pixels writes the image encoder's input for one frame of straight-alpha
// RGBA bytes, width w and height h, into dst (3, res, res): the
// preprocessing of EmbedFrame (preprocess.ResizeCrop, Normalize), for a
// backend that runs the encoder elsewhere (the browser's WebGPU).
func (e *Engine) Pixels(dst []float32, rgba []byte, w, h int) error {
	if e.m.Config.TextOnly {
		return model.ErrTextOnly
	}
	if !e.m.Config.HasVision() {
		return ErrNoVision
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("engine: frame of %dx%d pixels", w, h)
	}
	if len(rgba) != 4*w*h {
		return fmt.Errorf("engine: %d bytes for a %dx%d RGBA frame (want %d)", len(rgba), w, h, 4*w*h)
	}
	if res := e.m.Config.Vision.Resolution; len(dst) != 3*res*res {
		return fmt.Errorf("engine: %d values for the pixels of a 3x%dx%d frame", len(dst), res, res)
	}
	img := &image.NRGBA{Pix: rgba, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	crop, err := preprocess.ResizeCrop(img, e.m.Config.Vision.Resolution)
	if err != nil {
		return err
	}
	preprocess.Normalize(dst, crop)
	return nil
}

// Weights lists the loaded model's (or part's) weights as the model holds
// them (model.CLIP.Weights), for a backend that keeps its own copy.
func (e *Engine) Weights() []model.Weight { return e.m.Weights() }

// Query is an embedded query.
type Query struct {
	IDs       []int     // token ids, SOT and EOT included
	Truncated bool      // the text had more tokens than the context holds
	Feature   []float32 // (embed) encode_text's output, not normalised
}

// EmbedQuery tokenizes text to the model's context (bpe.Tokenizer.Tokenize:
// SOT, at most context-2 tokens, EOT) and encodes it.
func (e *Engine) EmbedQuery(text string) (Query, error) {
	if !e.m.Config.HasText() {
		return Query{}, ErrNoText
	}
	ids, truncated, err := e.Tokenize(text)
	if err != nil {
		return Query{}, err
	}
	q := Query{IDs: ids, Truncated: truncated, Feature: make([]float32, e.m.Config.EmbedDim)}
	if err := e.enc.EncodeText(q.Feature, ids); err != nil {
		return Query{}, err
	}
	return q, nil
}

// Tokenize returns the token ids EmbedQuery encodes for text (SOT, at
// most context-2 tokens, EOT) and whether the text was cut to fit.
func (e *Engine) Tokenize(text string) (ids []int, truncated bool, err error) {
	if !e.m.Config.HasText() {
		return nil, false, ErrNoText
	}
	if strings.TrimSpace(text) == "" {
		return nil, false, ErrEmptyQuery
	}
	return e.m.Tokenizer.Tokenize(text, e.m.Config.Text.Context)
}

// VideoFeature pools t frame features (t, embed) into the unit vector the
// head compares queries with (Encoder.VideoFeature, every slot valid). A
// head with a frame limit (seqTransf) sees at most that many frames, taken
// evenly over the clip as CLIP4Clip's dataloader samples them.
func (e *Engine) VideoFeature(dst, frames []float32, t int) error {
	if !e.m.Config.HasText() {
		return ErrNoText
	}
	d := e.m.Config.EmbedDim
	if t <= 0 || len(frames) != t*d {
		return fmt.Errorf("engine: %d values for %d frames of %d features", len(frames), t, d)
	}
	return e.pool(dst, frames, t, e.head)
}

// evenly picks k of n indices spread evenly, first and last included
// (np.linspace(0, n-1, k).astype(int), CLIP4Clip's frame sampling).
func evenly(n, k int) []int {
	idx := make([]int, k)
	if k == 1 {
		return idx
	}
	for i := range idx {
		idx[i] = int(float64(i) * float64(n-1) / float64(k-1))
	}
	return idx
}

// Normalize returns a copy of v scaled to unit length (model.L2Normalize).
// A zero vector stays zero.
func Normalize(v []float32) []float32 {
	out := append([]float32(nil), v...)
	model.L2Normalize(out)
	return out
}

// Score returns exp(logit_scale) * cos(text, feature) for each of the n
// features (n, embed) against one query feature (embed), the loose heads'
// logits. Neither side needs to be normalised.
func (e *Engine) Score(text, feats []float32, n int) ([]float32, error) {
	if !e.m.Config.HasText() {
		return nil, ErrNoText
	}
	d := e.m.Config.EmbedDim
	if len(text) != d || len(feats) != n*d {
		return nil, fmt.Errorf("engine: query of %d values and %d feature values for %d features of %d", len(text), len(feats), n, d)
	}
	tn := Normalize(text)
	out := make([]float32, n)
	for i := range out {
		out[i] = e.scale() * dot(tn, Normalize(feats[i*d:(i+1)*d]))
	}
	return out, nil
}

// dot is model's dot: a float64 sum rounded once.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return float32(s)
}
