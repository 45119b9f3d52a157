package train

import "sync"

// The training-time matrix products. Every product of the model is one of
//
//	forward   out  (N, OC) = inp (N, C) @ W (OC, C)^T + b
//	backward  dinp (N, C)  = dout (N, OC) @ W
//	          dW   (OC, C) += dout^T @ inp
//
// and all three go through gemm, a blocked product over packed panels
// (GotoBLAS's layout: a tile of mr rows of A against a panel of nr columns
// of B, kc deep, in one micro-kernel call) split over the threads by row
// tiles. The micro-kernel is AVX2/FMA assembly on amd64 CPUs that have it
// and kernelGo elsewhere (js/wasm included). matmulForwardRef and
// matmulBackwardRef in the tests are the plain loops these must match.

const (
	mr = 6   // rows of a micro-kernel tile
	nr = 16  // columns of a micro-kernel tile
	kc = 256 // depth of a packed block
	nc = 512 // columns of a packed block of B
)

// matmulForward computes out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias
// (OC, or nil): nn.Linear.
func matmulForward(out, inp, weight, bias []float32, N, C, OC int) {
	if bias == nil {
		gemm(out, OC, inp, C, 1, weight, 1, C, N, OC, C, false)
		return
	}
	for i := 0; i < N; i++ {
		copy(out[i*OC:(i+1)*OC], bias[:OC])
	}
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
	if !accumulate {
		for i := 0; i < M; i++ {
			clear(c[i*ldc : i*ldc+N])
		}
	}
	if M == 0 || N == 0 || K == 0 {
		return
	}
	bpBuf := getBuf(kc * (nc + nr))
	defer putBuf(bpBuf)
	tiles := (M + mr - 1) / mr
	for pc := 0; pc < K; pc += kc {
		kb := min(kc, K-pc)
		for jc := 0; jc < N; jc += nc {
			nb := min(nc, N-jc)
			panels := (nb + nr - 1) / nr
			bp := (*bpBuf)[:panels*kb*nr]
			pfor(panels, kb*nr, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					packB(bp[p*kb*nr:(p+1)*kb*nr], b, brs, bcs, pc, kb, jc+p*nr, min(nr, N-jc-p*nr))
				}
			})
			pfor(tiles, 2*kb*nb*mr, func(lo, hi int) {
				apBuf := getBuf(kc * mr)
				defer putBuf(apBuf)
				ap := (*apBuf)[:kb*mr]
				var tile [mr * nr]float32
				for t := lo; t < hi; t++ {
					i0 := t * mr
					rows := min(mr, M-i0)
					// Whole tiles of a row-major A are read in place;
					// the rest is packed (zero-padded) first.
					direct := rows == mr && acs == 1
					if !direct {
						packA(ap, a, ars, acs, i0, rows, pc, kb)
					}
					for p := 0; p < panels; p++ {
						j0 := jc + p*nr
						cols := min(nr, N-j0)
						bpp := bp[p*kb*nr : (p+1)*kb*nr]
						if rows == mr && cols == nr {
							if direct {
								kernelRows(kb, a[i0*ars+pc:], ars, bpp, c[i0*ldc+j0:], ldc)
							} else {
								kernel(kb, ap, bpp, c[i0*ldc+j0:], ldc)
							}
							continue
						}
						clear(tile[:])
						if direct {
							kernelRows(kb, a[i0*ars+pc:], ars, bpp, tile[:], nr)
						} else {
							kernel(kb, ap, bpp, tile[:], nr)
						}
						for r := 0; r < rows; r++ {
							dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
							for j, v := range tile[r*nr : r*nr+cols] {
								dst[j] += v
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

// kernelGo is the portable micro-kernel: c (mr, nr; row stride ldc) +=
// ap (kb, mr)^T @ bp (kb, nr). The assembly kernels compute exactly this.
func kernelGo(kb int, ap, bp, c []float32, ldc int) {
	var acc [mr][nr]float32
	ap, bp = ap[:kb*mr], bp[:kb*nr]
	for k := 0; k < kb; k++ {
		b := (*[nr]float32)(bp[k*nr : (k+1)*nr])
		for r := 0; r < mr; r++ {
			av := ap[k*mr+r]
			row := &acc[r]
			for j := range row {
				row[j] += av * b[j]
			}
		}
	}
	for r := range acc {
		dst := (*[nr]float32)(c[r*ldc : r*ldc+nr])
		for j, v := range acc[r] {
			dst[j] += v
		}
	}
}

// kernelRowsGo is kernelGo reading A in place: c (mr, nr; row stride ldc)
// += a (mr, kb; row stride lda) @ bp (kb, nr).
func kernelRowsGo(kb int, a []float32, lda int, bp, c []float32, ldc int) {
	var acc [mr][nr]float32
	bp = bp[:kb*nr]
	for r := 0; r < mr; r++ {
		ar := a[r*lda : r*lda+kb]
		row := &acc[r]
		for k, av := range ar {
			b := (*[nr]float32)(bp[k*nr : (k+1)*nr])
			for j := range row {
				row[j] += av * b[j]
			}
		}
	}
	for r := range acc {
		dst := (*[nr]float32)(c[r*ldc : r*ldc+nr])
		for j, v := range acc[r] {
			dst[j] += v
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
