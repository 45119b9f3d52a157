package engine

import (
	"fmt"
	"math"
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
	return e.rank(Normalize(text), k, "", 0, 0), nil
}

// rank is Search for the unit query tn. In the video skipKey (if not ""),
// the windows centred on frames [skipLo, skipHi) and the whole video are
// left out (SimilarTo's own moment).
func (e *Engine) rank(tn []float32, k int, skipKey string, skipLo, skipHi int) []Hit {
	d := e.m.Config.EmbedDim
	s := e.scale()
	weak := e.weakBelow()
	hits := make([]Hit, 0, len(e.keys))
	gone := float32(math.Inf(-1))
	for _, key := range e.keys {
		en := e.videos[key]
		h := Hit{Key: key, Whole: s * dot(tn, en.video), Timeline: make([]float32, en.n)}
		skip := key == skipKey
		if skip {
			h.Whole = gone
		}
		h.Score = h.Whole
		for j := range h.Timeline {
			h.Timeline[j] = s * dot(tn, en.moments[j*d:(j+1)*d])
			if skip && j >= skipLo && j < skipHi {
				h.Timeline[j] = gone
			}
			h.Score = max(h.Score, h.Timeline[j])
		}
		h.Moments = bestMoments(h.Timeline, e.window, k)
		if skip {
			h.Moments = slices.DeleteFunc(h.Moments, func(m Moment) bool { return m.Score == gone })
		}
		h.Weak = h.Score < weak
		for i := range h.Moments {
			h.Moments[i].Weak = h.Moments[i].Score < weak
		}
		if skip && h.Score == gone {
			continue // a video of one moment, that one
		}
		hits = append(hits, h)
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].Score > hits[b].Score })
	return hits
}

// SimilarTo is "more like this": it searches with the feature of the moment
// centred on frame of the video key (the head's pooling of that window,
// as AddVideo made it) as the query, and leaves that moment out: in its own
// video, every window that overlaps it, and the whole video's score (which
// pools the moment's frames too). A moment of another video, or of the same
// video elsewhere, ranks as a text query's would.
func (e *Engine) SimilarTo(key string, frame, k int) ([]Hit, error) {
	if !e.m.Config.HasText() {
		return nil, ErrNoText
	}
	en, ok := e.videos[key]
	if !ok {
		return nil, fmt.Errorf("engine: no video %q is indexed", key)
	}
	if frame < 0 || frame >= en.n {
		return nil, fmt.Errorf("engine: video %q has frames 0 to %d, not %d", key, en.n-1, frame)
	}
	d := e.m.Config.EmbedDim
	q := Normalize(en.moments[frame*d : (frame+1)*d])
	// Windows centred on frames whose window overlaps this one's.
	lo, hi := MomentFrames(frame, en.n, e.window)
	skipLo, skipHi := en.n, 0
	for j := 0; j < en.n; j++ {
		if a, b := MomentFrames(j, en.n, e.window); a < hi && lo < b {
			skipLo, skipHi = min(skipLo, j), max(skipHi, j+1)
		}
	}
	return e.rank(q, k, key, skipLo, skipHi), nil
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
