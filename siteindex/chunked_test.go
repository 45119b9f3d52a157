package siteindex

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// folder is a chunked index held in memory: file name -> bytes.
type folder map[string][]byte

func (f folder) put(name string, data []byte) error {
	f[name] = data
	return nil
}

func (f folder) fetch(name string) ([]byte, error) {
	if d, ok := f[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}

func writeChunked(t testing.TB, x *Index) (folder, *Meta) {
	t.Helper()
	f := folder{}
	_, err := x.WriteChunked(f.put)
	require.NoError(t, err)
	m, err := ReadMeta(f[MetaName])
	require.NoError(t, err)
	return f, m
}

// TestChunkedRoundTrip: the folder holds what the single file does.
func TestChunkedRoundTrip(t *testing.T) {
	x := randomIndex(7, 40, 90, 64)
	f, m := writeChunked(t, x)
	require.Equal(t, 40, m.Videos)
	require.Equal(t, Lists(m.Moments), m.Lists)
	back, _, err := ReadChunked(f.fetch)
	require.NoError(t, err)
	require.Equal(t, marshal(t, x), marshal(t, back), "the folder read back gives another single file")
	// Every file but the meta is named by its content.
	for name, data := range f {
		if name != MetaName {
			require.NoError(t, CheckName(name, data))
		}
	}
}

// TestChunkedExact: probing every list and re-ranking every fragment gives
// Index.Search's moments, scores bit for bit, on the index and read back.
func TestChunkedExact(t *testing.T) {
	x := randomIndex(8, 60, 70, 64)
	f, m := writeChunked(t, x)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 10 {
		q := unit(rng, 64)
		want := x.Search(q, 25).Moments
		got := m.ChunkedSearch(q, 25, SearchOptions{NProbe: m.Lists, Fragments: 0}, f.fetch)
		require.Empty(t, got.Problems)
		require.Len(t, got.Moments, len(want))
		for i, w := range want {
			g := got.Moments[i]
			require.Equal(t, [2]int{w.Video, w.Moment}, [2]int{g.Video, g.Moment}, "rank %d", i)
			require.Equal(t, w.Score, g.Score, "rank %d", i)
			require.Equal(t, w.Start, g.Start)
			require.Equal(t, w.End, g.End)
			require.Equal(t, x.Videos[w.Video].Path, g.Fragment.Video.Path)
		}
	}
}

// TestChunkedMergeEqualsOneRun: the shards merged (in path order, as
// `clip4clip merge` sorts) give the files of one run, byte for byte, and
// writing again gives the same files.
func TestChunkedMergeEqualsOneRun(t *testing.T) {
	x := randomIndex(9, 30, 60, 64)
	one, _ := writeChunked(t, x)
	again, _ := writeChunked(t, x)
	require.Equal(t, one, again)
	a := &Index{ModelID: x.ModelID, ModelName: x.ModelName, Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window}
	b := &Index{ModelID: x.ModelID, ModelName: x.ModelName, Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window}
	for i, v := range x.Videos {
		if i%3 == 0 {
			a.Videos = append(a.Videos, v)
		} else {
			b.Videos = append(b.Videos, v)
		}
	}
	fa, _ := writeChunked(t, a)
	fb, _ := writeChunked(t, b)
	ra, _, err := ReadChunked(fa.fetch)
	require.NoError(t, err)
	rb, _, err := ReadChunked(fb.fetch)
	require.NoError(t, err)
	merged, err := Merge(ra, rb)
	require.NoError(t, err)
	slices.SortStableFunc(merged.Videos, func(p, q Video) int { return strings.Compare(p.Path, q.Path) })
	fm, _ := writeChunked(t, merged)
	require.Equal(t, len(one), len(fm))
	for name := range one {
		require.Equal(t, one[name], fm[name], "%s differs", name)
	}
}

// TestChunkedUpdateKeepsFragments: changing one video keeps the other
// videos' fragment files (the same names, so hosts and browsers keep them).
func TestChunkedUpdateKeepsFragments(t *testing.T) {
	x := randomIndex(10, 20, 60, 64)
	before, _ := writeChunked(t, x)
	y := &Index{ModelID: x.ModelID, ModelName: x.ModelName, Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window, Videos: slices.Clone(x.Videos)}
	y.Videos[5].Title = "Renamed"
	after, _ := writeChunked(t, y)
	var same, changed int
	for name := range after {
		if !strings.HasPrefix(name, "f/") {
			continue
		}
		if _, ok := before[name]; ok {
			same++
		} else {
			changed++
		}
	}
	frags := (len(x.Videos[5].Moments) + FragMoments - 1) / FragMoments
	require.Equal(t, frags, changed, "only video 5's fragments change")
	require.Positive(t, same)
}

// TestChunkedBadFiles: a missing, truncated or altered chunk or fragment
// is reported by name and the rest still ranked.
func TestChunkedBadFiles(t *testing.T) {
	x := randomIndex(11, 60, 70, 64)
	f, m := writeChunked(t, x)
	q := unit(rand.New(rand.NewPCG(4, 4)), 64)
	all := SearchOptions{NProbe: m.Lists}
	good := m.ChunkedSearch(q, 10, all, f.fetch)
	require.Empty(t, good.Problems)
	require.GreaterOrEqual(t, len(good.Chunks), 3)

	bad := folder{}
	for k, v := range f {
		bad[k] = v
	}
	c0, c1, c2 := good.Chunks[0], good.Chunks[1], good.Chunks[2]
	delete(bad, c0)                     // 404
	bad[c1] = bad[c1][:len(bad[c1])-7]  // truncated
	bad[c2] = bytes.Clone(bad[c2])      // altered
	bad[c2][len(bad[c2])-1] ^= 1        //
	fr := good.Frags[len(good.Frags)-1] // a fragment, altered
	bad[fr] = append(bytes.Clone(bad[fr][:20]), bad[fr][21:]...)
	r := m.ChunkedSearch(q, 10, all, bad.fetch)
	require.Len(t, r.Problems, 4)
	for i, name := range []string{c0, c1, c2, fr} {
		require.Contains(t, r.Problems[i].Error(), name)
	}
	require.True(t, errors.Is(r.Problems[0], fs.ErrNotExist))
	require.Contains(t, r.Problems[1].Error(), "truncated")
	require.Contains(t, r.Problems[2].Error(), "does not match its name")
	require.NotEmpty(t, r.Moments, "the other chunks still give results")
	for _, h := range r.Moments {
		require.NotEqual(t, fr, h.Fragment.Name)
	}

	// A fragment missing (404) or truncated, the chunks whole: reported,
	// and the moments of the others ranked as exact search ranks them.
	bad = folder{}
	for k, v := range f {
		bad[k] = v
	}
	f0, f1 := good.Frags[0], good.Frags[1]
	delete(bad, f0)
	bad[f1] = bad[f1][:len(bad[f1])/2]
	r = m.ChunkedSearch(q, 10, all, bad.fetch)
	require.Len(t, r.Problems, 2)
	require.Contains(t, r.Problems[0].Error(), f0)
	require.True(t, errors.Is(r.Problems[0], fs.ErrNotExist))
	require.Contains(t, r.Problems[1].Error(), f1)
	var fe *FormatError
	require.ErrorAs(t, r.Problems[1], &fe)
	gone := func(h MomentHit) bool { // in f0 or f1
		for _, name := range []string{f0, f1} {
			fr, err := ReadFragment(name, f[name], m.EmbedDim)
			require.NoError(t, err)
			if h.Video == fr.Index && h.Moment >= fr.First && h.Moment < fr.First+fr.Count {
				return true
			}
		}
		return false
	}
	var want []MomentHit
	for _, h := range x.Search(q, 10+2*FragMoments).Moments {
		if !gone(h) && len(want) < 10 {
			want = append(want, h)
		}
	}
	require.Len(t, r.Moments, len(want))
	for i, w := range want {
		require.Equal(t, [2]int{w.Video, w.Moment}, [2]int{r.Moments[i].Video, r.Moments[i].Moment}, "rank %d", i)
		require.Equal(t, w.Score, r.Moments[i].Score, "rank %d", i)
	}
}

// TestReadChunkedBadFiles: reading a folder back (for merge and updates)
// stops at the first missing or corrupt file with an error naming it.
func TestReadChunkedBadFiles(t *testing.T) {
	x := randomIndex(14, 8, 70, 64)
	f, m := writeChunked(t, x)
	var frag string
	for name := range f {
		if strings.HasPrefix(name, "f/") {
			frag = name
			break
		}
	}
	for _, c := range []struct {
		what, name string
		change     func(folder)
		want       string
	}{
		{"meta missing", MetaName, func(b folder) { delete(b, MetaName) }, MetaName},
		{"catalog missing", m.Catalog, func(b folder) { delete(b, m.Catalog) }, "could not be loaded"},
		{"catalog altered", m.Catalog, func(b folder) { b[m.Catalog] = append(bytes.Clone(b[m.Catalog]), ' ') }, "does not match its name"},
		{"fragment missing", frag, func(b folder) { delete(b, frag) }, "could not be loaded"},
		{"fragment truncated", frag, func(b folder) { b[frag] = b[frag][:len(b[frag])-1] }, "does not match its name"},
	} {
		bad := folder{}
		for k, v := range f {
			bad[k] = v
		}
		c.change(bad)
		_, _, err := ReadChunked(bad.fetch)
		require.Error(t, err, c.what)
		require.Contains(t, err.Error(), c.name, c.what)
		require.Contains(t, err.Error(), c.want, c.what)
	}
}

// TestChunkedMetaErrors: another model is refused by name; other files
// are not taken for a meta file.
func TestChunkedMetaErrors(t *testing.T) {
	x := randomIndex(12, 5, 10, 64)
	x.ModelName = "vitb32.c4c"
	f, m := writeChunked(t, x)
	require.NoError(t, m.Check(x.ModelID))
	err := m.Check(strings.Repeat("ab", 32))
	var mm *ModelMismatchError
	require.ErrorAs(t, err, &mm)
	require.Contains(t, err.Error(), "vitb32.c4c")

	_, err = ReadMeta(marshal(t, x))
	var fe *FormatError
	require.ErrorAs(t, err, &fe)
	require.Contains(t, err.Error(), "single-file site index")
	meta := f[MetaName]
	for _, n := range []int{0, 10, 16, len(meta) / 2, len(meta) - 1} {
		_, err := ReadMeta(meta[:n])
		require.ErrorAs(t, err, &fe, "%d bytes", n)
	}
	_, err = ReadMeta(append(bytes.Clone(meta), 0))
	require.ErrorAs(t, err, &fe)
	for name, data := range f {
		if name == MetaName {
			continue
		}
		_, err := ReadMeta(data)
		require.ErrorAs(t, err, &fe, name)
	}
}

// TestChunkedWriteErrors: what MarshalBinary refuses, WriteChunked does.
func TestChunkedWriteErrors(t *testing.T) {
	x := randomIndex(13, 3, 5, 64)
	x.Videos[1].Moments[0][3] = float32(nan())
	_, err := x.WriteChunked(folder{}.put)
	require.ErrorContains(t, err, "moment 0")
	y := randomIndex(13, 3, 5, 48)
	_, err = y.WriteChunked(folder{}.put)
	require.ErrorContains(t, err, "multiple of 32")
}

func nan() float64 { var z float64; return z / z }

// TestEncodePQMatchesReference: the int8 encoder picks the codewords the
// float loop does (but for near-ties, where float rounding decides).
func TestEncodePQMatchesReference(t *testing.T) {
	x, _ := SyntheticArchive(5, 3000, 128)
	m := x.matrix()
	rows, scales := m.I8[m.videos*128:], m.Scales[m.videos:]
	n := m.Rows - m.videos
	pq, ps, books := trainPQ(rows, scales, n, 128)
	got := encodePQ(rows, scales, n, 128, pq, ps)
	want := encodePQRef(rows, scales, n, 128, books)
	diff := 0
	for i := range got {
		if got[i] != want[i] {
			diff++
		}
	}
	t.Logf("%d of %d codes differ", diff, len(got))
	require.LessOrEqual(t, diff, len(got)/1000, "first codes %v, reference %v", got[:8], want[:8])
}
