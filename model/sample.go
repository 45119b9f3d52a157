package model

// UniformIndices returns k indices spread evenly over [0, n), the first
// and the last included (0 alone for k = 1), as CLIP4Clip's dataloader
// takes max_frames of a longer clip (np.linspace(0, n-1, k), truncated).
// It needs 1 <= k <= n.
func UniformIndices(n, k int) []int {
	idx := make([]int, k)
	if k == 1 {
		return idx
	}
	for i := range idx {
		idx[i] = int(float64(i) * float64(n-1) / float64(k-1))
	}
	return idx
}

// SampleUniform keeps n of xs at UniformIndices, or all of xs when it has
// at most n (or n <= 0).
func SampleUniform[T any](xs []T, n int) []T {
	if n <= 0 || len(xs) <= n {
		return xs
	}
	out := make([]T, n)
	for i, j := range UniformIndices(len(xs), n) {
		out[i] = xs[j]
	}
	return out
}
