package bpe

import (
	"bytes"
	"compress/gzip"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// referenceBPE is SimpleTokenizer.bpe transliterated: take the adjacent
// pair of lowest rank, merge all its occurrences left to right, repeat.
// It is quadratic; bpe must give the same symbols.
func referenceBPE(ranks map[[2]string]int, piece string) []string {
	var word []string
	for i := 0; i < len(piece); i++ {
		word = append(word, string(symbolOf[piece[i]]))
	}
	word[len(word)-1] += endOfWord
	for len(word) > 1 {
		best, bestRank := [2]string{}, -1
		for i := 0; i+1 < len(word); i++ {
			if r, ok := ranks[[2]string{word[i], word[i+1]}]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = [2]string{word[i], word[i+1]}, r
			}
		}
		if bestRank < 0 {
			break
		}
		var merged []string
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == best[0] && word[i+1] == best[1] {
				merged = append(merged, best[0]+best[1])
				i += 2
			} else {
				merged = append(merged, word[i])
				i++
			}
		}
		word = merged
	}
	return word
}

// referenceRanks is dict(zip(merges, range(len(merges)))): last rank wins.
func referenceRanks(merges [][2]string) map[[2]string]int {
	ranks := make(map[[2]string]int, len(merges))
	for i, m := range merges {
		ranks[m] = i
	}
	return ranks
}

// symbols runs the tokenizer's bpe on one pre-token and returns strings.
func symbols(tok *Tokenizer, piece string) []string {
	var out []string
	for _, id := range tok.bpe(piece) {
		out = append(out, tok.vocab[id])
	}
	return out
}

// synthetic is a small CLIP-layout tokenizer for tests without fixtures.
func synthetic(t testing.TB, merges ...[2]string) *Tokenizer {
	t.Helper()
	tok, err := newCLIP(merges)
	require.NoError(t, err)
	return tok
}

var smallMerges = [][2]string{
	{"t", "h"}, {"th", "e</w>"}, {"a", "t</w>"}, {"c", "at</w>"}, {"o", "g</w>"}, {"d", "og</w>"},
	{"i", "n"}, {"in", "g</w>"}, {"e", "r"}, {"s", "t"}, {"a", "n"}, {"an", "d</w>"}, {"o", "f</w>"},
}

func TestBPEMatchesReference(t *testing.T) {
	tok := clipTokenizer(t)
	ranks := referenceRanks(tok.Merges())
	var pieces []string
	for _, c := range loadPythonCases(t).Cases {
		pieces = append(pieces, c.Pretokens...)
	}
	for _, c := range loadCases(t).Cases {
		pieces = append(pieces, c.Pretokens...)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		alphabet := []string{"etaoinshrdlucmfwypvbgkjqxz", "aeiou", "ab", "0123456789.,!?'", "éüß中ñ"}[i%5]
		letters := []rune(alphabet)
		var b strings.Builder
		for n := 1 + rng.Intn(40); n > 0; n-- {
			b.WriteRune(letters[rng.Intn(len(letters))])
		}
		pieces = append(pieces, b.String())
	}
	for i := 0; i < 300; i++ { // any bytes, valid UTF-8 or not
		p := make([]byte, 1+rng.Intn(20))
		rng.Read(p)
		pieces = append(pieces, string(p))
	}
	for _, p := range pieces {
		if p == StartOfText || p == EndOfText {
			continue
		}
		require.Equal(t, referenceBPE(ranks, p), symbols(tok, p), "bpe(%q)", p)
	}
}

// TestBPEMergeOrder covers merge lists no trained BPE would produce, where
// Python's "all occurrences of the best pair first" matters.
func TestBPEMergeOrder(t *testing.T) {
	// Merging (a, b) creates (ab, a), of lower rank; Python still merges
	// the second (a, b) first.
	tok := synthetic(t, [2]string{"ab", "a"}, [2]string{"a", "b"})
	require.Equal(t, []string{"ab", "ab", "a</w>"}, symbols(tok, "ababa"))

	// A repeated merge keeps its last rank, so (b, c) beats (a, b).
	tok = synthetic(t, [2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"a", "b"})
	require.Equal(t, []string{"a", "bc", "x</w>"}, symbols(tok, "abcx"))

	// Overlapping occurrences are merged from the left.
	tok = synthetic(t, [2]string{"a", "a"})
	require.Equal(t, []string{"aa", "a", "a</w>"}, symbols(tok, "aaaa"))
	require.Equal(t, []string{"aa", "aa", "a</w>"}, symbols(tok, "aaaaa"))

	rng := rand.New(rand.NewSource(2))
	for trial := 0; trial < 200; trial++ {
		// Random merges over a tiny alphabet, in random order.
		syms := []string{"a", "b", "c", "a</w>", "b</w>", "c</w>"}
		var merges [][2]string
		for n := 0; n < 12; n++ {
			m := [2]string{syms[rng.Intn(len(syms))], syms[rng.Intn(len(syms))]}
			if strings.HasSuffix(m[0], endOfWord) {
				continue
			}
			merges = append(merges, m)
			syms = append(syms, m[0]+m[1])
		}
		tok := synthetic(t, merges...)
		ranks := referenceRanks(merges)
		for w := 0; w < 30; w++ {
			word := make([]byte, 1+rng.Intn(12))
			for i := range word {
				word[i] = "abc"[rng.Intn(3)]
			}
			require.Equal(t, referenceBPE(ranks, string(word)), symbols(tok, string(word)), "merges %q word %q", merges, word)
		}
	}
}

func TestLongInput(t *testing.T) {
	tok := clipTokenizer(t)
	rng := rand.New(rand.NewSource(3))
	letters := []byte("etaoinshrdlucmfwypvbgkjqxz")
	word := make([]byte, 100_000)
	for i := range word {
		word[i] = letters[rng.Intn(len(letters))]
	}
	start := time.Now()
	ids := tok.Encode(string(word))
	require.NotEmpty(t, ids)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, string(word)+" ", tok.Decode(ids))

	// The reference is quadratic: compare on a shorter word.
	short := string(word[:3000])
	require.Equal(t, referenceBPE(referenceRanks(tok.Merges()), short), symbols(tok, short))

	var text strings.Builder
	for text.Len() < 100_000 {
		text.WriteString("Hello, wörld! 123 &amp; 北京 ")
	}
	ids, truncated, err := tok.Tokenize(text.String(), ContextLength)
	require.NoError(t, err)
	require.True(t, truncated)
	require.Len(t, ids, ContextLength)
	as := strings.Repeat("a", 100_000) // few rounds, so the reference is quick
	require.Equal(t, referenceBPE(referenceRanks(tok.Merges()), as), symbols(tok, as))
}

func TestConcurrentEncode(t *testing.T) {
	tok := clipTokenizer(t)
	cases := loadCases(t).Cases
	want := make([][]int, len(cases))
	for i, c := range cases {
		want[i] = tok.Encode(c.Text)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 20; rep++ {
				for i, c := range cases {
					if got := tok.Encode(c.Text); !equalInts(got, want[i]) {
						t.Errorf("concurrent Encode(%q) = %v, want %v", c.Text, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTokenizeContext(t *testing.T) {
	tok := synthetic(t, smallMerges...)
	_, _, err := tok.Tokenize("the cat", 1)
	require.Error(t, err)
	ids, truncated, err := tok.Tokenize("the cat", 2)
	require.NoError(t, err)
	require.True(t, truncated)
	require.Equal(t, []int{tok.SOT(), tok.EOT()}, ids)
	ids, truncated, err = tok.Tokenize("", 2)
	require.NoError(t, err)
	require.False(t, truncated)
	require.Equal(t, []int{tok.SOT(), tok.EOT()}, ids)
	ids, truncated, err = tok.Tokenize("the cat", 4)
	require.NoError(t, err)
	require.False(t, truncated)
	require.Equal(t, []string{StartOfText, "the</w>", "cat</w>", EndOfText}, vocabOf(tok, ids))
}

func vocabOf(tok *Tokenizer, ids []int) []string {
	var out []string
	for _, id := range ids {
		out = append(out, tok.Vocab()[id])
	}
	return out
}

func TestDecode(t *testing.T) {
	tok := synthetic(t, smallMerges...)
	require.Equal(t, "the cat ", tok.Decode(tok.Encode("The  cat")))
	require.Equal(t, "<|startoftext|>the <|endoftext|>", tok.Decode(tok.Encode("<|startoftext|>the<|endoftext|>")))
	require.Equal(t, "", tok.Decode([]int{-1, tok.VocabSize(), 1 << 40}))
	// Bytes E2 82 (a cut-off euro sign) then "a": one U+FFFD, as Python.
	byteID := func(b byte) int { return int(tok.byteID[b]) }
	require.Equal(t, "\ufffda", tok.Decode([]int{byteID(0xe2), byteID(0x82), byteID('a')}))
	require.Equal(t, "é ", tok.Decode(tok.Encode("É")))
}

func TestLoadErrors(t *testing.T) {
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	for _, c := range []struct{ in, err string }{
		{"", "no merges"},
		{"#version: 0.2\n", "no merges"},
		{"#version: 0.2\na b c\n", "line 2"},
		{"#version: 0.2\na b\nc\n", "line 3"},
		{"#version: 0.2\na b\n\nc d\n", "line 3"},
		{"#version: 0.2\na \u4e00\n", "line 2"},
		{"#version: 0.2\na\xff b\n", "UTF-8"},
		{"\x1f\x8bnot gzip", "gzip"},
		{gz("#version: 0.2\na b c\n"), "line 2"},
	} {
		_, err := FromCLIPMerges(strings.NewReader(c.in))
		require.ErrorContains(t, err, c.err, "%q", c.in)
	}
	tok, err := FromCLIPMerges(strings.NewReader(gz("#version: 0.2\r\na b\r\nab c</w>\r\n")))
	require.NoError(t, err)
	require.Equal(t, 512+2+2, tok.VocabSize())
	require.Equal(t, []string{"abc</w>"}, vocabOf(tok, tok.Encode("ABC")))

	base := synthetic(t, smallMerges...)
	vocab, merges := base.Vocab(), base.Merges()
	replace := func(i int, v string) []string {
		out := append([]string(nil), vocab...)
		out[i] = v
		return out
	}
	for _, c := range []struct {
		vocab  []string
		merges [][2]string
		err    string
	}{
		{replace(5, ""), merges, "entry 5 is empty"},
		{replace(5, "a b"), merges, "entry 5"},
		{replace(0, "zz"), merges, "for byte 0x21"},
		{replace(len(vocab)-1, "x"), merges, EndOfText},
		{replace(len(vocab)-2, "x"), merges, StartOfText},
		{vocab, append(merges, [2]string{"", "a"}), "empty part"},
		{vocab, append(merges, [2]string{"q", "q"}), "not in the vocab"},
	} {
		_, err := New(c.vocab, c.merges)
		require.ErrorContains(t, err, c.err)
	}

	mergesTXT := []byte("#version: 0.2\nt h\n")
	for _, c := range []struct{ vocab, err string }{
		{`{`, "vocab.json"},
		{`[]`, "vocab.json"},
		{`{"a": 0, "b": 2}`, "outside"},
		{`{"a": 0, "b": -1}`, "outside"},
		{`{"a": 1.5}`, "vocab.json"},
		{`{"a": 0, "b": 0}`, "is used by"},
		{`{"a": 0, "": 1}`, "empty"},
		{`{"!": 0}`, "no <|startoftext|>"},
	} {
		_, err := FromHF([]byte(c.vocab), mergesTXT)
		require.ErrorContains(t, err, c.err, c.vocab)
	}
}

func BenchmarkTokenize10Words(b *testing.B) {
	tok := clipTokenizer(b)
	const text = "A photo of a brown dog running on the beach."
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tok.Tokenize(text, ContextLength); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeUncached(b *testing.B) {
	tok := clipTokenizer(b)
	const text = "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic"
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range PreTokenize(Clean(text)) {
			tok.bpe(p)
		}
	}
}
