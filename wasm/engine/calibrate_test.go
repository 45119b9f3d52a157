package engine

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"clip4clip/model"
	"clip4clip/quant"
)

// synthModel is the tiny model with a seqTransf head, its meta saying it
// was trained on the synthetic world.
func synthModel(t testing.TB) *model.CLIP {
	m := tinyModel(t, model.HeadConfig{Type: model.SeqTransf, Layers: 1, Heads: 2, MaxFrames: 4, MaxWords: 32})
	m.Meta["train_data"] = "synth:1:100"
	return m
}

// TestCalibrateParts: the calibration of the whole model equals the one a
// frame part's probe set scored by a query part gives (the page's two
// workers), for a model of the synthetic world and for any other; each
// part refuses the other's half.
func TestCalibrateParts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, m := range []*model.CLIP{synthModel(t), tinyModel(t, model.HeadConfig{Type: model.MeanP})} {
		var buf bytes.Buffer
		if err := m.Save(&buf, quant.F32, 0); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		whole, err := New(data)
		if err != nil {
			t.Fatal(err)
		}
		if whole.Calibration() != nil || whole.Info().Calibration != nil {
			t.Fatal("a model file without calibration starts with one")
		}
		calibrations.Clear() // measure, not reuse another test's
		c, err := whole.Calibrate()
		if err != nil {
			t.Fatal(err)
		}
		own := model.SyntheticWorld(m.Meta)
		heads := []string{model.MeanP}
		if own {
			heads = []string{model.SeqTransf, model.MeanP}
		}
		if c.OwnWorld != own || len(c.Heads) != len(heads) || c.Model != whole.Info().ID {
			t.Fatalf("calibration %+v, want own world %v, heads %v", c, own, heads)
		}
		for _, h := range heads {
			hc := c.Heads[h]
			wantPairs := 2 * builtinPairs
			if own {
				wantPairs = 2 * ownWorldPairs
			}
			if hc == nil || hc.Pairs[0] != wantPairs {
				t.Fatalf("head %s: %+v, want %d matched pairs", h, hc, wantPairs)
			}
		}
		info := whole.Info().Calibration
		if info == nil || info.Head != heads[0] || info.Source != "computed" || (info.Outside != nil) != own {
			t.Errorf("Info().Calibration = %+v", info)
		}
		if got := info.ThresholdScore; math.Abs(float64(got)-float64(whole.scale())*info.Threshold) > 1e-4 {
			t.Errorf("threshold score %v for threshold %v at scale %v", got, info.Threshold, whole.scale())
		}

		vis, _ := load(t, data, model.FramePart, false, r)
		txt, _ := load(t, data, model.QueryPart, true, r)
		if _, err := txt.CalibrationSet(); !errors.Is(err, ErrNoVision) {
			t.Errorf("query part's CalibrationSet: %v", err)
		}
		set, err := vis.CalibrationSet()
		if err != nil {
			t.Fatal(err)
		}
		if own != set.OwnWorld || (len(set.Others) > 0) == own {
			t.Errorf("set %q: own world %v, %d other captions", set.Name, set.OwnWorld, len(set.Others))
		}
		if _, err := vis.CalibrateWith(set); !errors.Is(err, ErrNoText) {
			t.Errorf("frame part's CalibrateWith: %v", err)
		}
		pc, err := txt.CalibrateWith(set)
		if err != nil {
			t.Fatal(err)
		}
		pc.Model = c.Model // a part does not know the model's ID
		if !reflect.DeepEqual(pc, c) {
			t.Errorf("parts' calibration\n%s\nwhole model's\n%s", pc.MarshalMeta(), c.MarshalMeta())
		}

		// A second engine of the model reuses the measurement.
		again, err := New(data)
		if err != nil {
			t.Fatal(err)
		}
		if again.Calibration() != c {
			t.Error("a second engine of the same model measured again")
		}
	}
}

// TestCalibrationMeta: a calibration stored in the model file is used as
// it is; a malformed one, one of another model, or one without the
// search's head does not stop the model from loading, is noted and
// measured again.
func TestCalibrationMeta(t *testing.T) {
	m := synthModel(t)
	e, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	calibrations.Clear()
	c, err := e.Calibrate()
	if err != nil {
		t.Fatal(err)
	}
	save := func(entry string) []byte {
		m.Meta[model.CalibrationKey] = entry
		var buf bytes.Buffer
		if err := m.Save(&buf, quant.F32, 0); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	stored, err := New(save(c.MarshalMeta()))
	if err != nil {
		t.Fatal(err)
	}
	if i := stored.Info(); i.Calibration == nil || i.Calibration.Source != "file" || stored.calNote != "" || !reflect.DeepEqual(stored.Calibration(), c) {
		t.Errorf("stored calibration: %+v, note %q", i.Calibration, i.CalibrationNote)
	}

	// The page's query worker loads the text part, which does not know the
	// model's ID, and takes the file's calibration as it is.
	txt, _ := load(t, save(c.MarshalMeta()), model.QueryPart, true, rand.New(rand.NewPCG(1, 1)))
	if i := txt.Info(); i.ID != "" || i.Calibration == nil || i.Calibration.Source != "file" {
		t.Errorf("the query part: ID %q, calibration %+v, note %q", i.ID, i.Calibration, i.CalibrationNote)
	}

	other := *c
	other.Model = strings.Repeat("0", 64)
	noHead := *c
	noHead.Heads = map[string]*model.HeadCalibration{model.MeanP: c.Heads[model.MeanP]}
	for name, entry := range map[string]string{
		"malformed":     `{"v":1,"heads":{"seqTransf":{"matched":[0.9,0.1]`,
		"not JSON":      "0.7",
		"NaN":           strings.Replace(c.MarshalMeta(), `"threshold":`, `"threshold":NaN,"x":`, 1),
		"another model": other.MarshalMeta(),
		"no seqTransf":  noHead.MarshalMeta(),
	} {
		calibrations.Clear()
		e, err := New(save(entry))
		if err != nil {
			t.Fatalf("%s: the model does not load: %v", name, err)
		}
		i := e.Info()
		if i.Calibration != nil || e.calNote == "" || i.CalibrationNote != e.calNote {
			t.Errorf("%s: calibration %+v, note %q; want none, and a note", name, i.Calibration, i.CalibrationNote)
		}
		got, err := e.Calibrate()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, c) || e.Info().Calibration.Source != "computed" {
			t.Errorf("%s: measured again:\n%s\nwant\n%s", name, got.MarshalMeta(), c.MarshalMeta())
		}
	}
}

// handCalibration is a calibration of the tiny model's meanP head with a
// threshold of 0.5 and an outside level of 0.2.
func handCalibration(own bool) *model.Calibration {
	levels := []float64{0, 0.5, 1}
	return &model.Calibration{Version: model.CalibrationVersion, Set: "hand", OwnWorld: own, Levels: levels,
		Heads: map[string]*model.HeadCalibration{model.MeanP: {Matched: []float64{0.5, 0.7, 0.9}, Unmatched: []float64{-0.1, 0.2, 0.5}, Pairs: [2]int{1, 1}, Threshold: model.Threshold(levels, []float64{0.5, 0.7, 0.9}, []float64{-0.1, 0.2, 0.5})}}}
}

// TestSearchWeak: with a calibration, Search marks the hits and moments
// whose scores are below its threshold, and Judge gives the verdict on a
// best score.
func TestSearchWeak(t *testing.T) {
	e := tinyEngine(t)
	c := handCalibration(true)
	if th := c.Heads[model.MeanP].Threshold; math.Abs(th-0.5) > 1e-6 {
		t.Fatalf("hand threshold %v, want 0.5 (the gap's middle)", th)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for _, key := range []string{"a", "b", "c"} {
		f := make([]float32, 6*dim)
		for i := range f {
			f[i] = float32(r.NormFloat64())
		}
		if err := e.AddVideo(key, f, 6); err != nil {
			t.Fatal(err)
		}
	}
	q, err := e.EmbedQuery("a red cat")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := e.Search(q.Feature, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.Weak || h.Moments[0].Weak {
			t.Fatal("weak results without a calibration")
		}
	}
	if _, ok := e.Judge(0.1); ok {
		t.Error("a verdict without a calibration")
	}
	// Put the threshold between the best and the worst hit's scores.
	best, worst := float64(hits[0].Score/e.scale()), float64(hits[len(hits)-1].Score/e.scale())
	mid := (best + worst) / 2
	c.Heads[model.MeanP].Threshold = mid
	c.Heads[model.MeanP].Unmatched[1] = mid - 0.05 // the outside level
	if err := e.SetCalibration(c); err != nil {
		t.Fatal(err)
	}
	hits, _ = e.Search(q.Feature, 3)
	for _, h := range hits {
		if want := float64(h.Score/e.scale()) < mid; h.Weak != want {
			t.Errorf("hit %s score %v (cosine %.4f), threshold %.4f: weak %v", h.Key, h.Score, h.Score/e.scale(), mid, h.Weak)
		}
		for _, m := range h.Moments {
			if want := m.Score < e.scale()*float32(mid); m.Weak != want {
				t.Errorf("moment %+v: weak %v", m, m.Weak)
			}
		}
	}
	for _, tc := range []struct {
		best          float64
		weak, outside bool
	}{{mid + 0.01, false, false}, {mid - 0.01, true, false}, {mid - 0.1, true, true}} {
		v, ok := e.Judge(tc.best)
		if !ok || v.Weak != tc.weak || v.Unknown != tc.outside || v.Head != model.MeanP {
			t.Errorf("Judge(%.3f) = %+v, want weak %v, outside %v", tc.best, v, tc.weak, tc.outside)
		}
	}

	noHead := handCalibration(false)
	noHead.Heads = map[string]*model.HeadCalibration{model.SeqTransf: c.Heads[model.MeanP]}
	if err := e.SetCalibration(noHead); err == nil {
		t.Error("SetCalibration took a calibration without the search's head")
	}
	if err := e.SetCalibration(handCalibration(false)); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Judge(-0.5); !v.Weak || v.Unknown {
		t.Errorf("built-in probes: %+v, want weak and never outside", v)
	}
	if i := e.Info().Calibration; i.Outside != nil || i.OutsideScore != nil || i.Source != "given" {
		t.Errorf("Info().Calibration %+v", i)
	}
}

// TestCalibrateWithBadSet: sets that do not add up are refused.
func TestCalibrateWithBadSet(t *testing.T) {
	e := tinyEngine(t)
	good := func() *CalibrationSet {
		return &CalibrationSet{Name: "t", Frames: []int{2, 1}, Captions: []string{"a red cat", ""}, Features: make([]float32, 3*dim)}
	}
	for name, f := range map[string]func(s *CalibrationSet){
		"frames":     func(s *CalibrationSet) { s.Features = s.Features[:2*dim] },
		"captions":   func(s *CalibrationSet) { s.Captions = s.Captions[:1] },
		"zero":       func(s *CalibrationSet) { s.Frames[1] = 0 },
		"no caption": func(s *CalibrationSet) { s.Captions[0] = "" },
	} {
		s := good()
		f(s)
		if _, err := e.CalibrateWith(s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := e.CalibrateWith(good()); err != nil {
		t.Errorf("good set: %v", err)
	}
}

// TestCalibrationCannotTell: a model with random weights scores matched
// and unmatched pairs alike, so its calibration cannot tell: no result is
// marked weak, Judge gives no verdict, and Info says why.
func TestCalibrationCannotTell(t *testing.T) {
	e, err := FromModel(synthModel(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Calibrate(); err != nil {
		t.Fatal(err)
	}
	i := e.Info()
	if i.Calibration == nil || i.Calibration.Tells || i.Calibration.Overlap <= model.MaxCalibrationError || !strings.Contains(i.CalibrationNote, "cannot tell") {
		t.Fatalf("random weights: %+v, note %q", i.Calibration, i.CalibrationNote)
	}
	t.Logf("random weights: %.0f%% of either side on the wrong side of the threshold", 100*i.Calibration.Overlap)
	f := make([]float32, 4*dim)
	for k := range f {
		f[k] = float32(k%7) - 3
	}
	if err := e.AddVideo("v", f, 4); err != nil {
		t.Fatal(err)
	}
	q, _ := e.EmbedQuery("a red cat")
	hits, _ := e.Search(q.Feature, 2)
	if hits[0].Weak || hits[0].Moments[0].Weak {
		t.Error("a calibration that cannot tell marked a result weak")
	}
	if _, ok := e.Judge(-1); ok {
		t.Error("a verdict from a calibration that cannot tell")
	}
}

// TestSiteSearchWeak: SearchSite judges the best result (the best video's
// score, a cosine) with the calibration of the index's head and marks the
// moments below the threshold.
func TestSiteSearchWeak(t *testing.T) {
	e := tinyEngine(t)
	b, err := tinySite(t, e).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.LoadSite(b); err != nil {
		t.Fatal(err)
	}
	q, _ := e.EmbedQuery("red cat")
	r, err := e.SearchSite(q.Feature, 20)
	if err != nil {
		t.Fatal(err)
	}
	if r.Match != nil || r.Moments[0].Weak {
		t.Fatal("a verdict without a calibration")
	}
	best := float64(r.Videos[0].Score)
	mid := (float64(r.Moments[0].Score) + float64(r.Moments[len(r.Moments)-1].Score)) / 2
	c := handCalibration(false)
	c.Heads[model.MeanP].Threshold = mid
	if err := e.SetCalibration(c); err != nil {
		t.Fatal(err)
	}
	r, _ = e.SearchSite(q.Feature, 20)
	if r.Match == nil || r.Match.Best != best || r.Match.Threshold != mid || r.Match.Weak != (best < mid) {
		t.Fatalf("verdict %+v, best %v, threshold %v", r.Match, best, mid)
	}
	weak := 0
	for _, m := range r.Moments {
		if m.Weak != (float64(m.Score) < mid) {
			t.Errorf("moment %+v, threshold %v", m, mid)
		}
		if m.Weak {
			weak++
		}
	}
	if weak == 0 || weak == len(r.Moments) {
		t.Errorf("%d of %d moments weak", weak, len(r.Moments))
	}
}
