package engine

import (
	"fmt"
	"slices"
	"sort"
)

// SetWindow sets how many frames a moment pools (at least 1). Videos added
// before keep the windows they were pooled with until added again.
func (e *Engine) SetWindow(frames int) error {
	if frames < 1 {
		return fmt.Errorf("engine: a moment of %d frames", frames)
	}
	if max := e.m.MaxFrames(e.head); max > 0 && frames > max {
		return fmt.Errorf("engine: a moment of %d frames, but the %s head pools at most %d", frames, e.head, max)
	}
	e.window = frames
	return nil
}

// Window returns the frames per moment.
func (e *Engine) Window() int { return e.window }

// MomentFrames returns the frames [lo, hi) of the moment centred on frame j of n:
// `w` frames from j-(w-1)/2, shifted to stay inside the video.
func MomentFrames(j, n, w int) (lo, hi int) {
	if n <= w {
		return 0, n
	}
	lo = min(max(j-(w-1)/2, 0), n-w)
	return lo, lo + w
}

// AddVideo pools a video's frame features (n, embed), as EmbedFrame gives
// them, into its whole-video feature and one moment feature per frame (the
// window centred on it), and keeps them under key for Search, replacing
// any earlier entry.
func (e *Engine) AddVideo(key string, frames []float32, n int) error {
	if !e.m.Config.HasText() {
		return ErrNoText
	}
	d := e.m.Config.EmbedDim
	if n <= 0 || len(frames) != n*d {
		return fmt.Errorf("engine: video %q: %d values for %d frames of %d features", key, len(frames), n, d)
	}
	en := &entry{n: n, video: make([]float32, d), moments: make([]float32, n*d)}
	if err := e.VideoFeature(en.video, frames, n); err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		lo, hi := MomentFrames(j, n, e.window)
		if err := e.VideoFeature(en.moments[j*d:(j+1)*d], frames[lo*d:hi*d], hi-lo); err != nil {
			return err
		}
	}
	if _, ok := e.videos[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.videos[key] = en
	return nil
}

// RemoveVideo forgets a video's features.
func (e *Engine) RemoveVideo(key string) {
	if _, ok := e.videos[key]; !ok {
		return
	}
	delete(e.videos, key)
	e.keys = slices.DeleteFunc(e.keys, func(k string) bool { return k == key })
}

// ClearVideos forgets every video.
func (e *Engine) ClearVideos() {
	clear(e.videos)
	e.keys = e.keys[:0]
}

// Videos returns how many videos Search ranks.
func (e *Engine) Videos() int { return len(e.keys) }

// Hit is one video's result for a query.
type Hit struct {
	Key      string    `json:"key"`
	Score    float32   `json:"score"`    // what videos rank by: the better of Whole and the best moment's score
	Whole    float32   `json:"whole"`    // the whole video: exp(logit_scale) * cos(query, video feature)
	Timeline []float32 `json:"timeline"` // (frames) the score of the moment centred on each frame
	Moments  []Moment  `json:"moments"`  // the best non-overlapping moments, best first
	Weak     bool      `json:"weak"`     // Score is below the calibration's threshold (Engine.Judge): a weak match
}

// Moment is a window of frames and its score.
type Moment struct {
	Frame int     `json:"frame"` // the frame the window is centred on
	First int     `json:"first"` // first frame of the window
	Last  int     `json:"last"`  // last frame of the window, included
	Score float32 `json:"score"`
	Weak  bool    `json:"weak"` // Score is below the calibration's threshold
}

// Search scores every video against a query feature (embed, as EmbedQuery
// returns it) and returns the videos best first, each with its timeline and
// up to k moments that do not overlap (greedy non-maximum suppression).
//
// A video ranks by the better of its whole-video score and its best
// moment's: a query may describe a whole clip (as CLIP4Clip's captions do)
// or one moment of a long video, which the whole video's feature, pooled
// over all of it, matches only weakly. In the demo videos, ranking by the
// whole video alone puts an event's own video first for about half of the
// event captions, by the better score for about four in five. Ties keep
// the order the videos were added in.
func (e *Engine) Search(text []float32, k int) ([]Hit, error) {
	if !e.m.Config.HasText() {
		return nil, ErrNoText
	}
	d := e.m.Config.EmbedDim
	if len(text) != d {
		return nil, fmt.Errorf("engine: query feature of %d values, want %d", len(text), d)
	}
	tn := Normalize(text)
	s := e.scale()
	weak := e.weakBelow()
	hits := make([]Hit, 0, len(e.keys))
	for _, key := range e.keys {
		en := e.videos[key]
		h := Hit{Key: key, Whole: s * dot(tn, en.video), Timeline: make([]float32, en.n)}
		h.Score = h.Whole
		for j := range h.Timeline {
			h.Timeline[j] = s * dot(tn, en.moments[j*d:(j+1)*d])
			h.Score = max(h.Score, h.Timeline[j])
		}
		h.Moments = bestMoments(h.Timeline, e.window, k)
		h.Weak = h.Score < weak
		for i := range h.Moments {
			h.Moments[i].Weak = h.Moments[i].Score < weak
		}
		hits = append(hits, h)
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].Score > hits[b].Score })
	return hits, nil
}

// bestMoments picks up to k windows by descending score, skipping any that
// overlaps one already picked.
func bestMoments(scores []float32, w, k int) []Moment {
	n := len(scores)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	var out []Moment
	for _, j := range order {
		if len(out) >= k {
			break
		}
		lo, hi := MomentFrames(j, n, w)
		overlaps := false
		for _, m := range out {
			if lo <= m.Last && m.First < hi {
				overlaps = true
				break
			}
		}
		if !overlaps {
			out = append(out, Moment{Frame: j, First: lo, Last: hi - 1, Score: scores[j]})
		}
	}
	return out
}
