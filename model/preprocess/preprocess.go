// Package preprocess is CLIP's image preprocessing (clip.clip._transform):
// Resize(n, BICUBIC) of the shorter side, CenterCrop(n), convert("RGB"),
// ToTensor and Normalize, reproducing torchvision 0.14 on Pillow 9.4 bit for
// bit: the resampler is a port of Pillow's fixed-point antialiased bicubic
// (src/libImaging/Resample.c).
//
// Alpha: like Pillow's Image.resize, an image with transparency is
// premultiplied before resampling and un-premultiplied after it, with
// Pillow's integer rounding; the colour is then kept and the alpha dropped,
// as convert("RGB") does. *image.NRGBA is taken as straight alpha (Pillow's
// RGBA; canvas ImageData is this kind), *image.RGBA as already premultiplied
// (Go's convention, Pillow's RGBa). Opaque images skip all of this.
//
// Palette images (*image.Paletted, from PNG or GIF) are resized with
// Pillow's nearest-neighbour scaling, as Image.resize does for mode P.
//
// Known differences from PIL.Image.open, outside the fixtures: JPEG decoding
// (Go's decoder and libjpeg round differently), 1-bit grayscale PNGs (Pillow
// mode "1" resizes by nearest neighbour, Go gives *image.Gray), 16-bit
// grayscale (Pillow mode I; here the high byte) and tRNS colour keys on
// RGB/gray PNGs (Pillow ignores them, Go turns them into alpha).
package preprocess

import (
	"errors"
	"fmt"
	"image"
)

// Mean and Std are CLIP's per-channel normalisation constants (RGB), as
// float32 like torchvision's Normalize holds them.
var (
	Mean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	Std  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// MaxSize is the largest output size n accepted (the n x n result is
// allocated whole).
const MaxSize = 1 << 13

// maxSide bounds the input sides and the resized long side: Pillow keeps
// image boxes in float32, exact only up to 1<<24.
const maxSide = 1 << 24

// resizedSize is torchvision's _compute_resized_output_size for an int
// size: the shorter side becomes n, the longer int(n * long / short).
func resizedSize(w, h, n int) (rw, rh int) {
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	// Python: int * int is exact, / rounds once, int() truncates.
	nl := int(float64(n*long) / float64(short))
	if w <= h {
		return n, nl
	}
	return nl, n
}

// cropOffset is torchvision's center_crop offset int(round((size - n) / 2))
// with Python's round half to even.
func cropOffset(size, n int) int {
	d := size - n
	o := d / 2
	if d%2 == 1 && o%2 == 1 {
		o++
	}
	return o
}

// ResizeCrop resizes img so its shorter side is n with PIL's antialiased
// bicubic filter and center-crops n x n, returning an opaque *image.RGBA
// with bounds (0, 0, n, n). It fails on an empty image and on n outside
// [1, MaxSize].
func ResizeCrop(img image.Image, n int) (*image.RGBA, error) {
	if img == nil {
		return nil, errors.New("preprocess: nil image")
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("preprocess: empty image (%dx%d)", w, h)
	}
	if n <= 0 || n > MaxSize {
		return nil, fmt.Errorf("preprocess: output size %d out of range [1, %d]", n, MaxSize)
	}
	if w > maxSide || h > maxSide {
		return nil, fmt.Errorf("preprocess: image %dx%d too large (max side %d)", w, h, maxSide)
	}
	rw, rh := resizedSize(w, h, n)
	if rw > maxSide || rh > maxSide {
		return nil, fmt.Errorf("preprocess: image %dx%d resized to %dx%d: aspect ratio too extreme (max side %d)", w, h, rw, rh, maxSide)
	}
	left, top := cropOffset(rw, n), cropOffset(rh, n)
	out := image.NewRGBA(image.Rect(0, 0, n, n))
	if p, ok := img.(*image.Paletted); ok {
		nearestCrop(out.Pix, p, rw, rh, left, top, n)
		return out, nil
	}
	resizeCrop(out.Pix, toSource(img), rw, rh, left, top, n)
	return out, nil
}

// resizeCrop writes the n x n crop at (left, top) of src resized to rw x rh
// into dst, following Pillow's ImagingResampleInner: horizontal pass if the
// width changes, then vertical pass if the height changes, each rounding to
// 8 bits; Image.resize copies the image when neither does.
func resizeCrop(dst []uint8, src source, rw, rh, left, top, n int) {
	needH, needV := rw != src.w, rh != src.h
	if src.alpha == straight && (needH || needV) {
		src = src.premultiply()
	}
	nc := 3
	if src.alpha != opaque {
		nc = 4
	}

	// Rows of src the vertical pass reads.
	var cv coeffs
	y0, y1 := top, top+n
	if needV {
		cv = precomputeCoeffs(src.h, rh, top, n)
		y0, y1 = cv.span()
	}

	// in holds rows y0..y1-1 of the horizontally resampled image, already
	// cut to the n crop columns.
	var in view
	if needH {
		ch := precomputeCoeffs(src.w, rw, left, n)
		tmp := make([]uint8, (y1-y0)*n*4)
		resampleHorizontal(tmp, view{src.pix[y0*src.stride:], src.stride}, y1-y0, &ch, nc)
		in = view{tmp, n * 4}
	} else {
		in = view{src.pix[y0*src.stride+left*4:], src.stride}
	}

	if needV {
		resampleVertical(dst, in, y0, n, &cv, nc)
	} else {
		for y := 0; y < n; y++ {
			copy(dst[y*n*4:(y+1)*n*4], in.pix[y*in.stride:][:n*4])
		}
	}

	switch src.alpha {
	case premultiplied:
		unpremultiply(dst)
	case straight:
		// Not resized: Image.resize returned a copy; convert("RGB") drops alpha.
		for i := 3; i < len(dst); i += 4 {
			dst[i] = 255
		}
	}
}

// nearestCrop is Pillow's resize of a P image (always NEAREST): _resize sets
// up the affine a = (w/rw, 0, 0, 0, h/rh, 0) and ImagingScaleAffine samples
// at pixel centres, stepping its float position by repeated addition; the
// indices then go through the palette as convert("RGB") does.
func nearestCrop(dst []uint8, p *image.Paletted, rw, rh, left, top, n int) {
	b := p.Rect
	w, h := b.Dx(), b.Dy()
	pal := paletteRGB(p.Palette)
	xin := make([]int, n)
	yin := make([]int, n)
	if rw == w && rh == h {
		for i := range n {
			xin[i], yin[i] = left+i, top+i
		}
	} else {
		tab := func(t []int, in, out, first int) {
			a := float64(float32(in)-float32(0)) / float64(out)
			o := float64(float32(0)) + a*0.5
			for x := 0; x < first+len(t); x++ {
				if x >= first {
					t[x-first] = scaleCoord(o, in)
				}
				o += a
			}
		}
		tab(xin, w, rw, left)
		tab(yin, h, rh, top)
	}
	for y := range n {
		out := dst[y*n*4 : (y+1)*n*4]
		var row []uint8
		if yin[y] >= 0 {
			row = p.Pix[p.PixOffset(b.Min.X, b.Min.Y+yin[y]):][:w]
		}
		for x := range n {
			idx := uint8(0) // Pillow's fill: index 0 outside the source
			if row != nil && xin[x] >= 0 {
				idx = row[xin[x]]
			}
			c := pal[idx]
			out[x*4], out[x*4+1], out[x*4+2], out[x*4+3] = c[0], c[1], c[2], 255
		}
	}
}

// scaleCoord is Pillow's COORD plus ImagingScaleAffine's range check: -1
// when the source position is outside [0, size).
func scaleCoord(v float64, size int) int {
	if v < 0 {
		return -1
	}
	i := int(v)
	if i >= size {
		return -1
	}
	return i
}

// Normalize writes the (3, h, w) CHW float32 model input for img (in
// practice n x n, from ResizeCrop) into the first 3*w*h elements of dst, as
// ToTensor+Normalize compute it in float32: (v/255 - mean)/std. Alpha is
// ignored (convert("RGB")). It panics if dst is too short.
func Normalize(dst []float32, img *image.RGBA) {
	b := img.Rect
	w, h := b.Dx(), b.Dy()
	plane := w * h
	if len(dst) < 3*plane {
		panic(fmt.Sprintf("preprocess: Normalize: dst has %d elements, need %d", len(dst), 3*plane))
	}
	lut := normLUT()
	r, g, bl := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][:w*4]
		o := y * w
		for x := 0; x < w; x++ {
			q := row[x*4 : x*4+3]
			r[o+x] = lut[0][q[0]]
			g[o+x] = lut[1][q[1]]
			bl[o+x] = lut[2][q[2]]
		}
	}
}

// NormalizeHWC does what Normalize does from raw interleaved uint8 pixels
// with channels (3 or 4, RGB first) per pixel, width w and height h: video
// frames already at the model resolution (CLIP4Clip fixture frames, canvas
// ImageData). It panics on a bad channel count or short slices.
func NormalizeHWC(dst []float32, pix []uint8, w, h, channels int) {
	if channels != 3 && channels != 4 {
		panic(fmt.Sprintf("preprocess: NormalizeHWC: %d channels, want 3 or 4", channels))
	}
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("preprocess: NormalizeHWC: negative size %dx%d", w, h))
	}
	plane := w * h
	if len(pix) < plane*channels {
		panic(fmt.Sprintf("preprocess: NormalizeHWC: pix has %d bytes, need %d", len(pix), plane*channels))
	}
	if len(dst) < 3*plane {
		panic(fmt.Sprintf("preprocess: NormalizeHWC: dst has %d elements, need %d", len(dst), 3*plane))
	}
	lut := normLUT()
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for i := 0; i < plane; i++ {
		q := pix[i*channels : i*channels+3]
		r[i] = lut[0][q[0]]
		g[i] = lut[1][q[1]]
		b[i] = lut[2][q[2]]
	}
}

// normLUT tabulates (v/255 - Mean[c]) / Std[c] for every byte, in float32
// and in torchvision's order (ToTensor's div, then Normalize's sub_ and
// div_), so the table holds exactly what torch computes. It is rebuilt per
// call so that changes to Mean and Std take effect.
func normLUT() *[3][256]float32 {
	var t [3][256]float32
	for c := range 3 {
		m, s := Mean[c], Std[c]
		for v := range 256 {
			t[c][v] = (float32(v)/255 - m) / s
		}
	}
	return &t
}

// Image runs the whole transform, ResizeCrop then Normalize, returning a
// new (3, n, n) slice.
func Image(img image.Image, n int) ([]float32, error) {
	m, err := ResizeCrop(img, n)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, 3*n*n)
	Normalize(dst, m)
	return dst, nil
}
