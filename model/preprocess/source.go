package preprocess

import (
	"image"
	"image/color"
)

// alphaKind says how a source's fourth byte relates to its colour bytes.
type alphaKind uint8

const (
	opaque        alphaKind = iota // every alpha is 255: plain RGB
	straight                       // non-premultiplied, like Pillow's RGBA
	premultiplied                  // premultiplied, like Pillow's RGBa
)

// source is an image as 4 bytes per pixel (R, G, B, A), the layout Pillow
// keeps RGB and RGBA images in.
type source struct {
	view
	w, h  int
	alpha alphaKind
}

// toSource converts img to 8-bit RGB(A) the way PIL.Image.open would hold
// it. The common decoder outputs are read straight from their pixel slices;
// anything else goes through At.
func toSource(img image.Image) source {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.RGBA:
		// Already premultiplied (Go's convention): Pillow's RGBa.
		s := source{view{m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride}, w, h, opaque}
		if !s.isOpaque() {
			s.alpha = premultiplied
		}
		return s
	case *image.NRGBA:
		s := source{view{m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride}, w, h, opaque}
		if !s.isOpaque() {
			s.alpha = straight
		}
		return s
	}

	s := source{view{make([]uint8, w*h*4), w * 4}, w, h, opaque}
	switch m := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			row := s.pix[y*s.stride : (y+1)*s.stride]
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = r, g, bl, 255
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			in := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			row := s.pix[y*s.stride : (y+1)*s.stride]
			for x, v := range in {
				row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = v, v, v, 255
			}
		}
	case *image.Gray16:
		// High byte, as Pillow's 16-bit unpackers keep for 8-bit modes.
		for y := 0; y < h; y++ {
			in := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w*2]
			row := s.pix[y*s.stride : (y+1)*s.stride]
			for x := 0; x < w; x++ {
				v := in[x*2]
				row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = v, v, v, 255
			}
		}
	case *image.NRGBA64:
		// High bytes (Pillow's RGBA;16B unpacker).
		for y := 0; y < h; y++ {
			in := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w*8]
			row := s.pix[y*s.stride : (y+1)*s.stride]
			for x := 0; x < w; x++ {
				row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = in[x*8], in[x*8+2], in[x*8+4], in[x*8+6]
			}
		}
		if !s.isOpaque() {
			s.alpha = straight
		}
	default:
		for y := 0; y < h; y++ {
			row := s.pix[y*s.stride : (y+1)*s.stride]
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = c.R, c.G, c.B, c.A
			}
		}
		if !s.isOpaque() {
			s.alpha = straight
		}
	}
	return s
}

// isOpaque reports whether every alpha byte is 255.
func (s *source) isOpaque() bool {
	for y := 0; y < s.h; y++ {
		row := s.pix[y*s.stride:][:s.w*4]
		for x := 3; x < len(row); x += 4 {
			if row[x] != 255 {
				return false
			}
		}
	}
	return true
}

// muldiv255 is Pillow's MULDIV255: a*b/255 rounded, in integers.
func muldiv255(a, b uint32) uint8 {
	t := a*b + 128
	return uint8(((t >> 8) + t) >> 8)
}

// premultiply returns a premultiplied copy of a straight-alpha source, as
// Pillow's convert("RGBa") (rgbA2rgba) computes it; Image.resize does this
// to RGBA images before resampling.
func (s *source) premultiply() source {
	out := source{view{make([]uint8, s.w*s.h*4), s.w * 4}, s.w, s.h, premultiplied}
	for y := 0; y < s.h; y++ {
		in := s.pix[y*s.stride:][:s.w*4]
		o := out.pix[y*out.stride:][:s.w*4]
		for x := 0; x < len(in); x += 4 {
			a := uint32(in[x+3])
			o[x] = muldiv255(uint32(in[x]), a)
			o[x+1] = muldiv255(uint32(in[x+1]), a)
			o[x+2] = muldiv255(uint32(in[x+2]), a)
			o[x+3] = in[x+3]
		}
	}
	return out
}

// unpremultiply undoes premultiplication in place as Pillow's
// convert("RGBA") from RGBa (rgba2rgbA) does, then sets alpha to 255 since
// CLIP's convert("RGB") drops it.
func unpremultiply(pix []uint8) {
	for i := 0; i < len(pix); i += 4 {
		p := pix[i : i+4]
		if a := uint32(p[3]); a != 0 && a != 255 {
			for c := 0; c < 3; c++ {
				p[c] = uint8(min(255*uint32(p[c])/a, 255))
			}
		}
		p[3] = 255
	}
}

// paletteRGB is the RGB of each palette index, as Pillow's convert("RGB")
// of a P image reads it (transparency is ignored; missing entries black).
func paletteRGB(p color.Palette) (t [256][3]uint8) {
	for i, c := range p {
		if i == 256 {
			break
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		t[i] = [3]uint8{n.R, n.G, n.B}
	}
	return t
}
