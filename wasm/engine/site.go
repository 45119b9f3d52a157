package engine

import (
	"errors"
	"fmt"
	"math"

	"clip4clip/model"
	"clip4clip/siteindex"
)

// ErrNoSite is returned by SearchSite before a site index is loaded.
var ErrNoSite = errors.New("engine: no site index is loaded; load one first")

// LoadSite reads a site index (siteindex.Read: the videos a site owner
// indexed ahead with `clip4clip index`) and checks that it was built with
// the loaded model (siteindex.Index.Check against model.CLIP.ID; a
// text-only file carries the ID of the full model it was cut from). On
// success it replaces the site SearchSite ranks.
func (e *Engine) LoadSite(data []byte) (*siteindex.Index, error) {
	if !e.m.Config.HasText() {
		return nil, ErrNoText
	}
	if e.m.ID() == "" {
		return nil, fmt.Errorf("engine: this engine holds part of the model (%s), whose identity is unknown, so a site index cannot be checked against it; load the whole model file", e.m.Config.Part)
	}
	x, err := siteindex.Read(data)
	if err != nil {
		return nil, err
	}
	if err := x.Check(e.m.ID()); err != nil {
		return nil, err
	}
	if x.EmbedDim != e.m.Config.EmbedDim {
		// Check compares identities; this guards Search's slices should a
		// file claim the right identity with another feature size.
		return nil, fmt.Errorf("engine: the site index holds features of %d values, the model makes %d", x.EmbedDim, e.m.Config.EmbedDim)
	}
	e.site = x
	return x, nil
}

// Site returns the loaded site index, or nil.
func (e *Engine) Site() *siteindex.Index { return e.site }

// SiteMoments counts the moments of a site index.
func SiteMoments(x *siteindex.Index) int {
	n := 0
	for _, v := range x.Videos {
		n += len(v.Moments)
	}
	return n
}

// SiteResults is a site search's answer: siteindex.Results with the
// thumbnail to show beside each moment.
type SiteResults struct {
	Videos  []siteindex.VideoHit `json:"videos"`
	Moments []SiteMoment         `json:"moments"`
	Match   *model.Verdict       `json:"match"` // the calibration's verdict on the best result (Engine.Judge), null without one
}

// SiteMoment is one moment found, with the index of its video's thumbnail
// nearest the moment's middle (-1 when the video has none).
type SiteMoment struct {
	siteindex.MomentHit
	Thumb int  `json:"thumb"`
	Weak  bool `json:"weak"` // the score is below the calibration's threshold
}

// SearchSite ranks the loaded site index's videos and moments against a
// query feature (embed, as EmbedQuery returns it; normalised here), k of
// each at most.
func (e *Engine) SearchSite(text []float32, k int) (SiteResults, error) {
	if e.site == nil {
		return SiteResults{}, ErrNoSite
	}
	if len(text) != e.site.EmbedDim {
		return SiteResults{}, fmt.Errorf("engine: query feature of %d values, want %d", len(text), e.site.EmbedDim)
	}
	if k < 1 {
		return SiteResults{}, fmt.Errorf("engine: %d results asked for", k)
	}
	r := e.site.Search(Normalize(text), k)
	out := SiteResults{Videos: r.Videos, Moments: make([]SiteMoment, len(r.Moments))}
	if out.Videos == nil {
		out.Videos = []siteindex.VideoHit{}
	}
	// Site scores are cosines; the threshold is for the index's head, which
	// Check made sure is this model's.
	v, ok := model.Verdict{}, false
	if e.cal != nil {
		best := math.Inf(-1)
		for _, h := range r.Videos {
			best = max(best, float64(h.Score))
		}
		v, ok = e.cal.Judge(e.site.Head, best)
		if ok && len(r.Videos) > 0 {
			out.Match = &v
		}
	}
	for i, m := range r.Moments {
		out.Moments[i] = SiteMoment{MomentHit: m, Thumb: NearestThumb(e.site.Videos[m.Video].Thumbs, (m.Start+m.End)/2), Weak: ok && float64(m.Score) < v.Threshold}
	}
	return out, nil
}

// NearestThumb returns the index of the thumbnail whose time is nearest t
// (the first of equals), or -1 when there is none.
func NearestThumb(thumbs []siteindex.Thumb, t float64) int {
	best, bestD := -1, math.Inf(1)
	for i, th := range thumbs {
		if d := math.Abs(th.Time - t); d < bestD {
			best, bestD = i, d
		}
	}
	return best
}
