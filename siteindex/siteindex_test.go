package siteindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// unit returns a random unit vector of d values.
func unit(rng *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	var ss float64
	for i := range v {
		f := rng.NormFloat64()
		v[i] = float32(f)
		ss += f * f
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(ss))
	}
	return v
}

// randomIndex makes an index of nv videos with 1..maxMoments moments of
// random unit features and a thumbnail or two of random bytes.
func randomIndex(seed uint64, nv, maxMoments, d int) *Index {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := &Index{ModelID: fmt.Sprintf("%064x", seed), ModelName: "test.c4c", Head: "meanP", EmbedDim: d, FPS: DefaultFPS, Window: DefaultWindow}
	for i := range nv {
		n := 1 + rng.IntN(maxMoments)
		v := Video{
			Path:     fmt.Sprintf("videos/clip %03d.mp4", i),
			Title:    DefaultTitle(fmt.Sprintf("clip %03d.mp4", i)),
			Duration: float64(n)*DefaultWindow - rng.Float64()*3,
			Width:    640, Height: 360, Size: rng.Int64N(1 << 30), ModTime: 1700000000000 + rng.Int64N(1e9),
			Feature: unit(rng, d),
		}
		if i%3 == 1 {
			v.Title = "A title of its own"
		}
		for t := 0; t <= i%2; t++ {
			jpeg := make([]byte, 10+rng.IntN(40))
			for k := range jpeg {
				jpeg[k] = byte(rng.IntN(256))
			}
			v.Thumbs = append(v.Thumbs, Thumb{Time: float64(t) * 2, JPEG: jpeg})
		}
		for range n {
			v.Moments = append(v.Moments, unit(rng, d))
		}
		x.Videos = append(x.Videos, v)
	}
	return x
}

func marshal(t testing.TB, x *Index) []byte {
	t.Helper()
	b, err := x.MarshalBinary()
	require.NoError(t, err)
	return b
}

func cos64(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func TestRoundTrip(t *testing.T) {
	x := randomIndex(1, 7, 9, 48)
	data := marshal(t, x)
	y, err := Read(data)
	require.NoError(t, err)
	require.Equal(t, x.ModelID, y.ModelID)
	require.Equal(t, x.ModelName, y.ModelName)
	require.Equal(t, x.Head, y.Head)
	require.Equal(t, x.EmbedDim, y.EmbedDim)
	require.Equal(t, x.FPS, y.FPS)
	require.Equal(t, x.Window, y.Window)
	require.Len(t, y.Videos, len(x.Videos))
	for i, v := range x.Videos {
		w := y.Videos[i]
		require.Equal(t, v.Path, w.Path)
		require.Equal(t, v.Title, w.Title)
		require.Equal(t, v.Duration, w.Duration)
		require.Equal(t, [4]int64{int64(v.Width), int64(v.Height), v.Size, v.ModTime}, [4]int64{int64(w.Width), int64(w.Height), w.Size, w.ModTime})
		require.Equal(t, v.Thumbs, w.Thumbs)
		require.Greater(t, cos64(v.Feature, w.Feature), 0.9995)
		require.InDelta(t, 1, cos64(w.Feature, w.Feature), 1e-6)
		require.Len(t, w.Moments, len(v.Moments))
		for j := range v.Moments {
			require.Nil(t, w.Moments[j])
			got := y.MomentFeature(i, j)
			require.Greater(t, cos64(v.Moments[j], got), 0.9995, "video %d moment %d", i, j)
		}
	}
	// Written again, a read index gives the same bytes; so does one whose
	// vectors were dequantized first (int8 rounding is idempotent).
	require.Equal(t, data, marshal(t, y))
	for i := range y.Videos {
		for j := range y.Videos[i].Moments {
			y.Videos[i].Moments[j] = y.MomentFeature(i, j)
		}
	}
	require.Equal(t, data, marshal(t, y))
}

func TestDefaultTitle(t *testing.T) {
	for in, want := range map[string]string{
		"a/b/holiday 2024.mp4":                   "holiday 2024",
		"clip.webm":                              "clip",
		"noext":                                  "noext",
		".hidden":                                ".hidden",
		"https://cdn.example/v/talk.mkv?x=1#t=3": "talk",
		"dir.d/file":                             "file",
	} {
		require.Equal(t, want, DefaultTitle(in), in)
	}
}

// refSearch is Search in float64 over the float vectors: every video's
// cosine with the query (whole) and its score (the better of that and its
// best moment's), and every moment's cosine with the query.
func refSearch(x *Index, q []float32) (whole, videos []float64, moments [][2]int, mscores []float64) {
	for i, v := range x.Videos {
		whole = append(whole, cos64(q, v.Feature))
		videos = append(videos, whole[i])
		for j, m := range v.Moments {
			moments = append(moments, [2]int{i, j})
			mscores = append(mscores, cos64(q, m))
			videos[i] = max(videos[i], mscores[len(mscores)-1])
		}
	}
	return
}

func TestSearchMatchesReference(t *testing.T) {
	const eps = 0.02 // int8 vectors and the kernels' int8 query
	for _, d := range []int{64, 512} {
		x := randomIndex(uint64(d), 40, 30, d)
		y, err := Read(marshal(t, x))
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(9, uint64(d)))
		for trial := range 8 {
			// A query near one moment, so the best is clear, and noise.
			v := rng.IntN(len(x.Videos))
			j := rng.IntN(len(x.Videos[v].Moments))
			q := unit(rng, d)
			for i := range q {
				q[i] = 3*x.Videos[v].Moments[j][i] + q[i]*0.7 // not normalised
			}
			refW, refV, refM, refS := refSearch(x, q)
			for name, idx := range map[string]*Index{"read": y, "built": x} {
				const k = 10
				r := idx.Search(q, k)
				require.Len(t, r.Videos, len(x.Videos))
				require.Len(t, r.Moments, k)
				// Moments: the best is the one the query was made from; at each
				// rank the reference score of what was found is that rank's
				// reference score, within int8 error.
				require.Equal(t, [2]int{v, j}, [2]int{r.Moments[0].Video, r.Moments[0].Moment}, "%s d=%d trial %d", name, d, trial)
				order := make([]int, len(refS))
				for i := range order {
					order[i] = i
				}
				sort.SliceStable(order, func(a, b int) bool { return refS[order[a]] > refS[order[b]] })
				for rank, h := range r.Moments {
					at := -1
					for i, m := range refM {
						if m == [2]int{h.Video, h.Moment} {
							at = i
						}
					}
					require.InDelta(t, refS[at], float64(h.Score), eps, "%s: score of moment %v", name, refM[at])
					require.InDelta(t, refS[order[rank]], refS[at], 2*eps, "%s: rank %d holds moment %v, the reference has %v", name, rank, refM[at], refM[order[rank]])
					s, e := x.MomentSpan(h.Video, h.Moment)
					require.Equal(t, [2]float64{s, e}, [2]float64{h.Start, h.End})
					require.Equal(t, float64(h.Moment)*x.Window, h.Start)
					require.LessOrEqual(t, h.End, x.Videos[h.Video].Duration)
					if rank > 0 {
						require.LessOrEqual(t, h.Score, r.Moments[rank-1].Score)
					}
				}
				for rank, h := range r.Videos {
					require.InDelta(t, refW[h.Video], float64(h.Whole), eps)
					require.InDelta(t, refV[h.Video], float64(h.Score), eps)
					if rank > 0 {
						require.LessOrEqual(t, h.Score, r.Videos[rank-1].Score)
					}
				}
			}
		}
	}
}

func TestSearchEdgeCases(t *testing.T) {
	x := randomIndex(3, 3, 2, 16)
	q := unit(rand.New(rand.NewPCG(1, 2)), 16)
	r := x.Search(q, 1000)
	n := 0
	for _, v := range x.Videos {
		n += len(v.Moments)
	}
	require.Len(t, r.Moments, n, "k above the moment count gives them all")
	require.Empty(t, x.Search(q, 0).Moments)
	require.Empty(t, x.Search(q[:5], 3).Videos, "a query of the wrong size finds nothing")
	zero := x.Search(make([]float32, 16), 2)
	require.Len(t, zero.Videos, 3)
	for _, h := range zero.Videos {
		require.Zero(t, h.Score)
	}
	empty := &Index{ModelID: "x", Head: "meanP", EmbedDim: 16, FPS: 1, Window: 4}
	r = empty.Search(q, 3)
	require.NotNil(t, r.Videos)
	require.NotNil(t, r.Moments)
	y, err := Read(marshal(t, empty))
	require.NoError(t, err)
	require.Empty(t, y.Search(q, 3).Videos)

	// Videos appended after a search are ranked by the next one.
	x.Search(q, 1)
	x.Videos = append(x.Videos, Video{Path: "new.mp4", Duration: 3, Feature: q, Moments: [][]float32{q}})
	r = x.Search(q, 1)
	require.Equal(t, 3, r.Videos[0].Video)
	require.Equal(t, MomentHit{Video: 3, Moment: 0, Start: 0, End: 3, Score: r.Moments[0].Score}, r.Moments[0])
	require.InDelta(t, 1, r.Moments[0].Score, 0.01)
}

func TestTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for range 50 {
		n := rng.IntN(40)
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.IntN(8)) // many ties
		}
		k := rng.IntN(12)
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		sort.SliceStable(want, func(a, b int) bool { return s[want[a]] > s[want[b]] })
		got := topK(s, k)
		require.Equal(t, want[:min(k, n)], append([]int{}, got...))
	}
}

func TestCheck(t *testing.T) {
	x := randomIndex(5, 1, 1, 8)
	x.ModelName = "vitb32.c4c"
	require.NoError(t, x.Check(x.ModelID))
	err := x.Check("0123456789abcdef0123")
	var mm *ModelMismatchError
	require.True(t, errors.As(err, &mm))
	require.Equal(t, "siteindex: the index was built with model vitb32.c4c ("+x.ModelID[:12]+") but the query model is 0123456789ab; rebuild the index or load the model it was built with", err.Error())
	require.Error(t, (&Index{}).Check(""))
}

func TestMerge(t *testing.T) {
	a := randomIndex(6, 3, 4, 8)
	b := randomIndex(6, 5, 4, 8)
	b.Videos = b.Videos[3:] // videos 3, 4
	c := randomIndex(7, 2, 4, 8)
	c.ModelID = a.ModelID
	c.Videos[0].Path = a.Videos[1].Path // replaces a's video 1 in place
	c.Videos[1].Path = "videos/late.mp4"
	m, err := Merge(a, b, c)
	require.NoError(t, err)
	var paths []string
	for _, v := range m.Videos {
		paths = append(paths, v.Path)
	}
	require.Equal(t, []string{a.Videos[0].Path, a.Videos[1].Path, a.Videos[2].Path, b.Videos[0].Path, b.Videos[1].Path, "videos/late.mp4"}, paths)
	require.Equal(t, c.Videos[0].Feature, m.Videos[1].Feature, "the later video wins")

	// Merging read shards gives the bytes of merging the built ones.
	ra, _ := Read(marshal(t, a))
	rb, _ := Read(marshal(t, b))
	rc, _ := Read(marshal(t, c))
	mr, err := Merge(ra, rb, rc)
	require.NoError(t, err)
	require.Equal(t, marshal(t, m), marshal(t, mr))

	for name, change := range map[string]func(*Index){
		"model":  func(x *Index) { x.ModelID = "other" },
		"fps":    func(x *Index) { x.FPS = 2 },
		"window": func(x *Index) { x.Window = 8 },
		"head":   func(x *Index) { x.Head = "seqTransf" },
	} {
		d := randomIndex(6, 1, 1, 8)
		change(d)
		_, err := Merge(a, d)
		require.Error(t, err, name)
		t.Logf("%s: %v", name, err)
	}
	_, err = Merge()
	require.Error(t, err)
}

func TestMarshalErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Index)
		want   string
	}{
		"tight":    {func(x *Index) { x.Head = "tightTransf" }, "cannot be pre-indexed"},
		"head":     {func(x *Index) { x.Head = "" }, "unknown head"},
		"dim":      {func(x *Index) { x.EmbedDim = 0 }, "embed_dim"},
		"model":    {func(x *Index) { x.ModelID = "" }, "no model ID"},
		"fps":      {func(x *Index) { x.FPS = math.NaN() }, "fps"},
		"window":   {func(x *Index) { x.Window = 0 }, "window"},
		"feature":  {func(x *Index) { x.Videos[0].Feature = x.Videos[0].Feature[:3] }, "feature of 3 values"},
		"moment":   {func(x *Index) { x.Videos[1].Moments[0] = nil }, "moment 0 has 0 values"},
		"nan":      {func(x *Index) { x.Videos[1].Moments[0][2] = float32(math.NaN()) }, "not finite"},
		"path":     {func(x *Index) { x.Videos[0].Path = "" }, "no path"},
		"duration": {func(x *Index) { x.Videos[0].Duration = math.Inf(1) }, "duration"},
	} {
		x := randomIndex(8, 2, 3, 8)
		tc.change(x)
		_, err := x.MarshalBinary()
		require.ErrorContains(t, err, tc.want, name)
	}
}

// small is a valid index of a few bytes' worth of every part.
func small(t testing.TB) []byte {
	return marshal(t, randomIndex(2, 3, 3, 4))
}

func TestReadErrors(t *testing.T) {
	data := small(t)
	// Every truncation is a FormatError, never a panic.
	for n := 0; n < len(data); n++ {
		_, err := Read(data[:n])
		var fe *FormatError
		require.True(t, errors.As(err, &fe), "truncated to %d of %d bytes: %v", n, len(data), err)
	}
	_, err := Read(append(bytes.Clone(data), 0))
	require.ErrorContains(t, err, "1 bytes after the last vector")

	app := append([]byte("C4CINDEX\x01\x00\x00\x00\x02\x00\x00\x00{}"), 0)
	_, err = Read(app)
	require.ErrorContains(t, err, "the app's own index file (C4CINDEX")
	require.ErrorContains(t, err, "not a clip4clip site index")
	_, err = Read([]byte("PK\x03\x04 a zip file, not an index"))
	require.ErrorContains(t, err, "not a clip4clip site index (it starts with \"PK.. a z\"")
	_, err = Read([]byte("C4CMODEL\x01\x00\x00\x00\x00\x00\x00\x00"))
	require.ErrorContains(t, err, "model file")

	newer := bytes.Clone(data)
	newer[8] = Version + 1
	_, err = Read(newer)
	require.ErrorContains(t, err, "newer than this build reads")
	random := bytes.Clone(data) // random bytes after the signature: no release has such a version
	binary.LittleEndian.PutUint32(random[8:], 358335877)
	_, err = Read(random)
	require.ErrorContains(t, err, "its format version reads 358335877, far beyond any release")
	require.ErrorContains(t, err, "the file is corrupt")
	require.NotContains(t, err.Error(), "update clip4clip")
	zero := bytes.Clone(data)
	zero[8] = 0
	_, err = Read(zero)
	require.ErrorContains(t, err, "version 0")

	withHeader := func(js string) []byte {
		b := []byte(Magic + "\x01\x00\x00\x00" + "\x00\x00\x00\x00" + js)
		b[12] = byte(len(js))
		return b
	}
	for js, want := range map[string]string{
		`{`: "not valid JSON",
		`{"model_id":"a","head":"meanP","embed_dim":0,"fps":1,"window":4,"videos":[]}`:                                  "embed_dim 0",
		`{"model_id":"a","head":"meanP","embed_dim":4,"fps":-1,"window":4,"videos":[]}`:                                 "fps -1",
		`{"model_id":"a","head":"tightTransf","embed_dim":4,"fps":1,"window":4,"videos":[]}`:                            "cannot be pre-indexed",
		`{"model_id":"a","head":"meanP","embed_dim":4,"fps":1,"window":4,"videos":[{"path":"a","moments":-1}]}`:         "-1 moments",
		`{"model_id":"a","head":"meanP","embed_dim":4,"fps":1,"window":4,"videos":[{"path":"a","moments":1e15}]}`:       "moments",
		`{"model_id":"a","head":"meanP","embed_dim":4,"fps":1,"window":4,"videos":[{"path":"a","thumbs":[[0,1e300]]}]}`: "thumbnail",
		`{"model_id":"a","head":"meanP","embed_dim":4,"fps":1,"window":4,"videos":[{"path":"a","thumbs":[[0,2.5]]}]}`:   "thumbnail of 2.5 bytes",
		`{"model_id":"a","head":"meanP","embed_dim":4,"fps":1,"window":4,"videos":[{"path":"a","moments":1}]}`:          "truncated",
	} {
		_, err := Read(withHeader(js))
		var fe *FormatError
		require.True(t, errors.As(err, &fe), "%s: %v", js, err)
		require.ErrorContains(t, err, want, js)
	}
}

func FuzzRead(f *testing.F) {
	data := small(f)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(data[:20])
	f.Add([]byte("C4CINDEX\x01\x00\x00\x00\x02\x00\x00\x00{}"))
	f.Add(marshal(f, &Index{ModelID: "m", Head: "seqTransf", EmbedDim: 3, FPS: 1, Window: 4}))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := Read(b)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%T: %v", err, err)
			}
			return
		}
		q := make([]float32, x.EmbedDim)
		q[0] = 1
		x.Search(q, 3)
		for i, v := range x.Videos {
			for j := range v.Moments {
				x.MomentFeature(i, j)
			}
		}
		if out, err := x.MarshalBinary(); err == nil {
			if _, err := Read(out); err != nil {
				t.Fatalf("an index read and written again does not read: %v", err)
			}
		}
	})
}

// budgetIndex is n videos of 4 minutes, a 512-d model, with the thumbnails
// `clip4clip index` makes at their largest (MaxThumbBytes each, one per
// ThumbEvery seconds) and realistic paths.
func budgetIndex(n int) *Index {
	rng := rand.New(rand.NewPCG(11, 11))
	x := &Index{ModelID: fmt.Sprintf("%064x", 42), ModelName: "clip-vit-b32-int8.c4c", Head: "meanP", EmbedDim: 512, FPS: DefaultFPS, Window: DefaultWindow}
	const duration = 240.0
	for i := range n {
		v := Video{Path: fmt.Sprintf("videos/2024/holiday-trip-%05d.mp4", i), Duration: duration, Width: 1920, Height: 1080,
			Size: 123456789, ModTime: 1712345678901, Feature: unit(rng, 512)}
		v.Title = DefaultTitle(v.Path)
		for t := 0.0; t < duration; t += ThumbEvery {
			v.Thumbs = append(v.Thumbs, Thumb{Time: t + ThumbEvery/2, JPEG: make([]byte, MaxThumbBytes)})
		}
		for range int(math.Ceil(duration / DefaultWindow)) {
			v.Moments = append(v.Moments, unit(rng, 512))
		}
		x.Videos = append(x.Videos, v)
	}
	return x
}

// TestSizeBudget is the figure: at most 600 bytes per moment for a
// 512-d model, everything included, so that 100 hours of video (90,000
// moments of 4 s, 1,500 videos of 4 minutes) fit in 55 MB.
func TestSizeBudget(t *testing.T) {
	const videos = 25
	x := budgetIndex(videos)
	data := marshal(t, x)
	moments := videos * 60
	per := float64(len(data)) / float64(moments)
	projected := per * 90000
	t.Logf("%d videos of 4 min, 512-d, thumbnails at their cap: %d bytes, %.1f bytes per moment; 90,000 moments: %.1f MB", videos, len(data), per, projected/1e6)
	require.LessOrEqual(t, per, 600.0)
	require.LessOrEqual(t, projected, 55e6)
}

// BenchmarkSearch90k ranks 90,000 moments of 512 values (1,500 videos of
// 60 moments) read from a file: what a visitor's browser does per query
// after the query is encoded.
func BenchmarkSearch90k(b *testing.B) {
	rng := rand.New(rand.NewPCG(12, 12))
	const videos, per, d = 1500, 60, 512
	x := &Index{ModelID: "m", Head: "meanP", EmbedDim: d, FPS: 1, Window: 4}
	for i := range videos {
		v := Video{Path: fmt.Sprintf("v%04d.mp4", i), Duration: 240, Feature: unit(rng, d), Moments: make([][]float32, per)}
		st := &stored{q: make([]int8, per*d), scales: make([]float32, per)}
		for j := range per {
			st.scales[j], _ = quantize(st.q[j*d:(j+1)*d], unit(rng, d))
		}
		v.stored = st
		x.Videos = append(x.Videos, v)
	}
	y, err := Read(marshal(b, x))
	require.NoError(b, err)
	q := unit(rng, d)
	y.Search(q, 10) // the kernels' one-time preparation
	b.ResetTimer()
	for range b.N {
		y.Search(q, 10)
	}
}

// TestSearchVideos: a filtered search finds what the same search finds
// among the kept videos alone, scores included, and nothing of the others.
func TestSearchVideos(t *testing.T) {
	x, err := Read(marshal(t, randomIndex(11, 12, 20, 64)))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	keep := func(v *Video) bool { return v.Duration > 40 }
	kept := 0
	for i := range x.Videos {
		if keep(&x.Videos[i]) {
			kept++
		}
	}
	require.True(t, kept > 0 && kept < len(x.Videos), "the filter keeps %d of %d", kept, len(x.Videos))
	for range 5 {
		q := unit(rng, 64)
		all, got := x.Search(q, 1000), x.SearchVideos(q, 5, keep)
		var want []MomentHit
		for _, m := range all.Moments {
			if keep(&x.Videos[m.Video]) && len(want) < 5 {
				want = append(want, m)
			}
		}
		require.Equal(t, want, got.Moments)
		require.Len(t, got.Videos, kept)
		for _, h := range got.Videos {
			require.True(t, keep(&x.Videos[h.Video]))
		}
	}
	none := x.SearchVideos(unit(rng, 64), 5, func(*Video) bool { return false })
	require.Empty(t, none.Videos)
	require.Empty(t, none.Moments)
}
