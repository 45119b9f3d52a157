package model

import (
	"fmt"
	"math"
	"sort"
)

// SymmetricLoss is CLIP4Clip's training objective over a square (n, n)
// logits matrix whose diagonal holds the matching pairs (rows captions,
// columns videos): (CrossEn(S) + CrossEn(S^T)) / 2 with
// CrossEn(S) = mean_i -log_softmax(S[i])[i] (modules/until_module.py).
func SymmetricLoss(logits []float32, n int) (loss, textToVideo, videoToText float64, err error) {
	if n <= 0 || len(logits) != n*n {
		return 0, 0, 0, fmt.Errorf("model: the loss needs a square matrix; got %d values for %d pairs", len(logits), n)
	}
	ce := func(at func(i, j int) float64) float64 {
		var sum float64
		for i := 0; i < n; i++ {
			m := math.Inf(-1)
			for j := 0; j < n; j++ {
				m = math.Max(m, at(i, j))
			}
			var z float64
			for j := 0; j < n; j++ {
				z += math.Exp(at(i, j) - m)
			}
			sum += -(at(i, i) - m - math.Log(z))
		}
		return sum / float64(n)
	}
	textToVideo = ce(func(i, j int) float64 { return float64(logits[i*n+j]) })
	videoToText = ce(func(i, j int) float64 { return float64(logits[j*n+i]) })
	return (textToVideo + videoToText) / 2, textToVideo, videoToText, nil
}

// Metrics are CLIP4Clip's retrieval metrics (metrics.py compute_metrics).
type Metrics struct {
	R1, R5, R10 float64 // percentage of ranks below 1, 5, 10
	MedianR     float64 // median rank, 1-based
	MeanR       float64 // mean rank, 1-based
	Ranks       []int   // 0-based ranks, one per query (more under ties, see ComputeMetrics)
}

// ComputeMetrics ranks the diagonal of a square (n, n) similarity matrix
// within its row, exactly as CLIP4Clip's compute_metrics does: each row is
// sorted by descending score and every position whose score equals the
// diagonal's counts as a rank. So a match that ties with k other scores
// contributes k+1 ranks (its best and worse ones), and R@K, MdR and MnR are
// taken over all those ranks. With distinct scores there is one rank per
// row. For video-to-text, pass the transpose (see Transpose).
func ComputeMetrics(sim []float32, n int) (Metrics, error) {
	if n <= 0 || len(sim) != n*n {
		return Metrics{}, fmt.Errorf("model: metrics need a square matrix; got %d values for %d queries", len(sim), n)
	}
	var m Metrics
	row := make([]float32, n)
	for i := 0; i < n; i++ {
		copy(row, sim[i*n:(i+1)*n])
		sort.Slice(row, func(a, b int) bool { return row[a] > row[b] })
		for r, v := range row {
			if v == sim[i*n+i] {
				m.Ranks = append(m.Ranks, r)
			}
		}
	}
	if len(m.Ranks) == 0 {
		return m, fmt.Errorf("model: no rank found: the matrix holds NaN on its diagonal")
	}
	var below1, below5, below10, sum int
	for _, r := range m.Ranks {
		if r < 1 {
			below1++
		}
		if r < 5 {
			below5++
		}
		if r < 10 {
			below10++
		}
		sum += r
	}
	k := float64(len(m.Ranks))
	m.R1, m.R5, m.R10 = 100*float64(below1)/k, 100*float64(below5)/k, 100*float64(below10)/k
	m.MeanR = float64(sum)/k + 1
	sorted := append([]int(nil), m.Ranks...)
	sort.Ints(sorted)
	if h := len(sorted) / 2; len(sorted)%2 == 1 {
		m.MedianR = float64(sorted[h]) + 1
	} else {
		m.MedianR = float64(sorted[h-1]+sorted[h])/2 + 1
	}
	return m, nil
}

// Transpose returns the transpose of a (rows, cols) matrix.
func Transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}
