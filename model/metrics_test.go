package model

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestComputeMetricsKnownRanks(t *testing.T) {
	// Row i's match (the diagonal) is placed at a chosen rank: 0, 2, 1, 5,
	// 10, 0 in a 12x12 matrix whose other scores are distinct.
	n := 12
	want := []int{0, 2, 1, 5, 10, 0, 0, 3, 11, 0, 4, 1}
	sim := make([]float32, n*n)
	for i := 0; i < n; i++ {
		// Others score 100 - k for k = 0..n-2 in some column order; the
		// match gets a score between ranks.
		k := 0
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			sim[i*n+j] = float32(100 - k)
			k++
		}
		sim[i*n+i] = float32(100-want[i]) + 0.5
	}
	m, err := ComputeMetrics(sim, n)
	require.NoError(t, err)
	require.Equal(t, want, m.Ranks)
	// ranks < 1: 4 of 12; < 5: 9; < 10: 10
	require.InDelta(t, 100*4.0/12, m.R1, 1e-9)
	require.InDelta(t, 100*9.0/12, m.R5, 1e-9)
	require.InDelta(t, 100*10.0/12, m.R10, 1e-9)
	// sorted ranks 0 0 0 0 1 1 | 2 3 4 5 10 11: median (1+2)/2 + 1
	require.InDelta(t, 2.5, m.MedianR, 1e-9)
	require.InDelta(t, float64(0+2+1+5+10+0+0+3+11+0+4+1)/12+1, m.MeanR, 1e-9)
}

// TestComputeMetricsTies: as compute_metrics in CLIP4Clip, a match tied
// with other scores yields one rank per tied position.
func TestComputeMetricsTies(t *testing.T) {
	sim := []float32{
		1, 1, 0, // row 0: match ties with column 1 for the top: ranks 0 and 1
		0, 2, 1, // row 1: match alone on top: rank 0
		3, 3, 3, // row 2: three-way tie: ranks 0, 1, 2
	}
	m, err := ComputeMetrics(sim, 3)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 0, 0, 1, 2}, m.Ranks)
	require.InDelta(t, 100*3.0/6, m.R1, 1e-9)
	require.InDelta(t, 100.0, m.R5, 1e-9)
	require.InDelta(t, 1.5, m.MedianR, 1e-9) // sorted 0 0 0 1 1 2 -> (0+1)/2 + 1
	require.InDelta(t, 4.0/6+1, m.MeanR, 1e-9)
}

func TestComputeMetricsErrors(t *testing.T) {
	_, err := ComputeMetrics(make([]float32, 6), 3)
	require.ErrorContains(t, err, "square")
	_, err = ComputeMetrics([]float32{float32(math.NaN())}, 1)
	require.ErrorContains(t, err, "NaN")
}

func TestSymmetricLoss(t *testing.T) {
	// Uniform logits: each cross-entropy is log(n).
	loss, t2v, v2t, err := SymmetricLoss(make([]float32, 16), 4)
	require.NoError(t, err)
	require.InDelta(t, math.Log(4), loss, 1e-12)
	require.InDelta(t, math.Log(4), t2v, 1e-12)
	require.InDelta(t, math.Log(4), v2t, 1e-12)
	// Rows and columns differ: a 2x2 example computed by hand.
	s := []float32{2, 0, 1, 3}
	_, t2v, v2t, err = SymmetricLoss(s, 2)
	require.NoError(t, err)
	lse := func(a, b float64) float64 { return math.Log(math.Exp(a) + math.Exp(b)) }
	require.InDelta(t, ((lse(2, 0)-2)+(lse(1, 3)-3))/2, t2v, 1e-12)
	require.InDelta(t, ((lse(2, 1)-2)+(lse(0, 3)-3))/2, v2t, 1e-12)
	_, _, _, err = SymmetricLoss(s, 3)
	require.ErrorContains(t, err, "square")
}
