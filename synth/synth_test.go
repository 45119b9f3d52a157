package synth

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"sort"
	"strings"
	"testing"

	"clip4clip/model/bpe"
	"github.com/stretchr/testify/require"
)

func TestDeterministic(t *testing.T) {
	opts := Options{Frames: 6, Resolution: 32}
	a := Generate(42, 12, opts)
	b := Generate(42, 12, opts)
	c := Generate(43, 12, opts)
	require.Len(t, a, 12)
	same := 0
	for i := range a {
		require.Equal(t, a[i].ID, b[i].ID)
		require.Equal(t, a[i].Caption, b[i].Caption)
		require.Equal(t, a[i].Events, b[i].Events)
		require.Len(t, a[i].Frames, 6)
		for f := range a[i].Frames {
			require.Equal(t, a[i].Frames[f].Pix, b[i].Frames[f].Pix, "clip %d frame %d", i, f)
			require.Equal(t, image.Rect(0, 0, 32, 32), a[i].Frames[f].Bounds())
		}
		one := GenerateAt(42, i, opts)
		require.Equal(t, a[i].Caption, one.Caption)
		require.Equal(t, a[i].Frames[3].Pix, one.Frames[3].Pix)
		if a[i].Caption == c[i].Caption || bytes.Equal(a[i].Frames[0].Pix, c[i].Frames[0].Pix) {
			same++
		}
		require.NotEqual(t, a[i].ID, c[i].ID)
	}
	require.Zero(t, same, "another seed should give other clips")
	// Seeds name datasets (the shipped model's training and test sets):
	// a change to the world must be deliberate, and update this.
	require.Equal(t, "footage of a big emerald triangle that slides left against a stripy background", a[0].Caption)
}

// scenes draws n scenes with their captions without rendering them.
func scenes(seed uint64, n int, d float64, maxObjects int) ([]*scene, []int, []string) {
	var ss []*scene
	var layouts []int
	var caps []string
	for i := 0; i < n; i++ {
		r := newRNG(seed, uint64(i), 1)
		s, l := compose(r, d, maxObjects)
		ss = append(ss, s)
		layouts = append(layouts, l)
		caps = append(caps, writer{r}.caption(s, l))
	}
	return ss, layouts, caps
}

// mentions reports whether caption holds one of words as whole words.
func mentions(caption string, words []string) bool {
	padded := " " + strings.NewReplacer(",", " ", ";", " ").Replace(caption) + " "
	for _, w := range words {
		if strings.Contains(padded, " "+w+" ") {
			return true
		}
	}
	return false
}

func TestCaptionsMentionEveryObjectAndEvent(t *testing.T) {
	ss, layouts, caps := scenes(7, 3000, 8, 3)
	seenLayouts := map[int]int{}
	seenKinds := map[string]int{}
	for i, s := range ss {
		c := caps[i]
		seenLayouts[layouts[i]]++
		require.NotEmpty(t, s.objects)
		for _, o := range s.objects {
			require.True(t, mentions(c, kindWords[o.kind]), "%q does not name the %s", c, Kinds[o.kind])
			require.True(t, mentions(c, colorWords[o.color]), "%q does not name the colour %s", c, Colors[o.color])
			require.NotEmpty(t, o.actions)
			for _, a := range o.actions {
				seenKinds[a.kind]++
				var verbs []string
				for _, v := range verbWords[a.kind] {
					if a.kind == ChangeColor {
						for _, cw := range colorWords[a.to] {
							verbs = append(verbs, fmt.Sprintf(v, cw))
						}
					} else {
						verbs = append(verbs, v)
					}
				}
				require.True(t, mentions(c, verbs), "%q does not say that the %s does %s", c, Kinds[o.kind], a.kind)
				if a.kind == Spin {
					require.True(t, canSpin(o.kind), "a %s spins", Kinds[o.kind])
				}
			}
		}
		if layouts[i] == oneEvent {
			require.True(t, mentions(c, backgroundWords[s.background]) || mentions(c, []string{"dark"}), "%q does not name its background %s", c, Backgrounds[s.background])
		}
		// Objects in one scene are told apart by kind or colour.
		for j, o := range s.objects {
			for _, q := range s.objects[:j] {
				require.False(t, o.kind == q.kind && o.color == q.color, "%q: two objects look alike", c)
			}
		}
	}
	for l := oneEvent; l <= threeAtOnce; l++ {
		require.Greater(t, seenLayouts[l], 100, "layout %d", l)
	}
	for _, k := range EventKinds {
		require.Greater(t, seenKinds[k], 50, "event %s", k)
	}
}

func TestCaptionsFitContext(t *testing.T) {
	// CLIP4Clip reads 32 tokens: SOT, 30 more and EOT. A learned vocabulary
	// makes every word one token, so pre-tokens are what counts.
	_, _, caps := scenes(8, 5000, 8, 3)
	distinct := map[string]bool{}
	longest := ""
	for _, c := range caps {
		distinct[c] = true
		if len(bpe.PreTokenize(bpe.Clean(c))) > len(bpe.PreTokenize(bpe.Clean(longest))) {
			longest = c
		}
	}
	require.LessOrEqual(t, len(bpe.PreTokenize(bpe.Clean(longest))), 30, longest)
	require.Greater(t, len(distinct), 4900)
	vocab, merges := bpe.Learn(caps, 2000)
	tok, err := bpe.New(vocab, merges)
	require.NoError(t, err)
	for _, c := range caps[:200] {
		require.Equal(t, len(bpe.PreTokenize(bpe.Clean(c))), len(tok.Encode(c)), c)
	}
}

func TestFewCaptionsAmbiguous(t *testing.T) {
	// In a held-out set of 1,000 clips few should have the same events as
	// another (the captions differ more still: backgrounds and synonyms).
	ss, _, _ := scenes(11, 1000, 8, 3)
	count := map[string]int{}
	keys := make([]string, len(ss))
	for i, s := range ss {
		var parts []string
		for _, e := range events(s) {
			parts = append(parts, e.Caption)
		}
		keys[i] = strings.Join(parts, "|")
		count[keys[i]]++
	}
	shared := 0
	for _, k := range keys {
		if count[k] > 1 {
			shared++
		}
	}
	require.Less(t, shared, 120)
}

func TestEventTimes(t *testing.T) {
	for _, opts := range []Options{{}, {Frames: 12}, {Frames: 6, FPS: 2}} {
		opts = opts.withDefaults()
		d := opts.Duration()
		ss, layouts, _ := scenes(9, 500, d, 3)
		for i, s := range ss {
			ev := events(s)
			for _, e := range ev {
				require.True(t, e.Start >= 0 && e.Start < e.End && e.End <= d, "%+v outside [0, %g]", e, d)
				require.Contains(t, EventKinds, e.Kind)
				require.Equal(t, e.Kind == ChangeColor, e.To != "")
			}
			if layouts[i] == twoEvents || layouts[i] == twoInTurn {
				require.LessOrEqual(t, ev[0].End, ev[1].Start, "%+v", ev)
				require.LessOrEqual(t, ev[0].End, d/2)
			}
		}
	}
}

// mask returns the pixels of a frame that differ from the background, their
// centroid and their mean colour.
func mask(f *image.NRGBA, bg []float64) (n int, cx, cy float64, mean rgb, on []bool) {
	size := f.Bounds().Dx()
	on = make([]bool, size*size)
	for i := 0; i < size*size; i++ {
		d := 0.0
		for c := 0; c < 3; c++ {
			d = math.Max(d, math.Abs(float64(f.Pix[4*i+c])/255-bg[3*i+c]))
		}
		if d > 0.1 {
			on[i] = true
			n++
			cx += float64(i % size)
			cy += float64(i / size)
			for c := 0; c < 3; c++ {
				mean[c] += float64(f.Pix[4*i+c]) / 255
			}
		}
	}
	if n > 0 {
		cx, cy = cx/float64(n), cy/float64(n)
		for c := range mean {
			mean[c] /= float64(n)
		}
	}
	return n, cx, cy, mean, on
}

func TestFramesShowEvents(t *testing.T) {
	const res = 48
	checked := map[string]int{}
	for i := 0; len(checked) < len(EventKinds)-1 || i < 300; i++ {
		require.Less(t, i, 3000, "not every event kind was checked: %v", checked)
		c := GenerateAt(5, i, Options{Resolution: res})
		s := c.video.scene
		if len(s.objects) != 1 || len(c.Events) != 1 {
			continue
		}
		e := c.Events[0]
		bg := s.backgroundImage(res)
		first, last := c.Frames[0], c.Frames[len(c.Frames)-1]
		n0, x0, y0, mean0, on0 := mask(first, bg)
		n1, x1, y1, mean1, _ := mask(last, bg)
		msg := fmt.Sprintf("clip %d %q: first frame %d px at (%.1f, %.1f), last %d px at (%.1f, %.1f)", i, c.Caption, n0, x0, y0, n1, x1, y1)
		move := 0.2 * res
		switch e.Kind {
		case MoveLeft:
			require.Less(t, x1, x0-move, msg)
		case MoveRight:
			require.Greater(t, x1, x0+move, msg)
		case MoveUp:
			require.Less(t, y1, y0-move, msg)
		case MoveDown:
			require.Greater(t, y1, y0+move, msg)
		case Grow:
			require.Greater(t, float64(n1), 1.8*float64(n0), msg)
		case Shrink:
			require.Less(t, float64(n1), 0.55*float64(n0), msg)
		case Appear:
			require.Zero(t, n0, msg)
			require.Greater(t, n1, 20, msg)
		case Disappear:
			require.Greater(t, n0, 20, msg)
			require.Zero(t, n1, msg)
		case ChangeColor:
			o := s.objects[0]
			to := o.actions[0].to
			require.Less(t, dist(mean0, palette[o.color]), 0.25, msg)
			require.Less(t, dist(mean1, palette[to]), 0.25, msg)
		case Bounce:
			top := y0
			for _, f := range c.Frames {
				_, _, y, _, _ := mask(f, bg)
				top = math.Min(top, y)
			}
			// It hops up from the ground and back (the first or last frame
			// may be caught in a hop).
			require.Less(t, top, math.Max(y0, y1)-0.12*res, msg)
		case Spin:
			// The shape turns in place: the same area in other pixels.
			lowest := 1.0
			for _, f := range c.Frames[1:] {
				n, x, y, _, on := mask(f, bg)
				require.InDelta(t, x0, x, 1.5, msg)
				require.InDelta(t, y0, y, 1.5, msg)
				require.InDelta(t, float64(n0), float64(n), 0.3*float64(n0), msg)
				lowest = math.Min(lowest, iou(on0, on))
			}
			require.Less(t, lowest, 0.85, msg)
		}
		if e.Kind != Appear && e.Kind != Disappear && e.Kind != Grow && e.Kind != Shrink {
			require.InDelta(t, float64(n0), float64(n1), 0.25*float64(n0)+4, msg)
		}
		checked[e.Kind]++
	}
}

func dist(a, b rgb) float64 {
	return math.Max(math.Abs(a[0]-b[0]), math.Max(math.Abs(a[1]-b[1]), math.Abs(a[2]-b[2])))
}

func iou(a, b []bool) float64 {
	inter, union := 0, 0
	for i := range a {
		if a[i] && b[i] {
			inter++
		}
		if a[i] || b[i] {
			union++
		}
	}
	return float64(inter) / float64(max(union, 1))
}

func TestResolution(t *testing.T) {
	c := GenerateAt(1, 3, Options{Resolution: 224, Frames: 10})
	require.Len(t, c.Frames, 10)
	require.Equal(t, image.Rect(0, 0, 224, 224), c.Frames[9].Bounds())
	small := GenerateAt(1, 3, Options{Resolution: 64, Frames: 10})
	require.Equal(t, c.Caption, small.Caption, "the resolution changes only the rendering")
	require.Equal(t, c.Events, small.Events)
}

func TestOrderPairs(t *testing.T) {
	pairs := OrderPairs(3, 30, Options{Resolution: 32})
	require.Len(t, pairs, 30)
	words := func(s string) []string {
		w := strings.Fields(strings.ReplaceAll(s, ",", " ,"))
		sort.Strings(w)
		return w
	}
	for i, p := range pairs {
		a, b := p[0], p[1]
		require.Len(t, a.Events, 2)
		require.Len(t, b.Events, 2)
		require.NotEqual(t, a.Caption, b.Caption)
		require.Equal(t, words(a.Caption), words(b.Caption), "pair %d: %q / %q", i, a.Caption, b.Caption)
		require.Equal(t, a.Events[0].Kind, b.Events[1].Kind)
		require.Equal(t, a.Events[1].Kind, b.Events[0].Kind)
		require.NotEqual(t, a.Events[0].Kind, a.Events[1].Kind)
		require.Equal(t, a.Events[1].To, b.Events[0].To)
		require.Equal(t, a.Events[0].To, b.Events[1].To)
		for _, c := range p {
			require.LessOrEqual(t, c.Events[0].End, c.Events[1].Start)
		}
		oa, ob := a.video.scene.objects[0], b.video.scene.objects[0]
		require.Equal(t, oa.at(0), ob.at(0), "pair %d starts from different states", i)
		require.Equal(t, a.video.scene.background, b.video.scene.background)
		require.NotEqual(t, a.Frames[len(a.Frames)/2].Pix, b.Frames[len(b.Frames)/2].Pix)
		require.Equal(t, a.Caption, OrderPairs(3, i+1, Options{Resolution: 32})[i][0].Caption)
	}
}

func TestDemo(t *testing.T) {
	v := Demo(5, 45)
	require.Equal(t, 45.0, v.Duration)
	require.Greater(t, len(v.Events), 6)
	kinds := map[string]bool{}
	for i, e := range v.Events {
		require.True(t, e.Start >= 0 && e.Start < e.End && e.End <= v.Duration, "%+v", e)
		if i > 0 {
			require.LessOrEqual(t, v.Events[i-1].End, e.Start, "events overlap: %+v %+v", v.Events[i-1], e)
		}
		require.True(t, strings.HasSuffix(e.Caption, verbPhrase(action{kind: e.Kind, to: colorIndex(e.To)}, func(s []string) string { return s[0] })), "%+v", e)
		require.True(t, strings.HasPrefix(e.Caption, withDet("a", e.Object)+" "), "%+v", e)
		kinds[e.Kind] = true
	}
	require.Equal(t, Appear, v.Events[0].Kind)
	require.GreaterOrEqual(t, len(kinds), 5)
	require.Equal(t, 180, v.FrameCount(4))
	frames := v.Frames(1, 32)
	require.Len(t, frames, 45)
	require.Equal(t, frames[10].Pix, v.Frame(10.5, 32).Pix)
	require.Equal(t, Demo(5, 45).Events, v.Events)
	require.NotEqual(t, Demo(6, 45).Events, v.Events)
}

func colorIndex(name string) int {
	for i, c := range Colors {
		if c == name {
			return i
		}
	}
	return 0
}

func TestWindowClip(t *testing.T) {
	v := Demo(5, 45)
	opts := Options{Frames: 4, Resolution: 32}.withDefaults()
	c := windowClip("w", v.scene, 10, 0.125, "caption", opts)
	require.Len(t, c.Frames, 4)
	for k, f := range c.Frames {
		require.Equal(t, v.Frame(10+float64(k)+0.125, 32).Pix, f.Pix, "frame %d", k)
	}
	// The clip's events are the video's that overlap it, shifted to clip
	// time (the clip's time 0.5 is the video's 10.125).
	var want []Event
	for _, e := range v.Events {
		if e.Start < 10.125+3.5 && e.End > 10.125-0.5 {
			e.Start, e.End = ms(e.Start-9.625), ms(e.End-9.625)
			want = append(want, e)
		}
	}
	require.NotEmpty(t, want)
	require.Len(t, c.Events, len(want))
	for i, e := range want {
		require.Equal(t, e.Caption, c.Events[i].Caption)
		require.InDelta(t, e.Start, c.Events[i].Start, 0.0015)
		require.InDelta(t, e.End, c.Events[i].End, 0.0015)
	}
}

func TestWindowPairs(t *testing.T) {
	opts := Options{Frames: 4, Resolution: 32}
	for i := 0; i < 20; i++ {
		p := WindowPairAt(7, i, opts)
		require.NotEqual(t, p[0].Caption, p[1].Caption)
		for _, c := range p {
			require.Len(t, c.Frames, 4, c.ID)
			require.NotEmpty(t, c.Events, c.ID)
			for _, e := range c.Events {
				require.True(t, e.Start < 4 && e.End > 0, "%s: %+v outside the clip", c.ID, e)
			}
		}
		again := WindowPairAt(7, i, opts)
		require.Equal(t, p[1].Caption, again[1].Caption)
		require.Equal(t, p[1].Frames[3].Pix, again[1].Frames[3].Pix)
	}
	require.NotEqual(t, WindowPairAt(7, 0, opts)[0].Caption, WindowPairAt(8, 0, opts)[0].Caption)
}

func TestCutPairs(t *testing.T) {
	opts := Options{Resolution: 16}
	for i := 0; i < 5; i++ {
		o, c := OrderPairAt(4, i, opts), CutPairAt(4, i, opts)
		require.Equal(t, o[0].Caption, c[0].Caption)
		require.Equal(t, o[1].Caption, c[1].Caption)
		require.Equal(t, o[0].Frames, c[0].Frames)
		// The same frames, the halves swapped.
		require.Len(t, c[1].Frames, 8)
		for k := range 8 {
			require.Equal(t, o[0].Frames[(k+4)%8].Pix, c[1].Frames[k].Pix, "pair %d frame %d", i, k)
		}
		// The events follow: the second half's first, shifted.
		require.Len(t, c[1].Events, len(o[0].Events))
		require.Equal(t, o[0].Events[1].Caption, c[1].Events[0].Caption)
		require.InDelta(t, o[0].Events[1].Start-4, c[1].Events[0].Start, 1e-9)
		require.InDelta(t, o[0].Events[0].End+4, c[1].Events[1].End, 1e-9)
	}
}
