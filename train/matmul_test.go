package train

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// matmulForwardRef is the plain loop matmulForward must match: out (N, OC)
// = inp (N, C) @ weight (OC, C)^T + bias.
func matmulForwardRef[F float](out, inp, weight, bias []F, N, C, OC int) {
	for i := 0; i < N; i++ {
		for o := 0; o < OC; o++ {
			var s F
			if bias != nil {
				s = bias[o]
			}
			for c := 0; c < C; c++ {
				s += inp[i*C+c] * weight[o*C+c]
			}
			out[i*OC+o] = s
		}
	}
}

// matmulBackwardRef is the plain loop matmulBackward must match.
func matmulBackwardRef[F float](dinp, dweight, dbias, dout, inp, weight []F, N, C, OC int) {
	for i := 0; i < N; i++ {
		for c := 0; c < C && dinp != nil; c++ {
			var s F
			for o := 0; o < OC; o++ {
				s += dout[i*OC+o] * weight[o*C+c]
			}
			dinp[i*C+c] = s
		}
		for o := 0; o < OC; o++ {
			d := dout[i*OC+o]
			for c := 0; c < C; c++ {
				dweight[o*C+c] += d * inp[i*C+c]
			}
			if dbias != nil {
				dbias[o] += d
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

func widen(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestMatmulMatchesRef runs the blocked kernels (the assembly one where the
// CPU has it, and kernelGo) on shapes with ragged edges and compares them
// with the float64 reference loops.
func TestMatmulMatchesRef(t *testing.T) {
	for _, k := range kernels() {
		name := k.name
		for _, sh := range [][3]int{{1, 1, 1}, {7, 5, 3}, {13, 33, 17}, {50, 64, 384}, {6, 300, 16}, {70, 129, 530}, {12, 600, 32}} {
			N, C, OC := sh[0], sh[1], sh[2]
			t.Run(fmt.Sprintf("%s/%dx%dx%d", name, N, C, OC), func(t *testing.T) {
				saved := kern
				kern = k
				defer func() { kern = saved }()
				rng := rand.New(rand.NewPCG(uint64(N), uint64(C*OC)))
				inp, w, b := randSlice(rng, N*C, 1), randSlice(rng, OC*C, 1), randSlice(rng, OC, 1)
				dout := randSlice(rng, N*OC, 1)
				out := make([]float32, N*OC)
				matmulForward(out, inp, w, b, N, C, OC)
				want := make([]float64, N*OC)
				matmulForwardRef(want, widen(inp), widen(w), widen(b), N, C, OC)
				requireClose(t, "out", want, out, 1e-4, 1e-5)

				dinp, dw, db := make([]float32, N*C), randSlice(rng, OC*C, 1), randSlice(rng, OC, 1)
				wdinp, wdw, wdb := make([]float64, N*C), widen(dw), widen(db)
				matmulBackward(dinp, dw, db, dout, inp, w, N, C, OC)
				matmulBackwardRef(wdinp, wdw, wdb, widen(dout), widen(inp), widen(w), N, C, OC)
				requireClose(t, "dinp", wdinp, dinp, 1e-4, 1e-5)
				requireClose(t, "dweight", wdw, dw, 1e-4, 1e-5)
				requireClose(t, "dbias", wdb, db, 1e-4, 1e-5)
			})
		}
	}
}

// TestMatmulGradient checks the reference backward against central
// differences of the reference forward, in float64.
func TestMatmulGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	N, C, OC := 3, 5, 4
	inp, w, b := widen(randSlice(rng, N*C, 1)), widen(randSlice(rng, OC*C, 1)), widen(randSlice(rng, OC, 1))
	r := widen(randSlice(rng, N*OC, 1))
	loss := func() float64 {
		out := make([]float64, N*OC)
		matmulForwardRef(out, inp, w, b, N, C, OC)
		return dot64(out, r)
	}
	dinp, dw, db := make([]float64, N*C), make([]float64, OC*C), make([]float64, OC)
	matmulBackwardRef(dinp, dw, db, r, inp, w, N, C, OC)
	checkGrad(t, "inp", inp, dinp, loss)
	checkGrad(t, "weight", w, dw, loss)
	checkGrad(t, "bias", b, db, loss)
}

func BenchmarkMatmul(b *testing.B) {
	// The small config's vision c_fc: 256 frames x 65 tokens, 128 -> 512.
	N, C, OC := 256*65, 128, 512
	rng := rand.New(rand.NewPCG(1, 2))
	inp, w, bias := randSlice(rng, N*C, 1), randSlice(rng, OC*C, 1), randSlice(rng, OC, 1)
	out, dout := make([]float32, N*OC), randSlice(rng, N*OC, 1)
	dinp, dw, db := make([]float32, N*C), make([]float32, OC*C), make([]float32, OC)
	flops := float64(2 * N * C * OC)
	for _, k := range kernels() {
		saved := kern
		kern = k
		b.Run(k.name+"/forward", func(b *testing.B) {
			for b.Loop() {
				matmulForward(out, inp, w, bias, N, C, OC)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(k.name+"/backward", func(b *testing.B) {
			for b.Loop() {
				matmulBackward(dinp, dw, db, dout, inp, w, N, C, OC)
			}
			b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		kern = saved
	}
}
