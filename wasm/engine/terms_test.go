package engine

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"clip4clip/weights"
)

func TestParseQuery(t *testing.T) {
	for q, want := range map[string][]Term{
		"a red car":              {{"a red car", 1}},
		"red car -night":         {{"red car", 1}, {"night", -1}},
		"red car - night":        {{"red car", 1}, {"night", -1}},
		"red car -night sky":     {{"red car", 1}, {"night sky", -1}},
		"2:beach sunset":         {{"beach sunset", 2}},
		"sunset 2:beach":         {{"sunset", 1}, {"beach", 2}},
		"beach +sunset":          {{"beach", 1}, {"sunset", 1}},
		"beach + sunset - rain":  {{"beach", 1}, {"sunset", 1}, {"rain", -1}},
		"-night":                 {{"night", -1}},
		"a cat -0.5:dog":         {{"a cat", 1}, {"dog", -0.5}},
		"a cat - 2:dog":          {{"a cat", 1}, {"dog", -2}},
		"a t-shirt on a line":    {{"a t-shirt on a line", 1}},
		"time 10:30 at a clock":  {{"time 10:30 at a clock", 1}},
		"1e9:dog and 1:2":        {{"1e9:dog and 1:2", 1}},
		"a cat 1.5:dog":          {{"a cat", 1}, {"dog", 1.5}},
		"a cat 0:dog":            {{"a cat", 1}},
		"  spaced   out  words ": {{"spaced out words", 1}},
		"http://x.y/z":           {{"http://x.y/z", 1}},
	} {
		got, err := ParseQuery(q)
		if err != nil {
			t.Errorf("%q: %v", q, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseQuery(%q) = %v, want %v", q, got, want)
		}
	}
	for q, want := range map[string]string{
		"":                             "empty",
		"   ":                          "empty",
		"0:dog":                        "weight 0",
		"500:dog":                      "up to 100",
		"a +b +c +d +e +f +g +h +i +j": "more than 8",
	} {
		if _, err := ParseQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseQuery(%q): error %v, want one saying %q", q, err, want)
		}
	}
}

// FuzzParseQuery: any text parses or is refused with an error; terms are
// non-empty, at most maxTerms, with finite non-zero weights.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"red car -night", "2:beach sunset", "a - - b", "+", "-0.5:x", "x 100:y", ":a", "1.:a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms, err := ParseQuery(q)
		if err != nil {
			return
		}
		if len(terms) == 0 || len(terms) > maxTerms {
			t.Fatalf("%q: %d terms", q, len(terms))
		}
		for _, tm := range terms {
			if strings.TrimSpace(tm.Text) == "" || tm.Weight == 0 || math.IsNaN(tm.Weight) || math.IsInf(tm.Weight, 0) || math.Abs(tm.Weight) > 100 {
				t.Fatalf("%q: term %+v", q, tm)
			}
		}
	})
}

// TestEmbedTerms checks the query vector against a float64 sum of the
// terms' unit features, computed here from EmbedQuery.
func TestEmbedTerms(t *testing.T) {
	e, err := New(weights.Default())
	if err != nil {
		t.Fatal(err)
	}
	one, err := e.EmbedTerms("a small red square")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := e.EmbedQuery("a small red square")
	if c := cos64(one.Feature, plain.Feature); c < 1-1e-6 {
		t.Errorf("one term: cosine %v to EmbedQuery's feature", c)
	}
	tq, err := e.EmbedTerms("a small red square -2:a big blue circle +0.5:moves left")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(tq.Feature))
	for _, p := range []struct {
		text string
		w    float64
	}{{"a small red square", 1}, {"a big blue circle", -2}, {"moves left", 0.5}} {
		q, err := e.EmbedQuery(p.text)
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, v := range q.Feature {
			n += float64(v) * float64(v)
		}
		for i, v := range q.Feature {
			want[i] += p.w * float64(v) / math.Sqrt(n)
		}
	}
	for i := range want {
		if d := math.Abs(float64(tq.Feature[i]) - want[i]); d > 1e-6 {
			t.Fatalf("element %d: %v, float64 reference %v", i, tq.Feature[i], want[i])
		}
	}
	if len(tq.Parts) != 3 {
		t.Errorf("%d parts", len(tq.Parts))
	}
}

func cos64(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
