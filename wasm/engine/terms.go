package engine

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Term is one part of a query with its weight: "red car -night" is the
// terms {"red car", 1} and {"night", -1}.
type Term struct {
	Text   string  `json:"text"`
	Weight float64 `json:"weight"`
}

// maxTerms bounds the terms of one query (each is a pass of the text
// encoder).
const maxTerms = 8

// ParseQuery splits a query into weighted terms, by rclip's rule: the
// query's vector is the weighted sum of its terms' unit text features.
// Words run together into one term; a word that starts a new term is
//
//	-word      the term "word ..." with weight -1 (subtract it: "red car -night")
//	+word      the term "word ..." with weight +1 (add another: "beach +sunset")
//	N:word     the term "word ..." with weight N (a decimal up to 100
//	           before a letter: "2:beach sunset", "-0.5:rain"; 10:30 is text)
//
// and a lone "-" or "+" makes the next word start a negative or positive
// term ("red car - night"). A hyphen inside a word ("t-shirt") is just a
// letter. A query of one term is that text alone, weight 1, so an
// ordinary query is unchanged. Terms of weight 0 are dropped.
func ParseQuery(q string) ([]Term, error) {
	var terms []Term
	var words []string
	weight := 1.0
	pending := 0.0 // a lone "-" or "+" seen: the sign of the next term
	flush := func() {
		if len(words) > 0 && weight != 0 {
			terms = append(terms, Term{Text: strings.Join(words, " "), Weight: weight})
		}
		words = nil
	}
	for _, w := range strings.Fields(q) {
		if w == "-" || w == "+" {
			flush()
			pending = 1
			if w == "-" {
				pending = -1
			}
			continue
		}
		sign, starts := pending, pending != 0
		if len(w) > 1 && (w[0] == '-' || w[0] == '+') {
			sign = 1
			if w[0] == '-' {
				sign = -1
			}
			if pending != 0 {
				sign *= pending
			}
			starts = true
			w = w[1:]
		}
		if num, rest, ok := strings.Cut(w, ":"); ok && weightRE.MatchString(num) && startsWithLetter(rest) {
			f, _ := strconv.ParseFloat(num, 64)
			if f > 100 {
				return nil, fmt.Errorf("engine: weight %s in the query: give a number up to 100, as in 2:beach", num)
			}
			if !starts {
				sign = 1
			}
			sign *= f
			starts = true
			w = rest
		}
		if starts {
			flush()
			weight = sign
		}
		pending = 0
		words = append(words, w)
	}
	flush()
	if len(terms) == 0 {
		if strings.TrimSpace(q) == "" {
			return nil, ErrEmptyQuery
		}
		return nil, errors.New("engine: every term of the query has weight 0; give one a weight, as in 2:beach")
	}
	if len(terms) > maxTerms {
		return nil, fmt.Errorf("engine: the query has %d terms, more than %d; join some words (a term is the words between - and + signs)", len(terms), maxTerms)
	}
	return terms, nil
}

// weightRE is a term's weight: a plain decimal number.
var weightRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

func startsWithLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

// TermsQuery is an embedded query of weighted terms.
type TermsQuery struct {
	Terms     []Term
	Parts     []Query   // each term's embedding, in order
	Truncated bool      // some term had more tokens than the context holds
	Feature   []float32 // sum of weight * unit feature of each term; the search normalises it
}

// EmbedTerms parses q (ParseQuery) and embeds each term. With one term of
// weight 1 the feature is EmbedQuery's, normalised.
func (e *Engine) EmbedTerms(q string) (TermsQuery, error) {
	terms, err := ParseQuery(q)
	if err != nil {
		return TermsQuery{}, err
	}
	tq := TermsQuery{Terms: terms, Feature: make([]float32, e.m.Config.EmbedDim)}
	sum := make([]float64, len(tq.Feature))
	for _, t := range terms {
		p, err := e.EmbedQuery(t.Text)
		if err != nil {
			return TermsQuery{}, err
		}
		tq.Parts = append(tq.Parts, p)
		tq.Truncated = tq.Truncated || p.Truncated
		var ss float64
		for _, v := range p.Feature {
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		inv := t.Weight / math.Sqrt(ss)
		for i, v := range p.Feature {
			sum[i] += float64(v) * inv
		}
	}
	for i, v := range sum {
		tq.Feature[i] = float32(v)
	}
	return tq, nil
}
