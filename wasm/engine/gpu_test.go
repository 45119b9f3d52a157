package engine

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPixelsAndTokenize: what a GPU backend is handed (Pixels, Tokenize)
// is what EmbedFrame and EmbedQuery encode, bit for bit.
func TestPixelsAndTokenize(t *testing.T) {
	e := tinyEngine(t)
	res := e.Model().Config.Vision.Resolution
	r := rand.New(rand.NewPCG(5, 6))
	rgba := randomFrame(r, 50, 37)
	pix := make([]float32, 3*res*res)
	if err := e.Pixels(pix, rgba, 50, 37); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, dim)
	if err := e.Model().NewEncoder().EncodeImage(got, pix); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, dim)
	if err := e.EmbedFrame(want, rgba, 50, 37); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("EncodeImage(Pixels) %v..., EmbedFrame %v...", got[:4], want[:4])
	}
	if err := e.Pixels(pix[1:], rgba, 50, 37); err == nil {
		t.Error("Pixels into a short buffer: no error")
	}

	ids, truncated, err := e.Tokenize("a red cat")
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.EmbedQuery("a red cat")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, q.IDs) || truncated != q.Truncated {
		t.Errorf("Tokenize %v %v, EmbedQuery %v %v", ids, truncated, q.IDs, q.Truncated)
	}
	if _, _, err := e.Tokenize("  "); !errors.Is(err, ErrEmptyQuery) {
		t.Errorf("Tokenize of spaces: %v, want ErrEmptyQuery", err)
	}
	if n := len(e.Weights()); n == 0 {
		t.Error("Weights lists nothing")
	}
}
