package preprocess

import "math"

// This file mirrors Pillow 9.4's src/libImaging/Resample.c (bicubic filter,
// 8 bits per channel) bit for bit. The one liberty taken: only the output
// pixels that survive the centre crop are computed. That is exact because
// Pillow computes every output pixel from its own coefficients alone.
//
// The float64 expressions are written in Pillow's evaluation order, and each
// product that is followed by an addition is wrapped in float64(...): Go may
// otherwise fuse them into an FMA on some architectures, which Pillow's
// x86-64 build does not do.

// precisionBits is Pillow's PRECISION_BITS: 8 bits for the result, 2 for
// overflow from the filter's negative lobes.
const precisionBits = 32 - 8 - 2

// bicubic is Pillow's bicubic_filter with a = -0.5 (support 2).
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64((x-5)*x)+8)*x)-4) * a
	}
	return 0
}

// coeffs holds the fixed-point filter taps of a run of output pixels along
// one axis: output i reads input pixels min[i] .. min[i]+size[i]-1 with
// weights k[i*ksize : i*ksize+size[i]].
type coeffs struct {
	ksize int
	min   []int
	size  []int
	k     []int32
}

// span returns the input range [lo, hi) the outputs read.
func (c *coeffs) span() (lo, hi int) {
	lo, hi = c.min[0], c.min[0]+c.size[0]
	for i := range c.min {
		lo = min(lo, c.min[i])
		hi = max(hi, c.min[i]+c.size[i])
	}
	return lo, hi
}

// precomputeCoeffs mirrors Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc for the box (0, inSize), computing only outputs
// first .. first+count-1 of the outSize-long axis.
func precomputeCoeffs(inSize, outSize, first, count int) coeffs {
	const support0 = 2.0 // BICUBIC.support
	// Pillow's box is float: in1 - in0 is float arithmetic, then double.
	in0 := float64(float32(0))
	scale := float64(float32(inSize)-float32(0)) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1 // no antialias widening when upscaling
	}
	support := support0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1

	c := coeffs{
		ksize: ksize,
		min:   make([]int, count),
		size:  make([]int, count),
		k:     make([]int32, count*ksize),
	}
	w := make([]float64, ksize)
	ss := 1.0 / filterscale
	for i := 0; i < count; i++ {
		xx := first + i
		center := in0 + float64((float64(xx)+0.5)*scale)
		xmin := int(center - support + 0.5) // C truncation toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = bicubic((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		k := c.k[i*ksize : i*ksize+xmax]
		for x := range k {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			// normalize_coeffs_8bpc: round half away from zero, then truncate.
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		c.min[i] = xmin
		c.size[i] = xmax
	}
	return c
}

// clip8 is Pillow's clip8: drop the fraction bits and clamp to 0..255.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// view is a 4-byte-per-pixel image: pixel (x, y) of the view starts at
// pix[y*stride+x*4].
type view struct {
	pix    []uint8
	stride int
}

// resampleHorizontal mirrors ImagingResampleHorizontal_8bpc for rows of src
// into dst (len(c.min) pixels per row, packed). nc is 3 (opaque: the fourth
// byte is set to 255) or 4.
func resampleHorizontal(dst []uint8, src view, rows int, c *coeffs, nc int) {
	const half = int32(1) << (precisionBits - 1)
	outW := len(c.min)
	for y := 0; y < rows; y++ {
		in := src.pix[y*src.stride:]
		out := dst[y*outW*4 : (y+1)*outW*4]
		for xx := 0; xx < outW; xx++ {
			n := c.size[xx]
			k := c.k[xx*c.ksize : xx*c.ksize+n]
			p := in[c.min[xx]*4:]
			p = p[:len(k)*4]
			o := out[xx*4 : xx*4+4]
			ss0, ss1, ss2 := half, half, half
			if nc == 3 {
				for x, kv := range k {
					q := p[x*4 : x*4+3 : x*4+3]
					ss0 += int32(q[0]) * kv
					ss1 += int32(q[1]) * kv
					ss2 += int32(q[2]) * kv
				}
				o[3] = 255
			} else {
				ss3 := half
				for x, kv := range k {
					q := p[x*4 : x*4+4 : x*4+4]
					ss0 += int32(q[0]) * kv
					ss1 += int32(q[1]) * kv
					ss2 += int32(q[2]) * kv
					ss3 += int32(q[3]) * kv
				}
				o[3] = clip8(ss3)
			}
			o[0] = clip8(ss0)
			o[1] = clip8(ss1)
			o[2] = clip8(ss2)
		}
	}
}

// resampleVertical mirrors ImagingResampleVertical_8bpc: output row yy of dst
// (width pixels, packed) sums rows c.min[yy]-base ... of src. It accumulates
// a whole row at a time, tap by tap, which reads src row by row; the integer
// sums are the same as Pillow's per-pixel loop.
func resampleVertical(dst []uint8, src view, base, width int, c *coeffs, nc int) {
	const half = int32(1) << (precisionBits - 1)
	acc := make([]int32, width*4)
	for yy := range c.min {
		for i := range acc {
			acc[i] = half
		}
		n := c.size[yy]
		k := c.k[yy*c.ksize : yy*c.ksize+n]
		for t, kv := range k {
			row := src.pix[(c.min[yy]-base+t)*src.stride:]
			row = row[:width*4]
			a := acc[:len(row)]
			// All four bytes, alpha included: cheaper than skipping it
			// when nc is 3, and its sum is then ignored.
			for i, v := range row {
				a[i] += int32(v) * kv
			}
		}
		out := dst[yy*width*4 : (yy+1)*width*4]
		for i := range out {
			if nc == 3 && i&3 == 3 {
				out[i] = 255
				continue
			}
			out[i] = clip8(acc[i])
		}
	}
}
