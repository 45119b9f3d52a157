package train

import "sync"

// The training-time matrix products. Every product of the model is one of
//
//	forward   out  (N, OC) = inp (N, C) @ W (OC, C)^T + b
//	backward  dinp (N, C)  = dout (N, OC) @ W
//	          dW   (OC, C) += dout^T @ inp
//
// and all three go through gemm, a blocked product (GotoBLAS's layout: a
// tile of mr rows of A against a panel of nr columns of B, kc deep, in one
// micro-kernel call) split over the threads by row tiles. The kernel reads
// A in place with any strides, so dout^T needs no copy, and B in place
// when its rows are contiguous; only a transposed B (the forward's W^T) is
// packed into panels. The micro-kernel is AVX2/FMA assembly on amd64 CPUs
// that have it and kernelGo elsewhere (js/wasm included).
// matmulForwardRef and matmulBackwardRef in the tests are the plain loops
// these must match.

const (
	mr = 6   // rows of a micro-kernel tile
	nr = 16  // columns of a micro-kernel tile
	kc = 256 // depth of a block
	nc = 512 // columns of a block of B
)

// matmulForward computes out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias
// (OC, or nil): nn.Linear.
func matmulForward(out, inp, weight, bias []float32, N, C, OC int) {
	if bias == nil {
		gemm(out, OC, inp, C, 1, weight, 1, C, N, OC, C, false)
		return
	}
	parallelFor(N, OC, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(out[i*OC:(i+1)*OC], bias[:OC])
		}
	})
	gemm(out, OC, inp, C, 1, weight, 1, C, N, OC, C, true)
}

// matmulBackward computes the gradients of matmulForward: dinp (N, C) =
// dout (N, OC) @ weight, overwriting dinp (skipped if nil); dweight
// (OC, C) += dout^T @ inp; dbias (OC) += the column sums of dout (skipped
// if nil).
func matmulBackward(dinp, dweight, dbias, dout, inp, weight []float32, N, C, OC int) {
	if dinp != nil {
		gemm(dinp, C, dout, OC, 1, weight, C, 1, N, C, OC, false)
	}
	gemm(dweight, C, dout, 1, OC, inp, C, 1, OC, C, N, true)
	if dbias != nil {
		parallelFor(OC, N, func(lo, hi int) {
			db := dbias[lo:hi]
			for i := 0; i < N; i++ {
				d := dout[i*OC+lo : i*OC+hi]
				for j, v := range d {
					db[j] += v
				}
			}
		})
	}
}

// gemm computes c (M, N) = a (M, K) @ b (K, N), or adds the product to c if
// accumulate. c is row-major with row stride ldc; a's element (i, k) is
// a[i*ars+k*acs] and b's element (k, j) is b[k*brs+j*bcs], so either may
// be read transposed in place. It splits the rows over the threads.
func gemm(c []float32, ldc int, a []float32, ars, acs int, b []float32, brs, bcs int, M, N, K int, accumulate bool) {
	gemmOn(parallelFor, c, ldc, a, ars, acs, b, brs, bcs, M, N, K, accumulate)
}

// gemmSerial is gemm on the calling goroutine, for products that are
// already one of many running in parallel (attention's, per head).
func gemmSerial(c []float32, ldc int, a []float32, ars, acs int, b []float32, brs, bcs int, M, N, K int, accumulate bool) {
	gemmOn(serialFor, c, ldc, a, ars, acs, b, brs, bcs, M, N, K, accumulate)
}

func serialFor(n, _ int, fn func(lo, hi int)) {
	if n > 0 {
		fn(0, n)
	}
}

func gemmOn(pfor func(n, cost int, fn func(lo, hi int)), c []float32, ldc int, a []float32, ars, acs int, b []float32, brs, bcs int, M, N, K int, accumulate bool) {
	if M == 0 || N == 0 {
		return
	}
	if K == 0 {
		if !accumulate {
			for i := 0; i < M; i++ {
				clear(c[i*ldc : i*ldc+N])
			}
		}
		return
	}
	// A is read in place (any strides); so is B when its rows are
	// contiguous. A transposed B is packed into panels of nr columns once
	// per block, and ragged edges go through zero-padded copies.
	directB := bcs == 1
	var bp []float32
	if !directB {
		bpBuf := getBuf(kc * (nc + nr))
		defer putBuf(bpBuf)
		bp = *bpBuf
	}
	tiles := (M + mr - 1) / mr
	for pc := 0; pc < K; pc += kc {
		kb := min(kc, K-pc)
		acc := accumulate || pc > 0
		for jc := 0; jc < N; jc += nc {
			nb := min(nc, N-jc)
			panels := (nb + nr - 1) / nr
			if !directB {
				pfor(panels, kb*nr, func(lo, hi int) {
					for p := lo; p < hi; p++ {
						packB(bp[p*kb*nr:(p+1)*kb*nr], b, brs, bcs, pc, kb, jc+p*nr, min(nr, N-jc-p*nr))
					}
				})
			}
			pfor(tiles, 2*kb*nb*mr, func(lo, hi int) {
				edgeBuf := getBuf(kc * (mr + nr))
				defer putBuf(edgeBuf)
				ap, ep := (*edgeBuf)[:kb*mr], (*edgeBuf)[kc*mr:kc*mr+kb*nr]
				var tile [mr * nr]float32
				for t := lo; t < hi; t++ {
					i0 := t * mr
					rows := min(mr, M-i0)
					at, tars, tacs := a[i0*ars+pc*acs:], ars, acs
					if rows < mr {
						packA(ap, a, ars, acs, i0, rows, pc, kb)
						at, tars, tacs = ap, 1, mr
					}
					for p := 0; p < panels; p++ {
						j0 := jc + p*nr
						cols := min(nr, N-j0)
						var bt []float32
						ldb := nr
						switch {
						case !directB:
							bt = bp[p*kb*nr : (p+1)*kb*nr]
						case cols == nr:
							bt, ldb = b[pc*brs+j0:], brs
						default:
							packB(ep, b, brs, bcs, pc, kb, j0, cols)
							bt = ep
						}
						if rows == mr && cols == nr {
							kernel(kb, at, tars, tacs, bt, ldb, c[i0*ldc+j0:], ldc, acc)
							continue
						}
						kernel(kb, at, tars, tacs, bt, ldb, tile[:], nr, false)
						for r := 0; r < rows; r++ {
							dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
							src := tile[r*nr : r*nr+cols]
							if acc {
								for j, v := range src {
									dst[j] += v
								}
							} else {
								copy(dst, src)
							}
						}
					}
				}
			})
		}
	}
}

// packA copies rows [i0, i0+rows) and depths [k0, k0+kb) of a into ap
// (kb, mr), depth-major, zero-filling rows past the end.
func packA(ap, a []float32, ars, acs, i0, rows, k0, kb int) {
	if rows < mr {
		clear(ap[:kb*mr])
	}
	if ars == 1 { // a transposed: the tile's rows are side by side
		if rows == mr {
			for k := 0; k < kb; k++ {
				src := a[i0+(k0+k)*acs : i0+(k0+k)*acs+mr]
				dst := ap[k*mr : k*mr+mr]
				for r := range mr { // a loop, not copy: no memmove call per 6 floats
					dst[r] = src[r]
				}
			}
			return
		}
		for k := 0; k < kb; k++ {
			base := i0 + (k0+k)*acs
			copy(ap[k*mr:k*mr+rows], a[base:base+rows])
		}
		return
	}
	for r := 0; r < rows; r++ {
		base := (i0+r)*ars + k0*acs
		if acs == 1 {
			for k, v := range a[base : base+kb] {
				ap[k*mr+r] = v
			}
			continue
		}
		for k := 0; k < kb; k++ {
			ap[k*mr+r] = a[base+k*acs]
		}
	}
}

// packB copies depths [k0, k0+kb) and columns [j0, j0+cols) of b into bp
// (kb, nr), zero-filling columns past the end.
func packB(bp, b []float32, brs, bcs, k0, kb, j0, cols int) {
	if cols < nr {
		clear(bp[:kb*nr])
	}
	if bcs == 1 {
		for k := 0; k < kb; k++ {
			base := (k0+k)*brs + j0
			src, dst := b[base:base+cols], bp[k*nr:k*nr+cols]
			for j := range src { // a loop, not copy: no memmove call per 16 floats
				dst[j] = src[j]
			}
		}
		return
	}
	for j := 0; j < cols; j++ {
		base := k0*brs + (j0+j)*bcs
		if brs == 1 {
			for k, v := range b[base : base+kb] {
				bp[k*nr+j] = v
			}
			continue
		}
		for k := 0; k < kb; k++ {
			bp[k*nr+j] = b[base+k*brs]
		}
	}
}

// kernelGo is the portable micro-kernel, one (mr, nr) tile of C:
//
//	c[r*ldc+j] (+)= sum over k < kb of a[r*ars+k*acs] * b[k*ldb+j]
//
// adding to c if acc, overwriting it otherwise. A may be row-major (ars =
// row stride, acs = 1), transposed (ars = 1) or a packed tile (1, mr); B
// is row-major with row stride ldb (nr for a packed panel). kernelAVX2
// computes exactly this.
func kernelGo(kb int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	var sum [mr][nr]float32
	for k := 0; k < kb; k++ {
		bk := (*[nr]float32)(b[k*ldb : k*ldb+nr])
		for r := 0; r < mr; r++ {
			av := a[r*ars+k*acs]
			row := &sum[r]
			for j := range row {
				row[j] += av * bk[j]
			}
		}
	}
	for r := range sum {
		dst := (*[nr]float32)(c[r*ldc : r*ldc+nr])
		for j, v := range sum[r] {
			if acc {
				dst[j] += v
			} else {
				dst[j] = v
			}
		}
	}
}

// bufPool recycles packing buffers across gemm calls and goroutines.
var bufPool = sync.Pool{New: func() any { return new([]float32) }}

func getBuf(n int) *[]float32 {
	p := bufPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func putBuf(p *[]float32) { bufPool.Put(p) }
