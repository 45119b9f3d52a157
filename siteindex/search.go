package siteindex

import (
	"math"
	"slices"
	"sort"

	"clip4clip/quant"
)

// Results is what Search finds for a query.
type Results struct {
	Videos  []VideoHit  `json:"videos"`  // every video, best first
	Moments []MomentHit `json:"moments"` // the k best moments over all videos, best first
}

// VideoHit is a video's score: the better of the cosine of the query and
// the video's feature (Whole) and that of its best moment, as the page's
// engine ranks videos (engine.Search says why).
type VideoHit struct {
	Video int     `json:"video"` // index into Index.Videos
	Score float32 `json:"score"`
	Whole float32 `json:"whole"`
}

// MomentHit is a moment's score: the cosine of the query and its feature,
// with the seconds the moment covers.
type MomentHit struct {
	Video  int     `json:"video"`  // index into Index.Videos
	Moment int     `json:"moment"` // window j of the video
	Start  float64 `json:"start"`  // seconds, j*Window
	End    float64 `json:"end"`    // seconds, min((j+1)*Window, Duration)
	Score  float32 `json:"score"`
}

// matrix is every vector of an index in one int8 matrix, (videos+moments,
// dim): the videos' features, then each video's moments in order.
type matrix struct {
	quant.Matrix
	videos int
	first  []int   // (videos+1) each video's first moment, counted from the first moment row
	of     []Video // the Videos it was built from
}

// fits reports whether m still describes x's videos: the same slice, and
// the same number of moments in each.
func (m *matrix) fits(x *Index) bool {
	if m == nil || len(x.Videos) != m.videos {
		return false
	}
	if m.videos == 0 {
		return true
	}
	if &x.Videos[0] != &m.of[0] {
		return false
	}
	for i, v := range x.Videos {
		if len(v.Moments) != m.first[i+1]-m.first[i] {
			return false
		}
	}
	return true
}

// matrix returns the search matrix of x: the one Read built, or one made
// now from the videos' vectors (quantized as MarshalBinary stores them).
// An Index changed in place after its first Search (vectors edited, not
// added or removed) keeps ranking the old vectors.
func (x *Index) matrix() *matrix {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.search.fits(x) {
		return x.search
	}
	d := max(x.EmbedDim, 0)
	nv := len(x.Videos)
	m := &matrix{videos: nv, first: make([]int, nv+1), of: x.Videos}
	n := nv
	for i, v := range x.Videos {
		m.first[i] = n - nv
		n += len(v.Moments)
	}
	m.first[nv] = n - nv
	m.Matrix = quant.Matrix{Rows: n, Cols: d, DType: quant.Int8, Block: max(d, 1), I8: make([]int8, n*d), Scales: make([]float32, n)}
	put := func(k int, v []float32) {
		if len(v) == d {
			s, err := quantize(m.I8[k*d:(k+1)*d], v)
			if err != nil {
				clear(m.I8[k*d : (k+1)*d])
				s = 0
			}
			m.Scales[k] = s
		}
	}
	k := nv
	for i, v := range x.Videos {
		put(i, v.Feature)
		for j, row := range v.Moments {
			if row == nil && v.stored != nil && len(v.stored.q) == len(v.Moments)*d && len(v.stored.scales) == len(v.Moments) {
				copy(m.I8[k*d:(k+1)*d], v.stored.q[j*d:(j+1)*d])
				m.Scales[k] = v.stored.scales[j]
			} else {
				put(k, row)
			}
			k++
		}
	}
	x.search = m
	return m
}

// Search ranks every video (by the better of its own cosine with query, the
// text feature normalised here, and its best moment's) and the k best
// moments of all videos by cosine with query. The query is rounded to
// integers of quant.DotsLimit(EmbedDim) steps (15 bits at 512-d) and each
// score is an exact integer dot product with an int8 row (quant.DotsInt8)
// times the two scales, so a query feature gets the same scores, bit for
// bit, natively and in every browser: the int8 rows' rounding, about 0.01
// at most for unit vectors, is the same for every query, and the query's
// adds at most DotsLimit's step. Ties keep index order. A query of the
// wrong size finds nothing. Search is safe for concurrent use.
func (x *Index) Search(query []float32, k int) Results {
	return x.SearchVideos(query, k, nil)
}

// SearchVideos is Search over the videos keep accepts (nil: all): the
// others are neither listed nor give moments.
func (x *Index) SearchVideos(query []float32, k int, keep func(v *Video) bool) Results {
	res := Results{Videos: []VideoHit{}, Moments: []MomentHit{}}
	m := x.matrix()
	if len(query) != x.EmbedDim || x.EmbedDim <= 0 || m.Rows == 0 {
		return res
	}
	scores := make([]float32, m.Rows)
	if q, step := roundQuery(query); step > 0 {
		dots := make([]int32, m.Rows)
		quant.DotsInt8(dots, m.I8, m.Cols, q)
		for r, d := range dots {
			scores[r] = float32(float64(d) * step * float64(m.Scales[r]))
		}
	}

	if keep != nil {
		gone := float32(math.Inf(-1))
		for i := range m.videos {
			if !keep(&m.of[i]) {
				scores[i] = gone
				for r := m.videos + m.first[i]; r < m.videos+m.first[i+1]; r++ {
					scores[r] = gone
				}
			}
		}
	}
	res.Videos = make([]VideoHit, 0, m.videos)
	for i := range m.videos {
		if keep != nil && !keep(&m.of[i]) {
			continue
		}
		h := VideoHit{Video: i, Score: scores[i], Whole: scores[i]}
		for _, s := range scores[m.videos+m.first[i] : m.videos+m.first[i+1]] {
			h.Score = max(h.Score, s)
		}
		res.Videos = append(res.Videos, h)
	}
	sort.SliceStable(res.Videos, func(a, b int) bool { return res.Videos[a].Score > res.Videos[b].Score })

	for _, r := range topK(scores[m.videos:], k) {
		if math.IsInf(float64(scores[m.videos+r]), -1) {
			break // only left-out videos' moments remain
		}
		v := sort.Search(m.videos, func(i int) bool { return m.first[i+1] > r }) // the video holding moment row r
		j := r - m.first[v]
		start, end := x.MomentSpan(v, j)
		res.Moments = append(res.Moments, MomentHit{Video: v, Moment: j, Start: start, End: end, Score: scores[m.videos+r]})
	}
	return res
}

// roundQuery returns the unit vector of query as integers q (|q| at most
// quant.DotsLimit) and the value step of one unit, so that q*step is
// query/|query| to within step/2 in each value; step is 0 for a zero or
// non-finite query. Only IEEE multiplies, divides and math.Round, so every
// machine rounds alike.
func roundQuery(query []float32) ([]int16, float64) {
	var ss, amax float64
	for _, v := range query {
		f := float64(v)
		ss += f * f
		amax = max(amax, math.Abs(f))
	}
	if !(ss > 0) || math.IsInf(ss, 0) || math.IsNaN(amax) {
		return nil, 0
	}
	lim := float64(quant.DotsLimit(len(query)))
	q := make([]int16, len(query))
	for i, v := range query {
		q[i] = int16(math.Round(float64(v) / amax * lim))
	}
	// amax/lim per unit before normalising: divide by |query|.
	return q, amax / lim / math.Sqrt(ss)
}

// topK returns the indices of the k largest scores, best first, the lower
// index first among equal scores: a min-heap of the k best so far.
func topK(scores []float32, k int) []int {
	k = min(k, len(scores))
	if k <= 0 {
		return nil
	}
	// worse reports whether entry a ranks below entry b.
	worse := func(a, b int) bool {
		return scores[a] < scores[b] || (scores[a] == scores[b] && a > b)
	}
	h := make([]int, 0, k)
	down := func(i int) {
		for {
			l, small := 2*i+1, i
			if l < len(h) && worse(h[l], h[small]) {
				small = l
			}
			if r := l + 1; r < len(h) && worse(h[r], h[small]) {
				small = r
			}
			if small == i {
				return
			}
			h[i], h[small] = h[small], h[i]
			i = small
		}
	}
	for i := range scores {
		if len(h) < k {
			h = append(h, i)
			for c := len(h) - 1; c > 0; {
				p := (c - 1) / 2
				if !worse(h[c], h[p]) {
					break
				}
				h[c], h[p] = h[p], h[c]
				c = p
			}
			continue
		}
		if worse(h[0], i) {
			h[0] = i
			down(0)
		}
	}
	slices.SortFunc(h, func(a, b int) int {
		if worse(b, a) {
			return -1
		}
		if worse(a, b) {
			return 1
		}
		return 0
	})
	return h
}
