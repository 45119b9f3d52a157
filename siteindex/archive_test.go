package siteindex

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// singleFileSize is the size MarshalBinary would give x, without making it.
func singleFileSize(x *Index) int64 {
	h := header{ModelID: x.ModelID, ModelName: x.ModelName, Head: x.Head, EmbedDim: x.EmbedDim, FPS: x.FPS, Window: x.Window}
	var thumbs, nvec int64 = 0, int64(len(x.Videos))
	for _, v := range x.Videos {
		vh := videoHeader{Path: v.Path, Duration: v.Duration, Width: v.Width, Height: v.Height, Size: v.Size, ModTime: v.ModTime, Moments: len(v.Moments)}
		for _, t := range v.Thumbs {
			vh.Thumbs = append(vh.Thumbs, [2]float64{t.Time, float64(len(t.JPEG))})
			thumbs += int64(len(t.JPEG))
		}
		h.Videos = append(h.Videos, vh)
		nvec += int64(len(v.Moments))
	}
	js, _ := json.Marshal(&h)
	start := 16 + int64(len(js)) + thumbs
	return start + (4-start%4)%4 + nvec*int64(4+x.EmbedDim)
}

// recallAt10 is |got ∩ want| / |want| over (video, moment) pairs.
func recallAt10(want []MomentHit, got []ChunkedHit) float64 {
	if len(want) == 0 {
		return 1
	}
	in := map[[2]int]bool{}
	for _, w := range want {
		in[[2]int{w.Video, w.Moment}] = true
	}
	n := 0
	for _, g := range got {
		if in[[2]int{g.Video, g.Moment}] {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// TestChunkedRecall: at the defaults, on a synthetic archive of 60,000
// moments, the chunked search finds at least 95% of exact search's top 10.
func TestChunkedRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an index of 60,000 moments")
	}
	x, rng := SyntheticArchive(1, 60000, 512)
	f, m := writeChunked(t, x)
	qs := SyntheticQueries(x, rng, 50, false)
	var sum float64
	for _, q := range qs {
		r := m.ChunkedSearch(q, 10, SearchOptions{NProbe: DefaultNProbe, Fragments: DefaultFragments}, f.fetch)
		require.Empty(t, r.Problems)
		sum += recallAt10(x.Search(q, 10).Moments, r.Moments)
	}
	t.Logf("recall@10 %.3f over %d queries, %d lists", sum/float64(len(qs)), len(qs), m.Lists)
	require.GreaterOrEqual(t, sum/float64(len(qs)), 0.95)
}

// TestArchiveMeasure measures the chunked index on a synthetic archive
// (synthArchive): recall@10 against exact search and the bytes a visitor
// downloads, over a grid of nprobe and fragments.
//
//	CLIP4CLIP_MEASURE=archive CLIP4CLIP_MOMENTS=1000000 go test -run ArchiveMeasure -v -timeout 60m ./siteindex/
func TestArchiveMeasure(t *testing.T) {
	if os.Getenv("CLIP4CLIP_MEASURE") != "archive" {
		t.Skip("set CLIP4CLIP_MEASURE=archive (and CLIP4CLIP_MOMENTS, default 1000000)")
	}
	n := 1000000
	if s := os.Getenv("CLIP4CLIP_MOMENTS"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	nq := 100
	t0 := time.Now()
	x, rng := SyntheticArchive(1, n, 512)
	t.Logf("generated %d videos, %d moments in %v", len(x.Videos), n, time.Since(t0).Round(time.Second))
	t0 = time.Now()
	// The fragments (5 GB at 9M moments) go to disk, the rest stays in
	// memory: with the int8 matrix held too, Go's heap would otherwise
	// outgrow the machine.
	f, disk := folder{}, t.TempDir()
	fragSize := map[string]int{}
	require.NoError(t, os.Mkdir(filepath.Join(disk, "f"), 0o755))
	st, err := x.WriteChunked(func(name string, data []byte) error {
		if strings.HasPrefix(name, "f/") {
			fragSize[name] = len(data)
			return os.WriteFile(filepath.Join(disk, name), data, 0o644)
		}
		return f.put(name, data)
	})
	require.NoError(t, err)
	fetch := func(name string) ([]byte, error) {
		if strings.HasPrefix(name, "f/") {
			return os.ReadFile(filepath.Join(disk, name))
		}
		return f.fetch(name)
	}
	size := func(name string) int {
		if n, ok := fragSize[name]; ok {
			return n
		}
		return len(f[name])
	}
	m, err := ReadMeta(f[MetaName])
	require.NoError(t, err)
	single := singleFileSize(x)
	t.Logf("wrote in %v: %d lists, meta %d B, chunks %d B, fragments %d B, catalog %d B; %.1f B/moment vs single file %.1f B/moment (%+.1f%%)",
		time.Since(t0).Round(time.Second), st.Lists, st.MetaBytes, st.ChunkBytes, st.FragBytes, st.CatalogBytes,
		float64(st.Total())/float64(n), float64(single)/float64(n), 100*(float64(st.Total())/float64(single)-1))

	grid := [][2]int{{8, 16}, {8, 24}, {12, 16}, {12, 24}, {16, 16}, {16, 24}, {16, 48}, {24, 24}, {32, 24}, {32, 48}}
	for _, broad := range []bool{false, true} {
		qs := SyntheticQueries(x, rng, nq, broad)
		t0 = time.Now()
		want := make([][]MomentHit, nq)
		for i, q := range qs {
			want[i] = x.Search(q, 10).Moments
		}
		t.Logf("broad queries %v; exact search: %v a query", broad, (time.Since(t0) / time.Duration(nq)).Round(time.Millisecond))
		t.Logf("%6s %6s %8s %8s %12s %12s %12s %12s %9s", "nprobe", "frags", "recall", "min", "first MB", "per-q mean", "per-q max", "cached mean", "ms/query")
		for _, g := range grid {
			np, nf := g[0], g[1]
			var rec, minRec float64 = 0, 1
			var bytesSum, bytesMax, cachedSum int64
			seen := map[string]bool{}
			t1 := time.Now()
			for i, q := range qs {
				r := m.ChunkedSearch(q, 10, SearchOptions{NProbe: np, Fragments: nf}, fetch)
				require.Empty(t, r.Problems)
				rc := recallAt10(want[i], r.Moments)
				rec += rc
				minRec = min(minRec, rc)
				bytesSum += r.Bytes
				bytesMax = max(bytesMax, r.Bytes)
				for _, name := range append(r.Chunks, r.Frags...) {
					if !seen[name] {
						seen[name] = true
						if i > 0 {
							cachedSum += int64(size(name))
						}
					}
				}
			}
			ms := float64(time.Since(t1).Microseconds()) / 1000 / float64(nq)
			t.Logf("%6d %6d %8.3f %8.2f %12.2f %12.2f %12.2f %12.2f %9.1f", np, nf, rec/float64(nq), minRec,
				float64(st.MetaBytes+bytesMax)/1e6, float64(bytesSum)/float64(nq)/1e6, float64(bytesMax)/1e6, float64(cachedSum)/float64(nq-1)/1e6, ms)
		}
	}
}
