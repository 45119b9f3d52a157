package model

import (
	"slices"
	"testing"
)

// TestSampleUniform against np.linspace(0, n-1, k).astype(int).
func TestSampleUniform(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want []int
	}{
		{10, 1, []int{0}}, {10, 2, []int{0, 9}}, {10, 4, []int{0, 3, 6, 9}}, {12, 5, []int{0, 2, 5, 8, 11}}, {5, 5, []int{0, 1, 2, 3, 4}},
	} {
		if got := UniformIndices(tc.n, tc.k); !slices.Equal(got, tc.want) {
			t.Errorf("UniformIndices(%d, %d) = %v, want %v", tc.n, tc.k, got, tc.want)
		}
		xs := make([]int, tc.n)
		for i := range xs {
			xs[i] = 10 * i
		}
		got := SampleUniform(xs, tc.k)
		for i, j := range tc.want {
			if got[i] != 10*j {
				t.Errorf("SampleUniform(%d of %d)[%d] = %d, want %d", tc.k, tc.n, i, got[i], 10*j)
			}
		}
	}
	if got := SampleUniform([]int{1, 2}, 5); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("fewer than n: %v", got)
	}
	if got := SampleUniform([]int{1, 2}, 0); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("n = 0: %v", got)
	}
}
