package train

import (
	"math"
	"testing"
)

// requireClose fails if any |got - want| > atol + rtol |want|, printing the
// first values and the largest difference.
func requireClose[W, G float](t testing.TB, name string, want []W, got []G, atol, rtol float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > atol+rtol*math.Abs(float64(want[i])) || math.IsNaN(d) {
			if d > worst || at < 0 || math.IsNaN(d) {
				worst, at = d, i
			}
		}
	}
	if at >= 0 {
		n := min(5, len(want))
		t.Fatalf("%s: max diff %.3g at %d (got %v, want %v); first values got %v want %v",
			name, worst, at, got[at], want[at], got[:n], want[:n])
	}
}

// maxDiff returns max |a - b|.
func maxDiff[A, B float](a []A, b []B) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// checkGrad compares the analytic gradient grad of loss with respect to x
// against central differences, in float64: |analytic - numeric| must stay
// below 1e-6 (1 + |numeric|).
func checkGrad(t testing.TB, name string, x, grad []float64, loss func() float64) {
	t.Helper()
	const h = 1e-6
	worst := 0.0
	for i := range x {
		v := x[i]
		x[i] = v + h
		lp := loss()
		x[i] = v - h
		lm := loss()
		x[i] = v
		num := (lp - lm) / (2 * h)
		d := math.Abs(num-grad[i]) / (1 + math.Abs(num))
		if d > 1e-6 {
			t.Fatalf("%s[%d]: analytic %.9g, numeric %.9g", name, i, grad[i], num)
		}
		worst = math.Max(worst, d)
	}
	t.Logf("%s: %d entries, max relative difference %.2g", name, len(x), worst)
}
