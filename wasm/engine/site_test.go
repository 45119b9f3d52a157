package engine

import (
	"errors"
	"math/rand/v2"
	"testing"

	"clip4clip/model"
	"clip4clip/siteindex"
)

// tinySite is a site index of the tiny model: three videos of moments at
// random, each with a thumbnail every 2 s.
func tinySite(t *testing.T, e *Engine) *siteindex.Index {
	r := rand.New(rand.NewPCG(4, 5))
	unit := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		model.L2Normalize(v)
		return v
	}
	x := &siteindex.Index{ModelID: e.Model().ID(), ModelName: "tiny", Head: model.MeanP, EmbedDim: dim, FPS: 1, Window: 4}
	for i := range 3 {
		v := siteindex.Video{Path: "v.webm", Title: "video", Duration: 12, Width: 64, Height: 48, Feature: unit()}
		for range 12 - i {
			v.Moments = append(v.Moments, unit())
		}
		for s := 0.0; s < 12; s += 2 {
			v.Thumbs = append(v.Thumbs, siteindex.Thumb{Time: s, JPEG: []byte{0xff, 0xd8, byte(s)}})
		}
		x.Videos = append(x.Videos, v)
	}
	return x
}

// TestSiteSearch loads a site index into the engine and checks SearchSite
// against siteindex.Index.Search on the normalised query, with the
// thumbnail nearest each moment's middle.
func TestSiteSearch(t *testing.T) {
	e := tinyEngine(t)
	if _, err := e.SearchSite(make([]float32, dim), 3); !errors.Is(err, ErrNoSite) {
		t.Fatalf("SearchSite before LoadSite: %v, want ErrNoSite", err)
	}
	x := tinySite(t, e)
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.LoadSite(b)
	if err != nil {
		t.Fatal(err)
	}
	if SiteMoments(got) != 12+11+10 || len(got.Videos) != 3 {
		t.Fatalf("loaded %d videos, %d moments", len(got.Videos), SiteMoments(got))
	}
	q, err := e.EmbedQuery("red cat")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.SearchSite(q.Feature, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := got.Search(Normalize(q.Feature), 5)
	if len(r.Moments) != len(want.Moments) || len(r.Videos) != len(want.Videos) || len(r.Moments) == 0 {
		t.Fatalf("SearchSite: %d videos, %d moments; Index.Search: %d, %d", len(r.Videos), len(r.Moments), len(want.Videos), len(want.Moments))
	}
	for i, m := range r.Moments {
		if m.MomentHit != want.Moments[i] {
			t.Errorf("moment %d: %+v, want %+v", i, m.MomentHit, want.Moments[i])
		}
		th := got.Videos[m.Video].Thumbs
		mid := (m.Start + m.End) / 2
		for j := range th {
			if abs(th[j].Time-mid) < abs(th[m.Thumb].Time-mid) {
				t.Errorf("moment %d (%.1f-%.1f s): thumbnail at %.1f s, %.1f s is nearer", i, m.Start, m.End, th[m.Thumb].Time, th[j].Time)
			}
		}
	}
	if _, err := e.SearchSite(q.Feature[:dim-1], 5); err == nil {
		t.Error("a query of the wrong size was accepted")
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// TestSiteErrors: an index of another model and a corrupt index are
// refused with siteindex's typed errors, and the site loaded before stays.
func TestSiteErrors(t *testing.T) {
	e := tinyEngine(t)
	x := tinySite(t, e)
	good, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.LoadSite(good); err != nil {
		t.Fatal(err)
	}
	x.ModelID = "another"
	other, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var me *siteindex.ModelMismatchError
	if _, err := e.LoadSite(other); !errors.As(err, &me) {
		t.Errorf("an index of another model: %v, want a ModelMismatchError", err)
	}
	var fe *siteindex.FormatError
	for name, b := range map[string][]byte{"truncated": good[:len(good)/2], "foreign": []byte("C4CMODEL and more"), "empty": nil} {
		if _, err := e.LoadSite(b); !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a FormatError", name, err)
		}
	}
	if e.Site() == nil || len(e.Site().Videos) != 3 {
		t.Error("a failed load replaced the site loaded before")
	}
}

func TestNearestThumb(t *testing.T) {
	th := []siteindex.Thumb{{Time: 0}, {Time: 2}, {Time: 4}}
	for _, c := range []struct {
		t    float64
		want int
	}{{-1, 0}, {0.9, 0}, {1, 0}, {1.1, 1}, {3.5, 2}, {99, 2}} {
		if got := NearestThumb(th, c.t); got != c.want {
			t.Errorf("NearestThumb(%v) = %d, want %d", c.t, got, c.want)
		}
	}
	if NearestThumb(nil, 1) != -1 {
		t.Error("NearestThumb without thumbnails is not -1")
	}
}
