package synth

import (
	"fmt"
	"image"
	"math"
)

// Video is a scene over time that can be rendered at any instant: a clip
// (Clip.Video) or a longer demo (Demo).
type Video struct {
	ID       string
	Duration float64 // seconds
	Events   []Event // the true events, in order of start time
	scene    *scene
}

// Frame renders the video at time t (seconds) as a size x size image.
func (v *Video) Frame(t float64, size int) *image.NRGBA {
	return v.scene.render(t, size, v.scene.backgroundImage(size))
}

// FrameCount is how many frames Frames returns at fps.
func (v *Video) FrameCount(fps float64) int {
	return int(math.Floor(v.Duration*fps + 1e-9))
}

// Frames renders the video at fps frames per second: frame i shows time
// (i+0.5)/fps, the middle of its interval.
func (v *Video) Frames(fps float64, size int) []*image.NRGBA {
	bg := v.scene.backgroundImage(size)
	frames := make([]*image.NRGBA, v.FrameCount(fps))
	for i := range frames {
		frames[i] = v.scene.render((float64(i)+0.5)/fps, size, bg)
	}
	return frames
}

// frameFunc returns a renderer of frame i at fps that draws the background
// once.
func (v *Video) frameFunc(fps float64, size int) func(i int) *image.NRGBA {
	bg := v.scene.backgroundImage(size)
	return func(i int) *image.NRGBA { return v.scene.render((float64(i)+0.5)/fps, size, bg) }
}

// Demo composes a longer video (duration seconds; 30 to 90 suit a demo)
// for playback and moment search: one or two objects at a time come into
// view, move, grow or shrink, spin, bounce, change colour and leave, one
// event at a time with short pauses between them, so that every moment has
// at most one true caption. Small objects only grow and big ones only
// shrink, so that each object is always small or big. The events' times
// are exact; render it with Frames (e.g. 4 fps for smooth playback) or
// WriteWebM.
func Demo(seed uint64, duration float64) *Video {
	r := newRNG(seed, 3)
	s := &scene{duration: duration, background: r.intn(len(Backgrounds)), bgSeed: r.next()}
	var alive []*object
	var last *object // the object of the last event
	t := r.uniform(0.3, 1)
	for t < duration-2.5 {
		var o *object
		var a action
		switch {
		case len(alive) == 0 || (len(alive) == 1 && r.chance(0.3)):
			o, a = demoEnter(r, alive, t)
			if o == nil {
				t += 0.5
				continue
			}
			s.objects = append(s.objects, o)
			alive = append(alive, o)
		case len(alive) > 1 && r.chance(0.2) || t > duration-6 && r.chance(0.3):
			i := r.intn(len(alive))
			o = alive[i]
			a = action{kind: Disappear, start: t, end: t + 1.2}
			alive = append(alive[:i:i], alive[i+1:]...)
		default:
			o = alive[r.intn(len(alive))]
			if o == last && len(alive) > 1 && r.chance(0.75) {
				for o == last {
					o = alive[r.intn(len(alive))]
				}
			}
			a = demoAction(r, o, alive, t, duration)
		}
		o.actions = append(o.actions, a)
		last = o
		t = a.end + r.uniform(0.4, 1.2)
	}
	id := fmt.Sprintf("demo_s%d", seed)
	return &Video{ID: id, Duration: duration, Events: events(s), scene: s}
}

// demoEnter brings a new object into view at time t where it does not
// touch the others; nil if there was no room.
func demoEnter(r *rng, alive []*object, t float64) (*object, action) {
	var o *object
	for o == nil || !distinct(o, alive, t) {
		o = newObject(r, alive)
	}
	o.hidden = true
	a := action{kind: Appear, start: t, end: t + 1.2}
	o.actions = []action{a}
	for try := 0; try < 40; try++ {
		R := bound*sizeRadius[o.size] + margin
		o.x, o.y = r.uniform(R, 1-R), r.uniform(R, 1-R)
		if fits(append(alive[:len(alive):len(alive)], o), t, a.end) {
			o.actions = nil
			return o, a
		}
	}
	return nil, a
}

// demoAction draws an event for o starting at t that keeps the objects
// apart and in view; a spin or a colour change if nothing else fits.
func demoAction(r *rng, o *object, alive []*object, t, duration float64) action {
	st := o.at(t)
	var taken []int // colours of the others now
	for _, q := range alive {
		if q != o {
			taken = append(taken, q.at(t).colorIndex)
		}
	}
	for try := 0; try < 40; try++ {
		not := []string{Appear, Disappear}
		if len(o.actions) > 0 {
			not = append(not, o.actions[len(o.actions)-1].kind)
		}
		k := pickKind(r, o, not...)
		if (k == Grow && st.size == 1) || (k == Shrink && st.size == 0) {
			continue
		}
		end := t + r.uniform(2.5, 4.5)
		if short(k) {
			end = t + 1
		}
		if end > duration-0.5 {
			continue
		}
		a := newAction(r, k, o, t, end, taken)
		if k == Grow {
			a.factor = sizeRadius[1] / st.r
		} else if k == Shrink {
			a.factor = sizeRadius[0] / st.r
		}
		o.actions = append(o.actions, a)
		ok := fits(alive, t, end)
		o.actions = o.actions[:len(o.actions)-1]
		if ok {
			return a
		}
	}
	if canSpin(o.kind) && t+3 < duration-0.5 {
		return newAction(r, Spin, o, t, t+3, nil)
	}
	return newAction(r, ChangeColor, o, t, t+1, taken)
}

// distinct reports whether o differs from every other object in kind or
// in its colour at time t.
func distinct(o *object, alive []*object, t float64) bool {
	for _, q := range alive {
		if q.kind == o.kind && q.at(t).colorIndex == o.color {
			return false
		}
	}
	return true
}
