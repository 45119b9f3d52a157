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
//
// With cuts > 0 it holds that many cut pairs after those
// (synth.CutPairAt): an order pair's first clip and the same frames with
// the halves swapped, which only the order of the frames tells apart.
//
// With windows > 0 it holds that many demo-window pairs after those
// (synth.WindowPairAt): two moments of one long video, each captioned with
// its own event, also partners, the hard negatives of moment search.
type synthData struct {
	seed    uint64
	n       int
	pairs   int
	cuts    int
	windows int
	res     int
	opts    synth.Options
	wopts   synth.Options // the windows' frames
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

func (d *synthData) Len() int { return d.n + 2*d.pairs + 2*d.cuts + 2*d.windows }

func (d *synthData) Clip(i int) ([][]float32, string, error) {
	var c synth.Clip
	cut := d.n + 2*d.pairs
	switch w := cut + 2*d.cuts; {
	case i < d.n:
		c = synth.GenerateAt(d.seed, i, d.opts)
	case i < cut:
		c = synth.OrderPairAt(d.seed, (i-d.n)/2, d.opts)[(i-d.n)%2]
	case i < w:
		// Other pairs of the seed than the order pairs'.
		c = synth.CutPairAt(d.seed, d.pairs+(i-cut)/2, d.opts)[(i-cut)%2]
	default:
		c = synth.WindowPairAt(d.seed, (i-w)/2, d.wopts)[(i-w)%2]
	}
	frames, err := d.frames(c)
	return frames, c.Caption, err
}

// Partner returns the other clip of an order, cut or window pair (pairs
// of every kind follow the n plain clips, so the partner of n+k is
// n+(k^1)).
func (d *synthData) Partner(i int) (int, bool) {
	if i < d.n || i >= d.Len() {
		return 0, false
	}
	return d.n + ((i - d.n) ^ 1), true
}

// withPairs adds order pairs, cut pairs and demo-window pairs (of
// windowFrames frames) so that they make up orderFrac, cutFrac and
// windowFrac of the set.
func (d *synthData) withPairs(orderFrac, cutFrac, windowFrac float64, windowFrames int) error {
	if orderFrac < 0 || cutFrac < 0 || windowFrac < 0 || orderFrac+cutFrac+windowFrac >= 1 {
		return fmt.Errorf("-order-frac %g, -cut-frac %g, -window-frac %g: want fractions of at least 0 that add up to less than 1", orderFrac, cutFrac, windowFrac)
	}
	if windowFrac > 0 && windowFrames < 1 {
		return fmt.Errorf("-window-frames %d: want at least 1", windowFrames)
	}
	total := float64(d.n) / (1 - orderFrac - cutFrac - windowFrac)
	d.pairs = int(math.Round(orderFrac * total / 2))
	d.cuts = int(math.Round(cutFrac * total / 2))
	d.windows = int(math.Round(windowFrac * total / 2))
	d.wopts = d.opts
	d.wopts.Frames = windowFrames
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
