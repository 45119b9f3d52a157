package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"clip4clip/model"
	"clip4clip/quant"
)

// load feeds data to a Loader of part as the browser worker does: the
// header first, then each range it asks for in pieces of random sizes.
func load(t *testing.T, data []byte, part model.Part, hash bool, r *rand.Rand) (*Engine, string) {
	t.Helper()
	n, err := HeaderSize(data[:16])
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(data[:n], int64(len(data)), part, hash)
	if err != nil {
		t.Fatal(err)
	}
	if l.Bytes() > int64(len(data)) {
		t.Errorf("%q: a buffer of %d bytes for a %d-byte file", part, l.Bytes(), len(data))
	}
	for _, rg := range l.Reads() {
		for off := rg[0]; off < rg[1]; {
			end := min(off+1+r.Int64N(5000), rg[1])
			if err := l.Write(off, data[off:end]); err != nil {
				t.Fatal(err)
			}
			off = end
		}
	}
	e, sum, err := l.Engine()
	if err != nil {
		t.Fatal(err)
	}
	return e, sum
}

// TestLoaderPartsMatchWhole: engines loaded piecewise with the vision part
// and with the text part embed frames, queries and videos as the engine of
// the whole file does, and refuse what their part cannot do; the hash is
// the file's SHA-256.
func TestLoaderPartsMatchWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, head := range []model.HeadConfig{
		{Type: model.MeanP},
		{Type: model.SeqTransf, Layers: 1, Heads: 2, MaxFrames: 4},
		{Type: model.TightTransf, Layers: 1, Heads: 2, MaxFrames: 4}, // pooled with meanP; the text part skips its weights
	} {
		var buf bytes.Buffer
		if err := tinyModel(t, head).Save(&buf, quant.Int8, 0); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		whole, err := New(data)
		if err != nil {
			t.Fatal(err)
		}
		all, sum := load(t, data, model.WholeModel, true, r)
		if want := sha256.Sum256(data); sum != hex.EncodeToString(want[:]) {
			t.Errorf("%s: hash %s, want %x", head.Type, sum, want)
		}
		if all.Info().ID != whole.Info().ID || all.Info().ID == "" {
			t.Errorf("%s: the whole file loaded piecewise has ID %q, loaded at once %q", head.Type, all.Info().ID, whole.Info().ID)
		}
		vis, sum := load(t, data, model.FramePart, false, r)
		if sum != "" {
			t.Errorf("hash %q without asking", sum)
		}
		txt, _ := load(t, data, model.QueryPart, true, r)
		if i := vis.Info(); i.Part != model.FramePart || i.ID != "" || i.Resolution != 32 {
			t.Errorf("vision part's info: %+v", i)
		}
		if i := txt.Info(); i.Part != model.QueryPart || i.ID != "" || i.Context != 8 || i.LogitScale != whole.Info().LogitScale {
			t.Errorf("text part's info: %+v", i)
		}

		rgba := randomFrame(r, 40, 30)
		want, got := make([]float32, dim), make([]float32, dim)
		if err := whole.EmbedFrame(want, rgba, 40, 30); err != nil {
			t.Fatal(err)
		}
		if err := vis.EmbedFrame(got, rgba, 40, 30); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got, want); d != 0 {
			t.Errorf("%s: frame features differ by %g", head.Type, d)
		}
		wq, err := whole.EmbedQuery("red cat")
		if err != nil {
			t.Fatal(err)
		}
		gq, err := txt.EmbedQuery("red cat")
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(gq.Feature, wq.Feature); d != 0 {
			t.Errorf("%s: query features differ by %g", head.Type, d)
		}
		frames := make([]float32, 6*dim)
		for i := range frames {
			frames[i] = float32(r.NormFloat64())
		}
		for _, e := range []*Engine{whole, txt} {
			if err := e.AddVideo("v", frames, 6); err != nil {
				t.Fatal(err)
			}
		}
		wh, err := whole.Search(wq.Feature, 2)
		if err != nil {
			t.Fatal(err)
		}
		gh, err := txt.Search(wq.Feature, 2)
		if err != nil {
			t.Fatal(err)
		}
		if wh[0].Score != gh[0].Score || maxDiff(wh[0].Timeline, gh[0].Timeline) != 0 {
			t.Errorf("%s: search scores %v, whole model %v", head.Type, gh[0].Timeline, wh[0].Timeline)
		}

		// Each part refuses the other's work, saying why.
		if err := txt.EmbedFrame(got, rgba, 40, 30); !errors.Is(err, ErrNoVision) || !strings.Contains(err.Error(), "cannot embed frames") {
			t.Errorf("text part embedding a frame: %v", err)
		}
		if _, err := vis.EmbedQuery("red cat"); !errors.Is(err, ErrNoText) || !strings.Contains(err.Error(), "not text") {
			t.Errorf("vision part embedding a query: %v", err)
		}
		if err := vis.AddVideo("v", frames, 6); !errors.Is(err, ErrNoText) {
			t.Errorf("vision part pooling a video: %v", err)
		}
		if _, err := vis.Search(wq.Feature, 2); !errors.Is(err, ErrNoText) {
			t.Errorf("vision part searching: %v", err)
		}
		if _, err := vis.Score(wq.Feature, frames[:dim], 1); !errors.Is(err, ErrNoText) {
			t.Errorf("vision part scoring: %v", err)
		}
		if err := vis.VideoFeature(got, frames, 6); !errors.Is(err, ErrNoText) {
			t.Errorf("vision part pooling: %v", err)
		}
		if _, err := txt.LoadSite([]byte("not read")); err == nil || !strings.Contains(err.Error(), "identity is unknown") {
			t.Errorf("text part checking a site index: %v", err)
		}
	}
}

// TestLoaderErrors: pieces out of order, gaps when hashing, bytes past the
// end, a load not read whole, and a part the file cannot give.
func TestLoaderErrors(t *testing.T) {
	var buf bytes.Buffer
	m := tinyModel(t, model.HeadConfig{Type: model.MeanP})
	if err := m.Save(&buf, quant.F16, 0); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	n, err := HeaderSize(data)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	if _, err := HeaderSize(data[:8]); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("8 bytes: %v", err)
	}
	if _, err := NewLoader(data[:n-1], size, model.FramePart, false); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a header cut short: %v", err)
	}
	if _, err := NewLoader(data[:n], size-1, model.FramePart, false); err == nil || !strings.Contains(err.Error(), "outside the") {
		t.Errorf("a file cut short: %v", err)
	}

	l, err := NewLoader(data[:n], size, model.FramePart, false)
	if err != nil {
		t.Fatal(err)
	}
	rg := l.Reads()[0]
	if err := l.Write(rg[0]+10, data[rg[0]+10:rg[0]+20]); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(rg[0], data[rg[0]:rg[0]+10]); err == nil || !strings.Contains(err.Error(), "in file order") {
		t.Errorf("a piece before the last: %v", err)
	}
	if err := l.Write(size-1, data[size-1:]); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(size, []byte{0}); err == nil || !strings.Contains(err.Error(), "file of") {
		t.Errorf("a byte past the end: %v", err)
	}
	if _, _, err := l.Engine(); err == nil || !strings.Contains(err.Error(), "not read whole") {
		t.Errorf("a load with a gap: %v", err)
	}

	h, err := NewLoader(data[:n], size, model.QueryPart, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Reads(); len(r) != 1 || r[0] != [2]int64{0, size} {
		t.Errorf("hashing reads %v, want the whole file", r)
	}
	if err := h.Write(0, data[:100]); err != nil {
		t.Fatal(err)
	}
	if err := h.Write(200, data[200:300]); err == nil || !strings.Contains(err.Error(), "every byte in order") {
		t.Errorf("a gap when hashing: %v", err)
	}

	to, err := m.TextOnly()
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := to.Save(&buf, model.KeepDType, 0); err != nil {
		t.Fatal(err)
	}
	text := buf.Bytes()
	tn, _ := HeaderSize(text)
	if _, err := NewLoader(text[:tn], int64(len(text)), model.FramePart, false); err == nil || !strings.Contains(err.Error(), "no vision tower") {
		t.Errorf("the vision part of a text-only file: %v", err)
	}
	e, _ := load(t, text, model.QueryPart, false, rand.New(rand.NewPCG(1, 1)))
	if i := e.Info(); !i.TextOnly || i.ID != m.ID() {
		t.Errorf("a text-only file's text part: %+v (want the full model's ID %s)", i, m.ID())
	}
}
