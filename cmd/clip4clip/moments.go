package main

import (
	"fmt"
	"math"

	"clip4clip/model"
	"clip4clip/synth"
	"clip4clip/wasm/engine"
)

// momentResult is how well a model finds events in long videos of the
// synthetic world, as the page searches them.
type momentResult struct {
	Videos int     `json:"videos"`
	Events int     `json:"events"`
	Found  float64 `json:"found"`  // fraction of event captions whose best moment in their own video overlaps the event
	Chance float64 `json:"chance"` // the same for a moment picked at random
}

// momentSize is the side of the frames evalMoments renders: that of the
// demo videos in web/demos, which the engine scales down as the page does.
const momentSize = 256

// evalMoments measures moment search on n demo videos of the synthetic
// world (synth.Demo of seeds seed to seed+n-1, duration seconds each),
// the figure the demo videos in web/demos give for the page, over more
// events: frames are sampled once a second as the page samples a video (at
// t = 0, 1, 2, ... s; the frame shown at t is the one a 4 fps video holds
// then, drawn at t + 1/8 s), embedded and pooled into moments by the
// engine the page runs (wasm/engine), and every event's plain caption is a
// query. An event counts as found when the best moment in its own video
// overlaps it (or another event with the same caption).
func evalMoments(m *model.CLIP, seed uint64, n int, duration float64) (momentResult, error) {
	e, err := engine.FromModel(m)
	if err != nil {
		return momentResult{}, err
	}
	d := m.Config.EmbedDim
	videos := make([]*synth.Video, n)
	times := make([]float64, int(math.Ceil(duration-1e-6)))
	shown := make([]float64, len(times))
	for k := range times {
		times[k], shown[k] = float64(k), float64(k)+0.125
	}
	prog := newMeter("eval: embedding videos", "videos", n)
	for i := range videos {
		v := synth.Demo(seed+uint64(i), duration)
		feats := make([]float32, len(times)*d)
		for k, img := range v.FramesAt(shown, momentSize) {
			if err := e.EmbedFrame(feats[k*d:(k+1)*d], img.Pix, momentSize, momentSize); err != nil {
				return momentResult{}, err
			}
		}
		if err := e.AddVideo(v.ID, feats, len(times)); err != nil {
			return momentResult{}, err
		}
		videos[i] = v
		prog.add(1)
	}
	prog.finish()
	res := momentResult{Videos: n}
	var hits, chance float64
	for _, v := range videos {
		// found reports whether the moment of frames [first, last], over
		// the time range the page shows for it, overlaps an event with the
		// caption.
		found := func(caption string, first, last int) bool {
			from, to := times[first], duration
			if last+1 < len(times) {
				to = times[last+1]
			}
			for _, ev := range v.Events {
				if ev.Caption == caption && from <= ev.End && to > ev.Start {
					return true
				}
			}
			return false
		}
		for _, ev := range v.Events {
			q, err := e.EmbedQuery(ev.Caption)
			if err != nil {
				return momentResult{}, err
			}
			ranked, err := e.Search(q.Feature, 1)
			if err != nil {
				return momentResult{}, err
			}
			for _, h := range ranked {
				if h.Key == v.ID && len(h.Moments) > 0 {
					if found(ev.Caption, h.Moments[0].First, h.Moments[0].Last) {
						hits++
					}
				}
			}
			hit := 0
			for j := range times {
				lo, hi := engine.MomentFrames(j, len(times), e.Window())
				if found(ev.Caption, lo, hi-1) {
					hit++
				}
			}
			chance += float64(hit) / float64(len(times))
			res.Events++
		}
	}
	if res.Events == 0 {
		return res, fmt.Errorf("%d demo videos of %g s have no events", n, duration)
	}
	res.Found, res.Chance = hits/float64(res.Events), chance/float64(res.Events)
	return res, nil
}

func (r momentResult) print() {
	fmt.Printf("moment search, %d videos: the best moment in its own video overlaps the event for %.1f%% of %d event captions (a random moment: %.1f%%)\n",
		r.Videos, 100*r.Found, r.Events, 100*r.Chance)
}
