package synth

import (
	"image"
	"math"
)

// Background styles, in the order of Backgrounds.
const (
	bgGray = iota
	bgLight
	bgDark
	bgStriped
	bgCheckered
	bgGradient
	bgNoisy
)

// backgroundImage renders a scene's background as size x size RGB values.
func (s *scene) backgroundImage(size int) []float64 {
	buf := make([]float64, 3*size*size)
	r := newRNG(s.bgSeed)
	orient := r.intn(4)
	var noise [33 * 33]float64
	for i := range noise {
		noise[i] = r.uniform(-1, 1)
	}
	period := r.uniform(0.1, 0.16)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			x, y := (float64(px)+0.5)/float64(size), (float64(py)+0.5)/float64(size)
			v := 0.5
			switch s.background {
			case bgLight:
				v = 0.72
			case bgDark:
				v = 0.3
			case bgStriped:
				u := [4]float64{x, y, (x + y) / math.Sqrt2, (x - y) / math.Sqrt2}[orient]
				v = 0.5 + 0.1*math.Sin(2*math.Pi*u/period)
			case bgCheckered:
				c := math.Sin(math.Pi*x/(period*0.8)) * math.Sin(math.Pi*y/(period*0.8))
				v = 0.5 + 0.09*math.Max(-1, math.Min(1, 4*c))
			case bgGradient:
				u := [4]float64{x, y, 1 - x, 1 - y}[orient]
				v = 0.28 + 0.45*u
			case bgNoisy:
				v = 0.5 + 0.12*valueNoise(&noise, x*32, y*32)
			}
			i := 3 * (py*size + px)
			buf[i], buf[i+1], buf[i+2] = v, v, v
		}
	}
	return buf
}

// valueNoise interpolates a 33x33 grid of values bilinearly at (x, y) in [0, 32].
func valueNoise(g *[33 * 33]float64, x, y float64) float64 {
	x, y = math.Min(x, 31.999), math.Min(y, 31.999)
	ix, iy := int(x), int(y)
	fx, fy := x-float64(ix), y-float64(iy)
	at := func(i, j int) float64 { return g[j*33+i] }
	top := at(ix, iy)*(1-fx) + at(ix+1, iy)*fx
	bot := at(ix, iy+1)*(1-fx) + at(ix+1, iy+1)*fx
	return top*(1-fy) + bot*fy
}

// render draws the scene at time t over a copy of bg (from backgroundImage).
func (s *scene) render(t float64, size int, bg []float64) *image.NRGBA {
	buf := append([]float64(nil), bg...)
	for _, o := range s.objects {
		drawObject(buf, size, o.kind, o.at(t))
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < size*size; i++ {
		for c := 0; c < 3; c++ {
			img.Pix[4*i+c] = uint8(math.Round(255 * math.Max(0, math.Min(1, buf[3*i+c]))))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

// drawObject blends one shape into buf. Edges are anti-aliased from the
// signed distance to the shape: a pixel is covered by 0.5 minus its
// distance in pixels, clamped to [0, 1].
func drawObject(buf []float64, size, kind int, st state) {
	if st.alpha <= 0 || st.r <= 0 {
		return
	}
	S := float64(size)
	reach := bound*st.r*S + 1
	cx, cy := st.x*S, st.y*S
	x0, x1 := max(0, int(math.Floor(cx-reach))), min(size-1, int(math.Ceil(cx+reach)))
	y0, y1 := max(0, int(math.Floor(cy-reach))), min(size-1, int(math.Ceil(cy+reach)))
	sin, cos := math.Sincos(-st.angle)
	scale := st.r * S // pixels per shape unit
	for py := y0; py <= y1; py++ {
		for px := x0; px <= x1; px++ {
			dx, dy := (float64(px)+0.5-cx)/scale, (float64(py)+0.5-cy)/scale
			u, v := dx*cos-dy*sin, dx*sin+dy*cos
			cover := 0.5 - shapeDistance(kind, u, v)*scale
			if cover <= 0 {
				continue
			}
			a := math.Min(1, cover) * st.alpha
			i := 3 * (py*size + px)
			for c := 0; c < 3; c++ {
				buf[i+c] += (st.color[c] - buf[i+c]) * a
			}
		}
	}
}

// Polygons in shape units (radius 1, y down).
var (
	trianglePoly = regular(3, 1.2)
	diamondPoly  = [][2]float64{{0, -1.25}, {0.75, 0}, {0, 1.25}, {-0.75, 0}}
	starPoly     = func() [][2]float64 {
		var p [][2]float64
		for i := 0; i < 10; i++ {
			r := 1.22
			if i%2 == 1 {
				r = 0.52
			}
			a := -math.Pi/2 + float64(i)*math.Pi/5
			p = append(p, [2]float64{r * math.Cos(a), r * math.Sin(a)})
		}
		return p
	}()
)

// regular is a regular polygon with a vertex pointing up.
func regular(n int, r float64) [][2]float64 {
	var p [][2]float64
	for i := 0; i < n; i++ {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		p = append(p, [2]float64{r * math.Cos(a), r * math.Sin(a)})
	}
	return p
}

// shapeDistance is the signed distance from (u, v) to a shape of radius 1
// (negative inside).
func shapeDistance(kind int, u, v float64) float64 {
	switch kind {
	case square:
		return boxDistance(u, v, 0.88, 0.88)
	case circle:
		return math.Hypot(u, v) - 1
	case triangle:
		return polyDistance(trianglePoly, u, v)
	case star:
		return polyDistance(starPoly, u, v)
	case cross:
		return math.Min(boxDistance(u, v, 1.05, 0.34), boxDistance(u, v, 0.34, 1.05))
	case ring:
		return math.Abs(math.Hypot(u, v)-0.78) - 0.24
	case diamond:
		return polyDistance(diamondPoly, u, v)
	}
	return 1
}

func boxDistance(u, v, bu, bv float64) float64 {
	du, dv := math.Abs(u)-bu, math.Abs(v)-bv
	return math.Hypot(math.Max(du, 0), math.Max(dv, 0)) + math.Min(math.Max(du, dv), 0)
}

// polyDistance is the signed distance to a simple polygon (Inigo Quilez's
// sdPolygon).
func polyDistance(p [][2]float64, u, v float64) float64 {
	d := (u-p[0][0])*(u-p[0][0]) + (v-p[0][1])*(v-p[0][1])
	sign := 1.0
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		ex, ey := p[j][0]-p[i][0], p[j][1]-p[i][1]
		wx, wy := u-p[i][0], v-p[i][1]
		h := math.Max(0, math.Min(1, (wx*ex+wy*ey)/(ex*ex+ey*ey)))
		bx, by := wx-ex*h, wy-ey*h
		d = math.Min(d, bx*bx+by*by)
		c1, c2, c3 := v >= p[i][1], v < p[j][1], ex*wy > ey*wx
		if (c1 && c2 && c3) || (!c1 && !c2 && !c3) {
			sign = -sign
		}
	}
	return sign * math.Sqrt(d)
}
