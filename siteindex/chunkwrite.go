package siteindex

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"clip4clip/quant"
)

// ChunkedStats describes a chunked index written by WriteChunked.
type ChunkedStats struct {
	Lists, Chunks, Fragments int
	MetaBytes                int64
	ChunkBytes, FragBytes    int64 // all chunks', all fragments'
	CatalogBytes             int64
}

// Total is the folder's size in bytes.
func (s ChunkedStats) Total() int64 {
	return s.MetaBytes + s.ChunkBytes + s.FragBytes + s.CatalogBytes
}

// WriteChunked encodes x in the chunked form (see chunked.go), handing
// every file to put by its name relative to the folder (MetaName last, so a
// folder whose meta is in place has all its files). The files are a pure
// function of x: the same videos in the same order give the same bytes.
// It fails on what MarshalBinary refuses.
func (x *Index) WriteChunked(put func(name string, data []byte) error) (ChunkedStats, error) {
	var st ChunkedStats
	d := x.EmbedDim
	if err := x.validate(); err != nil {
		return st, err
	}
	m := x.matrix()
	nv, n := m.videos, m.Rows-m.videos
	rows := m.I8[nv*d:]     // (n, d) the moments
	scales := m.Scales[nv:] // (n)
	if n >= 1<<31 {
		return st, fmt.Errorf("siteindex: %d moments is more than a chunked index holds", n)
	}

	// Fragments, and for every moment its fragment's hash and slot.
	fragOf := make([]int32, n) // moment -> fragment number
	var fragHash [][8]byte
	catalog := make([][]string, nv)
	for i := range nv {
		v := &x.Videos[i]
		first := m.first[i]
		cnt := m.first[i+1] - first
		nf := max(1, (cnt+FragMoments-1)/FragMoments)
		thumbs := make([][]int, nf)
		for t, th := range v.Thumbs {
			f := int(th.Time / x.Window / FragMoments)
			thumbs[max(0, min(nf-1, f))] = append(thumbs[max(0, min(nf-1, f))], t)
		}
		for f := range nf {
			lo, hi := f*FragMoments, min(cnt, (f+1)*FragMoments)
			h := fragHeader{Video: i, Path: v.Path, Duration: v.Duration, Width: v.Width, Height: v.Height, Size: v.Size, ModTime: v.ModTime,
				Moments: cnt, First: lo, Count: hi - lo, Whole: f == 0, Thumbs: [][2]float64{}}
			if v.Title != DefaultTitle(v.Path) {
				h.Title = v.Title
			}
			var jpegs [][]byte
			for _, t := range thumbs[f] {
				h.Thumbs = append(h.Thumbs, [2]float64{v.Thumbs[t].Time, float64(len(v.Thumbs[t].JPEG))})
				jpegs = append(jpegs, v.Thumbs[t].JPEG)
			}
			var q []int8
			var s []float32
			if f == 0 {
				q = append(q, m.I8[i*d:(i+1)*d]...)
				s = append(s, m.Scales[i])
			}
			q = append(q, rows[(first+lo)*d:(first+hi)*d]...)
			s = append(s, scales[first+lo:first+hi]...)
			data := encodeFragment(h, jpegs, q, s)
			name := hashName("f/", ".bin", data)
			var hh [8]byte
			hex.Decode(hh[:], []byte(name[2:18]))
			for j := lo; j < hi; j++ {
				fragOf[first+j] = int32(len(fragHash))
			}
			fragHash = append(fragHash, hh)
			catalog[i] = append(catalog[i], name)
			if err := put(name, data); err != nil {
				return st, err
			}
			st.Fragments++
			st.FragBytes += int64(len(data))
		}
	}
	slot := func(r int) uint32 {
		// the moment's place in its fragment: its index in the video mod FragMoments
		return uint32(r-fragFirst(m, r)) % FragMoments
	}

	// The coarse quantiser and the PQ codebooks, trained on samples.
	L := Lists(n)
	cent := trainLists(rows, n, d, L)
	cq := make([]int8, L*d)
	cs := make([]float32, L)
	for l := range L {
		cs[l], _ = quantize(cq[l*d:(l+1)*d], cent[l*d:(l+1)*d])
	}
	list := assign(rows, n, d, cq, cs, L)
	pq, ps, _ := trainPQ(rows, scales, n, d)
	codes := encodePQ(rows, scales, n, d, pq, ps)

	// One chunk per list: its moments in index order.
	members := make([][]int32, L)
	for r := range n {
		members[list[r]] = append(members[list[r]], int32(r))
	}
	hashes := make([][8]byte, L)
	sizes, lens := make([]int, L), make([]int, L)
	for l := range L {
		if len(members[l]) == 0 {
			continue
		}
		at := map[int32]uint32{}
		var frags [][8]byte
		entries := make([]uint32, len(members[l]))
		cc := make([]uint8, 0, len(members[l])*PQM)
		for k, r := range members[l] {
			f := fragOf[r]
			fi, ok := at[f]
			if !ok {
				fi = uint32(len(frags))
				at[f] = fi
				frags = append(frags, fragHash[f])
			}
			entries[k] = fi<<fragShift | slot(int(r))
			cc = append(cc, codes[int(r)*PQM:(int(r)+1)*PQM]...)
		}
		data := encodeChunk(l, frags, entries, cc)
		name := hashName("c/", ".bin", data)
		hex.Decode(hashes[l][:], []byte(name[2:18]))
		sizes[l], lens[l] = len(data), len(members[l])
		if err := put(name, data); err != nil {
			return st, err
		}
		st.Chunks++
		st.ChunkBytes += int64(len(data))
	}

	cat, _ := json.Marshal(catalog)
	catName := hashName("videos-", ".json", cat)
	if err := put(catName, cat); err != nil {
		return st, err
	}
	st.CatalogBytes = int64(len(cat))
	h := metaHeader{ModelID: x.ModelID, ModelName: x.ModelName, Head: x.Head, EmbedDim: d, FPS: x.FPS, Window: x.Window,
		Videos: nv, Moments: n, Lists: L, PQM: PQM, Catalog: catName}
	meta := encodeMeta(h, cq, cs, pq, ps, hashes, sizes, lens)
	if err := put(MetaName, meta); err != nil {
		return st, err
	}
	st.Lists, st.MetaBytes = L, int64(len(meta))
	return st, nil
}

// fragFirst returns the first moment row of the video holding moment row r.
func fragFirst(m *matrix, r int) int {
	lo, hi := 0, m.videos // the last video whose first moment is <= r
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if m.first[mid] <= r {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return m.first[lo]
}

// validate checks what MarshalBinary checks, without writing the file.
func (x *Index) validate() error {
	d := x.EmbedDim
	if d <= 0 || d > maxEmbedDim || d%PQM != 0 {
		return fmt.Errorf("siteindex: embed_dim %d (a chunked index needs a multiple of %d)", d, PQM)
	}
	if x.ModelID == "" {
		return errors.New("siteindex: the index has no model ID (model.CLIP.ID of the model that embedded the videos)")
	}
	if err := CheckHead(x.Head); err != nil {
		return err
	}
	if !finitePos(x.FPS) || !finitePos(x.Window) {
		return fmt.Errorf("siteindex: fps %v and window %v must be positive", x.FPS, x.Window)
	}
	finite := func(v []float32) bool {
		for _, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return false
			}
		}
		return true
	}
	for i := range x.Videos {
		v := &x.Videos[i]
		if v.Path == "" {
			return fmt.Errorf("siteindex: video %d has no path", i)
		}
		if math.IsNaN(v.Duration) || math.IsInf(v.Duration, 0) || v.Duration < 0 {
			return fmt.Errorf("siteindex: video %q: duration %v", v.Path, v.Duration)
		}
		if len(v.Feature) != d || !finite(v.Feature) {
			return fmt.Errorf("siteindex: video %q: a feature of %d values, want %d finite ones", v.Path, len(v.Feature), d)
		}
		for j, mo := range v.Moments {
			if mo == nil && v.stored != nil && len(v.stored.scales) == len(v.Moments) && len(v.stored.q) == len(v.Moments)*d {
				continue
			}
			if len(mo) != d || !finite(mo) {
				return fmt.Errorf("siteindex: video %q: moment %d has %d values, want %d finite ones", v.Path, j, len(mo), d)
			}
		}
	}
	return nil
}

// sample returns s row numbers of n spread evenly (all when s >= n).
func sample(n, s int) []int {
	s = min(n, s)
	out := make([]int, s)
	for i := range out {
		out[i] = int(int64(i) * int64(n) / int64(s))
	}
	return out
}

// trainLists returns L unit centroids (L, d): spherical k-means over an
// even sample of the int8 rows, initialised with sampled rows, a fixed
// number of rounds, so the result depends on the rows alone.
func trainLists(rows []int8, n, d, L int) []float32 {
	const rounds = 8
	sm := sample(n, 64*L)
	cent := make([]float32, L*d)
	init := sample(len(sm), L)
	for l := range L {
		r := sm[init[l%len(init)]]
		dequantize(cent[l*d:(l+1)*d], rows[r*d:(r+1)*d], 1)
		normalize(cent[l*d : (l+1)*d])
	}
	if n == 0 {
		return cent
	}
	srows := make([]int8, len(sm)*d)
	for i, r := range sm {
		copy(srows[i*d:(i+1)*d], rows[r*d:(r+1)*d])
	}
	cq := make([]int8, L*d)
	cs := make([]float32, L)
	sum := make([]float64, L*d)
	cnt := make([]int, L)
	for range rounds {
		for l := range L {
			cs[l], _ = quantize(cq[l*d:(l+1)*d], cent[l*d:(l+1)*d])
		}
		a := assign(srows, len(sm), d, cq, cs, L)
		clear(sum)
		clear(cnt)
		for i, l := range a {
			row := srows[i*d : (i+1)*d]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			inv := 1 / math.Sqrt(max(ss, 1))
			acc := sum[int(l)*d : int(l+1)*d]
			for k, v := range row {
				acc[k] += float64(v) * inv
			}
			cnt[l]++
		}
		for l := range L {
			if cnt[l] == 0 {
				continue // an empty list keeps its centroid
			}
			for k := range d {
				cent[l*d+k] = float32(sum[l*d+k])
			}
			normalize(cent[l*d : (l+1)*d])
		}
	}
	return cent
}

func normalize(v []float32) {
	var ss float64
	for _, f := range v {
		ss += float64(f) * float64(f)
	}
	if ss == 0 {
		return
	}
	inv := 1 / math.Sqrt(ss)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// assign returns for each of the n int8 rows the list whose centroid (cq,
// cs: int8 with scales) has the largest dot product with it, the first of
// equals: exact integer dots, so every machine assigns alike.
func assign(rows []int8, n, d int, cq []int8, cs []float32, L int) []int32 {
	out := make([]int32, n)
	const block = 64
	quant.Parallel((n+block-1)/block, block*L*d, func(b int) {
		q := make([]int16, d)
		dots := make([]int32, L)
		for r := b * block; r < min(n, (b+1)*block); r++ {
			for k, v := range rows[r*d : (r+1)*d] {
				q[k] = int16(v)
			}
			dotsSerial(dots, cq, d, q)
			best, bs := 0, math.Inf(-1)
			for l, dt := range dots {
				if s := float64(dt) * float64(cs[l]); s > bs {
					best, bs = l, s
				}
			}
			out[r] = int32(best)
		}
	})
	return out
}

// dotsSerial is quant.DotsInt8 on the calling goroutine, for callers that
// share out the work themselves.
func dotsSerial(dst []int32, w []int8, cols int, q []int16) {
	quant.DotsInt8(dst, w, cols, q)
}

// trainPQ trains the PQ codebooks on a sample of the unit rows: per
// subspace, k-means (pqK codewords, fixed rounds) in float, then each
// codeword stored int8 with a scale. It returns the int8 codewords (PQM,
// pqK, d/PQM), their scales (PQM*pqK) and the dequantised codewords, the
// ones encoding and search use.
func trainPQ(rows []int8, scales []float32, n, d int) ([]int8, []float32, []float32) {
	const rounds = 10
	sub := d / PQM
	sm := sample(n, 16384)
	pq := make([]int8, PQM*pqK*sub)
	ps := make([]float32, PQM*pqK)
	books := make([]float32, PQM*pqK*sub)
	if n == 0 {
		return pq, ps, books
	}
	quant.Parallel(PQM, len(sm)*pqK*sub*rounds, func(s int) {
		x := make([]float32, len(sm)*sub) // (samples, sub)
		for i, r := range sm {
			dequantize(x[i*sub:(i+1)*sub], rows[r*d+s*sub:r*d+(s+1)*sub], scales[r])
		}
		c := make([]float32, pqK*sub)
		init := sample(len(sm), pqK)
		for k := range pqK {
			copy(c[k*sub:(k+1)*sub], x[init[k%len(init)]*sub:])
		}
		sum := make([]float64, pqK*sub)
		cnt := make([]int, pqK)
		for range rounds {
			clear(sum)
			clear(cnt)
			for i := range sm {
				k := nearest(x[i*sub:(i+1)*sub], c, sub)
				for j := range sub {
					sum[k*sub+j] += float64(x[i*sub+j])
				}
				cnt[k]++
			}
			for k := range pqK {
				if cnt[k] > 0 {
					for j := range sub {
						c[k*sub+j] = float32(sum[k*sub+j] / float64(cnt[k]))
					}
				}
			}
		}
		for k := range pqK {
			o := (s*pqK + k) * sub
			amax := 0.0
			for _, v := range c[k*sub : (k+1)*sub] {
				amax = max(amax, math.Abs(float64(v)))
			}
			if amax == 0 {
				continue
			}
			sc := float32(amax / 127)
			for j, v := range c[k*sub : (k+1)*sub] {
				pq[o+j] = int8(max(-127, min(127, math.Round(float64(v)/amax*127))))
			}
			ps[s*pqK+k] = sc
			dequantize(books[o:o+sub], pq[o:o+sub], sc)
		}
	})
	return pq, ps, books
}

// nearest returns the codeword of c (pqK, sub) nearest x, the first of equals.
func nearest(x, c []float32, sub int) int {
	best, bd := 0, math.Inf(1)
	for k := range pqK {
		var dd float32
		for j, v := range c[k*sub : (k+1)*sub] {
			t := x[j] - v
			dd += t * t
		}
		if float64(dd) < bd {
			best, bd = k, float64(dd)
		}
	}
	return best
}

// encodePQ returns the PQ code (n, PQM) of every unit row: per subspace the
// codeword c nearest the row's x, argmin |x-c|^2 = argmin |c|^2 - 2 x.c,
// with x.c an exact int8 dot product (quant.DotsInt8) times the two
// scales. encodePQRef is the float loop it must agree with.
func encodePQ(rows []int8, scales []float32, n, d int, pq []int8, ps []float32) []uint8 {
	sub := d / PQM
	norms := make([]float64, PQM*pqK) // |c|^2 of the dequantised codewords
	for c := range norms {
		var ss float64
		for _, v := range pq[c*sub : (c+1)*sub] {
			f := float64(float32(v) * ps[c])
			ss += f * f
		}
		norms[c] = ss
	}
	out := make([]uint8, n*PQM)
	const block = 256
	quant.Parallel((n+block-1)/block, block*pqK*d, func(b int) {
		q := make([]int16, sub)
		dots := make([]int32, pqK)
		for r := b * block; r < min(n, (b+1)*block); r++ {
			for s := range PQM {
				for k, v := range rows[r*d+s*sub : r*d+(s+1)*sub] {
					q[k] = int16(v)
				}
				quant.DotsInt8(dots, pq[s*pqK*sub:(s+1)*pqK*sub], sub, q)
				best, bd := 0, math.Inf(1)
				for c, dt := range dots {
					if dd := norms[s*pqK+c] - 2*float64(scales[r])*float64(ps[s*pqK+c])*float64(dt); dd < bd {
						best, bd = c, dd
					}
				}
				out[r*PQM+s] = uint8(best)
			}
		}
	})
	return out
}

// encodePQRef is encodePQ in float over the dequantised rows and codewords.
func encodePQRef(rows []int8, scales []float32, n, d int, books []float32) []uint8 {
	sub := d / PQM
	out := make([]uint8, n*PQM)
	x := make([]float32, d)
	for r := range n {
		dequantize(x, rows[r*d:(r+1)*d], scales[r])
		for s := range PQM {
			out[r*PQM+s] = uint8(nearest(x[s*sub:(s+1)*sub], books[s*pqK*sub:(s+1)*pqK*sub], sub))
		}
	}
	return out
}
