package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Calibration says how high a model's cosines between a caption and a clip
// it describes run, against those of a clip it does not describe, for each
// loose head it pools with: the quantiles of both, measured on a fixed set
// of probe clips (wasm/engine builds the set and scores it), and the
// threshold derived from them, below which a search result is a weak
// match. It is stored as JSON in a model file's meta under CalibrationKey
// (MarshalMeta, ParseCalibration) and does not change the model's ID.
type Calibration struct {
	Version  int                         `json:"v"`        // CalibrationVersion
	Model    string                      `json:"model"`    // the ID of the model it was measured on
	Set      string                      `json:"set"`      // the probe clips: what they are and how many
	OwnWorld bool                        `json:"ownWorld"` // the clips are the world the model was trained on (the synthetic one): a query far below them is outside what it knows
	Levels   []float64                   `json:"levels"`   // the quantile levels, CalibrationLevels
	Heads    map[string]*HeadCalibration `json:"heads"`    // by head name (MeanP, SeqTransf, ...)
}

// HeadCalibration is one head's cosine distributions.
type HeadCalibration struct {
	Matched   []float64 `json:"matched"`   // quantiles at Levels of the cosines of (caption, the clip it describes)
	Unmatched []float64 `json:"unmatched"` // quantiles at Levels of the cosines of (caption, a clip it does not describe)
	Pairs     [2]int    `json:"pairs"`     // how many matched and unmatched pairs were scored
	Threshold float64   `json:"threshold"` // Threshold(Levels, Matched, Unmatched)
	Error     float64   `json:"error"`     // the share of matched pairs below Threshold (as of unmatched pairs above it)
}

// MaxCalibrationError is the largest Error at which a calibration tells
// weak results from good ones (HeadCalibration.Tells). A model with
// random weights puts half of each side on the wrong one; the default
// model's seqTransf head 4.5%.
const MaxCalibrationError = 0.25

// Tells reports whether the head's matched and unmatched cosines are far
// enough apart for the threshold to mean something: at most
// MaxCalibrationError of either on the wrong side of it. Judge gives no
// verdict otherwise.
func (h *HeadCalibration) Tells() bool { return h.Error <= MaxCalibrationError }

// CalibrationKey is the meta key a Calibration is stored under.
const CalibrationKey = "calibration"

// CalibrationVersion changes whenever the probe set or the derivation
// does; a stored calibration of another version is measured again.
const CalibrationVersion = 1

// CalibrationLevels are the quantile levels stored: both ends (the
// threshold's search needs the whole range), finer in the tails.
var CalibrationLevels = []float64{0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1}

// Quantiles returns the quantiles of xs at levels (each in [0, 1]),
// interpolated linearly between the sorted values as numpy.quantile's
// default does: level p lies at position p*(n-1). xs is not changed; it
// must not be empty.
func Quantiles(xs, levels []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	out := make([]float64, len(levels))
	for i, p := range levels {
		h := p * float64(len(s)-1)
		lo := int(math.Floor(h))
		if lo >= len(s)-1 {
			out[i] = s[len(s)-1]
			continue
		}
		out[i] = s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
	}
	return out
}

// cdf is the share of a distribution at or below x, given its quantiles q
// at levels (from 0 to 1): linear between the quantiles, as Quantiles
// interpolates them.
func cdf(levels, q []float64, x float64) float64 {
	n := len(q)
	if x < q[0] {
		return 0
	}
	if x >= q[n-1] {
		return 1
	}
	i := below(q, x) // q[i] <= x < q[i+1]
	return levels[i] + (levels[i+1]-levels[i])*(x-q[i])/(q[i+1]-q[i])
}

// below returns the last i with q[i] <= x (q ascending, q[0] <= x < q[n-1]).
func below(q []float64, x float64) int {
	i, _ := slices.BinarySearchFunc(q, x, func(v, x float64) int {
		if v <= x {
			return -1
		}
		return 1
	})
	return i - 1
}

// Threshold is the cosine at which as large a share of the matched pairs
// lies below it as of the unmatched pairs lies above it (the equal-error
// point of the two distributions, each linear between its quantiles), so
// a result below it is as likely a missed match as one above it a false
// one. Where the two do not overlap every cosine between them separates
// them all, and Threshold is the middle of that gap. levels must run from
// 0 to 1, matched and unmatched be ascending quantiles at them.
//
// Why this point: a flat cut-off cannot serve models whose cosines run
// over different ranges (the default model's matched pairs lie near 0.78,
// a CLIP's near 0.3), and either fixed share alone (say 95% of matched
// pairs above) ignores how far the unmatched pairs reach.
func Threshold(levels, matched, unmatched []float64) float64 {
	g := func(x float64) float64 { return cdf(levels, matched, x) + cdf(levels, unmatched, x) - 1 }
	lo0 := math.Min(matched[0], unmatched[0])
	hi0 := math.Max(matched[len(matched)-1], unmatched[len(unmatched)-1])
	// g rises from -1 to 1; first is where it reaches 0, last where it
	// leaves 0 (the same point unless g is 0 over a gap).
	first, last := lo0, hi0
	for a, b := lo0, hi0; b-a > 1e-9; {
		if m := (a + b) / 2; g(m) >= 0 {
			b, first = m, m
		} else {
			a = m
		}
	}
	for a, b := lo0, hi0; b-a > 1e-9; {
		if m := (a + b) / 2; g(m) <= 0 {
			a, last = m, m
		} else {
			b = m
		}
	}
	return (first + last) / 2
}

// NewHeadCalibration summarises one head's matched and unmatched cosines
// (neither empty) at CalibrationLevels.
func NewHeadCalibration(matched, unmatched []float64) *HeadCalibration {
	h := &HeadCalibration{
		Matched:   round4(Quantiles(matched, CalibrationLevels)),
		Unmatched: round4(Quantiles(unmatched, CalibrationLevels)),
		Pairs:     [2]int{len(matched), len(unmatched)},
	}
	h.Threshold = math.Round(Threshold(CalibrationLevels, h.Matched, h.Unmatched)*1e4) / 1e4
	h.Error = math.Round(cdf(CalibrationLevels, h.Matched, h.Threshold)*1e4) / 1e4
	return h
}

// round4 rounds to 4 decimals, what a cosine needs here, to keep the meta
// short.
func round4(v []float64) []float64 {
	for i := range v {
		v[i] = math.Round(v[i]*1e4) / 1e4
	}
	return v
}

// Outside is the cosine below which a query's best result lies far below
// what the model's own captions reach: the median unmatched pair. A query
// of the model's world finds something (a clip sharing its colour, shape
// or motion) at least that close in any index, since the best over many
// clips is far above a typical unmatched pair; a query the model cannot
// read does not. Meaningful only for an OwnWorld calibration.
func (h *HeadCalibration) Outside(levels []float64) float64 {
	i := slices.Index(levels, 0.5)
	if i < 0 {
		return math.NaN()
	}
	return h.Unmatched[i]
}

// Verdict is what a calibration says of a query's results.
type Verdict struct {
	Head      string  `json:"head"`      // the head the results were pooled with
	Best      float64 `json:"best"`      // the best result's cosine
	Threshold float64 `json:"threshold"` // below it a result is a weak match
	Outside   float64 `json:"outside"`   // OwnWorld calibrations: below it the query looks outside what the model knows; NaN (JSON null) otherwise
	Weak      bool    `json:"weak"`      // Best < Threshold: nothing matches well
	Unknown   bool    `json:"unknown"`   // Weak, and Best < Outside: the query looks outside what the model knows (OwnWorld only)
	OwnWorld  bool    `json:"ownWorld"`  // the calibration is of the model's own (synthetic) world
}

// MarshalJSON writes a NaN Outside as null.
func (v Verdict) MarshalJSON() ([]byte, error) {
	type plain Verdict
	out := struct {
		plain
		Outside *float64 `json:"outside"`
	}{plain: plain(v)}
	if !math.IsNaN(v.Outside) {
		out.Outside = &v.Outside
	}
	return json.Marshal(out)
}

// Judge returns the verdict on a query whose best result, pooled with
// head, has cosine best; false when the calibration has no such head or
// cannot tell with it (HeadCalibration.Tells).
func (c *Calibration) Judge(head string, best float64) (Verdict, bool) {
	h := c.Heads[head]
	if h == nil || !h.Tells() {
		return Verdict{}, false
	}
	v := Verdict{Head: head, Best: best, Threshold: h.Threshold, Outside: math.NaN(), OwnWorld: c.OwnWorld}
	v.Weak = best < h.Threshold
	if c.OwnWorld {
		v.Outside = h.Outside(c.Levels)
		v.Unknown = v.Weak && best < v.Outside
	}
	return v, true
}

// MarshalMeta returns the calibration as the JSON its meta entry holds.
func (c *Calibration) MarshalMeta() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // only numbers, strings and maps of them
	}
	return string(b)
}

// ErrNoCalibration is returned by StoredCalibration for a model file
// without one.
var ErrNoCalibration = errors.New("model: the file stores no calibration")

// CalibrationError is a stored calibration that cannot be used: malformed,
// of another version or measured on another model.
type CalibrationError struct{ Reason string }

func (e *CalibrationError) Error() string {
	return "model: the stored calibration cannot be used (" + e.Reason + "); it is measured again"
}

// ParseCalibration reads a calibration meta entry and checks it: the
// version, the levels (ascending from 0 to 1), each head's quantiles
// (ascending, finite cosines in [-1, 1]) and threshold (the one its
// quantiles give).
func ParseCalibration(s string) (*Calibration, error) {
	var c Calibration
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, &CalibrationError{"malformed JSON: " + err.Error()}
	}
	if c.Version != CalibrationVersion {
		return nil, &CalibrationError{fmt.Sprintf("version %d, this build measures version %d", c.Version, CalibrationVersion)}
	}
	n := len(c.Levels)
	if n < 2 || c.Levels[0] != 0 || c.Levels[n-1] != 1 || !ascending(c.Levels, 0, 1) || !slices.Contains(c.Levels, 0.5) {
		return nil, &CalibrationError{fmt.Sprintf("levels %v: want ascending from 0 to 1, with 0.5", c.Levels)}
	}
	if len(c.Heads) == 0 {
		return nil, &CalibrationError{"no heads"}
	}
	for name, h := range c.Heads {
		switch {
		case h == nil:
			return nil, &CalibrationError{"head " + name + " is null"}
		case name != MeanP && name != SeqLSTM && name != SeqTransf:
			return nil, &CalibrationError{"head " + name + ": not a loose head"}
		case len(h.Matched) != n || len(h.Unmatched) != n:
			return nil, &CalibrationError{fmt.Sprintf("head %s: %d matched and %d unmatched quantiles for %d levels", name, len(h.Matched), len(h.Unmatched), n)}
		case !ascending(h.Matched, -1, 1) || !ascending(h.Unmatched, -1, 1):
			return nil, &CalibrationError{"head " + name + ": quantiles not ascending cosines"}
		case h.Pairs[0] < 1 || h.Pairs[1] < 1:
			return nil, &CalibrationError{fmt.Sprintf("head %s: %v pairs", name, h.Pairs)}
		}
		if t := Threshold(c.Levels, h.Matched, h.Unmatched); !(math.Abs(t-h.Threshold) <= 1e-3) {
			return nil, &CalibrationError{fmt.Sprintf("head %s: threshold %v, its quantiles give %.4f", name, h.Threshold, t)}
		}
		if e := cdf(c.Levels, h.Matched, h.Threshold); !(math.Abs(e-h.Error) <= 1e-3) {
			return nil, &CalibrationError{fmt.Sprintf("head %s: error %v, its quantiles give %.4f", name, h.Error, e)}
		}
	}
	return &c, nil
}

// ascending reports whether v is finite, non-decreasing and within [lo, hi].
func ascending(v []float64, lo, hi float64) bool {
	for i, x := range v {
		if math.IsNaN(x) || x < lo || x > hi || (i > 0 && x < v[i-1]) {
			return false
		}
	}
	return true
}

// StoredCalibration returns the calibration m's file stores: ErrNoCalibration
// when there is none, a *CalibrationError when it cannot be used (malformed,
// another version, or measured on a model of another ID; a part, whose ID
// is unknown, takes its file's).
func (m *CLIP) StoredCalibration() (*Calibration, error) {
	s, ok := m.Meta[CalibrationKey]
	if !ok {
		return nil, ErrNoCalibration
	}
	c, err := ParseCalibration(s)
	if err != nil {
		return nil, err
	}
	// A part of a model (LoadPart) does not know its ID; its file's
	// calibration is the whole model's.
	if id := m.ID(); id != "" && c.Model != id {
		return nil, &CalibrationError{fmt.Sprintf("measured on model %.12s, this is %.12s", c.Model, id)}
	}
	return c, nil
}

// SyntheticWorld reports whether a model's meta says it was trained on the
// synthetic world (clip4clip train -data synth:... records train_data; the
// page also reads trained_on), so that it knows nothing else.
func SyntheticWorld(meta map[string]string) bool {
	return strings.HasPrefix(strings.ToLower(meta["train_data"]), "synth") || strings.Contains(strings.ToLower(meta["trained_on"]), "synth")
}
