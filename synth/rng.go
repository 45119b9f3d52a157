package synth

// rng is SplitMix64: small, fast and fully specified, so that a seed gives
// the same clips on every platform and Go version.
type rng struct{ s uint64 }

// mix hashes words into one seed (SplitMix64's finaliser over each word).
func mix(words ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, w := range words {
		h = finalise(h ^ finalise(w+0x9e3779b97f4a7c15))
	}
	return h
}

func finalise(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func newRNG(words ...uint64) *rng { return &rng{s: mix(words...)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return finalise(r.s)
}

// float returns a uniform number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// uniform returns a uniform number in [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float() }

// intn returns a uniform integer in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int((r.next() >> 1) % uint64(n)) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// weighted picks an index with probability proportional to its weight.
func (r *rng) weighted(w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	u := r.float() * total
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}

// word picks a synonym: the first (the plain word) with probability
// plain, else any of the others.
func (r *rng) word(syn []string, plain float64) string {
	if len(syn) == 1 || r.chance(plain) {
		return syn[0]
	}
	return syn[1+r.intn(len(syn)-1)]
}
