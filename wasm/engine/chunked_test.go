package engine

import (
	"errors"
	"strings"
	"testing"

	"clip4clip/siteindex"
)

// TestChunkedSearch runs the steps a worker runs over a chunked index of
// tinySite's videos and checks the moments against SearchSite on the same
// index as one file: probing every list and every fragment gives the same
// moments and scores, with each moment's video and thumbnail.
func TestChunkedSearch(t *testing.T) {
	e := tinyEngine(t)
	if _, err := e.ChunkedNeed(make([]float32, dim), 1, 0); !errors.Is(err, ErrNoChunked) {
		t.Fatalf("before LoadChunkedSite: %v, want ErrNoChunked", err)
	}
	x := tinySite(t, e)
	for i := range x.Videos {
		x.Videos[i].Path = []string{"a.webm", "b.webm", "c.webm"}[i]
	}
	files := map[string][]byte{}
	if _, err := x.WriteChunked(func(name string, data []byte) error { files[name] = data; return nil }); err != nil {
		t.Fatal(err)
	}
	single, _ := x.MarshalBinary()
	if _, err := e.LoadSite(single); err != nil {
		t.Fatal(err)
	}
	m, err := e.LoadChunkedSite(files[siteindex.MetaName])
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.EmbedQuery("red cat")
	if err != nil {
		t.Fatal(err)
	}
	all, k := m.Lists, 10
	need, err := e.ChunkedNeed(q.Feature, all, 0)
	if err != nil || len(need) == 0 {
		t.Fatalf("chunks needed: %v, %v", need, err)
	}
	for _, f := range need {
		if err := e.AddChunk(f.List, files[f.Name]); err != nil {
			t.Fatal(err)
		}
	}
	need, err = e.ChunkedNeed(q.Feature, all, -1)
	if err != nil || len(need) == 0 {
		t.Fatalf("fragments needed: %v, %v", need, err)
	}
	for _, f := range need {
		if f.Have || !strings.HasPrefix(f.Name, "f/") {
			t.Fatalf("fragment %+v", f)
		}
		if err := e.AddFragment(f.Name, files[f.Name]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.SearchChunked(q.Feature, k, all, -1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.SearchSite(q.Feature, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Moments) != len(want.Moments) {
		t.Fatalf("%d moments, SearchSite %d", len(got.Moments), len(want.Moments))
	}
	for i, w := range want.Moments {
		g := got.Moments[i]
		if g.MomentHit != w.MomentHit || g.Path != x.Videos[w.Video].Path {
			t.Fatalf("moment %d: %+v, SearchSite %+v", i, g, w)
		}
		th := x.Videos[w.Video].Thumbs[w.Thumb]
		if string(g.JPEG) != string(th.JPEG) {
			t.Fatalf("moment %d: thumbnail %x, want %x (at %v s)", i, g.JPEG, th.JPEG, th.Time)
		}
	}

	// A bad chunk is refused by name; another model's meta by name.
	need, _ = e.ChunkedNeed(q.Feature, all, 0)
	if err := e.AddChunk(need[0].List, files[need[0].Name][:10]); err == nil || !strings.Contains(err.Error(), need[0].Name) {
		t.Fatalf("truncated chunk: %v", err)
	}
	x.ModelID, x.ModelName = strings.Repeat("0f", 32), "other.c4c"
	other := map[string][]byte{}
	x.WriteChunked(func(name string, data []byte) error { other[name] = data; return nil })
	var mm *siteindex.ModelMismatchError
	if _, err := e.LoadChunkedSite(other[siteindex.MetaName]); !errors.As(err, &mm) || !strings.Contains(err.Error(), "other.c4c") {
		t.Fatalf("another model's meta: %v", err)
	}
}
