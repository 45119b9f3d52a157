package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"clip4clip/model/preprocess"
	"clip4clip/synth"
)

// synthData is a training set drawn from the synthetic world on the fly:
// clip i is synth.GenerateAt(seed, i), so no frames touch the disk and the
// set can be as large as the training run needs.
//
// With pairs > 0 the set also holds that many temporal-order pairs of the
// seed (synth.OrderPairAt) after its n clips, as partners: clips n+2p and
// n+2p+1 show the same two events in both orders, and training puts them
// in one batch (train.Partnered), the hard negatives that make a
// sequential head learn the order of events.
type synthData struct {
	seed  uint64
	n     int
	pairs int
	res   int
	opts  synth.Options
}

// parseSynthData reads "synth:SEED:N" (N clips of seed SEED).
func parseSynthData(spec string, res, frames int) (*synthData, error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 3 || parts[0] != "synth" {
		return nil, fmt.Errorf("-data %q: want a directory or synth:SEED:N", spec)
	}
	seed, err1 := strconv.ParseUint(parts[1], 10, 64)
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || n <= 0 {
		return nil, fmt.Errorf("-data %q: want synth:SEED:N with a number SEED and N > 0", spec)
	}
	return &synthData{seed: seed, n: n, res: res, opts: synth.Options{Frames: frames, Resolution: res}}, nil
}

func (d *synthData) Len() int { return d.n + 2*d.pairs }

func (d *synthData) Clip(i int) ([][]float32, string, error) {
	var c synth.Clip
	if i < d.n {
		c = synth.GenerateAt(d.seed, i, d.opts)
	} else {
		c = synth.OrderPairAt(d.seed, (i-d.n)/2, d.opts)[(i-d.n)%2]
	}
	frames, err := d.frames(c)
	return frames, c.Caption, err
}

// Partner returns the other clip of an order pair.
func (d *synthData) Partner(i int) (int, bool) {
	if i < d.n || i >= d.Len() {
		return 0, false
	}
	return d.n + ((i - d.n) ^ 1), true
}

// withOrderPairs adds order pairs so that they make up frac of the set.
func (d *synthData) withOrderPairs(frac float64) error {
	if frac < 0 || frac >= 1 {
		return fmt.Errorf("-order-frac %g: want a fraction in [0, 1)", frac)
	}
	d.pairs = int(math.Round(frac * float64(d.n) / (1 - frac) / 2))
	return nil
}

// frames preprocesses a clip's frames for the model.
func (d *synthData) frames(c synth.Clip) ([][]float32, error) {
	frames := make([][]float32, len(c.Frames))
	for f, img := range c.Frames {
		p, err := preprocess.Image(img, d.res)
		if err != nil {
			return nil, fmt.Errorf("synthetic clip %s frame %d: %w", c.ID, f, err)
		}
		frames[f] = p
	}
	return frames, nil
}

// Captions returns the captions of the first clips (at most 20,000: enough
// to learn the world's vocabulary) for -learn-merges.
func (d *synthData) Captions() []string {
	out := make([]string, min(d.n, 20000))
	for i := range out {
		out[i] = synth.GenerateAt(d.seed, i, synth.Options{Frames: d.opts.Frames, Resolution: 8}).Caption
	}
	return out
}
