package engine

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/model/preprocess"
	"clip4clip/quant"
	"clip4clip/weights"
)

// tinyTokenizer is a CLIP-style vocabulary with a handful of merges.
func tinyTokenizer(t testing.TB) *bpe.Tokenizer {
	tok, err := bpe.FromCLIPMerges(strings.NewReader("#version: test\nr e\nre d</w>\nc a\nca t</w>\n"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tinyModel is a random model small enough for unit tests.
func tinyModel(t testing.TB, head model.HeadConfig) *model.CLIP {
	tok := tinyTokenizer(t)
	cfg := model.Config{
		EmbedDim: dim,
		Vision:   model.VisionConfig{Width: 32, Layers: 1, Heads: 2, PatchSize: 16, Resolution: 32, Patch: "2d"},
		Text:     model.TextConfig{Width: 32, Layers: 1, Heads: 2, Context: 8, VocabSize: tok.VocabSize()},
		Head:     head,
	}
	m, err := model.Random(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	m.Tokenizer = tok
	m.Meta = map[string]string{"source": "random", "dtype": "f32"}
	return m
}

// dim is the tiny model's feature size.
const dim = 32

func tinyEngine(t testing.TB) *Engine {
	e, err := FromModel(tinyModel(t, model.HeadConfig{Type: model.MeanP, MaxWords: 32}))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// randomFrame returns w*h straight-alpha RGBA bytes, opaque.
func randomFrame(r *rand.Rand, w, h int) []byte {
	b := make([]byte, 4*w*h)
	for i := range b {
		b[i] = byte(r.IntN(256))
		if i%4 == 3 {
			b[i] = 255
		}
	}
	return b
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestLoadFromModelFile(t *testing.T) {
	m := tinyModel(t, model.HeadConfig{Type: model.MeanP})
	var buf bytes.Buffer
	if err := m.Save(&buf, quant.F16, 0); err != nil {
		t.Fatal(err)
	}
	e, err := New(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	info := e.Info()
	if info.EmbedDim != dim || info.Resolution != 32 || info.Context != 8 || info.Head != model.MeanP || info.Meta["source"] != "random" {
		t.Errorf("info = %+v", info)
	}
	_, err = New([]byte("RIFF....WEBMVP8 not a model at all"))
	var fe *weights.FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "not a clip4clip model file") {
		t.Errorf("loading a video as a model: %v", err)
	}
}

func TestEmbedFrameIsPreprocessThenEncode(t *testing.T) {
	e := tinyEngine(t)
	r := rand.New(rand.NewPCG(1, 2))
	const w, h = 45, 27
	rgba := randomFrame(r, w, h)
	got := make([]float32, dim)
	if err := e.EmbedFrame(got, rgba, w, h); err != nil {
		t.Fatal(err)
	}
	// The reference builds the image pixel by pixel, not by wrapping bytes.
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := rgba[4*(y*w+x):]
			img.SetNRGBA(x, y, color.NRGBA{p[0], p[1], p[2], p[3]})
		}
	}
	pix, err := preprocess.Image(img, 32)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, dim)
	if err := e.Model().NewEncoder().EncodeImage(want, pix); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got, want); d != 0 {
		t.Errorf("max diff %g; got %v, want %v", d, got[:4], want[:4])
	}
	if err := e.EmbedFrame(got, rgba[:len(rgba)-1], w, h); err == nil {
		t.Error("short frame accepted")
	}
	if err := e.EmbedFrame(got, nil, 0, 0); err == nil {
		t.Error("empty frame accepted")
	}
}

func TestEmbedQuery(t *testing.T) {
	e := tinyEngine(t)
	if _, err := e.EmbedQuery("  \t "); !errors.Is(err, ErrEmptyQuery) {
		t.Errorf("empty query: %v", err)
	}
	q, err := e.EmbedQuery("red cat")
	if err != nil {
		t.Fatal(err)
	}
	if q.Truncated || len(q.IDs) != 4 {
		t.Errorf("red cat: ids %v truncated %v", q.IDs, q.Truncated)
	}
	q, err = e.EmbedQuery("red cat red cat red cat red cat")
	if err != nil {
		t.Fatal(err)
	}
	if !q.Truncated || len(q.IDs) != 8 {
		t.Errorf("long query: ids %v truncated %v", q.IDs, q.Truncated)
	}
}

func TestWindow(t *testing.T) {
	for _, c := range []struct{ j, n, w, lo, hi int }{
		{0, 10, 4, 0, 4}, {1, 10, 4, 0, 4}, {2, 10, 4, 1, 5}, {9, 10, 4, 6, 10},
		{0, 3, 4, 0, 3}, {2, 3, 4, 0, 3}, {5, 10, 1, 5, 6}, {4, 10, 3, 3, 6},
	} {
		lo, hi := MomentFrames(c.j, c.n, c.w)
		if lo != c.lo || hi != c.hi {
			t.Errorf("MomentFrames(%d, %d, %d) = [%d, %d), want [%d, %d)", c.j, c.n, c.w, lo, hi, c.lo, c.hi)
		}
	}
}

// TestSearchMatchesLogits checks video scores and the timeline against
// Encoder.Logits, the model's own meanP scoring.
func TestSearchMatchesLogits(t *testing.T) {
	e := tinyEngine(t)
	r := rand.New(rand.NewPCG(3, 4))
	const d = dim
	lens := []int{7, 2, 12}
	videos := make([][]float32, len(lens))
	for i, n := range lens {
		videos[i] = make([]float32, n*d)
		for j := range videos[i] {
			videos[i][j] = float32(r.NormFloat64())
		}
		if err := e.AddVideo(string(rune('a'+i)), videos[i], n); err != nil {
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
	if len(hits) != 3 {
		t.Fatalf("%d hits", len(hits))
	}
	enc := e.Model().NewEncoder()
	logit := func(frames []float32, n int) float32 {
		mask := make([]bool, n)
		for i := range mask {
			mask[i] = true
		}
		l, err := enc.Logits(model.MeanP, q.Feature, 1, frames, mask, 1, n)
		if err != nil {
			t.Fatal(err)
		}
		return l[0]
	}
	for i, h := range hits {
		if i > 0 && h.Score > hits[i-1].Score {
			t.Errorf("hit %d scores %v above hit %d's %v", i, h.Score, i-1, hits[i-1].Score)
		}
		v := int(h.Key[0] - 'a')
		n := lens[v]
		if want := logit(videos[v], n); math.Abs(float64(h.Whole-want)) > 1e-5 {
			t.Errorf("video %s: whole-video score %v, Logits %v", h.Key, h.Whole, want)
		}
		best := h.Whole
		for j, s := range h.Timeline {
			lo, hi := MomentFrames(j, n, DefaultWindow)
			if want := logit(videos[v][lo*d:hi*d], hi-lo); math.Abs(float64(s-want)) > 1e-5 {
				t.Errorf("video %s frame %d: timeline %v, Logits %v", h.Key, j, s, want)
			}
			best = max(best, s)
		}
		if h.Score != best {
			t.Errorf("video %s: score %v, want the better of the whole video's %v and the best moment's, %v", h.Key, h.Score, h.Whole, best)
		}
		for a, m := range h.Moments {
			if m.Score != h.Timeline[m.Frame] || m.Last-m.First+1 != min(n, DefaultWindow) {
				t.Errorf("video %s moment %+v", h.Key, m)
			}
			for _, o := range h.Moments[:a] {
				if m.First <= o.Last && o.First <= m.Last || m.Score > o.Score {
					t.Errorf("video %s: moment %+v after %+v", h.Key, m, o)
				}
			}
		}
	}
	e.RemoveVideo("b")
	if hits, _ = e.Search(q.Feature, 3); len(hits) != 2 || e.Videos() != 2 {
		t.Errorf("after removing b: %d hits", len(hits))
	}
	e.ClearVideos()
	if hits, _ = e.Search(q.Feature, 3); len(hits) != 0 {
		t.Errorf("after clearing: %d hits", len(hits))
	}
}

func TestScore(t *testing.T) {
	e := tinyEngine(t)
	text := make([]float32, dim)
	feats := make([]float32, 2*dim)
	for i := range text {
		text[i] = float32(i + 1)
		feats[i] = 2 * float32(i+1) // same direction: cosine 1
		feats[dim+i] = -float32(i + 1)
	}
	s, err := e.Score(text, feats, 2)
	if err != nil {
		t.Fatal(err)
	}
	scale := float32(math.Exp(float64(e.Model().LogitScale)))
	if math.Abs(float64(s[0]-scale)) > 1e-4 || math.Abs(float64(s[1]+scale)) > 1e-4 {
		t.Errorf("scores %v, want ±%v", s, scale)
	}
}

func TestSeqTransfPoolsAtMostMaxFrames(t *testing.T) {
	m := tinyModel(t, model.HeadConfig{Type: model.SeqTransf, Layers: 1, Heads: 2, MaxFrames: 4, MaxWords: 32})
	e, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]float32, 9*dim)
	for i := range frames {
		frames[i] = float32(i%13) - 6
	}
	if err := e.AddVideo("v", frames, 9); err != nil {
		t.Fatal(err)
	}
	if err := e.SetWindow(5); err == nil {
		t.Error("a 5-frame window accepted by a 4-frame head")
	}
	sub := make([]float32, 4*dim)
	for i, j := range []int{0, 2, 5, 8} {
		copy(sub[i*dim:], frames[j*dim:(j+1)*dim])
	}
	want := make([]float32, dim)
	if err := m.NewEncoder().VideoFeature(want, sub, []bool{true, true, true, true}, 4, model.SeqTransf); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(e.videos["v"].video, want); d > 1e-6 {
		t.Errorf("9 frames pooled as frames 0, 2, 5, 8: max diff %g", d)
	}
}

func TestTightHeadFallsBackToMeanP(t *testing.T) {
	e, err := FromModel(tinyModel(t, model.HeadConfig{Type: model.TightTransf, Layers: 1, Heads: 2, MaxFrames: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if info := e.Info(); info.Head != model.MeanP || info.ModelHead != model.TightTransf || info.HeadNote == "" {
		t.Errorf("info %+v", info)
	}
}

func sampleIndex() *Index {
	r := rand.New(rand.NewPCG(5, 6))
	x := &Index{ModelID: strings.Repeat("ab", 32), ModelName: "tiny.c4c", EmbedDim: 3}
	for i, n := range []int{3, 0, 1} {
		v := Video{Key: "k" + string(rune('0'+i)), Name: "clip ✓.webm", Type: "video/webm", Size: 1 << 40, LastModified: 1732619045123,
			Duration: 6.006 + float64(i)/3, Width: 320, Height: 240, FPS: 1.0 / 3, Window: 4}
		for j := 0; j < n; j++ {
			v.Times = append(v.Times, float64(j)/3)
			v.Thumbs = append(v.Thumbs, []byte{0xff, 0xd8, byte(j), 0xff, 0xd9})
		}
		for j := 0; j < 3*n; j++ {
			v.Features = append(v.Features, float32(r.NormFloat64()))
		}
		if n == 1 {
			v.Features[0] = float32(math.Inf(-1))
			v.Thumbs = nil
		}
		x.Videos = append(x.Videos, v)
	}
	return x
}

func TestIndexRoundTrip(t *testing.T) {
	x := sampleIndex()
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var y Index
	if err := y.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	// Empty and nil slices are the same file; compare after writing again.
	b2, err := y.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Error("writing a read index gives other bytes")
	}
	for i := range x.Videos {
		xv, yv := x.Videos[i], y.Videos[i]
		if len(xv.Times) == 0 {
			xv.Times, xv.Features, xv.Thumbs = nil, nil, nil
			yv.Times, yv.Features, yv.Thumbs = nil, nil, nil
		}
		if !reflect.DeepEqual(xv, yv) {
			t.Errorf("video %d:\n got %+v\nwant %+v", i, yv, xv)
		}
	}
	if y.ModelID != x.ModelID || y.ModelName != x.ModelName || y.EmbedDim != x.EmbedDim {
		t.Errorf("header %+v", y)
	}
}

func TestIndexErrors(t *testing.T) {
	b, err := sampleIndex().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var x Index
	var ie *IndexError
	for name, data := range map[string][]byte{
		"empty":     nil,
		"model":     []byte("C4CMODEL\x01\x00\x00\x00\x00\x00\x00\x00"),
		"truncated": b[:len(b)-1],
		"trailing":  append(append([]byte(nil), b...), 0),
		"header":    b[:20],
		"version":   append([]byte("C4CINDEX\x09\x00\x00\x00"), b[12:]...),
	} {
		if err := x.UnmarshalBinary(data); !errors.As(err, &ie) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A version no release could have is corruption, not a newer app.
	err = x.UnmarshalBinary(append([]byte("C4CINDEX\x85\x9d\x5b\x15"), b[12:]...))
	if err == nil || !strings.Contains(err.Error(), "far beyond any release") || strings.Contains(err.Error(), "reload the app") {
		t.Errorf("random version bytes: %v; want them called corrupt", err)
	}
	if err := x.UnmarshalBinary(append([]byte("C4CINDEX\x09\x00\x00\x00"), b[12:]...)); err == nil || !strings.Contains(err.Error(), "reload the app") {
		t.Errorf("a later version: %v; want the advice to reload", err)
	}
	bad := sampleIndex()
	bad.Videos[0].Duration = math.Inf(1)
	if _, err := bad.MarshalBinary(); err == nil {
		t.Error("infinite duration written")
	}
	bad = sampleIndex()
	bad.Videos[0].Features = bad.Videos[0].Features[1:]
	if _, err := bad.MarshalBinary(); err == nil {
		t.Error("short features written")
	}
}

func FuzzIndex(f *testing.F) {
	b, _ := sampleIndex().MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var x Index
		if x.UnmarshalBinary(data) != nil {
			return
		}
		out, err := x.MarshalBinary()
		if err != nil {
			return // e.g. a duration of 1e400 is read as +Inf
		}
		var y Index
		if err := y.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-reading a written index: %v", err)
		}
	})
}

// BenchmarkEmbedFrame720p is one 1280x720 canvas frame through EmbedFrame
// to 224x224 with a small model (one block of width 32, patch 32): almost
// all of it is the PIL-exact resize.
func BenchmarkEmbedFrame720p(b *testing.B) {
	m := tinyModel(b, model.HeadConfig{Type: model.MeanP})
	m.Config.Vision.Resolution, m.Config.Vision.PatchSize = 224, 32
	big, err := model.Random(m.Config, 1)
	if err != nil {
		b.Fatal(err)
	}
	big.Tokenizer = m.Tokenizer
	e, err := FromModel(big)
	if err != nil {
		b.Fatal(err)
	}
	rgba := randomFrame(rand.New(rand.NewPCG(1, 2)), 1280, 720)
	dst := make([]float32, dim)
	b.SetBytes(int64(len(rgba)))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.EmbedFrame(dst, rgba, 1280, 720); err != nil {
			b.Fatal(err)
		}
	}
}
