package preprocess

import "math"

// Slow references for the resampler, written for obviousness: whole images,
// one pixel at a time, no crop window, no shared code with the package.

// refImage is an 8-bit image with 4 channels per pixel, pix[y][x][c].
type refImage struct {
	w, h int
	pix  [][][4]int
}

func newRefImage(w, h int) *refImage {
	m := &refImage{w: w, h: h, pix: make([][][4]int, h)}
	for y := range m.pix {
		m.pix[y] = make([][4]int, w)
	}
	return m
}

// refBicubic is Pillow's bicubic_filter, a = -0.5.
func refBicubic(x float64) float64 {
	a := -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		p := (a+2)*x - (a + 3)
		p = p * x * x
		return p + 1
	case x < 2:
		p := (x - 5) * x
		p = p + 8
		p = p * x
		p = p - 4
		return p * a
	}
	return 0
}

// refCoeffs transcribes precompute_coeffs for the whole axis: the first
// input pixel of every output and its normalised float64 weights.
func refCoeffs(inSize, outSize int) (xmin []int, weights [][]float64) {
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := math.Max(scale, 1)
	support := 2 * filterscale
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		lo := int(center - support + 0.5)
		if lo < 0 {
			lo = 0
		}
		hi := int(center + support + 0.5)
		if hi > inSize {
			hi = inSize
		}
		var k []float64
		ww := 0.0
		for x := lo; x < hi; x++ {
			// Pillow multiplies by ss = 1/filterscale rather than dividing.
			v := refBicubic((float64(x) - center + 0.5) * (1 / filterscale))
			k = append(k, v)
			ww += v
		}
		for i := range k {
			if ww != 0 {
				k[i] /= ww
			}
		}
		xmin = append(xmin, lo)
		weights = append(weights, k)
	}
	return xmin, weights
}

// refFixed is normalize_coeffs_8bpc.
func refFixed(k []float64) []int64 {
	out := make([]int64, len(k))
	for i, v := range k {
		if v < 0 {
			out[i] = int64(-0.5 + v*(1<<22))
		} else {
			out[i] = int64(0.5 + v*(1<<22))
		}
	}
	return out
}

func refClip8(ss int64) int {
	v := ss >> 22
	return int(min(max(v, 0), 255))
}

// refResamplePillow is ImagingResampleInner on all 4 channels: a full
// horizontal pass if the width changes, then a full vertical pass if the
// height changes, rounding to 8 bits after each.
func refResamplePillow(in *refImage, rw, rh int) *refImage {
	cur := in
	if rw != cur.w {
		xmin, ws := refCoeffs(cur.w, rw)
		out := newRefImage(rw, cur.h)
		for y := 0; y < cur.h; y++ {
			for xx := 0; xx < rw; xx++ {
				k := refFixed(ws[xx])
				for c := 0; c < 4; c++ {
					ss := int64(1 << 21)
					for i, kv := range k {
						ss += int64(cur.pix[y][xmin[xx]+i][c]) * kv
					}
					out.pix[y][xx][c] = refClip8(ss)
				}
			}
		}
		cur = out
	}
	if rh != cur.h {
		ymin, ws := refCoeffs(cur.h, rh)
		out := newRefImage(cur.w, rh)
		for yy := 0; yy < rh; yy++ {
			k := refFixed(ws[yy])
			for x := 0; x < cur.w; x++ {
				for c := 0; c < 4; c++ {
					ss := int64(1 << 21)
					for i, kv := range k {
						ss += int64(cur.pix[ymin[yy]+i][x][c]) * kv
					}
					out.pix[yy][x][c] = refClip8(ss)
				}
			}
		}
		cur = out
	}
	return cur
}

// refResampleFloat is the same separable filter in float64 without the
// 8-bit rounding, only clamping to [0, 255] between the passes as clip8
// does (that clamp matters where bicubic overshoots on sharp edges).
func refResampleFloat(in *refImage, rw, rh int) [][][3]float64 {
	xmin, wx := refCoeffs(in.w, rw)
	ymin, wy := refCoeffs(in.h, rh)
	tmp := make([][][3]float64, in.h)
	for y := range tmp {
		tmp[y] = make([][3]float64, rw)
		for xx := range tmp[y] {
			for c := 0; c < 3; c++ {
				s := 0.0
				for i, kx := range wx[xx] {
					s += kx * float64(in.pix[y][xmin[xx]+i][c])
				}
				tmp[y][xx][c] = math.Min(math.Max(s, 0), 255)
			}
		}
	}
	out := make([][][3]float64, rh)
	for yy := range out {
		out[yy] = make([][3]float64, rw)
		for x := range out[yy] {
			for c := 0; c < 3; c++ {
				s := 0.0
				for j, ky := range wy[yy] {
					s += ky * tmp[ymin[yy]+j][x][c]
				}
				out[yy][x][c] = s
			}
		}
	}
	return out
}

// refTransform is clip._transform up to the crop on a straight-alpha image:
// Image.resize (through RGBa when there is alpha and the size changes),
// CenterCrop, convert("RGB"). It returns n*n RGB triples.
func refTransform(in *refImage, n int) [][3]int {
	short, long := in.w, in.h
	if in.w > in.h {
		short, long = in.h, in.w
	}
	newLong := int(float64(n*long) / float64(short))
	rw, rh := n, newLong
	if in.w > in.h {
		rw, rh = newLong, n
	}
	hasAlpha := false
	for _, row := range in.pix {
		for _, p := range row {
			hasAlpha = hasAlpha || p[3] != 255
		}
	}
	res := in
	if rw != in.w || rh != in.h {
		src := in
		if hasAlpha {
			src = newRefImage(in.w, in.h)
			for y, row := range in.pix {
				for x, p := range row {
					a := p[3]
					for c := 0; c < 3; c++ {
						t := p[c]*a + 128
						src.pix[y][x][c] = ((t >> 8) + t) >> 8
					}
					src.pix[y][x][3] = a
				}
			}
		}
		res = refResamplePillow(src, rw, rh)
		if hasAlpha {
			for _, row := range res.pix {
				for x, p := range row {
					if a := p[3]; a != 0 && a != 255 {
						for c := 0; c < 3; c++ {
							row[x][c] = min(255*p[c]/a, 255)
						}
					}
				}
			}
		}
	}
	top := int(math.RoundToEven(float64(rh-n) / 2.0))
	left := int(math.RoundToEven(float64(rw-n) / 2.0))
	out := make([][3]int, 0, n*n)
	for y := top; y < top+n; y++ {
		for x := left; x < left+n; x++ {
			p := res.pix[y][x]
			out = append(out, [3]int{p[0], p[1], p[2]})
		}
	}
	return out
}
