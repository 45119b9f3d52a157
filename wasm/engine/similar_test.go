package engine

import (
	"math"
	"testing"

	"clip4clip/synth"
	"clip4clip/weights"
)

// TestSimilarTo indexes a demo video twice (keys a and copy) and another
// one, asks for more like a moment of a, and checks that the copy's same
// moment comes first at cosine 1, and that a's own results stay clear of
// the moment's window and leave out a's whole-video score.
func TestSimilarTo(t *testing.T) {
	e, err := New(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	d, res := e.Info().EmbedDim, 64
	embed := func(v *synth.Video) ([]float32, int) {
		n := int(v.Duration)
		f := make([]float32, n*d)
		for i := range n {
			if err := e.EmbedFrame(f[i*d:(i+1)*d], v.Frame(float64(i)+0.5, res).Pix, res, res); err != nil {
				t.Fatal(err)
			}
		}
		return f, n
	}
	fa, na := embed(synth.Demo(1, 20))
	fb, nb := embed(synth.Demo(2, 20))
	for key, v := range map[string][]float32{"a": fa, "copy": fa, "b": fb} {
		n := na
		if key == "b" {
			n = nb
		}
		if err := e.AddVideo(key, v, n); err != nil {
			t.Fatal(err)
		}
	}
	const frame = 9
	hits, err := e.SimilarTo("a", frame, 3)
	if err != nil {
		t.Fatal(err)
	}
	if hits[0].Key != "copy" {
		t.Fatalf("first hit %q, want the copy", hits[0].Key)
	}
	top := hits[0].Moments[0]
	scale := float32(math.Exp(float64(e.Model().LogitScale)))
	if math.Abs(float64(top.Score-scale)) > 1e-4*float64(scale) || hits[0].Timeline[frame] != top.Score {
		t.Errorf("the copy's moment at frame %d scores %v (best moment at frame %d), want the scale %v", frame, hits[0].Timeline[frame], top.Frame, scale)
	}
	lo, hi := MomentFrames(frame, na, e.Window())
	seen := false
	for _, h := range hits {
		if h.Key != "a" {
			continue
		}
		seen = len(h.Moments) > 0
		if !math.IsInf(float64(h.Whole), -1) {
			t.Errorf("a's whole-video score %v is not left out", h.Whole)
		}
		for _, m := range h.Moments {
			if m.First < hi && lo <= m.Last {
				t.Errorf("a's moment %d-%d overlaps the query's window %d-%d", m.First, m.Last, lo, hi-1)
			}
		}
	}
	if !seen {
		t.Error("a's other moments are not in the results")
	}
	if _, err := e.SimilarTo("nope", 0, 3); err == nil {
		t.Error("an unknown video is accepted")
	}
	if _, err := e.SimilarTo("a", na, 3); err == nil {
		t.Error("a frame past the end is accepted")
	}
}
