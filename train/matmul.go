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
	mrMax = 12  // most rows of a micro-kernel tile
	nr    = 16  // columns of a micro-kernel tile
	kc    = 256 // depth of a block
	nc    = 512 // columns of a block of B
)

// microKernel is one implementation of the micro-kernel: rows (at most
// mrMax) by nr tiles of C, as kernelGo defines them.
type microKernel struct {
	name string
	rows int
	fn   func(kb int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool)
}

// kern is the micro-kernel gemm uses: the fastest one the CPU runs
// (setKernel), kernelGo by default.
var kern = microKernel{"go", 6, kernelGo}

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
			i := 0
			for ; i+4 <= N; i += 4 { // four rows per pass over db
				d0 := dout[i*OC+lo : i*OC+hi]
				d1 := dout[(i+1)*OC+lo : (i+1)*OC+hi][:len(d0)]
				d2 := dout[(i+2)*OC+lo : (i+2)*OC+hi][:len(d0)]
				d3 := dout[(i+3)*OC+lo : (i+3)*OC+hi][:len(d0)]
				db := db[:len(d0)]
				for j, v := range d0 {
					db[j] += (v + d1[j]) + (d2[j] + d3[j])
				}
			}
			for ; i < N; i++ {
				for j, v := range dout[i*OC+lo : i*OC+hi] {
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
	g := &gemmJob{c: c, ldc: ldc, a: a, ars: ars, acs: acs, b: b, brs: brs, bcs: bcs, M: M, N: N, K: K, accumulate: accumulate}
	if !g.start() {
		return
	}
	for g.next() {
		g.runParallel()
	}
	g.finish()
}

// gemmSerial is gemm on the calling goroutine, for products that are
// already one of many running in parallel (attention's, per head). It
// allocates nothing.
func gemmSerial(c []float32, ldc int, a []float32, ars, acs int, b []float32, brs, bcs int, M, N, K int, accumulate bool) {
	g := gemmJob{c: c, ldc: ldc, a: a, ars: ars, acs: acs, b: b, brs: brs, bcs: bcs, M: M, N: N, K: K, accumulate: accumulate}
	if !g.start() {
		return
	}
	for g.next() {
		if !g.directB {
			g.pack(0, g.panels)
		}
		g.tiles(0, g.ntiles)
	}
	g.finish()
}

// gemmJob is one gemm call: its operands, and the block being computed.
type gemmJob struct {
	c          []float32
	ldc        int
	a          []float32
	ars, acs   int
	b          []float32
	brs, bcs   int
	M, N, K    int
	accumulate bool

	k       microKernel
	directB bool       // B's rows are read in place
	bpBuf   *[]float32 // packed panels of a transposed B
	ntiles  int        // row tiles
	pc, kb  int        // depth block [pc, pc+kb)
	jc, nb  int        // column block [jc, jc+nb)
	panels  int        // column panels in the block
	acc     bool       // add to c (a later depth block, or accumulate)
}

// start prepares the job and reports whether there is a product to
// compute (K = 0 only clears c).
func (g *gemmJob) start() bool {
	if g.M == 0 || g.N == 0 {
		return false
	}
	if g.K == 0 {
		if !g.accumulate {
			for i := 0; i < g.M; i++ {
				clear(g.c[i*g.ldc : i*g.ldc+g.N])
			}
		}
		return false
	}
	// A is read in place (any strides); so is B when its rows are
	// contiguous. A transposed B is packed into panels of nr columns once
	// per block, and ragged edges go through zero-padded copies.
	g.k = kern
	g.directB = g.bcs == 1
	if !g.directB {
		g.bpBuf = getBuf(kc * (nc + nr))
	}
	g.ntiles = (g.M + g.k.rows - 1) / g.k.rows
	g.pc, g.kb, g.jc, g.nb = 0, 0, 0, 0
	return true
}

// next moves to the next (depth, column) block, reporting false after the
// last.
func (g *gemmJob) next() bool {
	if g.kb == 0 { // the first block
		g.kb = min(kc, g.K)
	} else if g.jc += nc; g.jc >= g.N {
		g.jc = 0
		if g.pc += kc; g.pc >= g.K {
			return false
		}
		g.kb = min(kc, g.K-g.pc)
	}
	g.acc = g.accumulate || g.pc > 0
	g.nb = min(nc, g.N-g.jc)
	g.panels = (g.nb + nr - 1) / nr
	return true
}

// finish returns the job's buffer.
func (g *gemmJob) finish() {
	if g.bpBuf != nil {
		putBuf(g.bpBuf)
		g.bpBuf = nil
	}
}

// runParallel splits the current block over the threads.
func (g *gemmJob) runParallel() {
	if !g.directB {
		parallelFor(g.panels, g.kb*nr, g.pack)
	}
	parallelFor(g.ntiles, 2*g.kb*g.nb*g.k.rows, g.tiles)
}

// pack packs panels [lo, hi) of the current block of a transposed B.
func (g *gemmJob) pack(lo, hi int) {
	for p := lo; p < hi; p++ {
		j0 := g.jc + p*nr
		packB((*g.bpBuf)[p*g.kb*nr:(p+1)*g.kb*nr], g.b, g.brs, g.bcs, g.pc, g.kb, j0, min(nr, g.N-j0))
	}
}

// tiles computes row tiles [lo, hi) of the current block.
func (g *gemmJob) tiles(lo, hi int) {
	k, mr, kb := g.k, g.k.rows, g.kb
	a, b, c, ldc := g.a, g.b, g.c, g.ldc
	edgeBuf := getBuf(kc*(mrMax+nr) + mrMax*nr)
	defer putBuf(edgeBuf)
	ap, ep := (*edgeBuf)[:kb*mr], (*edgeBuf)[kc*mrMax:kc*mrMax+kb*nr]
	tile := (*edgeBuf)[kc*(mrMax+nr):]
	for t := lo; t < hi; t++ {
		i0 := t * mr
		rows := min(mr, g.M-i0)
		at, tars, tacs := a[i0*g.ars+g.pc*g.acs:], g.ars, g.acs
		if rows < mr {
			packA(ap, mr, a, g.ars, g.acs, i0, rows, g.pc, kb)
			at, tars, tacs = ap, 1, mr
		}
		for p := 0; p < g.panels; p++ {
			j0 := g.jc + p*nr
			cols := min(nr, g.N-j0)
			var bt []float32
			ldb := nr
			switch {
			case !g.directB:
				bt = (*g.bpBuf)[p*kb*nr : (p+1)*kb*nr]
			case cols == nr:
				bt, ldb = b[g.pc*g.brs+j0:], g.brs
			default:
				packB(ep, b, g.brs, g.bcs, g.pc, kb, j0, cols)
				bt = ep
			}
			if rows == mr && cols == nr {
				k.fn(kb, at, tars, tacs, bt, ldb, c[i0*ldc+j0:], ldc, g.acc)
				continue
			}
			k.fn(kb, at, tars, tacs, bt, ldb, tile, nr, false)
			for r := 0; r < rows; r++ {
				dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
				src := tile[r*nr : r*nr+cols]
				if g.acc {
					for j, v := range src {
						dst[j] += v
					}
				} else {
					copy(dst, src)
				}
			}
		}
	}
}

// packA copies rows [i0, i0+rows) and depths [k0, k0+kb) of a into ap
// (kb, mr), depth-major, zero-filling rows past the end.
func packA(ap []float32, mr int, a []float32, ars, acs, i0, rows, k0, kb int) {
	if rows < mr {
		clear(ap[:kb*mr])
	}
	if ars == 1 { // a transposed: the tile's rows are side by side
		if rows == mr {
			for k := 0; k < kb; k++ {
				src := a[i0+(k0+k)*acs : i0+(k0+k)*acs+mr]
				dst := ap[k*mr : k*mr+mr]
				for r := range mr { // a loop, not copy: no memmove call per few floats
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

// kernelGo is the portable micro-kernel, one (6, nr) tile of C:
//
//	c[r*ldc+j] (+)= sum over k < kb of a[r*ars+k*acs] * b[k*ldb+j]
//
// adding to c if acc, overwriting it otherwise. A may be row-major (ars =
// row stride, acs = 1), transposed (ars = 1) or a packed tile (1, rows);
// B is row-major with row stride ldb (nr for a packed panel). The assembly
// kernels compute exactly this, kernelAVX512 for 12 rows.
func kernelGo(kb int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	const mr = 6
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

// bufs is a free list of scratch buffers shared by gemm calls and
// goroutines. Unlike a sync.Pool it is not emptied by the GC: the few
// buffers the kernels need live as long as the program.
var bufs struct {
	sync.Mutex
	free []*[]float32
}

func getBuf(n int) *[]float32 {
	bufs.Lock()
	var p *[]float32
	if k := len(bufs.free); k > 0 {
		p = bufs.free[k-1]
		bufs.free = bufs.free[:k-1]
	}
	bufs.Unlock()
	if p == nil {
		p = new([]float32)
	}
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func putBuf(p *[]float32) {
	bufs.Lock()
	bufs.free = append(bufs.free, p)
	bufs.Unlock()
}
