package train

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"clip4clip/model/bpe"
)

func TestBatchOrder(t *testing.T) {
	n, b := 10, 3 // 3 batches per epoch, one clip left out each epoch
	seen := map[int]int{}
	for s := 0; s < 3; s++ {
		idx := BatchOrder(n, b, 7, s)
		if !slices.Equal(idx, BatchOrder(n, b, 7, s)) {
			t.Fatal("the same step gave two orders")
		}
		for _, i := range idx {
			seen[i]++
		}
	}
	if len(seen) != 9 {
		t.Fatalf("an epoch of 3 batches of 3 saw %d distinct clips, want 9", len(seen))
	}
	if slices.Equal(BatchOrder(n, b, 7, 0), BatchOrder(n, b, 7, 3)) && slices.Equal(BatchOrder(n, b, 7, 1), BatchOrder(n, b, 7, 4)) {
		t.Fatal("epoch 1 repeats epoch 0's order")
	}
	if slices.Equal(BatchOrder(n, b, 7, 0), BatchOrder(n, b, 8, 0)) {
		t.Fatal("the seed does not change the order")
	}
}

// pairedSet has clips 0..n-1 alone and n.. in partner pairs (n, n+1), ...
type pairedSet struct{ n, total int }

func (p pairedSet) Len() int                              { return p.total }
func (p pairedSet) Clip(int) ([][]float32, string, error) { return nil, "", nil }
func (p pairedSet) Partner(i int) (int, bool) {
	if i < p.n {
		return 0, false
	}
	return p.n + ((i - p.n) ^ 1), true
}

func TestWithPartners(t *testing.T) {
	p := pairedSet{n: 4, total: 10}
	cases := []struct{ in, want []int }{
		{[]int{0, 1, 2}, []int{0, 1, 2}},       // no partners
		{[]int{5, 0, 1, 2}, []int{5, 4, 0, 1}}, // 5's partner 4 takes the last slot
		{[]int{4, 5, 0}, []int{4, 5, 0}},       // both already there: no duplicate
		{[]int{0, 1, 2, 7}, []int{0, 1, 2, 7}}, // no room left for 6
		{[]int{9, 0, 6, 3}, []int{9, 8, 0, 6}}, // 6's partner 7 does not fit
		{[]int{8, 6, 2, 1, 3, 9}, []int{8, 9, 6, 7, 2, 1}},
	}
	for _, c := range cases {
		if got := WithPartners(c.in, p); !slices.Equal(got, c.want) {
			t.Errorf("WithPartners(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	// Over many real batches: full, no clip twice, and every pair either
	// whole or cut only at the batch's end.
	for s := 0; s < 50; s++ {
		idx := WithPartners(BatchOrder(p.total, 5, 3, s), p)
		seen := map[int]bool{}
		for k, i := range idx {
			if seen[i] {
				t.Fatalf("step %d: clip %d twice in %v", s, i, idx)
			}
			seen[i] = true
			if j, ok := p.Partner(i); ok && !slices.Contains(idx, j) && k != len(idx)-1 {
				t.Fatalf("step %d: %d without its partner %d in %v", s, i, j, idx)
			}
		}
		if len(idx) != 5 {
			t.Fatalf("step %d: %d clips, want 5", s, len(idx))
		}
	}
}

// writeDataset writes n clips in the layout of `clip4clip synth`: frames
// of one flat colour per clip, PNGs for even clips and a .npy for odd ones.
func writeDataset(t *testing.T, dir string, n, frames, size int) []string {
	t.Helper()
	var pairs []Pair
	var captions []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("clip%03d", i)
		c := color.NRGBA{uint8(40 * i), uint8(255 - 30*i), uint8(80 + 50*(i%3)), 255}
		caption := fmt.Sprintf("a clip of colour %d", i)
		pairs = append(pairs, Pair{Video: name, Caption: caption})
		captions = append(captions, caption)
		if i%2 == 0 {
			if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			for f := 0; f < frames; f++ {
				img := image.NewNRGBA(image.Rect(0, 0, size, size))
				for p := 0; p < size*size; p++ {
					img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = c.R, c.G+uint8(f), c.B, 255
				}
				w, err := os.Create(filepath.Join(dir, name, fmt.Sprintf("%03d.png", f)))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(w, img); err != nil {
					t.Fatal(err)
				}
				w.Close()
			}
			continue
		}
		hdr := fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d, 3), }", frames, size, size)
		for (10+len(hdr)+1)%64 != 0 {
			hdr += " "
		}
		buf := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)+1), byte((len(hdr)+1)>>8))
		buf = append(buf, hdr+"\n"...)
		for f := 0; f < frames; f++ {
			for p := 0; p < size*size; p++ {
				buf = append(buf, c.R, c.G+uint8(f), c.B)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name+".npy"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	js, _ := json.Marshal(pairs)
	if err := os.WriteFile(filepath.Join(dir, "captions.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return captions
}

func testTokenizer(t testing.TB, corpus []string) *bpe.Tokenizer {
	t.Helper()
	vocab, merges := bpe.Learn(corpus, 40)
	tok, err := bpe.New(vocab, merges)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDirDatasetAndBatch(t *testing.T) {
	dir := t.TempDir()
	captions := writeDataset(t, dir, 4, 5, 12)
	d, err := OpenDir(dir, 8, 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 {
		t.Fatalf("%d clips, want 4", d.Len())
	}
	for i := 0; i < 4; i++ {
		frames, caption, err := d.Clip(i)
		if err != nil {
			t.Fatal(err)
		}
		if caption != captions[i] || len(frames) != 3 || len(frames[0]) != 3*8*8 {
			t.Fatalf("clip %d: %q with %d frames of %d values; want %q, 3 frames of %d", i, caption, len(frames), len(frames[0]), captions[i], 3*8*8)
		}
	}
	tok := testTokenizer(t, captions)
	b, err := MakeBatch(d, []int{2, 0, 1}, tok, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if b.B != 3 || b.F != 2 || len(b.Frames) != 6*3*8*8 || b.L != 10 {
		t.Fatalf("batch B %d F %d L %d with %d frame values", b.B, b.F, b.L, len(b.Frames))
	}
	ids, _, _ := tok.Tokenize(captions[2], 10)
	if !slices.Equal(b.IDs[:len(ids)], ids) || b.IDs[len(ids)] != 0 {
		t.Fatalf("caption ids %v, want %v then padding", b.IDs[:10], ids)
	}
	if _, err := OpenDir(t.TempDir(), 8, 3, 0); err == nil {
		t.Fatal("a directory without captions.json opened")
	}
}
