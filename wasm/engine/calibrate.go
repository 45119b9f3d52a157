package engine

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sync"

	"clip4clip/model"
	"clip4clip/synth"
)

// Calibration: how high this model's cosines run for a caption and the
// clip it describes, against a clip it does not describe, per loose head,
// so that search can tell a weak result, and a query that matches nothing
// well, from a good one (model.Calibration holds the figures and derives
// the threshold).
//
// The probe clips are the synthetic world's moments (synth.WindowPairAt:
// two moments of one demo-like video, each captioned with its own event,
// DefaultWindow frames at 1 frame per second, as search pools moments).
// For a model trained on that world (model.SyntheticWorld) they are its
// own world, drawn from CalibrationSeed, which training never saw: the
// matched pairs say what its own captions reach, the unmatched ones
// (another event, often of the same video) what a wrong moment scores.
//
// For any other model (a real CLIP) there are no real images or videos
// here, so the set is a few of the same moments, which a CLIP reads as
// drawings of coloured shapes, plus model.ProbeImages (abstract
// drawings no caption describes) and model.ProbeCaptions (real-world
// captions describing none of the clips). What that can tell: where
// unrelated caption-image pairs fall for this model, and roughly how high
// a plainly described drawing scores, so a query whose best result is no
// better than unrelated pairs is flagged. What it cannot: how high real
// footage matching a real query scores (CLIP matches photographs better
// than drawings), so the threshold is a floor, lower than real matches
// need; and there is no "outside what the model knows" verdict.

// CalibrationSeed is the synthetic world's seed the probe clips come
// from: not 1, the default model's training seed (its meta: train_data
// synth:1:200000, seed 1), nor 7000-7002, the demo videos'.
const CalibrationSeed = 9001

// Probe set sizes, in window pairs (two clips each).
const (
	ownWorldPairs = 48 // 96 moments of the model's own world
	builtinPairs  = 8  // 16 moments for a real CLIP, whose frames cost 200 times more
)

// CalibrationSet is the probe clips of a calibration: each clip's frame
// features and caption. The frame part of a model (a page's frame worker)
// makes it (Engine.CalibrationSet) and the text part (the query worker)
// scores it (Engine.CalibrateWith).
type CalibrationSet struct {
	Name     string    `json:"name"`     // what the clips are, for the calibration's Set
	OwnWorld bool      `json:"ownWorld"` // the clips are the world the model was trained on
	Frames   []int     `json:"frames"`   // frames of each clip
	Captions []string  `json:"captions"` // each clip's caption; "" for a clip no caption describes
	Others   []string  `json:"others"`   // captions that describe none of the clips
	Features []float32 `json:"-"`        // (sum of Frames, embed) EmbedFrame's features of every clip's frames in order
}

// probeClip is one clip of the set before embedding.
type probeClip struct {
	frames  []*image.NRGBA
	caption string
}

// calibrationPlan names the set for m and returns how to draw it.
func calibrationPlan(m *model.CLIP) (name string, own bool, pairs int) {
	res := m.Config.Vision.Resolution
	own = model.SyntheticWorld(m.Meta)
	pairs = builtinPairs
	if own {
		pairs = ownWorldPairs
	}
	name = fmt.Sprintf("synth:%d window pairs 0-%d (%d moments of %d frames, %d px)", CalibrationSeed, pairs-1, 2*pairs, DefaultWindow, res)
	if !own {
		name += fmt.Sprintf(" + %d model.ProbeImages, %d model.ProbeCaptions", model.ProbeImages, len(model.ProbeCaptions))
	}
	return name, own, pairs
}

// probeClips draws the set's clips at the model's resolution.
func probeClips(m *model.CLIP) (name string, own bool, clips []probeClip, others []string) {
	name, own, pairs := calibrationPlan(m)
	res := m.Config.Vision.Resolution
	for i := range pairs {
		for _, c := range synth.WindowPairAt(CalibrationSeed, i, synth.Options{Frames: DefaultWindow, Resolution: res}) {
			clips = append(clips, probeClip{c.Frames, c.Caption})
		}
	}
	if !own {
		for k := range model.ProbeImages {
			clips = append(clips, probeClip{[]*image.NRGBA{model.ProbeImage(k, res)}, ""})
		}
		others = model.ProbeCaptions
	}
	return name, own, clips, others
}

// CalibrationSet draws the probe clips for this model and embeds their
// frames. It needs the vision tower.
func (e *Engine) CalibrationSet() (*CalibrationSet, error) {
	if e.m.Config.TextOnly {
		return nil, model.ErrTextOnly
	}
	if !e.m.Config.HasVision() {
		return nil, ErrNoVision
	}
	name, own, clips, others := probeClips(e.m)
	s := &CalibrationSet{Name: name, OwnWorld: own, Others: others}
	d := e.m.Config.EmbedDim
	for _, c := range clips {
		s.Frames = append(s.Frames, len(c.frames))
		s.Captions = append(s.Captions, c.caption)
		for _, f := range c.frames {
			at := len(s.Features)
			s.Features = append(s.Features, make([]float32, d)...)
			b := f.Bounds()
			if err := e.EmbedFrame(s.Features[at:], f.Pix, b.Dx(), b.Dy()); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// calibrationHeads are the loose heads a calibration measures: the one
// search pools with, and meanP (any model's, which a site index may be
// built with).
func (e *Engine) calibrationHeads() []string {
	if e.head == model.MeanP {
		return []string{model.MeanP}
	}
	return []string{e.head, model.MeanP}
}

// CalibrateWith scores a probe set (CalibrationSet's, perhaps made by
// another engine of the same model): every caption against every clip,
// pooled with each head calibrationHeads names. A caption and its own clip
// are a matched pair; a caption and any other clip, and each of Others
// against every clip, unmatched pairs. The result becomes this engine's
// calibration. It needs the text tower and the head.
func (e *Engine) CalibrateWith(s *CalibrationSet) (*model.Calibration, error) {
	if !e.m.Config.HasText() {
		return nil, ErrNoText
	}
	d := e.m.Config.EmbedDim
	total := 0
	for _, n := range s.Frames {
		if n < 1 {
			return nil, fmt.Errorf("engine: calibration clip of %d frames", n)
		}
		total += n
	}
	switch {
	case len(s.Captions) != len(s.Frames):
		return nil, fmt.Errorf("engine: calibration set of %d clips with %d captions", len(s.Frames), len(s.Captions))
	case len(s.Features) != total*d:
		return nil, fmt.Errorf("engine: calibration set of %d frames with %d feature values, want %d", total, len(s.Features), total*d)
	}
	texts := make([][]float32, 0, len(s.Captions)+len(s.Others))
	matched := 0
	for _, c := range append(append([]string(nil), s.Captions...), s.Others...) {
		if c == "" {
			texts = append(texts, nil)
			continue
		}
		q, err := e.EmbedQuery(c)
		if err != nil {
			return nil, fmt.Errorf("engine: calibration caption %q: %w", c, err)
		}
		texts = append(texts, Normalize(q.Feature))
	}
	for _, c := range s.Captions {
		if c != "" {
			matched++
		}
	}
	if matched == 0 {
		return nil, errors.New("engine: calibration set without a captioned clip")
	}
	c := &model.Calibration{Version: model.CalibrationVersion, Model: e.m.ID(), Set: s.Name, OwnWorld: s.OwnWorld,
		Levels: model.CalibrationLevels, Heads: map[string]*model.HeadCalibration{}}
	video := make([]float32, len(s.Frames)*d) // (clips, embed) pooled, unit length
	for _, head := range e.calibrationHeads() {
		at := 0
		for i, n := range s.Frames {
			if err := e.pool(video[i*d:(i+1)*d], s.Features[at*d:(at+n)*d], n, head); err != nil {
				return nil, err
			}
			at += n
		}
		var m, u []float64
		for i, t := range texts {
			if t == nil {
				continue
			}
			for j := range s.Frames {
				cos := float64(dot(t, video[j*d:(j+1)*d]))
				if i == j {
					m = append(m, cos)
				} else {
					u = append(u, cos)
				}
			}
		}
		c.Heads[head] = model.NewHeadCalibration(m, u)
	}
	e.cal, e.calSource, e.calNote = c, "computed", ""
	cacheCalibration(e.m, c)
	return c, nil
}

// Calibrate returns the engine's calibration, measuring it first if none
// is known (which needs the whole model: a part has half of what it
// takes; see CalibrationSet and CalibrateWith).
func (e *Engine) Calibrate() (*model.Calibration, error) {
	if e.cal != nil {
		return e.cal, nil
	}
	s, err := e.CalibrationSet()
	if err != nil {
		return nil, err
	}
	return e.CalibrateWith(s)
}

// Calibration returns the calibration the engine knows (from the model
// file's meta, measured in this process, or given with SetCalibration),
// or nil.
func (e *Engine) Calibration() *model.Calibration { return e.cal }

// SetCalibration makes c, one the caller kept (the page keeps one per
// model file it measured), the engine's calibration. It must measure the
// head search pools with, and be of this model where both IDs are known.
func (e *Engine) SetCalibration(c *model.Calibration) error {
	if c.Heads[e.head] == nil {
		return fmt.Errorf("engine: the calibration measures no %s head, the one search pools with", e.head)
	}
	if id := e.m.ID(); id != "" && c.Model != "" && c.Model != id {
		return fmt.Errorf("engine: the calibration was measured on model %.12s, this is %.12s", c.Model, id)
	}
	e.cal, e.calSource, e.calNote = c, "given", ""
	return nil
}

// pool is VideoFeature with the head named: t frame features (t, embed)
// into one unit vector, at most the head's frame limit of them, taken
// evenly.
func (e *Engine) pool(dst, frames []float32, t int, head string) error {
	d := e.m.Config.EmbedDim
	if max := e.m.MaxFrames(head); max > 0 && t > max {
		sub := make([]float32, max*d)
		for i, j := range evenly(t, max) {
			copy(sub[i*d:(i+1)*d], frames[j*d:(j+1)*d])
		}
		frames, t = sub, max
	}
	mask := make([]bool, t)
	for i := range mask {
		mask[i] = true
	}
	return e.enc.VideoFeature(dst, frames, mask, t, head)
}

// calibrations caches the calibrations measured in this process by model
// ID and probe set, so a second engine of one model does not measure again.
var calibrations sync.Map // string: *model.Calibration

func cacheKey(m *model.CLIP) string {
	name, _, _ := calibrationPlan(m)
	return m.ID() + "\x00" + name
}

func cacheCalibration(m *model.CLIP, c *model.Calibration) {
	if m.ID() != "" {
		calibrations.Store(cacheKey(m), c)
	}
}

// knownCalibration is the calibration an engine of m starts with: the
// file's (model.CLIP.StoredCalibration), else one measured in this
// process. note says why a stored one was not used.
func (e *Engine) knownCalibration() {
	c, err := e.m.StoredCalibration()
	var ce *model.CalibrationError
	switch {
	case err == nil && c.Heads[e.head] != nil:
		e.cal, e.calSource = c, "file"
		return
	case err == nil:
		e.calNote = fmt.Sprintf("the model file's calibration measures no %s head, the one search pools with", e.head)
	case errors.As(err, &ce):
		e.calNote = err.Error()
	}
	if e.m.ID() == "" {
		return
	}
	if v, ok := calibrations.Load(cacheKey(e.m)); ok {
		e.cal, e.calSource = v.(*model.Calibration), "computed"
	}
}

// CalibrationInfo is what the app needs of the calibration for the head
// search pools with.
type CalibrationInfo struct {
	Head           string             `json:"head"`
	Threshold      float64            `json:"threshold"`      // cosine below which a result is a weak match
	ThresholdScore float32            `json:"thresholdScore"` // the same in Search's units, exp(logit_scale) * cosine
	Outside        *float64           `json:"outside"`        // own-world calibrations: the cosine a best result below which looks outside what the model knows; null otherwise
	OutsideScore   *float32           `json:"outsideScore"`   // the same in Search's units
	Tells          bool               `json:"tells"`          // the threshold tells weak from good (model.HeadCalibration.Tells); if not, nothing is marked weak
	Overlap        float64            `json:"overlap"`        // the share of matched pairs below the threshold, and of unmatched above it (model.HeadCalibration.Error; not "error", which names a failed call)
	OwnWorld       bool               `json:"ownWorld"`       // measured on the model's own (synthetic) world
	Set            string             `json:"set"`            // the probe clips
	Source         string             `json:"source"`         // "file" (the model file's meta), "computed" (measured in this process), "given" (SetCalibration)
	Calibration    *model.Calibration `json:"calibration"`    // all of it, for the app to keep
}

// calibrationInfo describes the engine's calibration, nil without one.
func (e *Engine) calibrationInfo() *CalibrationInfo {
	c := e.cal
	if c == nil || c.Heads[e.head] == nil {
		return nil
	}
	h := c.Heads[e.head]
	ci := &CalibrationInfo{Head: e.head, Threshold: h.Threshold, ThresholdScore: e.scale() * float32(h.Threshold),
		Tells: h.Tells(), Overlap: h.Error, OwnWorld: c.OwnWorld, Set: c.Set, Source: e.calSource, Calibration: c}
	if c.OwnWorld {
		o := h.Outside(c.Levels)
		os := e.scale() * float32(o)
		ci.Outside, ci.OutsideScore = &o, &os
	}
	return ci
}

// calibrationNote is Info's CalibrationNote: why the file's calibration
// was not used, or that the one known cannot tell.
func (e *Engine) calibrationNote() string {
	if ci := e.calibrationInfo(); e.calNote == "" && ci != nil && !ci.Tells {
		return fmt.Sprintf("the calibration cannot tell this model's matches from mismatches (%.0f%% of either on the wrong side of its threshold), so no result is marked weak", 100*ci.Overlap)
	}
	return e.calNote
}

// Judge gives the calibration's verdict on a query whose best result has
// cosine best (Search's score over exp(logit_scale), or SearchSite's
// score) with the head search pools with; false without a calibration,
// or with one that cannot tell (model.HeadCalibration.Tells).
func (e *Engine) Judge(best float64) (model.Verdict, bool) {
	if e.cal == nil {
		return model.Verdict{}, false
	}
	return e.cal.Judge(e.head, best)
}

// weakBelow is the Search score below which a result is weak, -Inf
// without a calibration that tells (nothing is weak).
func (e *Engine) weakBelow() float32 {
	if ci := e.calibrationInfo(); ci != nil && ci.Tells {
		return ci.ThresholdScore
	}
	return float32(math.Inf(-1))
}
