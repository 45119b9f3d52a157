package synth

import "math"

// action is one event of one object, with its parameters.
type action struct {
	kind       string
	start, end float64 // seconds
	dx, dy     float64 // move: displacement (frame sides)
	factor     float64 // grow, shrink: radius at the end over radius at the start
	turn       float64 // spin: radians
	bounces    int     // bounce: hops
	amp        float64 // bounce: height (frame sides)
	to         int     // change_color: new colour
}

// object is a shape and its actions, in time order, none overlapping.
type object struct {
	kind, color, size int
	x, y              float64 // centre at time 0 (frame sides, y down)
	angle             float64 // rotation at time 0
	hidden            bool    // invisible until an appear action
	actions           []action
}

// state is how an object looks at one instant.
type state struct {
	x, y, r, angle, alpha float64
	color                 rgb
	colorIndex            int // the colour it has, or is turning into past halfway
	size                  int // size class of the current radius
}

// progress is how far t is through [start, end], in [0, 1].
func progress(t, start, end float64) float64 {
	switch {
	case t <= start:
		return 0
	case t >= end:
		return 1
	}
	return (t - start) / (end - start)
}

// smooth eases motion in and out.
func smooth(p float64) float64 { return p * p * (3 - 2*p) }

// at returns the object's state at time t.
func (o *object) at(t float64) state {
	s := state{x: o.x, y: o.y, r: sizeRadius[o.size], angle: o.angle, alpha: 1, color: palette[o.color], colorIndex: o.color}
	if o.hidden {
		s.alpha = 0
	}
	for _, a := range o.actions {
		p := progress(t, a.start, a.end)
		switch a.kind {
		case MoveLeft, MoveRight, MoveUp, MoveDown:
			s.x += a.dx * smooth(p)
			s.y += a.dy * smooth(p)
		case Grow, Shrink:
			s.r *= math.Pow(a.factor, smooth(p))
		case Spin:
			s.angle += a.turn * p
		case Bounce:
			s.y -= a.amp * math.Abs(math.Sin(math.Pi*float64(a.bounces)*p))
		case Appear:
			s.alpha = p
		case Disappear:
			s.alpha *= 1 - p
		case ChangeColor:
			to := palette[a.to]
			for c := range s.color {
				s.color[c] += (to[c] - s.color[c]) * p
			}
			if p >= 0.5 {
				s.colorIndex = a.to
			}
		}
	}
	s.size = 0
	if s.r > (sizeRadius[0]+sizeRadius[1])/2 {
		s.size = 1
	}
	return s
}

// scene is a background and objects over a stretch of time.
type scene struct {
	duration   float64 // seconds
	background int
	bgSeed     uint64 // texture: orientation, noise
	objects    []*object
}

// margin keeps objects this far from the frame edges and from each other.
const margin = 0.02

// fits reports whether, sampled every quarter second over [from, to],
// objects stay inside the frame and apart from each other.
func fits(objects []*object, from, to float64) bool {
	for t := from; ; t += 0.25 {
		if t > to {
			t = to
		}
		for i, o := range objects {
			a := o.at(t)
			ra := bound * a.r
			if a.x-ra < margin || a.x+ra > 1-margin || a.y-ra < margin || a.y+ra > 1-margin {
				return false
			}
			for _, q := range objects[:i] {
				b := q.at(t)
				if math.Hypot(a.x-b.x, a.y-b.y) < ra+bound*b.r+margin {
					return false
				}
			}
		}
		if t >= to {
			return true
		}
	}
}
