package quant

import "math"

// Outlier channels. A trained CLIP's residual stream has a few channels
// 50-100x larger than the rest, and LayerNorm keeps them so in the input of
// every block's Linears. The int8 kernels quantize x per row (token), so
// those channels set the step and the others round to a level or two: the
// features lose their direction. As LLM.int8() does (Dettmers et al.,
// arXiv:2208.07339, section 3.2), Linear finds such input columns at run
// time, multiplies them in float32 against the dequantized weights
// (w[r][c] = I8*scale) and leaves the other columns, with these zeroed, to
// the int8 kernels. The file format does not change, and the split sits
// around every kernel path (amd64 AVX2, AVX-VNNI, AVX-512; wasm SIMD).
//
// The rule (outlierColumns): column c is an outlier if in some row i
// |x[i][c]| > outlierRatio * mean_c' |x[i][c']|; at most maxOutliers of
// them, those with the largest such ratio. Rows with no element above the
// ratio cost one pass over x (rowAbsStats), the only price when x has no
// outliers. The split product equals the float64 reference product x @ w^T (LinearRef, in the tests) up to float32
// rounding on the outlier columns and the usual activation rounding on the
// others, now with a step set by the others' max.
const (
	// outlierRatio: a Gaussian row of 768 or 3072 values peaks at about 4-5x
	// its mean |x|, QuickGELU's output at about 13x; trained CLIPs' outlier
	// channels after LayerNorm sit at 30-100x.
	outlierRatio = 16
	// maxOutliers bounds the float32 work: (n, Rows) x maxOutliers.
	maxOutliers = 8
)

// quantizesX, set by a platform file, reports whether Linear's kernels
// quantize x for an int8 m (the Go kernel does not: it multiplies float32
// x by the dequantized weights, which needs no split).
var quantizesX func(m *Matrix) bool

// rowAbsStatsKernel, set by a platform file (kernels_amd64.go), is
// rowAbsStats with SIMD; false leaves it to Go.
var rowAbsStatsKernel func(sum, amax, x []float32, n, k int) bool

// rowAbsStats sets sum[i] and amax[i] to the sum and max of |x[i][:]| over
// the rows of x (n, k).
func rowAbsStats(sum, amax, x []float32, n, k int) {
	if rowAbsStatsKernel != nil && rowAbsStatsKernel(sum, amax, x, n, k) {
		return
	}
	for i := 0; i < n; i++ {
		sum[i], amax[i] = absStats(x[i*k : (i+1)*k])
	}
}

// absStats returns the sum and the max of |x|: four partial sums, and the
// max on the bit patterns (|x| as uint32 orders as the float does).
func absStats(x []float32) (sum, amax float32) {
	var s0, s1, s2, s3 float32
	var m0, m1, m2, m3 uint32
	k := 0
	for ; k+4 <= len(x); k += 4 {
		a0 := math.Float32bits(x[k]) &^ (1 << 31)
		a1 := math.Float32bits(x[k+1]) &^ (1 << 31)
		a2 := math.Float32bits(x[k+2]) &^ (1 << 31)
		a3 := math.Float32bits(x[k+3]) &^ (1 << 31)
		s0 += math.Float32frombits(a0)
		s1 += math.Float32frombits(a1)
		s2 += math.Float32frombits(a2)
		s3 += math.Float32frombits(a3)
		m0, m1, m2, m3 = max(m0, a0), max(m1, a1), max(m2, a2), max(m3, a3)
	}
	for ; k < len(x); k++ {
		a := math.Float32bits(x[k]) &^ (1 << 31)
		s0 += math.Float32frombits(a)
		m0 = max(m0, a)
	}
	return (s0 + s1) + (s2 + s3), math.Float32frombits(max(max(m0, m1), max(m2, m3)))
}

// outlierColumns writes to cols, in increasing order, the outlier columns
// of x (n, k) by the rule above, given each row's sum and max of |x|
// (rowAbsStats), and returns how many there are. score (k floats, all
// zero) is scratch, left zero.
func outlierColumns(cols *[maxOutliers]int, score, x []float32, n, k int, sum, amax []float32) int {
	any := false
	for i := 0; i < n; i++ {
		if amax[i]*float32(k) > outlierRatio*sum[i] {
			any = true
			// Each column's largest |x| / mean |x| over the rows.
			inv := float32(k) / sum[i]
			thr := outlierRatio * sum[i] / float32(k)
			for c, v := range x[i*k : (i+1)*k] {
				if a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31)); a > thr {
					score[c] = max(score[c], a*inv)
				}
			}
		}
	}
	if !any {
		return 0
	}
	// The maxOutliers best by score, kept sorted by score (ties: lower
	// column first), then put in column order.
	var best [maxOutliers]float32
	cnt := 0
	for c, s := range score {
		if s == 0 {
			continue
		}
		score[c] = 0
		switch {
		case cnt < maxOutliers:
			best[cnt], cols[cnt] = s, c
			cnt++
		case s > best[cnt-1]:
			best[cnt-1], cols[cnt-1] = s, c
		default:
			continue
		}
		for p := cnt - 1; p > 0 && best[p] > best[p-1]; p-- {
			best[p], best[p-1], cols[p], cols[p-1] = best[p-1], best[p], cols[p-1], cols[p]
		}
	}
	sortInts(cols[:cnt])
	return cnt
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// splitOutliers looks for outlier columns in c.x; if it finds some, it
// points c.x at a copy with them zeroed (for the int8 kernels) and gathers
// them, zero-padded to maxOutliers, into c.xo (n, maxOutliers) and their
// dequantized weights into c.wo (Rows, maxOutliers).
func (c *linearCall) splitOutliers() {
	m, n, k := c.m, c.n, c.m.Cols
	c.rsum, c.ramax = grow(c.rsum, n), grow(c.ramax, n)
	rowAbsStats(c.rsum, c.ramax, c.x, n, k)
	any := false
	for i := 0; i < n; i++ {
		any = any || c.ramax[i]*float32(k) > outlierRatio*c.rsum[i]
	}
	if !any {
		return
	}
	if len(c.score) < k {
		c.score = make([]float32, k)
	}
	c.nout = outlierColumns(&c.outCols, c.score[:k], c.x, n, k, c.rsum, c.ramax)
	if c.nout == 0 {
		return
	}
	const p = maxOutliers
	cols := c.outCols[:c.nout]
	c.xz, c.xo, c.wo = grow(c.xz, n*k), grow(c.xo, n*p), grow(c.wo, m.Rows*p)
	c.otmp = grow(c.otmp, n*m.Rows)
	copy(c.xz, c.x[:n*k])
	clear(c.xo)
	for i := 0; i < n; i++ {
		for t, col := range cols {
			c.xo[i*p+t] = c.xz[i*k+col]
			c.xz[i*k+col] = 0
		}
	}
	nb := (k + m.Block - 1) / m.Block
	clear(c.wo)
	for r := 0; r < m.Rows; r++ {
		for t, col := range cols {
			c.wo[r*p+t] = float32(m.I8[r*k+col]) * m.Scales[r*nb+col/m.Block]
		}
	}
	c.x = c.xz
}

// addOutliers adds the outlier columns' product to output columns [lo, hi)
// of c.dst: xo @ wo[lo:hi]^T through MatMulT (the platform's float32
// kernel) into c.otmp, then Add.
func (c *linearCall) addOutliers(lo, hi int) {
	const p = maxOutliers
	out := c.m.Rows
	MatMulT(c.otmp[lo:], out, c.xo, p, c.wo[lo*p:], p, c.n, hi-lo, p)
	for i := 0; i < c.n; i++ {
		Add(c.dst[i*out+lo:i*out+hi], c.otmp[i*out+lo:i*out+hi])
	}
}

// grow returns s resized to n, reallocated only if its capacity is short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
