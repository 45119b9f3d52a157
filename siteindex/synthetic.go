package siteindex

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"clip4clip/quant"
)

// SyntheticArchive returns an index of about n moments of d values and the
// rng that made it (SyntheticQueries draws from it next): the synthetic
// archive the chunked index is measured on (README, "Static sites at
// archive scale"), for tests and benchmarks, no real video behind it, fixed
// before any measurement:
//
//   - topics: one per 20 videos, random unit vectors (d values);
//   - a video: 30 to 450 moments (2 to 30 minutes of 4 s moments, uniform),
//     a topic drawn uniformly, its centre c = unit(topic + g) with g a random
//     unit vector (cos(c, topic) about 0.71);
//   - its moments: m_j = unit(c + 0.8 u_j), u_j a unit random walk,
//     u_j = unit(0.9 u_{j-1} + 0.44 g_j): consecutive moments are near-twins
//     (cosine about 0.96), distant moments of one video about 0.6, moments of
//     two videos of a topic about 0.3;
//   - a thumbnail of 1,500 random bytes per 120 s (as ThumbEvery and the
//     JPEGs `clip4clip index` makes);
//   - a query: a moment drawn uniformly, m, and q = unit(m + g): cosine 0.71
//     with it, never a vector of the index; a broad query: a video drawn
//     uniformly and q = unit(c + g) (SyntheticQueries).
//
// The vectors are built straight into the int8 matrix Search ranks, so 9
// million moments of 512 values take 4.6 GB, not the 18 GB of float32 rows.
func SyntheticArchive(seed uint64, n, d int) (*Index, *rand.Rand) {
	rng := rand.New(rand.NewPCG(seed, 0xa7c1))
	var lens []int
	for total := 0; total < n; {
		l := min(30+rng.IntN(421), n-total)
		lens = append(lens, l)
		total += l
	}
	nv := len(lens)
	topics := make([][]float32, max(1, nv/20))
	for i := range topics {
		topics[i] = randUnit(rng, d)
	}
	m := &matrix{videos: nv, first: make([]int, nv+1)}
	rows := nv
	for i, l := range lens {
		m.first[i] = rows - nv
		rows += l
	}
	m.first[nv] = rows - nv
	m.Matrix = quant.Matrix{Rows: rows, Cols: d, DType: quant.Int8, Block: d, I8: make([]int8, rows*d), Scales: make([]float32, rows)}
	x := &Index{ModelID: strings.Repeat("5e", 32), ModelName: "synthetic", Head: "meanP", EmbedDim: d, FPS: DefaultFPS, Window: DefaultWindow, Videos: make([]Video, nv)}
	c, u, v, g := make([]float32, d), make([]float32, d), make([]float32, d), make([]float32, d)
	mix := func(dst, a []float32, wa float32, b []float32, wb float32) {
		for k := range dst {
			dst[k] = wa*a[k] + wb*b[k]
		}
		normalize(dst)
	}
	thumb := make([]byte, 1500)
	for i, l := range lens {
		mix(c, topics[rng.IntN(len(topics))], 1, fillUnit(g, rng), 1)
		fillUnit(u, rng)
		r0 := nv + m.first[i]
		for j := range l {
			mix(u, u, 0.9, fillUnit(g, rng), 0.44)
			mix(v, c, 1, u, 0.8)
			m.Scales[r0+j], _ = quantize(m.I8[(r0+j)*d:(r0+j+1)*d], v)
		}
		m.Scales[i], _ = quantize(m.I8[i*d:(i+1)*d], c)
		dur := float64(l) * DefaultWindow
		vid := Video{Path: fmt.Sprintf("videos/%06d.mp4", i), Duration: dur, Width: 640, Height: 360, Size: int64(l) << 20, ModTime: 1.7e12,
			Feature: append([]float32(nil), c...), Moments: make([][]float32, l),
			stored: &stored{q: m.I8[r0*d : (r0+l)*d], scales: m.Scales[r0 : r0+l]}}
		vid.Title = DefaultTitle(vid.Path)
		for t := 0.0; t < dur || t == 0; t += ThumbEvery {
			vid.Thumbs = append(vid.Thumbs, Thumb{Time: t + min(ThumbEvery, dur-t)/2, JPEG: thumb})
		}
		x.Videos[i] = vid
	}
	m.of = x.Videos
	x.search = m
	return x, rng
}

// SyntheticQueries draws n queries (see SyntheticArchive): of a moment,
// q = unit(m + g); broad ones are of a video instead, q = unit(c + g) with c
// the video's centre (its Feature), whose best moments spread over the
// video and its topic.
func SyntheticQueries(x *Index, rng *rand.Rand, n int, broad bool) [][]float32 {
	m := x.matrix()
	d := x.EmbedDim
	out := make([][]float32, n)
	for i := range out {
		q := make([]float32, d)
		if broad {
			copy(q, x.Videos[rng.IntN(len(x.Videos))].Feature)
		} else {
			r := m.videos + rng.IntN(m.Rows-m.videos)
			dequantize(q, m.I8[r*d:(r+1)*d], m.Scales[r])
		}
		g := randUnit(rng, d)
		for k := range q {
			q[k] += g[k]
		}
		normalize(q)
		out[i] = q
	}
	return out
}

// randUnit returns a random unit vector of d values.
func randUnit(rng *rand.Rand, d int) []float32 {
	return fillUnit(make([]float32, d), rng)
}

// fillUnit fills v with a random unit vector and returns it: randUnit
// without the allocation, which at 9 million moments was 18 GB of garbage
// for the collector to keep up with.
func fillUnit(v []float32, rng *rand.Rand) []float32 {
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	normalize(v)
	return v
}
