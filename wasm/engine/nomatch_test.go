package engine

import (
	"slices"
	"strings"
	"testing"
	"time"

	"clip4clip/model"
	"clip4clip/synth"
	"clip4clip/weights"
)

// outOfWorld are real-world queries, none with a word of the synthetic
// world's captions but for a few articles and prepositions
// (TestOutOfWorldWords checks). None is a calibration caption.
var outOfWorld = []string{
	"a dog catches a frisbee", "people dancing at a wedding", "a man rides a bicycle through the city", "a woman cooking pasta in a kitchen",
	"children playing football in a park", "a cat sleeping on a sofa", "an airplane taking off from the runway", "waves crashing on a sandy beach",
	"a chef chopping onions", "a crowd cheering at a rock concert", "a horse galloping across a field", "a girl brushing her teeth",
	"a car driving on a highway at night", "two men shaking hands in an office", "a baby laughing in a bath", "a teacher writing on a chalkboard",
	"a tennis player serves", "fireworks exploding over a river", "a boy reading a book under a tree", "people walking in the rain with umbrellas",
	"a surfer riding a wave", "a pianist playing a piano on stage", "a family eating dinner together", "a dog swimming in a lake",
	"a skier racing through fresh snow", "a mechanic repairing an engine", "a woman singing into a microphone", "an elephant drinking from a river",
	"a train arriving at the station", "a barber cutting hair", "students taking notes in a lecture hall", "a man mowing the lawn",
	"kids building a sandcastle", "a couple hiking on a mountain trail", "a squirrel eating a nut", "a firefighter spraying water on a burning house",
	"a farmer milking a cow", "someone typing on a laptop", "a goalkeeper saving a penalty", "a bride and groom cutting their wedding cake",
	"a news anchor talking to the camera", "a puppy chewing a shoe", "a woman doing yoga on a mat", "a man fishing from a boat",
	"people shopping in a supermarket", "a bird feeding its chicks", "a monkey eating a banana", "soldiers marching in a parade",
	"a doctor examining a patient", "traffic jam in the city at rush hour",
}

// sharedWords are the synthetic captions' words the out-of-world queries
// may use: articles and prepositions, no colour, shape, size or motion.
var sharedWords = []string{"a", "an", "the", "in", "on", "at", "of", "to", "into", "and"}

// synthWords is every word of the synthetic world's captions: many
// generated clips, window pairs and the demo videos' events.
func synthWords() map[string]bool {
	words := map[string]bool{}
	add := func(s string) {
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
			words[w] = true
		}
	}
	for i := range 1000 {
		add(synth.GenerateAt(11, i, synth.Options{Frames: 2, Resolution: 8}).Caption)
	}
	for i := range 300 {
		for _, c := range synth.WindowPairAt(11, i, synth.Options{Frames: 1, Resolution: 8}) {
			add(c.Caption)
		}
	}
	for i := range 3 {
		for _, e := range synth.Demo(7000+uint64(i), 60).Events {
			add(e.Caption)
		}
	}
	return words
}

// TestOutOfWorldWords: the out-of-world queries share no word with the
// synthetic world but sharedWords.
func TestOutOfWorldWords(t *testing.T) {
	words := synthWords()
	for _, w := range []string{"red", "circle", "moves", "spins", "small", "background"} {
		if !words[w] {
			t.Fatalf("the synthetic vocabulary lacks %q: %d words", w, len(words))
		}
	}
	for _, q := range outOfWorld {
		for _, w := range strings.Fields(q) {
			if words[w] && !slices.Contains(sharedWords, w) {
				t.Errorf("%q uses %q, a word of the synthetic world", q, w)
			}
		}
	}
	if len(outOfWorld) != 50 {
		t.Errorf("%d out-of-world queries, want 50", len(outOfWorld))
	}
}

// TestNoMatchCalibration measures the default model's calibration on the
// synthetic world, as the page searches it: the three demo videos (drawn
// as their 4 fps WebMs show them at 1 frame per second) in the engine,
// each query's best result judged. It reports the share of out-of-world
// queries flagged (the page and search say nothing matches well and the
// query looks outside the demo world), of the demo videos' event captions
// not flagged, and of other captions of the world (held out, phrased with
// synonyms, mostly of things the demos do not show) told they look
// outside it. Run it with
//
//	go test ./wasm/engine/ -run TestNoMatchCalibration -v
func TestNoMatchCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds 180 frames of demo video")
	}
	e, err := New(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	calibrations.Clear()
	start := time.Now()
	c, err := e.Calibrate()
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	h := c.Heads[e.Info().Head]
	t.Logf("calibrated the %s head in %v on %s: threshold %.4f (matched pairs above it: %.1f%%, unmatched below: %.1f%%), outside below %.4f; meta entry %d bytes",
		e.Info().Head, took.Round(time.Millisecond), c.Set, h.Threshold, 100*(1-share(c.Levels, h.Matched, h.Threshold)), 100*share(c.Levels, h.Unmatched, h.Threshold), h.Outside(c.Levels), len(c.MarshalMeta()))
	t.Logf("matched quantiles %v", h.Matched)
	t.Logf("unmatched quantiles %v", h.Unmatched)

	d := e.Info().EmbedDim
	var events []string
	for i := range 3 {
		v := synth.Demo(7000+uint64(i), 60) // web/demos/demo<i>.webm
		times := make([]float64, 60)
		for k := range times {
			times[k] = float64(k) + 0.125 // the 4 fps frame shown at k s
		}
		feats := make([]float32, len(times)*d)
		for k, f := range v.FramesAt(times, 256) {
			if err := e.EmbedFrame(feats[k*d:(k+1)*d], f.Pix, 256, 256); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.AddVideo(v.ID, feats, len(times)); err != nil {
			t.Fatal(err)
		}
		for _, ev := range v.Events {
			events = append(events, ev.Caption)
		}
	}
	var others []string
	for i := range 50 {
		for _, c := range synth.WindowPairAt(CalibrationSeed+1, i, synth.Options{Frames: 1, Resolution: 8}) {
			others = append(others, c.Caption)
		}
	}

	judge := func(q string) model.Verdict {
		f, err := e.EmbedQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		hits, err := e.Search(f.Feature, 1)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := e.Judge(float64(hits[0].Score / e.scale()))
		if !ok {
			t.Fatal("no verdict")
		}
		if hits[0].Weak != v.Weak {
			t.Fatalf("%q: best hit weak %v, verdict %+v", q, hits[0].Weak, v)
		}
		return v
	}
	type tally struct {
		n, weak, outside int
		lo, hi           float64 // the lowest and highest best cosine
	}
	count := func(what string, qs []string, show func(model.Verdict) bool) tally {
		s := tally{lo: 1, hi: -1}
		for _, q := range qs {
			v := judge(q)
			s.n++
			s.lo, s.hi = min(s.lo, v.Best), max(s.hi, v.Best)
			if v.Weak {
				s.weak++
			}
			if v.Unknown {
				s.outside++
			}
			if show(v) {
				t.Logf("%s: %q best %.4f weak %v outside %v", what, q, v.Best, v.Weak, v.Unknown)
			}
		}
		return s
	}
	pct := func(k, n int) float64 { return 100 * float64(k) / float64(n) }
	in := count("in-world flagged", events, func(v model.Verdict) bool { return v.Weak })
	out := count("out-of-world not flagged", outOfWorld, func(v model.Verdict) bool { return !v.Unknown })
	oth := count("other in-world told outside", others, func(v model.Verdict) bool { return v.Unknown })
	t.Logf("out-of-world queries flagged: %d of %d (%.1f%%) as looking outside the demo world, %d (%.1f%%) as matching nothing well (best cosines %.4f to %.4f)",
		out.outside, out.n, pct(out.outside, out.n), out.weak, pct(out.weak, out.n), out.lo, out.hi)
	t.Logf("in-world queries (the demo events' captions) not flagged: %d of %d (%.1f%%); told outside the world: %d (best cosines %.4f to %.4f)",
		in.n-in.weak, in.n, pct(in.n-in.weak, in.n), in.outside, in.lo, in.hi)
	t.Logf("other in-world captions (held out, mostly not in the demos): %d of %d (%.1f%%) match nothing well, %d (%.1f%%) told outside the world (best cosines %.4f to %.4f)",
		oth.weak, oth.n, pct(oth.weak, oth.n), oth.outside, pct(oth.outside, oth.n), oth.lo, oth.hi)
	if pct(out.outside, out.n) < 90 {
		t.Errorf("%.1f%% of out-of-world queries flagged, want at least 90%%", pct(out.outside, out.n))
	}
	if pct(in.n-in.weak, in.n) < 90 {
		t.Errorf("%.1f%% of in-world queries not flagged, want at least 90%%", pct(in.n-in.weak, in.n))
	}
	if pct(oth.outside, oth.n) > 10 {
		t.Errorf("%.1f%% of other in-world captions told they look outside the world, want at most 10%%", pct(oth.outside, oth.n))
	}
}

// share is the share of a distribution (quantiles q at levels) below x.
func share(levels, q []float64, x float64) float64 {
	for i := 1; i < len(q); i++ {
		if x < q[i] {
			if q[i] == q[i-1] {
				return levels[i-1]
			}
			return levels[i-1] + (levels[i]-levels[i-1])*(x-q[i-1])/(q[i]-q[i-1])
		}
	}
	return 1
}

// BenchmarkCalibrate measures calibrating the default model at load
// (CalibrationSet: drawing and embedding 384 frames; CalibrateWith:
// captions and pooling).
func BenchmarkCalibrate(b *testing.B) {
	e, err := New(weights.Default())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		calibrations.Clear()
		e.cal = nil
		if _, err := e.Calibrate(); err != nil {
			b.Fatal(err)
		}
	}
}
