package model

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestQuantiles(t *testing.T) {
	// numpy.quantile([5, 1, 4, 2, 3], [0, .25, .5, .9, 1]) = [1, 2, 3, 4.6, 5]
	xs := []float64{5, 1, 4, 2, 3}
	got := Quantiles(xs, []float64{0, 0.25, 0.5, 0.9, 1})
	want := []float64{1, 2, 3, 4.6, 5}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("Quantiles = %v, want %v", got, want)
		}
	}
	if xs[0] != 5 {
		t.Error("Quantiles sorted its input in place")
	}
	if got := Quantiles([]float64{0.3}, []float64{0, 0.5, 1}); got[0] != 0.3 || got[2] != 0.3 {
		t.Errorf("one value: %v", got)
	}
}

// TestThreshold checks the equal-error point against values worked out by
// hand from the quantiles.
func TestThreshold(t *testing.T) {
	for _, c := range []struct {
		name                       string
		levels, matched, unmatched []float64
		want                       float64
	}{
		// Uniform on [0.6, 1] and [0, 0.8]: (T-0.6)/0.4 = 1 - T/0.8 at T = 2/3,
		// where a sixth of each is on the wrong side.
		{"overlap", []float64{0, 1}, []float64{0.6, 1}, []float64{0, 0.8}, 2.0 / 3},
		// No overlap: every cosine in [0.5, 0.7] separates them; the middle.
		{"gap", []float64{0, 1}, []float64{0.7, 0.9}, []float64{0.1, 0.5}, 0.6},
		// Three levels: on [0.5, 0.7] F_m = (x-0.5)/0.6, F_u = 0.5+(x-0.3)/0.8,
		// F_m = 1-F_u at 7x = 4.1.
		{"levels", []float64{0, 0.5, 1}, []float64{0.5, 0.8, 0.9}, []float64{0, 0.3, 0.7}, 4.1 / 7},
		// Identical distributions: the median.
		{"same", []float64{0, 0.5, 1}, []float64{0.2, 0.4, 0.8}, []float64{0.2, 0.4, 0.8}, 0.4},
	} {
		got := Threshold(c.levels, c.matched, c.unmatched)
		if math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: Threshold = %.6f, want %.6f", c.name, got, c.want)
		}
	}
}

func TestNewHeadCalibration(t *testing.T) {
	// Matched 0.60..0.99, unmatched 0.00..0.59 in steps of 0.01: a gap
	// from 0.59 to 0.60.
	var m, u []float64
	for i := range 40 {
		m = append(m, 0.6+float64(i)/100)
	}
	for i := range 60 {
		u = append(u, float64(i)/100)
	}
	h := NewHeadCalibration(m, u)
	if h.Pairs != [2]int{40, 60} || h.Matched[0] != 0.6 || h.Unmatched[len(h.Unmatched)-1] != 0.59 {
		t.Fatalf("%+v", h)
	}
	if h.Threshold != 0.595 || h.Error != 0 || !h.Tells() {
		t.Errorf("threshold %v, error %v, want 0.595 (the gap's middle), 0", h.Threshold, h.Error)
	}
	// Overlapping: matched 0.40..0.79, unmatched 0.00..0.59; the equal
	// share of each on the wrong side is (0.59-T)/0.59 = (T-0.40)/0.39, at
	// 0.98 T = 0.4661, T = 0.4756: 0.0756/0.39 = 19.4% of each.
	h = NewHeadCalibration(func() []float64 {
		var v []float64
		for i := range 40 {
			v = append(v, 0.4+float64(i)/100)
		}
		return v
	}(), u)
	if math.Abs(h.Threshold-0.4756) > 1e-4 || math.Abs(h.Error-0.1938) > 1e-4 || !h.Tells() {
		t.Errorf("overlapping: threshold %v, error %v, want 0.4756, 0.1938", h.Threshold, h.Error)
	}
	// The same distribution on both sides: half on the wrong side.
	h = NewHeadCalibration(u, u)
	if math.Abs(h.Error-0.5) > 0.02 || h.Tells() {
		t.Errorf("no separation: error %v, tells %v", h.Error, h.Tells())
	}
	if _, ok := (&Calibration{Levels: CalibrationLevels, Heads: map[string]*HeadCalibration{MeanP: h}}).Judge(MeanP, 0.1); ok {
		t.Error("a verdict from a calibration that cannot tell")
	}
	// The unmatched median, 0.295 (numpy's linear interpolation).
	if o := h.Outside(CalibrationLevels); math.Abs(o-0.295) > 1e-9 {
		t.Errorf("Outside %v, want 0.295", o)
	}
}

func testCalibration() *Calibration {
	var m, u []float64
	for i := range 50 {
		m = append(m, 0.6+float64(i)/250)
		u = append(u, 0.1+float64(i)/100)
	}
	return &Calibration{Version: CalibrationVersion, Model: "abc", Set: "test", OwnWorld: true, Levels: CalibrationLevels,
		Heads: map[string]*HeadCalibration{SeqTransf: NewHeadCalibration(m, u)}}
}

func TestCalibrationMeta(t *testing.T) {
	c := testCalibration()
	s := c.MarshalMeta()
	got, err := ParseCalibration(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.MarshalMeta() != s {
		t.Errorf("round trip:\n%s\n%s", got.MarshalMeta(), s)
	}
	if len(s) > 1000 {
		t.Errorf("the meta entry is %d bytes; keep it short", len(s))
	}

	v, ok := c.Judge(SeqTransf, 0.3)
	if !ok || !v.Weak || !v.Unknown || !v.OwnWorld {
		t.Errorf("Judge(0.3) = %+v, want weak and outside", v)
	}
	v, _ = c.Judge(SeqTransf, 0.55)
	if !v.Weak || v.Unknown {
		t.Errorf("Judge(0.55) = %+v, want weak, not outside (outside below %.3f)", v, v.Outside)
	}
	if v, _ = c.Judge(SeqTransf, 0.8); v.Weak || v.Unknown {
		t.Errorf("Judge(0.8) = %+v, want neither", v)
	}
	if _, ok := c.Judge(MeanP, 0.8); ok {
		t.Error("Judge of a head the calibration lacks")
	}
	c.OwnWorld = false
	v, _ = c.Judge(SeqTransf, 0.1)
	if !v.Weak || v.Unknown {
		t.Errorf("a calibration of built-in probes: %+v, want weak only", v)
	}
	b, err := json.Marshal(v)
	if err != nil || !strings.Contains(string(b), `"outside":null`) {
		t.Errorf("Verdict JSON %s (%v): want outside null", b, err)
	}
}

// TestParseCalibrationBad feeds malformed entries: each is refused with a
// CalibrationError, none panics.
func TestParseCalibrationBad(t *testing.T) {
	good := testCalibration().MarshalMeta()
	edit := func(f func(c map[string]any)) string {
		var c map[string]any
		if err := json.Unmarshal([]byte(good), &c); err != nil {
			t.Fatal(err)
		}
		f(c)
		b, _ := json.Marshal(c)
		return string(b)
	}
	head := func(c map[string]any) map[string]any { return c["heads"].(map[string]any)[SeqTransf].(map[string]any) }
	for name, s := range map[string]string{
		"empty":          "",
		"not JSON":       "{0.5, 0.6}",
		"truncated":      good[:len(good)/2],
		"array":          "[1, 2]",
		"version":        edit(func(c map[string]any) { c["v"] = 99 }),
		"unknown field":  edit(func(c map[string]any) { c["extra"] = 1 }),
		"levels":         edit(func(c map[string]any) { c["levels"] = []float64{0, 0.7, 0.5, 1} }),
		"no heads":       edit(func(c map[string]any) { c["heads"] = map[string]any{} }),
		"null head":      edit(func(c map[string]any) { c["heads"] = map[string]any{SeqTransf: nil} }),
		"tight head":     edit(func(c map[string]any) { c["heads"] = map[string]any{TightTransf: head(c)} }),
		"unknown head":   edit(func(c map[string]any) { c["heads"] = map[string]any{"bogus": head(c)} }),
		"short":          edit(func(c map[string]any) { head(c)["matched"] = []float64{0.1, 0.2} }),
		"descending":     edit(func(c map[string]any) { q := head(c)["unmatched"].([]any); q[3], q[4] = q[4], q[3] }),
		"not a cosine":   edit(func(c map[string]any) { q := head(c)["matched"].([]any); q[len(q)-1] = 7.0 }),
		"threshold":      edit(func(c map[string]any) { head(c)["threshold"] = 0.01 }),
		"error":          edit(func(c map[string]any) { head(c)["error"] = 0.4 }),
		"no pairs":       edit(func(c map[string]any) { head(c)["pairs"] = []int{0, 10} }),
		"string numbers": strings.Replace(good, `"threshold":`, `"threshold":"`, 1),
	} {
		_, err := ParseCalibration(s)
		var ce *CalibrationError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a CalibrationError", name, err)
		}
	}
}

func TestStoredCalibration(t *testing.T) {
	m := &CLIP{Meta: map[string]string{"model_id": "abc"}}
	if _, err := m.StoredCalibration(); !errors.Is(err, ErrNoCalibration) {
		t.Errorf("no entry: %v", err)
	}
	m.Meta[CalibrationKey] = testCalibration().MarshalMeta()
	if c, err := m.StoredCalibration(); err != nil || c.Model != "abc" {
		t.Errorf("%v %v", c, err)
	}
	m.Meta["model_id"] = "another"
	var ce *CalibrationError
	if _, err := m.StoredCalibration(); !errors.As(err, &ce) || !strings.Contains(err.Error(), "measured on model abc") {
		t.Errorf("another model's: %v", err)
	}
}

func TestSyntheticWorld(t *testing.T) {
	for meta, want := range map[[2]string]bool{
		{"synth:1:200000", ""}:   true,
		{"", "synthetic shapes"}: true,
		{"msrvtt", ""}:           false,
		{"", ""}:                 false,
	} {
		if got := SyntheticWorld(map[string]string{"train_data": meta[0], "trained_on": meta[1]}); got != want {
			t.Errorf("%v: %v", meta, got)
		}
	}
}
