package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randF64(rng *rand.Rand, n int, std float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * std
	}
	return v
}

func TestLayernormGradient(t *testing.T) {
	for _, eps := range []float64{1e-5, 1e-12} {
		rng := rand.New(rand.NewPCG(3, 4))
		N, C := 4, 7
		inp, w, b := randF64(rng, N*C, 1), randF64(rng, C, 1), randF64(rng, C, 1)
		r := randF64(rng, N*C, 1)
		out, mean, rstd := make([]float64, N*C), make([]float64, N), make([]float64, N)
		loss := func() float64 {
			layernormForward(out, mean, rstd, inp, w, b, N, C, eps)
			return dot64(out, r)
		}
		loss()
		dinp, dw, db := make([]float64, N*C), make([]float64, C), make([]float64, C)
		layernormBackward(dinp, dw, db, r, inp, w, mean, rstd, N, C)
		checkGrad(t, "inp", inp, dinp, loss)
		checkGrad(t, "weight", w, dw, loss)
		checkGrad(t, "bias", b, db, loss)
	}
}

func TestQuickGELUGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 20
	inp, r := randF64(rng, n, 3), randF64(rng, n, 1)
	out := make([]float64, n)
	loss := func() float64 {
		quickGELUForward(out, inp)
		return dot64(out, r)
	}
	d := append([]float64(nil), r...)
	quickGELUBackwardInPlace(d, inp)
	checkGrad(t, "inp", inp, d, loss)
	// float32 (AVX2 or the fast exp) against float64, over the range
	big := make([]float64, 1001)
	for i := range big {
		big[i] = float64(i-500) * 0.2
	}
	big = append(big, -1e6, 1e6, 0)
	out, out32 := make([]float64, len(big)), make([]float32, len(big))
	quickGELUForward(out, big)
	quickGELUForward(out32, narrow(big))
	requireClose(t, "float32 forward", out, out32, 1e-6, 1e-6)
	d, d32 := make([]float64, len(big)), make([]float32, len(big))
	for i := range d {
		d[i], d32[i] = 1, 1
	}
	quickGELUBackwardInPlace(d, big)
	quickGELUBackwardInPlace(d32, narrow(big))
	requireClose(t, "float32 backward", d, d32, 1e-6, 1e-6)
}

func narrow(x []float64) []float32 {
	if x == nil {
		return nil
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func TestAttentionGradient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		causal bool
		masked bool
	}{{"plain", false, false}, {"causal", true, false}, {"key mask", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			S, T, C, NH := 2, 5, 6, 2
			qkv, r := randF64(rng, S*T*3*C, 1), randF64(rng, S*T*C, 1)
			var km []float64
			if tc.masked {
				km = make([]float64, S*T)
				km[T-1], km[T-2], km[2*T-1] = -1e6, -1e6, -1e6
			}
			out, att := make([]float64, S*T*C), make([]float64, S*NH*T*T)
			loss := func() float64 {
				attentionForward(out, att, qkv, km, S, T, C, NH, tc.causal)
				return dot64(out, r)
			}
			loss()
			d := make([]float64, S*T*3*C)
			attentionBackward(d, make([]float64, S*NH*T*T), r, qkv, att, S, T, C, NH, tc.causal)
			checkGrad(t, "qkv", qkv, d, loss)
			if tc.masked {
				// a masked key's k and v have no effect
				for _, j := range []int{T - 1, 2*T - 1} {
					for c := C; c < 3*C; c++ {
						if d[j*3*C+c] != 0 {
							t.Fatalf("masked key %d has gradient %g at column %d", j, d[j*3*C+c], c)
						}
					}
				}
			}
			// float32 (the gemm kernels) against float64 (plain loops)
			out32, att32 := make([]float32, S*T*C), make([]float32, S*NH*T*T)
			attentionForward(out32, att32, narrow(qkv), narrow(km), S, T, C, NH, tc.causal)
			loss()
			requireClose(t, "float32 out", out, out32, 1e-5, 1e-5)
			d32 := make([]float32, S*T*3*C)
			attentionBackward(d32, make([]float32, S*NH*T*T), narrow(r), narrow(qkv), att32, S, T, C, NH, tc.causal)
			attentionBackward(d, make([]float64, S*NH*T*T), r, qkv, att, S, T, C, NH, tc.causal)
			requireClose(t, "float32 dqkv", d, d32, 1e-5, 1e-5)
		})
	}
}

func TestMeanPGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	B, F, C := 3, 4, 5
	x := randF64(rng, B*F*C, 1)
	mask := []bool{true, true, false, false, true, true, true, true, true, false, false, false}
	r := randF64(rng, B*C, 1)
	out, mnorm, mean := make([]float64, B*C), make([]float64, B), make([]float64, B*C)
	nrm, fnorm := make([]float64, B*F*C), make([]float64, B*F)
	loss := func() float64 {
		meanPForward(out, mnorm, mean, nrm, fnorm, x, mask, B, F, C)
		return dot64(out, r)
	}
	loss()
	for b := 0; b < B; b++ {
		var s float64
		for _, v := range out[b*C : (b+1)*C] {
			s += v * v
		}
		if math.Abs(s-1) > 1e-12 {
			t.Fatalf("video %d: |v|^2 = %g", b, s)
		}
	}
	dx := make([]float64, B*F*C)
	meanPBackward(dx, r, out, mnorm, nrm, fnorm, make([]float64, B*C), make([]float64, C), mask, B, F, C)
	checkGrad(t, "x", x, dx, loss)
}

func TestLogitsAndLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	B, C := 4, 6
	text, video := randF64(rng, B*C, 1), randF64(rng, B*C, 1)
	ls := []float64{2.5}
	tn, vn := make([]float64, B*C), make([]float64, B*C)
	tnorm, vnorm := make([]float64, B), make([]float64, B)
	logits, prow, pcol := make([]float64, B*B), make([]float64, B*B), make([]float64, B*B)
	var scale float64
	loss := func() float64 {
		l2normForward(tn, tnorm, text, B, C)
		l2normForward(vn, vnorm, video, B, C)
		scale = logitsForward(logits, tn, vn, B, B, C, ls[0])
		l, _, _ := symmetricCEForward(prow, pcol, logits, B)
		return l
	}
	l := loss()
	// the same loss as model.SymmetricLoss computes, by hand
	var t2v, v2t float64
	for i := 0; i < B; i++ {
		var zr, zc float64
		for j := 0; j < B; j++ {
			zr += math.Exp(logits[i*B+j])
			zc += math.Exp(logits[j*B+i])
		}
		t2v += math.Log(zr) - logits[i*B+i]
		v2t += math.Log(zc) - logits[i*B+i]
	}
	if want := (t2v + v2t) / (2 * float64(B)); math.Abs(l-want) > 1e-12 {
		t.Fatalf("loss %g, want %g", l, want)
	}
	dlogits := make([]float64, B*B)
	symmetricCEBackward(dlogits, prow, pcol, B)
	dtn, dvn := make([]float64, B*C), make([]float64, B*C)
	dls := logitsBackward(dtn, dvn, dlogits, tn, vn, B, B, C, ls[0], scale)
	dtext, dvideo := make([]float64, B*C), make([]float64, B*C)
	l2normBackward(dtext, dtn, tn, tnorm, B, C)
	l2normBackward(dvideo, dvn, vn, vnorm, B, C)
	checkGrad(t, "text", text, dtext, loss)
	checkGrad(t, "video", video, dvideo, loss)
	checkGrad(t, "logit_scale", ls, []float64{dls}, loss)

	// Clamped at ln(100): exp(ls) is 100 and ls gets no gradient.
	ls[0] = 5
	loss()
	if math.Abs(scale-100) > 1e-9 {
		t.Fatalf("scale %g at logit_scale 5, want 100", scale)
	}
	symmetricCEBackward(dlogits, prow, pcol, B)
	if g := logitsBackward(dtn, dvn, dlogits, tn, vn, B, B, C, ls[0], scale); g != 0 {
		t.Fatalf("clamped logit scale has gradient %g", g)
	}
}

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := -87.0; x < 88.5; x += 0.0137 {
		want := math.Exp(float64(float32(x)))
		got := float64(expf(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("expf relative error %g", worst)
	}
	if expf(-1e6) != 0 || expf(-90) != 0 || !math.IsInf(float64(expf(100)), 1) || expf(0) != 1 {
		t.Fatalf("expf edges: %g %g %g %g", expf(-1e6), expf(-90), expf(100), expf(0))
	}
	t.Logf("max relative error %.2g", worst)
}

func TestEmbeddingGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	S, T, C, V := 2, 3, 4, 5
	wte, pos := randF64(rng, V*C, 1), randF64(rng, T*C, 1)
	ids := []int{4, 1, 1, 0, 3, 4}
	r := randF64(rng, S*T*C, 1)
	out := make([]float64, S*T*C)
	loss := func() float64 {
		embedForward(out, wte, ids, S*T, C)
		posForward(out, out, pos, S, T, C)
		return dot64(out, r)
	}
	dwte, dpos := make([]float64, V*C), make([]float64, T*C)
	embedBackward(dwte, r, ids, S*T, C)
	posBackward(dpos, r, S, T, C)
	checkGrad(t, "token embedding", wte, dwte, loss)
	checkGrad(t, "positional embedding", pos, dpos, loss)
}
