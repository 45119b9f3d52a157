package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// outlierColumnsRef is outlierColumns' rule in float64, written plainly:
// the columns where some row's |x| exceeds outlierRatio times its mean |x|,
// the maxOutliers with the largest such ratio, in increasing order.
func outlierColumnsRef(x []float32, n, k int) []int {
	score := map[int]float64{}
	for i := 0; i < n; i++ {
		var s float64
		for _, v := range x[i*k : (i+1)*k] {
			s += math.Abs(float64(v))
		}
		mean := s / float64(k)
		for c, v := range x[i*k : (i+1)*k] {
			if a := math.Abs(float64(v)); a > outlierRatio*mean {
				score[c] = max(score[c], a/mean)
			}
		}
	}
	cols := make([]int, 0, len(score))
	for c := range score {
		cols = append(cols, c)
	}
	sort.Slice(cols, func(a, b int) bool {
		if score[cols[a]] != score[cols[b]] {
			return score[cols[a]] > score[cols[b]]
		}
		return cols[a] < cols[b]
	})
	cols = cols[:min(len(cols), maxOutliers)]
	sort.Ints(cols)
	return cols
}

// withOutlierCols returns Gaussian x (n, k) with the columns cols made
// 50-100x larger in every row (signs mixed, each row jittered), as after a
// trained CLIP's LayerNorm.
func withOutlierCols(r *rand.Rand, n, k int, cols []int) []float32 {
	x := randSlice(r, n*k)
	for t, c := range cols {
		f := float32(50 + 50*r.Float64())
		if t%2 == 1 {
			f = -f
		}
		for i := 0; i < n; i++ {
			x[i*k+c] = f * (1 + 0.1*float32(r.NormFloat64()))
		}
	}
	return x
}

// TestOutlierColumns checks outlierColumns against outlierColumnsRef: the
// injected columns are found, more than maxOutliers keep the largest, and
// Gaussian or QuickGELU-shaped rows (the no-outlier case) have none.
func TestOutlierColumns(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		n, k int
		cols []int
	}{{50, 768, []int{7, 300, 301}}, {1, 768, []int{0}}, {77, 512, []int{511}}, {13, 200, nil},
		{50, 3072, nil}, {5, 129, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, {3, 64, []int{63, 10}}} {
		name := fmt.Sprintf("n%d_k%d_%d", tc.n, tc.k, len(tc.cols))
		x := withOutlierCols(r, tc.n, tc.k, tc.cols)
		if tc.k == 3072 {
			QuickGELU(x) // the input of c_proj: skewed, peaks near 13x its mean
		}
		want := outlierColumnsRef(x, tc.n, tc.k)
		if len(tc.cols) <= maxOutliers {
			require.Equal(t, len(tc.cols), len(want), "%s: the reference finds %v", name, want)
		}
		sum, amax := make([]float32, tc.n), make([]float32, tc.n)
		eachKernel(t, func(t *testing.T) {
			rowAbsStats(sum, amax, x, tc.n, tc.k)
			score := make([]float32, tc.k)
			var cols [maxOutliers]int
			got := cols[:outlierColumns(&cols, score, x, tc.n, tc.k, sum, amax)]
			require.Equal(t, want, append([]int{}, got...), name)
			require.Equal(t, make([]float32, tc.k), score, "%s: score is left dirty", name)
		})
	}
}

// TestLinearOutliersMatchRef runs int8 Linear on x with injected outlier
// columns under every kernel path, at 1 and 3 threads: the outlier columns
// (outlierColumnsRef) must be multiplied exactly and the others as the
// path's int8 reference does (q8) with them zeroed; and the result must be
// within the activation bound of x without them from LinearRef, which
// per-row int8 of the whole x misses by about the outliers' size / 254.
func TestLinearOutliersMatchRef(t *testing.T) {
	defer SetThreads(Threads())
	shapes := [][3]int{{50, 96, 768}, {1, 33, 129}, {7, 64, 200}, {77, 40, 512}, {4, 13, 64}, {9, 130, 67}}
	eachLinearPath(t, func(t *testing.T, q8 func(m *Matrix, dst, x []float32, n int, bias []float32)) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, threads := range []int{1, 3} {
			SetThreads(threads)
			for _, block := range []int{0, 32, 64} {
				for si, sh := range shapes {
					n, rows, cols := sh[0], sh[1], sh[2]
					name := fmt.Sprintf("threads%d/block%d/n%d_%dx%d", threads, block, n, rows, cols)
					m, err := Quantize(rows, cols, randSlice(r, rows*cols), Int8, block)
					require.NoError(t, err)
					// Outliers add to the row's mean |x|, so a narrow row
					// (67 columns) shows fewer of them above outlierRatio.
					inject := []int{cols / 3, cols - 1, 5}[:1+si%3]
					if cols < 128 {
						inject = inject[:1]
					}
					x := withOutlierCols(r, n, cols, inject)
					bias := randSlice(r, rows)
					oc := outlierColumnsRef(x, n, cols)
					require.ElementsMatch(t, inject, oc, name)

					got := make([]float32, n*rows)
					m.Linear(got, x, n, bias)
					exact := make([]float32, n*rows)
					LinearRef(m, exact, x, n, bias)
					if q8 == nil {
						requireClose(t, name, exact, got, 1e-4*math.Sqrt(float64(cols))*100)
						continue
					}
					// The split's reference: q8 on x without the outlier
					// columns, plus their float64 product.
					xz := append([]float32(nil), x...)
					for i := 0; i < n; i++ {
						for _, c := range oc {
							xz[i*cols+c] = 0
						}
					}
					want := make([]float32, n*rows)
					q8(m, want, xz, n, bias)
					w := m.Float32()
					for i := 0; i < n; i++ {
						for j := 0; j < rows; j++ {
							var s float64
							for _, c := range oc {
								s += float64(x[i*cols+c]) * float64(w[j*cols+c])
							}
							want[i*rows+j] += float32(s)
						}
					}
					requireClose(t, name+" vs the split reference", want, got, 2e-5*math.Sqrt(float64(cols))*100)
					requireClose(t, name+" vs LinearRef", exact, got, 1e-4*math.Sqrt(float64(cols))*100+int8ActivationBound(m, xz, n))
				}
			}
		}
	})
}

// TestLinearOutliersNoAllocs: once its buffers have grown, an int8 Linear
// with outlier columns allocates nothing.
func TestLinearOutliersNoAllocs(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(1)
	r := rand.New(rand.NewPCG(25, 26))
	n, rows, cols := 50, 96, 768
	m, err := Quantize(rows, cols, randSlice(r, rows*cols), Int8, 0)
	require.NoError(t, err)
	x := withOutlierCols(r, n, cols, []int{3, 400})
	dst := make([]float32, n*rows)
	m.Linear(dst, x, n, nil)
	require.Zero(t, testing.AllocsPerRun(20, func() { m.Linear(dst, x, n, nil) }))
}

// BenchmarkLinearOutliers is BenchmarkLinear's int8 product with and
// without three outlier columns in x.
func BenchmarkLinearOutliers(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n, rows, cols := 50, 3072, 768
	m, _ := Quantize(rows, cols, randSlice(r, rows*cols), Int8, 0)
	dst := make([]float32, n*rows)
	for _, tc := range []struct {
		name string
		cols []int
	}{{"none", nil}, {"three", []int{7, 300, 700}}} {
		x := withOutlierCols(r, n, cols, tc.cols)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Linear(dst, x, n, nil)
			}
			b.ReportMetric(2*float64(n*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
