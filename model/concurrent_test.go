package model

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"clip4clip/quant"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// TestEncodersConcurrent runs image and text encoders (and the seqTransf
// pooling) on many goroutines at once, as `clip4clip index -j` and a
// server do: several encoders on one freshly loaded model, whose int8
// matrices build their lazy sums under whichever call comes first, and
// one on a second copy, with the kernels split over 2 and 4 quant
// threads. Every result must equal the serial one bit for bit; under
// go test -race this is also the race check of the encoders.
func TestEncodersConcurrent(t *testing.T) {
	defer quant.SetThreads(quant.Threads())
	ref, err := Load(weights.Default())
	require.NoError(t, err)
	cfg := ref.Config
	d, res := cfg.EmbedDim, cfg.Vision.Resolution

	// Inputs: images, captions, and clips of frame features to pool.
	r := rand.New(rand.NewPCG(21, 22))
	const inputs = 4
	var images, clips [inputs][]float32
	var texts [inputs][]int
	frames := cfg.Head.MaxFrames
	for i := range inputs {
		images[i] = make([]float32, 3*res*res)
		for k := range images[i] {
			images[i][k] = float32(r.NormFloat64())
		}
		clips[i] = make([]float32, frames*d)
		for k := range clips[i] {
			clips[i][k] = float32(r.NormFloat64())
		}
		texts[i], _, err = ref.Tokenizer.Tokenize(fmt.Sprintf("a red star moves left %d", i), cfg.Text.Context)
		require.NoError(t, err)
	}
	mask := make([]bool, frames)
	for i := range mask {
		mask[i] = i < frames-2
	}

	// encode runs the three encoders of input i on e.
	encode := func(e *Encoder, i int) (img, txt, vid []float32, err error) {
		img, txt, vid = make([]float32, d), make([]float32, d), make([]float32, d)
		if err = e.EncodeImage(img, images[i]); err != nil {
			return
		}
		if err = e.EncodeText(txt, texts[i]); err != nil {
			return
		}
		err = e.VideoFeature(vid, clips[i], mask, frames, SeqTransf)
		return
	}
	quant.SetThreads(1)
	var want [inputs][3][]float32
	e := ref.NewEncoder()
	for i := range inputs {
		img, txt, vid, err := encode(e, i)
		require.NoError(t, err)
		want[i] = [3][]float32{img, txt, vid}
	}

	for _, threads := range []int{2, 4} {
		quant.SetThreads(threads)
		shared, err := Load(weights.Default())
		require.NoError(t, err)
		other, err := Load(weights.Default())
		require.NoError(t, err)
		models := []*CLIP{shared, shared, shared, other}
		var wg sync.WaitGroup
		errs := make(chan error, len(models))
		for g, m := range models {
			wg.Go(func() {
				e := m.NewEncoder()
				for round := range 3 {
					for k := range inputs {
						i := (g + k) % inputs // goroutines on different inputs at once
						img, txt, vid, err := encode(e, i)
						if err == nil {
							for s, got := range [3][]float32{img, txt, vid} {
								if fmt.Sprint(got) != fmt.Sprint(want[i][s]) {
									err = fmt.Errorf("%s %d differs from the serial run: got %v, want %v", []string{"image", "text", "video"}[s], i, got[:4], want[i][s][:4])
									break
								}
							}
						}
						if err != nil {
							errs <- fmt.Errorf("threads %d, goroutine %d, round %d: %w", threads, g, round, err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
