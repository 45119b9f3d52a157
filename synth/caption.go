package synth

import (
	"fmt"
	"strings"
)

// article returns "an" before a vowel sound, else "a".
func article(next string) string {
	if next != "" && strings.ContainsRune("aeiou", rune(next[0])) {
		return "an"
	}
	return "a"
}

// withDet puts a determiner ("a" or "the") before a noun phrase.
func withDet(det, phrase string) string {
	if det == "a" {
		det = article(phrase)
	}
	return det + " " + phrase
}

// describe is an object's canonical description at time t: "small red
// square".
func describe(o *object, t float64) string {
	s := o.at(t)
	return Sizes[s.size] + " " + Colors[s.colorIndex] + " " + Kinds[o.kind]
}

// canonical is the plain sentence for one action of an object: "a small
// red square moves left".
func canonical(o *object, a action) string {
	return withDet("a", describe(o, a.start)) + " " + verbPhrase(a, func(syn []string) string { return syn[0] })
}

// verbPhrase phrases an action with words chosen by pick.
func verbPhrase(a action, pick func([]string) string) string {
	v := pick(verbWords[a.kind])
	if a.kind == ChangeColor {
		v = fmt.Sprintf(v, pick(colorWords[a.to]))
	}
	return v
}

// writer chooses the words of one caption.
type writer struct{ r *rng }

// plain is how often the plain word is used rather than a synonym.
const plain = 0.55

func (w writer) pick(syn []string) string { return w.r.word(syn, plain) }

// np is a noun phrase for an object as it is at the start: "a tiny
// crimson box", "the red square".
func (w writer) np(o *object, size bool) string {
	words := []string{}
	if size {
		words = append(words, w.pick(sizeWords[o.size]))
	}
	words = append(words, w.pick(colorWords[o.color]), w.pick(kindWords[o.kind]))
	det := "a"
	if w.r.chance(0.3) {
		det = "the"
	}
	return withDet(det, strings.Join(words, " "))
}

func (w writer) vp(a action) string { return verbPhrase(a, w.pick) }

// withBackground mentions the background before or after a sentence.
func (w writer) withBackground(sentence string, bg int) string {
	name := w.pick(backgroundWords[bg])
	switch w.r.intn(5) {
	case 0:
		return "on " + article(name) + " " + name + " background, " + sentence
	case 1:
		return sentence + " against " + article(name) + " " + name + " background"
	case 2:
		return sentence + " on " + article(name) + " " + name + " backdrop"
	default:
		return sentence + " on " + article(name) + " " + name + " background"
	}
}

// one phrases a single event.
func (w writer) one(np, vp string) string {
	if w.r.chance(0.2) {
		prefix := []string{"a video of", "a clip of", "footage of"}[w.r.intn(3)]
		return prefix + " " + np + " that " + vp
	}
	return np + " " + vp
}

// Forms of two events of one object; first happens before second.
var sequenceForms = []struct {
	weight float64
	format func(np, first, second string) string
}{
	{0.25, func(np, a, b string) string { return np + " " + a + ", then " + b }},
	{0.2, func(np, a, b string) string { return np + " " + a + " and then " + b }},
	{0.1, func(np, a, b string) string { return np + " " + a + ", then it " + b }},
	{0.15, func(np, a, b string) string { return "first " + np + " " + a + ", then it " + b }},
	{0.15, func(np, a, b string) string { return "after " + np + " " + a + ", it " + b }},
	{0.08, func(np, a, b string) string { return np + " " + a + " before it " + b }},
	{0.07, func(np, a, b string) string { return np + " " + b + " after it " + a }},
}

func (w writer) sequenceForm() int {
	weights := make([]float64, len(sequenceForms))
	for i, f := range sequenceForms {
		weights[i] = f.weight
	}
	return w.r.weighted(weights)
}

// Forms of two objects' events at the same time.
var whileWords = []string{" while ", " and ", " as ", ", while "}

// Forms of two objects' events one after the other.
var thenForms = []func(a, b string) string{
	func(a, b string) string { return a + ", then " + b },
	func(a, b string) string { return "first " + a + ", then " + b },
	func(a, b string) string { return "after " + a + ", " + b },
	func(a, b string) string { return a + " and then " + b },
}

// caption writes a caption for a scene made by compose.
func (w writer) caption(s *scene, layout int) string {
	o := s.objects
	var c string
	bgChance := 0.25
	switch layout {
	case oneEvent:
		c = w.one(w.np(o[0], w.r.chance(0.8)), w.vp(o[0].actions[0]))
		bgChance = 1
	case twoEvents:
		np := w.np(o[0], w.r.chance(0.8))
		a, b := w.vp(o[0].actions[0]), w.vp(o[0].actions[1])
		c = sequenceForms[w.sequenceForm()].format(np, a, b)
		bgChance = 0.35
	case twoAtOnce:
		a := w.np(o[0], w.r.chance(0.6)) + " " + w.vp(o[0].actions[0])
		b := w.np(o[1], w.r.chance(0.6)) + " " + w.vp(o[1].actions[0])
		c = a + whileWords[w.r.intn(len(whileWords))] + b
	case twoInTurn:
		a := w.np(o[0], w.r.chance(0.6)) + " " + w.vp(o[0].actions[0])
		b := w.np(o[1], w.r.chance(0.6)) + " " + w.vp(o[1].actions[0])
		c = thenForms[w.r.intn(len(thenForms))](a, b)
	case threeAtOnce:
		var parts []string
		for _, x := range o {
			parts = append(parts, w.np(x, false)+" "+w.vp(x.actions[0]))
		}
		return parts[0] + ", " + parts[1] + " and " + parts[2]
	}
	if w.r.chance(bgChance) {
		c = w.withBackground(c, s.background)
	}
	return c
}
