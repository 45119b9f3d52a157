package train

import (
	"math"
	"unsafe"
)

// The layer ops, llm.c style: each op is a forward and a backward function
// over flat row-major buffers whose shapes are in the comments (N rows of
// C channels; S sequences of T tokens). Backward functions ADD into the
// parameter gradients and, unless stated otherwise, into dinp as well, so
// a buffer that receives two contributions (a residual stream) needs no
// extra pass. They are generic so that the tests can run them in float64
// against central finite differences; training instantiates them with
// float32.

// float is the element type of the ops.
type float interface{ ~float32 | ~float64 }

// layernormForward normalises each row of inp (N, C) into out (N, C) with
// weight and bias (C), keeping each row's mean and 1/std (N) for the
// backward pass: nn.LayerNorm with a biased variance, eps 1e-5 in CLIP's
// blocks and 1e-12 in CLIP4Clip's transformerClip (until_module.LayerNorm).
// Moments are accumulated in float64; out may alias inp.
func layernormForward[F float](out, mean, rstd, inp, weight, bias []F, N, C int, eps float64) {
	parallelFor(N, 8*C, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := inp[i*C : (i+1)*C]
			var m float64
			for _, v := range x {
				m += float64(v)
			}
			m /= float64(C)
			var v2 float64
			for _, v := range x {
				d := float64(v) - m
				v2 += d * d
			}
			v2 /= float64(C)
			s := 1 / math.Sqrt(v2+eps)
			mf, sf := F(m), F(s)
			o := out[i*C : (i+1)*C]
			for k, v := range x {
				o[k] = (v-mf)*sf*weight[k] + bias[k]
			}
			mean[i], rstd[i] = mf, sf
		}
	})
}

// layernormBackward adds the gradients of layernormForward: dinp (N, C)
// from dout (N, C), and dweight, dbias (C). With n = (x - mean) * rstd:
// dx = rstd * (dn - mean(dn) - n * mean(dn * n)), dn = dout * weight.
func layernormBackward[F float](dinp, dweight, dbias, dout, inp, weight, mean, rstd []F, N, C int) {
	parallelFor(N, 10*C, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x, dy, dx := inp[i*C:(i+1)*C], dout[i*C:(i+1)*C], dinp[i*C:(i+1)*C]
			m, s := mean[i], rstd[i]
			var dnMean, dnNormMean F
			for k, v := range x {
				n := (v - m) * s
				dn := weight[k] * dy[k]
				dnMean += dn
				dnNormMean += dn * n
			}
			dnMean /= F(C)
			dnNormMean /= F(C)
			for k, v := range x {
				n := (v - m) * s
				dn := weight[k] * dy[k]
				dx[k] += s * (dn - dnMean - n*dnNormMean)
			}
		}
	})
	// Parameter gradients by columns, so that no two goroutines share an
	// element and the sums come out the same for every thread count.
	parallelFor(C, 4*N, func(lo, hi int) {
		dw, db := dweight[lo:hi], dbias[lo:hi]
		for i := 0; i < N; i++ {
			x, dy := inp[i*C+lo:i*C+hi], dout[i*C+lo:i*C+hi]
			x = x[:len(dy)]
			dw, db = dw[:len(dy)], db[:len(dy)]
			m, s := mean[i], rstd[i]
			for k, d := range dy {
				dw[k] += (x[k] - m) * s * d
				db[k] += d
			}
		}
	})
}

// embedForward writes the rows ids (N) of the table wte (V, C) into out
// (N, C): nn.Embedding, CLIP's token_embedding.
func embedForward[F float](out, wte []F, ids []int, N, C int) {
	for i := 0; i < N; i++ {
		copy(out[i*C:(i+1)*C], wte[ids[i]*C:(ids[i]+1)*C])
	}
}

// embedBackward adds each row of dout (N, C) into the row ids[i] of dwte.
func embedBackward[F float](dwte, dout []F, ids []int, N, C int) {
	for i := 0; i < N; i++ {
		dw, d := dwte[ids[i]*C:(ids[i]+1)*C], dout[i*C:(i+1)*C]
		for k, v := range d {
			dw[k] += v
		}
	}
}

// posForward writes out (S, T, C) = inp + pos (T, C) broadcast over the
// sequences: positional embeddings. out may alias inp.
func posForward[F float](out, inp, pos []F, S, T, C int) {
	for s := 0; s < S; s++ {
		o, x := out[s*T*C:(s+1)*T*C], inp[s*T*C:(s+1)*T*C]
		for k, p := range pos[:T*C] {
			o[k] = x[k] + p
		}
	}
}

// posBackward adds the sum over sequences of dout (S, T, C) into dpos (T, C).
func posBackward[F float](dpos, dout []F, S, T, C int) {
	parallelFor(T, S*C, func(lo, hi int) {
		for s := 0; s < S; s++ {
			d := dout[(s*T+lo)*C : (s*T+hi)*C]
			for k, v := range d {
				dpos[lo*C+k] += v
			}
		}
	})
}

// quickGELUForward writes x * sigmoid(1.702 x) of inp into out (n): CLIP's
// QuickGELU. float32 runs 8 at a time on AVX2 where the CPU has it.
func quickGELUForward[F float](out, inp []F) {
	out = out[:len(inp)]
	parallelFor(len(inp)/8+1, 16*8, func(lo, hi int) {
		lo, hi = lo*8, min(hi*8, len(inp))
		if lo < hi {
			if o, ok := as32(out[lo:hi]); ok {
				x, _ := as32(inp[lo:hi])
				lo += geluForward32(o, x)
			}
		}
		for i := lo; i < hi; i++ {
			x := inp[i]
			out[i] = x / (1 + exp(-1.702*x))
		}
	})
}

// quickGELUBackwardInPlace turns d (n), the gradient of QuickGELU's output,
// into the gradient of its input inp (n):
// d *= s (1 + 1.702 x (1 - s)), s = sigmoid(1.702 x).
func quickGELUBackwardInPlace[F float](d, inp []F) {
	d = d[:len(inp)]
	parallelFor(len(inp)/8+1, 20*8, func(lo, hi int) {
		lo, hi = lo*8, min(hi*8, len(inp))
		if lo < hi {
			if g, ok := as32(d[lo:hi]); ok {
				x, _ := as32(inp[lo:hi])
				lo += geluBackward32(g, x)
			}
		}
		for i := lo; i < hi; i++ {
			x := inp[i]
			s := 1 / (1 + exp(-1.702*x))
			d[i] *= s * (1 + 1.702*x*(1-s))
		}
	})
}

// as32 returns x as a []float32 when F is float32, without copying or
// allocating, so that generic ops can hand float32 data to the kernels.
func as32[F float](x []F) ([]float32, bool) {
	if len(x) == 0 {
		return nil, false
	}
	if p, ok := any(&x[0]).(*float32); ok {
		return unsafe.Slice(p, len(x)), true
	}
	return nil, false
}

// attentionForward is the core of nn.MultiheadAttention for S sequences of
// T tokens: qkv (S, T, 3C) holds the in-projection's output (q, k, v side
// by side, head h at columns h*d..(h+1)*d of each, d = C/NH), out (S, T, C)
// receives softmax(q k^T / sqrt(d) + mask) v per head, and att (S, NH, T, T)
// keeps the probabilities for the backward pass. causal masks keys after
// the query (CLIP's text mask); keyMask (S, T), if not nil, is added to
// every query's scores per key (CLIP4Clip's (1 - mask) * -1e6).
func attentionForward[F float](out, att, qkv, keyMask []F, S, T, C, NH int, causal bool) {
	d := C / NH
	scale := F(1 / math.Sqrt(float64(d)))
	parallelFor(S*NH, 4*T*T*d, func(lo, hi int) {
		for sh := lo; sh < hi; sh++ {
			s, h := sh/NH, sh%NH
			base := s * T * 3 * C
			q, k, v := qkv[base+h*d:], qkv[base+C+h*d:], qkv[base+2*C+h*d:]
			p := att[sh*T*T : (sh+1)*T*T]
			// p = q k^T, then the scaled, masked softmax of each row.
			matmulNT(p, T, q, 3*C, k, 3*C, T, T, d)
			for i := 0; i < T; i++ {
				row := p[i*T : (i+1)*T]
				keys := T
				if causal {
					keys = i + 1
				}
				m := F(math.Inf(-1))
				for j := 0; j < keys; j++ {
					x := row[j] * scale
					if keyMask != nil {
						x += keyMask[s*T+j]
					}
					row[j] = x
					m = max(m, x)
				}
				var sum F
				for j := 0; j < keys; j++ {
					e := exp(row[j] - m)
					row[j] = e
					sum += e
				}
				inv := 1 / sum
				for j := 0; j < keys; j++ {
					row[j] *= inv
				}
				clear(row[keys:])
			}
			// out = p v
			matmulNN(out[s*T*C+h*d:], C, p, T, v, 3*C, T, d, T)
		}
	})
}

// attentionBackward writes (not adds) the gradient of attentionForward's
// input into dqkv (S, T, 3C), from dout (S, T, C), qkv and the saved
// probabilities att (S, NH, T, T). dp (S, NH, T, T) is scratch.
func attentionBackward[F float](dqkv, dp, dout, qkv, att []F, S, T, C, NH int, causal bool) {
	d := C / NH
	scale := F(1 / math.Sqrt(float64(d)))
	parallelFor(S*NH, 10*T*T*d, func(lo, hi int) {
		for sh := lo; sh < hi; sh++ {
			s, h := sh/NH, sh%NH
			base := s * T * 3 * C
			q, k, v := qkv[base+h*d:], qkv[base+C+h*d:], qkv[base+2*C+h*d:]
			dq, dk, dv := dqkv[base+h*d:], dqkv[base+C+h*d:], dqkv[base+2*C+h*d:]
			dy := dout[s*T*C+h*d:]
			p, g := att[sh*T*T:(sh+1)*T*T], dp[sh*T*T:(sh+1)*T*T]
			// Through out = p v: dp = dy v^T, dv = p^T dy.
			matmulNT(g, T, dy, C, v, 3*C, T, T, d)
			matmulTN(dv, 3*C, p, T, dy, C, T, d, T)
			// Through the softmax and the scale: ds = p (dp - sum_j p dp) / sqrt(d).
			for i := 0; i < T; i++ {
				pr, gr := p[i*T:(i+1)*T], g[i*T:(i+1)*T]
				keys := T
				if causal {
					keys = i + 1
				}
				var dot F
				for j := 0; j < keys; j++ {
					dot += pr[j] * gr[j]
				}
				for j := 0; j < keys; j++ {
					gr[j] = pr[j] * (gr[j] - dot) * scale
				}
				clear(gr[keys:])
			}
			// Through s = q k^T: dq = ds k, dk = ds^T q.
			matmulNN(dq, 3*C, g, T, k, 3*C, T, d, T)
			matmulTN(dk, 3*C, g, T, q, 3*C, T, d, T)
		}
	})
}

// matmulNT writes c (M, N) = a (M, K) @ b (N, K)^T for row-major a, b, c
// with row strides lda, ldb, ldc, on the calling goroutine.
func matmulNT[F float](c []F, ldc int, a []F, lda int, b []F, ldb int, M, N, K int) {
	if c32, ok := as32(c); ok {
		a32, _ := as32(a)
		b32, _ := as32(b)
		gemmSerial(c32, ldc, a32, lda, 1, b32, 1, ldb, M, N, K, false)
		return
	}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s F
			for t := 0; t < K; t++ {
				s += a[i*lda+t] * b[j*ldb+t]
			}
			c[i*ldc+j] = s
		}
	}
}

// matmulNN writes c (M, N) = a (M, K) @ b (K, N).
func matmulNN[F float](c []F, ldc int, a []F, lda int, b []F, ldb int, M, N, K int) {
	if c32, ok := as32(c); ok {
		a32, _ := as32(a)
		b32, _ := as32(b)
		gemmSerial(c32, ldc, a32, lda, 1, b32, ldb, 1, M, N, K, false)
		return
	}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s F
			for t := 0; t < K; t++ {
				s += a[i*lda+t] * b[t*ldb+j]
			}
			c[i*ldc+j] = s
		}
	}
}

// matmulTN writes c (M, N) = a (K, M)^T @ b (K, N).
func matmulTN[F float](c []F, ldc int, a []F, lda int, b []F, ldb int, M, N, K int) {
	if c32, ok := as32(c); ok {
		a32, _ := as32(a)
		b32, _ := as32(b)
		gemmSerial(c32, ldc, a32, 1, lda, b32, ldb, 1, M, N, K, false)
		return
	}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s F
			for t := 0; t < K; t++ {
				s += a[t*lda+i] * b[t*ldb+j]
			}
			c[i*ldc+j] = s
		}
	}
}

// l2normForward writes x / ||x|| of each row of inp (N, C) into out and
// the row's norm into norm (N), as torch's x / x.norm(dim=-1, keepdim=True)
// (no epsilon: a zero row is left zero).
func l2normForward[F float](out, norm, inp []F, N, C int) {
	for i := 0; i < N; i++ {
		x, o := inp[i*C:(i+1)*C], out[i*C:(i+1)*C]
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		n := math.Sqrt(s)
		norm[i] = F(n)
		if n == 0 {
			clear(o)
			continue
		}
		inv := 1 / n
		for k, v := range x {
			o[k] = F(float64(v) * inv)
		}
	}
}

// l2normBackward adds the gradient of l2normForward into dinp (N, C):
// dx = (dy - y (y . dy)) / ||x||, with out (N, C) and norm (N) from the
// forward pass.
func l2normBackward[F float](dinp, dout, out, norm []F, N, C int) {
	for i := 0; i < N; i++ {
		if norm[i] == 0 {
			continue
		}
		y, dy, dx := out[i*C:(i+1)*C], dout[i*C:(i+1)*C], dinp[i*C:(i+1)*C]
		var dot float64
		for k, v := range y {
			dot += float64(v) * float64(dy[k])
		}
		inv := 1 / float64(norm[i])
		for k, v := range y {
			dx[k] += F((float64(dy[k]) - float64(v)*dot) * inv)
		}
	}
}

// meanPForward is CLIP4Clip's meanP pooling of the frame features x
// (B, F, C) with mask (B, F): each valid frame is L2-normalised into nrm
// (B, F, C) (its norm into fnorm (B, F); padding slots are left zero), the
// valid ones averaged (sum / count, count 0 taken as 1) into mean (B, C),
// which is L2-normalised into out (B, C) with its norm in mnorm (B).
func meanPForward[F float](out, mnorm, mean, nrm, fnorm, x []F, mask []bool, B, Fr, C int) {
	clear(nrm[:B*Fr*C])
	clear(fnorm[:B*Fr])
	for b := 0; b < B; b++ {
		m := mean[b*C : (b+1)*C]
		clear(m)
		count := 0
		for f := 0; f < Fr; f++ {
			if !mask[b*Fr+f] {
				continue
			}
			i := b*Fr + f
			l2normForward(nrm[i*C:(i+1)*C], fnorm[i:i+1], x[i*C:(i+1)*C], 1, C)
			for k, v := range nrm[i*C : (i+1)*C] {
				m[k] += v
			}
			count++
		}
		inv := 1 / F(max(count, 1))
		for k := range m {
			m[k] *= inv
		}
	}
	l2normForward(out, mnorm, mean, B, C)
}

// meanPBackward adds the gradient of meanPForward into dx (B, F, C) from
// dout (B, C). dmean (B, C) and dnrm (C) are scratch.
func meanPBackward[F float](dx, dout, out, mnorm, nrm, fnorm, dmean, dnrm []F, mask []bool, B, Fr, C int) {
	clear(dmean[:B*C])
	l2normBackward(dmean, dout, out, mnorm, B, C)
	for b := 0; b < B; b++ {
		count := 0
		for f := 0; f < Fr; f++ {
			if mask[b*Fr+f] {
				count++
			}
		}
		inv := 1 / F(max(count, 1))
		for f := 0; f < Fr; f++ {
			if !mask[b*Fr+f] {
				continue
			}
			i := b*Fr + f
			for k := range dnrm[:C] {
				dnrm[k] = dmean[b*C+k] * inv
			}
			l2normBackward(dx[i*C:(i+1)*C], dnrm[:C], nrm[i*C:(i+1)*C], fnorm[i:i+1], 1, C)
		}
	}
}

// symmetricCEForward is CLIP4Clip's loss over the (B, B) logits, rows
// captions, columns videos, matching pairs on the diagonal:
// (CrossEn(S) + CrossEn(S^T)) / 2 with CrossEn(S) = mean_i -log_softmax(S[i])[i]
// (modules/until_module.py). It keeps the row and column softmaxes in
// prow and pcol (B, B) for the backward pass.
func symmetricCEForward[F float](prow, pcol, logits []F, B int) (loss, textToVideo, videoToText float64) {
	softmax := func(p []F, at func(i, j int) int) float64 {
		var nll float64
		for i := 0; i < B; i++ {
			m := math.Inf(-1)
			for j := 0; j < B; j++ {
				m = math.Max(m, float64(logits[at(i, j)]))
			}
			var z float64
			for j := 0; j < B; j++ {
				z += math.Exp(float64(logits[at(i, j)]) - m)
			}
			lz := math.Log(z)
			for j := 0; j < B; j++ {
				p[at(i, j)] = F(math.Exp(float64(logits[at(i, j)]) - m - lz))
			}
			nll -= float64(logits[at(i, i)]) - m - lz
		}
		return nll / float64(B)
	}
	textToVideo = softmax(prow, func(i, j int) int { return i*B + j })
	videoToText = softmax(pcol, func(i, j int) int { return j*B + i })
	return (textToVideo + videoToText) / 2, textToVideo, videoToText
}

// symmetricCEBackward writes the gradient of the loss into dlogits (B, B):
// (prow - I) / 2B + (pcol - I) / 2B.
func symmetricCEBackward[F float](dlogits, prow, pcol []F, B int) {
	inv := 1 / F(2*B)
	for i := 0; i < B; i++ {
		for j := 0; j < B; j++ {
			g := prow[i*B+j] + pcol[i*B+j]
			if i == j {
				g -= 2
			}
			dlogits[i*B+j] = g * inv
		}
	}
}

// maxLogitScale is ln(100): CLIP clamps exp(logit_scale) at 100.
var maxLogitScale = math.Log(100)

// logitsForward writes logits (B, V) = exp(min(ls, ln 100)) * text (B, C)
// @ video (V, C)^T for unit vectors, and returns the scale.
func logitsForward[F float](logits, text, video []F, B, V, C int, ls F) F {
	scale := F(math.Exp(math.Min(float64(ls), maxLogitScale)))
	for i := 0; i < B; i++ {
		for j := 0; j < V; j++ {
			var s float64
			for k := 0; k < C; k++ {
				s += float64(text[i*C+k]) * float64(video[j*C+k])
			}
			logits[i*V+j] = scale * F(s)
		}
	}
	return scale
}

// logitsBackward adds the gradients of logitsForward into dtext (B, C),
// dvideo (V, C) and returns d loss / d ls (0 while the clamp holds).
func logitsBackward[F float](dtext, dvideo, dlogits, text, video []F, B, V, C int, ls, scale F) F {
	var dscale float64
	for i := 0; i < B; i++ {
		for j := 0; j < V; j++ {
			g := dlogits[i*V+j]
			var cos float64
			for k := 0; k < C; k++ {
				cos += float64(text[i*C+k]) * float64(video[j*C+k])
			}
			dscale += float64(g) * cos
			g *= scale
			for k := 0; k < C; k++ {
				dtext[i*C+k] += g * video[j*C+k]
				dvideo[j*C+k] += g * text[i*C+k]
			}
		}
	}
	if float64(ls) > maxLogitScale {
		return 0
	}
	return F(dscale) * scale
}

// exp is e^x in the precision of F: a fast float32 kernel (expf) for
// float32, math.Exp for float64.
func exp[F float](x F) F {
	if unsafe.Sizeof(x) == 4 {
		return F(expf(float32(x)))
	}
	return F(math.Exp(float64(x)))
}

// expf is e^x in float32 to about 1 ulp (Cephes' expf: x = n ln2 + r,
// |r| <= ln2/2, a degree-6 polynomial for e^r, scaled by 2^n). Below
// -87.3 it returns 0, which is what the -1e6 key masks need.
func expf(x float32) float32 {
	if x > 88.72283 {
		return float32(math.Inf(1))
	}
	if x < -87.33654 {
		return 0
	}
	if x != x {
		return x
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	fn := float32(math.Floor(float64(log2e*x + 0.5)))
	r := x - fn*c1 - fn*c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	n := int32(fn)
	switch {
	case n < -126: // 2^n is subnormal: scale in two steps
		return p * math.Float32frombits(uint32(n+126+127)<<23) * math.Float32frombits(1<<23)
	case n > 127:
		return p * 2 * math.Float32frombits(uint32(n-1+127)<<23)
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}
