package main

import (
	"fmt"
	"strconv"
	"strings"

	"clip4clip/model/preprocess"
	"clip4clip/synth"
)

// synthData is a training set drawn from the synthetic world on the fly:
// clip i is synth.GenerateAt(seed, i), so no frames touch the disk and the
// set can be as large as the training run needs.
type synthData struct {
	seed uint64
	n    int
	res  int
	opts synth.Options
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

func (d *synthData) Len() int { return d.n }

func (d *synthData) Clip(i int) ([][]float32, string, error) {
	c := synth.GenerateAt(d.seed, i, d.opts)
	frames, err := d.frames(c)
	return frames, c.Caption, err
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
