// Package synth is a synthetic video world for training and testing
// CLIP4Clip: short clips of coloured shapes that move, grow, shrink, spin,
// bounce, appear, disappear and change colour over plain or textured
// backgrounds, with captions written from a grammar with synonyms and
// varied phrasing, and the true events with their times.
//
// Everything is a pure function of a seed, drawn with the package's own
// random number generator, so the same seed gives the same clips with
// every Go version (on CPUs that fuse multiply-adds, floating-point
// rounding could in principle change the last bit of a value, and so a
// pixel). Clips are sampled like CLIP4Clip's input (one frame per second
// by default); Demo composes longer videos with many events for playback.
package synth

import (
	"fmt"
	"image"
	"math"
	"runtime"
	"strings"
	"sync"
)

// Options controls the clips Generate makes. Zero fields take their
// defaults.
type Options struct {
	Frames     int     // frames per clip (default 8)
	FPS        float64 // frames per second: a clip lasts Frames/FPS seconds (default 1)
	Resolution int     // frame side in pixels (default 64)
	MaxObjects int     // most objects in a scene, 1 to 3 (default 3)
}

func (o Options) withDefaults() Options {
	if o.Frames <= 0 {
		o.Frames = 8
	}
	if o.FPS <= 0 {
		o.FPS = 1
	}
	if o.Resolution <= 0 {
		o.Resolution = 64
	}
	if o.MaxObjects <= 0 || o.MaxObjects > 3 {
		o.MaxObjects = 3
	}
	return o
}

// Duration is how long a clip lasts, in seconds.
func (o Options) Duration() float64 {
	o = o.withDefaults()
	return float64(o.Frames) / o.FPS
}

// Clip is one short video with its caption and true events.
type Clip struct {
	ID      string
	Frames  []*image.NRGBA // frame i shows time (i+0.5)/FPS
	Caption string
	Events  []Event // in order of start time
	video   *Video
}

// Video returns the clip as a Video, to render at another frame rate or
// size (for playback, or a WebM).
func (c Clip) Video() *Video { return c.video }

// Event is one thing that happens in a clip or video.
type Event struct {
	Kind    string  `json:"kind"`         // one of EventKinds
	Object  string  `json:"object"`       // the object as it is when the event starts: "small red square"
	To      string  `json:"to,omitempty"` // change_color: the new colour
	Start   float64 `json:"start"`        // seconds, to the millisecond
	End     float64 `json:"end"`          // seconds, to the millisecond
	Caption string  `json:"caption"`      // the event alone in plain words: "a small red square moves left"
}

// Generate makes n clips from seed. Clip i depends only on seed, i and
// opts: Generate(seed, n, opts)[i] is GenerateAt(seed, i, opts), so a
// larger n extends a set and another seed gives a held-out set. Clips are
// rendered in parallel.
func Generate(seed uint64, n int, opts Options) []Clip {
	clips := make([]Clip, max(n, 0))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				clips[i] = GenerateAt(seed, i, opts)
			}
		}()
	}
	for i := range clips {
		next <- i
	}
	close(next)
	wg.Wait()
	return clips
}

// GenerateAt makes clip i of the set of seed.
func GenerateAt(seed uint64, i int, opts Options) Clip {
	opts = opts.withDefaults()
	r := newRNG(seed, uint64(i), 1)
	s, layout := compose(r, opts.Duration(), opts.MaxObjects)
	caption := writer{r}.caption(s, layout)
	return newClip(fmt.Sprintf("s%d_%06d", seed, i), s, caption, opts)
}

// newClip renders a scene's frames and lists its events.
func newClip(id string, s *scene, caption string, opts Options) Clip {
	v := &Video{ID: id, Duration: s.duration, Events: events(s), scene: s}
	return Clip{ID: id, Frames: v.Frames(opts.FPS, opts.Resolution), Caption: caption, Events: v.Events, video: v}
}

// events lists a scene's actions as events, by start time, then object.
func events(s *scene) []Event {
	var out []Event
	for _, o := range s.objects {
		for _, a := range o.actions {
			e := Event{Kind: a.kind, Object: describe(o, a.start), Start: ms(a.start), End: ms(a.end), Caption: canonical(o, a)}
			if a.kind == ChangeColor {
				e.To = Colors[a.to]
			}
			out = append(out, e)
		}
	}
	// Insertion sort keeps equal starts in object order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Start < out[j-1].Start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ms rounds seconds to milliseconds.
func ms(t float64) float64 { return math.Round(t*1000) / 1000 }

// Scene layouts.
const (
	oneEvent    = iota // one object, one event
	twoEvents          // one object, two events in turn
	twoAtOnce          // two objects, an event each at the same time
	twoInTurn          // two objects, an event each, one after the other
	threeAtOnce        // three objects, an event each at the same time
)

// layoutWeights are how often each layout is drawn.
var layoutWeights = []float64{0.30, 0.30, 0.24, 0.09, 0.07}

// kindWeights are how often each event kind is drawn (Still is chosen
// apart).
var kindWeights = map[string]float64{
	MoveLeft: 1, MoveRight: 1, MoveUp: 1, MoveDown: 1, Grow: 1, Shrink: 1,
	Spin: 1, Bounce: 1, Appear: 0.8, Disappear: 0.8, ChangeColor: 1.5,
}

// short reports whether an event kind is quick (a fade or a colour change)
// rather than lasting its whole slot.
func short(kind string) bool { return kind == Appear || kind == Disappear || kind == ChangeColor }

// slot is a stretch of time an event is placed in.
type slot struct {
	a, b float64 // a long event lasts from a to b
	u    float64 // where a short event starts, as a fraction of the room
}

func newSlot(r *rng, from, to float64) slot {
	d := to - from
	return slot{a: from + d*r.uniform(0.02, 0.12), b: to - d*r.uniform(0.02, 0.12), u: r.float()}
}

// times places an event of a kind in the slot.
func (s slot) times(kind string) (float64, float64) {
	if !short(kind) {
		return s.a, s.b
	}
	d := 1.2
	if kind == ChangeColor {
		d = 0.8
	}
	d = min(d, 0.6*(s.b-s.a))
	// Away from the ends of the slot, so that frames show before and after.
	start := s.a + (0.15+0.7*s.u)*(s.b-s.a-d)
	return start, start + d
}

// pickKind draws an event kind for o, other than those in not.
func pickKind(r *rng, o *object, not ...string) string {
	var kinds []string
	var w []float64
outer:
	for _, k := range EventKinds {
		for _, n := range not {
			if k == n {
				continue outer
			}
		}
		if kindWeights[k] == 0 || (k == Spin && !canSpin(o.kind)) {
			continue
		}
		kinds = append(kinds, k)
		w = append(w, kindWeights[k])
	}
	return kinds[r.weighted(w)]
}

// newAction draws the parameters of an event of a kind over [start, end]
// for o; a colour change avoids the colours in taken.
func newAction(r *rng, kind string, o *object, start, end float64, taken []int) action {
	a := action{kind: kind, start: start, end: end}
	switch kind {
	case MoveLeft:
		a.dx = -r.uniform(0.28, 0.42)
	case MoveRight:
		a.dx = r.uniform(0.28, 0.42)
	case MoveUp:
		a.dy = -r.uniform(0.28, 0.42)
	case MoveDown:
		a.dy = r.uniform(0.28, 0.42)
	case Grow:
		a.factor = r.uniform(1.5, 1.75)
	case Shrink:
		// Not below minRadius, where shapes can no longer be told apart.
		a.factor = math.Max(r.uniform(0.5, 0.62), minRadius/o.at(start).r)
	case Spin:
		// About a third of the shape's symmetry a second, so that turning
		// shows between frames a second apart and never looks like standing
		// still, and whole turns of the symmetry, so that the shape ends as
		// it began (a square stays a square, not a diamond).
		a.turn = symmetry[o.kind] * math.Max(1, math.Round(r.uniform(0.25, 0.38)*(end-start)))
		if r.chance(0.5) {
			a.turn = -a.turn
		}
	case Bounce:
		a.bounces = max(1, int((end-start)/2.5+0.5))
		a.amp = r.uniform(0.18, 0.25)
	case ChangeColor:
		from := o.at(start).colorIndex
		for {
			a.to = r.intn(len(Colors))
			ok := a.to != from
			for _, c := range taken {
				ok = ok && a.to != c
			}
			if ok {
				break
			}
		}
	}
	return a
}

// newObject draws a shape unlike the others in kind or colour.
func newObject(r *rng, others []*object) *object {
	for {
		o := &object{kind: r.intn(len(Kinds)), color: r.intn(len(Colors)), size: r.intn(len(Sizes)), angle: r.uniform(-0.3, 0.3)}
		ok := true
		for _, q := range others {
			ok = ok && (q.kind != o.kind || q.color != o.color)
		}
		if ok {
			return o
		}
	}
}

// colorsOf lists the colours of objects other than o.
func colorsOf(objects []*object, o *object) []int {
	var c []int
	for _, q := range objects {
		if q != o {
			c = append(c, q.color)
		}
	}
	return c
}

// place draws start positions until the scene fits in the frame for all
// its duration; false if none was found.
func place(r *rng, s *scene) bool {
	for try := 0; try < 40; try++ {
		for _, o := range s.objects {
			R := bound*sizeRadius[o.size] + margin
			o.x, o.y = r.uniform(R, 1-R), r.uniform(R, 1-R)
		}
		if fits(s.objects, 0, s.duration) {
			return true
		}
	}
	return false
}

// compose draws a scene of duration d seconds and its layout.
func compose(r *rng, d float64, maxObjects int) (*scene, int) {
	weights := append([]float64(nil), layoutWeights...)
	if maxObjects < 3 {
		weights[threeAtOnce] = 0
	}
	if maxObjects < 2 {
		weights[twoAtOnce], weights[twoInTurn] = 0, 0
	}
	// The layout is kept when a scene does not fit, so that crowded layouts
	// are drawn as often as their weights say.
	layout := r.weighted(weights)
	for {
		s := &scene{duration: d, background: r.intn(len(Backgrounds)), bgSeed: r.next()}
		whole := newSlot(r, 0, d)
		first, second := newSlot(r, 0, d/2), newSlot(r, d/2, d)
		switch layout {
		case oneEvent:
			o := newObject(r, nil)
			k := pickKind(r, o)
			start, end := whole.times(k)
			o.actions = []action{newAction(r, k, o, start, end, nil)}
			s.objects = []*object{o}
		case twoEvents:
			o := newObject(r, nil)
			k1 := pickKind(r, o, Disappear)
			k2 := pickKind(r, o, Appear, k1)
			start, end := first.times(k1)
			a1 := newAction(r, k1, o, start, end, nil)
			o.actions = []action{a1}
			start, end = second.times(k2)
			o.actions = append(o.actions, newAction(r, k2, o, start, end, nil))
			s.objects = []*object{o}
		case twoAtOnce, threeAtOnce:
			n := 2
			if layout == threeAtOnce {
				n = 3
			}
			still := -1 // at most one object stands still
			if r.chance(0.3) {
				still = r.intn(n)
			}
			for i := 0; i < n; i++ {
				s.objects = append(s.objects, newObject(r, s.objects))
			}
			for i, o := range s.objects {
				if i == still {
					o.actions = []action{{kind: Still, start: 0, end: d}}
					continue
				}
				k := pickKind(r, o)
				start, end := whole.times(k)
				o.actions = []action{newAction(r, k, o, start, end, colorsOf(s.objects, o))}
			}
		case twoInTurn:
			o1 := newObject(r, nil)
			o2 := newObject(r, []*object{o1})
			s.objects = []*object{o1, o2}
			k1, k2 := pickKind(r, o1), pickKind(r, o2)
			start, end := first.times(k1)
			o1.actions = []action{newAction(r, k1, o1, start, end, []int{o2.color})}
			start, end = second.times(k2)
			o2.actions = []action{newAction(r, k2, o2, start, end, []int{o1.color})}
		}
		for _, o := range s.objects {
			o.hidden = o.actions[0].kind == Appear
		}
		if place(r, s) {
			return s, layout
		}
	}
}

// orderable are the event kinds OrderPairs swaps: each makes sense before
// or after any other.
var orderable = []string{MoveLeft, MoveRight, MoveUp, MoveDown, Grow, Shrink, Spin, Bounce, ChangeColor}

// OrderPairs makes n pairs of clips for testing temporal order: in each
// pair the same object, on the same background and from the same start,
// does the same two events, X then Y in the first clip and Y then X in the
// second, and the captions differ only in the order of the two events
// ("a red square turns blue, then moves left" against "a red square moves
// left, then turns blue"). A model that pools frames without their order
// (meanP) has little to tell them apart by; a sequential head should.
func OrderPairs(seed uint64, n int, opts Options) [][2]Clip {
	out := make([][2]Clip, max(n, 0))
	for i := range out {
		out[i] = OrderPairAt(seed, i, opts)
	}
	return out
}

// OrderPairAt makes pair i of OrderPairs(seed, ...): OrderPairs(seed, n,
// opts)[i] is OrderPairAt(seed, i, opts), so training can draw pairs of a
// seed one at a time, as GenerateAt draws clips.
func OrderPairAt(seed uint64, i int, opts Options) [2]Clip {
	opts = opts.withDefaults()
	r := newRNG(seed, uint64(i), 2)
	d := opts.Duration()
	for {
		bg, bgSeed := r.intn(len(Backgrounds)), r.next()
		o := newObject(r, nil)
		var kinds []string
		for _, k := range orderable {
			if k != Spin || canSpin(o.kind) {
				kinds = append(kinds, k)
			}
		}
		kx := kinds[r.intn(len(kinds))]
		ky := kx
		for ky == kx {
			ky = kinds[r.intn(len(kinds))]
		}
		first, second := newSlot(r, 0, d/2), newSlot(r, d/2, d)
		x := newAction(r, kx, o, 0, 0, nil)
		y := newAction(r, ky, o, 0, 0, nil)
		a, b := *o, *o
		x.start, x.end = first.times(kx)
		y.start, y.end = second.times(ky)
		a.actions = []action{x, y}
		x.start, x.end = second.times(kx)
		y.start, y.end = first.times(ky)
		b.actions = []action{y, x}
		sa := &scene{duration: d, background: bg, bgSeed: bgSeed, objects: []*object{&a}}
		sb := &scene{duration: d, background: bg, bgSeed: bgSeed, objects: []*object{&b}}
		placed := false
		for try := 0; try < 40 && !placed; try++ {
			if !place(r, sa) {
				break
			}
			b.x, b.y = a.x, a.y
			placed = fits(sb.objects, 0, d)
		}
		if !placed {
			continue
		}
		w := writer{r}
		np := w.np(o, w.r.chance(0.8))
		vx, vy := w.vp(x), w.vp(y)
		form := sequenceForms[w.sequenceForm()].format
		ca, cb := form(np, vx, vy), form(np, vy, vx)
		if w.r.chance(0.35) {
			state := *r
			ca = w.withBackground(ca, bg)
			*r = state
			cb = w.withBackground(cb, bg)
		}
		id := fmt.Sprintf("order_s%d_%05d", seed, i)
		return [2]Clip{newClip(id+"_a", sa, ca, opts), newClip(id+"_b", sb, cb, opts)}
	}
}

// CutPairAt makes pair i of the cut pairs of seed: the first clip of
// OrderPairAt(seed, i, opts), X then Y, and the same clip with its two
// halves swapped, Y then X across a cut, captioned as the order pair's
// second clip. Both hold the very same frames, only in another order, so
// a head that pools frames without their order (meanP) scores both clips
// alike for either caption and cannot tell them apart at all; only the
// order of the frames can.
func CutPairAt(seed uint64, i int, opts Options) [2]Clip {
	opts = opts.withDefaults()
	p := OrderPairAt(seed, i, opts)
	a := p[0]
	h := len(a.Frames) / 2
	b := Clip{ID: strings.Replace(a.ID, "order_", "cut_", 1) + "_swapped", Caption: p[1].Caption}
	b.Frames = append(append(b.Frames, a.Frames[h:]...), a.Frames[:h]...)
	// The first half's events come second and the second's first.
	half := float64(h) / opts.FPS
	for _, e := range a.Events {
		if e.Start >= half {
			e.Start, e.End = ms(e.Start-half), ms(e.End-half)
			b.Events = append(b.Events, e)
		}
	}
	for _, e := range a.Events {
		if e.Start < half {
			e.Start, e.End = ms(e.Start+half), ms(e.End+half)
			b.Events = append(b.Events, e)
		}
	}
	a.ID = strings.Replace(a.ID, "order_", "cut_", 1)
	return [2]Clip{a, b}
}
