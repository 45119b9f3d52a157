package synth

import (
	"fmt"
	"image"
	"math"
	"strings"
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
	times := make([]float64, v.FrameCount(fps))
	for i := range times {
		times[i] = (float64(i) + 0.5) / fps
	}
	return v.FramesAt(times, size)
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
	s := demoScene(newRNG(seed, 3), duration)
	id := fmt.Sprintf("demo_s%d", seed)
	return &Video{ID: id, Duration: duration, Events: events(s), scene: s}
}

// demoScene composes Demo's scene from r.
func demoScene(r *rng, duration float64) *scene {
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
	return s
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

// WindowPairAt makes pair i of the demo-window pairs of seed: two short
// clips cut from one demo-like video (Demo's composition, 20 to 60 s), as
// the page cuts a long video into moments. Each clip has opts.Frames
// frames opts.FPS apart, sampled as the page samples a video: the frame
// shown at time t was drawn a little after it (an eighth of a second in a
// 4 fps WebM whose frames show their interval's middle); each
// is centred on an event and captioned with that event alone, phrased
// from the grammar ("a tiny crimson box grows"), though other events may
// show in part. The two events differ in caption, neither shows in the
// other's clip, and the clips do not overlap: partners in one batch, they
// are the hard negatives of moment search, where the query must pick its
// event's moment from the same video's others.
//
// The clip's events are the video's that overlap it, in clip time.
func WindowPairAt(seed uint64, i int, opts Options) [2]Clip {
	opts = opts.withDefaults()
	r := newRNG(seed, uint64(i), 4)
	span := float64(opts.Frames) / opts.FPS
	for {
		duration := r.uniform(20, 60)
		s := demoScene(r, duration)
		evs := demoActions(s)
		if len(evs) < 2 {
			continue
		}
		a := evs[r.intn(len(evs))]
		wa, ok := windowOn(r, a, span, duration, opts.FPS)
		if !ok {
			continue
		}
		var others []demoEvent
		for _, b := range evs {
			if b.caption != a.caption && !overlaps(b, wa, wa+span) {
				others = append(others, b)
			}
		}
		if len(others) == 0 {
			continue
		}
		b := others[r.intn(len(others))]
		wb, ok := windowOn(r, b, span, duration, opts.FPS)
		if !ok || wb < wa+span && wa < wb+span || captionIn(evs, a.caption, wb, wb+span) || captionIn(evs, b.caption, wa, wa+span) {
			continue
		}
		w := writer{r}
		id := fmt.Sprintf("window_s%d_%05d", seed, i)
		return [2]Clip{
			windowClip(id+"_a", s, wa, r.uniform(0, 0.25), w.event(a), opts),
			windowClip(id+"_b", s, wb, r.uniform(0, 0.25), w.event(b), opts),
		}
	}
}

// demoEvent is one action of a demo scene's object.
type demoEvent struct {
	o       *object
	a       action
	caption string // canonical
}

func demoActions(s *scene) []demoEvent {
	var out []demoEvent
	for _, o := range s.objects {
		for _, a := range o.actions {
			out = append(out, demoEvent{o, a, canonical(o, a)})
		}
	}
	return out
}

// overlaps reports whether e happens at some time in [from, to).
func overlaps(e demoEvent, from, to float64) bool { return e.a.start < to && e.a.end > from }

// captionIn reports whether an event with the caption overlaps [from, to).
func captionIn(evs []demoEvent, caption string, from, to float64) bool {
	for _, e := range evs {
		if e.caption == caption && overlaps(e, from, to) {
			return true
		}
	}
	return false
}

// windowOn draws the start of a window of span seconds, on a whole frame
// (a multiple of 1/fps, as the page samples) within [0, duration], that
// covers most of e: three quarters of it, or of span for a longer event.
func windowOn(r *rng, e demoEvent, span, duration, fps float64) (float64, bool) {
	need := 0.75 * min(e.a.end-e.a.start, span)
	var starts []float64
	for k := 0; float64(k)/fps+span <= duration; k++ {
		w := float64(k) / fps
		if min(w+span, e.a.end)-max(w, e.a.start) >= need {
			starts = append(starts, w)
		}
	}
	if len(starts) == 0 {
		return 0, false
	}
	return starts[r.intn(len(starts))], true
}

// event phrases one event of an object in words from the grammar: its
// size and colour as they are when it starts.
func (w writer) event(e demoEvent) string {
	st := e.o.at(e.a.start)
	words := []string{}
	if w.r.chance(0.85) {
		words = append(words, w.pick(sizeWords[st.size]))
	}
	words = append(words, w.pick(colorWords[st.colorIndex]), w.pick(kindWords[e.o.kind]))
	det := "a"
	if w.r.chance(0.3) {
		det = "the"
	}
	return w.one(withDet(det, strings.Join(words, " ")), w.vp(e.a))
}

// windowClip renders the window [from, from+Frames/FPS) of a scene as a
// clip: frame k shows time from + k/FPS + lag (lag: up to a quarter
// second), as a video seeked to from + k/FPS does. The scene is shifted
// in time so that the clip's frames and events are in clip time.
func windowClip(id string, s *scene, from, lag float64, caption string, opts Options) Clip {
	shift := from + lag - 0.5/opts.FPS // clip frame k renders at (k+0.5)/FPS
	w := &scene{duration: float64(opts.Frames) / opts.FPS, background: s.background, bgSeed: s.bgSeed}
	for _, o := range s.objects {
		c := *o
		c.actions = make([]action, len(o.actions))
		for j, a := range o.actions {
			a.start, a.end = a.start-shift, a.end-shift
			c.actions[j] = a
		}
		w.objects = append(w.objects, &c)
	}
	c := newClip(id, w, caption, opts)
	var evs []Event
	for _, e := range c.Events {
		if e.Start < w.duration && e.End > 0 {
			evs = append(evs, e)
		}
	}
	c.Events, c.video.Events = evs, evs
	return c
}

// FramesAt renders the video at the given times (seconds) as size x size
// images, drawing the background once.
func (v *Video) FramesAt(times []float64, size int) []*image.NRGBA {
	bg := v.scene.backgroundImage(size)
	frames := make([]*image.NRGBA, len(times))
	for i, t := range times {
		frames[i] = v.scene.render(t, size, bg)
	}
	return frames
}
