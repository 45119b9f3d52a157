package bpe

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var learnCorpus = []string{
	"A small red square slides to the left.",
	"a tiny crimson box moves leftwards",
	"the red square goes left, then turns blue",
	"First a big blue circle grows, then it spins!",
	"After the green star spins, it moves up & away",
	"a purple ring bounces while a yellow triangle shrinks",
	"an orange cross appears and then moves right",
	"a white diamond disappears on a striped background",
	"Ünïcödé words: café naïve 東京 😀 — they're all bytes",
	"numbers 12345 and 2024, ok?   spaces\tand\nnewlines",
}

func TestLearnRoundTrip(t *testing.T) {
	vocab, merges := Learn(learnCorpus, 300)
	require.NotEmpty(t, merges)
	require.Len(t, vocab, 512+len(merges)+2)
	require.Equal(t, StartOfText, vocab[len(vocab)-2])
	require.Equal(t, EndOfText, vocab[len(vocab)-1])
	tok, err := New(vocab, merges)
	require.NoError(t, err)
	for _, text := range append(learnCorpus, "unseen words: zebra quokka xylophone") {
		got := tok.Decode(tok.Encode(text))
		want := strings.Join(PreTokenize(Clean(text)), " ")
		require.Equal(t, strings.Join(strings.Fields(want), " "), strings.Join(strings.Fields(got), " "), text)
	}
	// Special tokens keep their ids (Decode writes no space after them).
	ids := tok.Encode("<|startoftext|>hi<|endoftext|>")
	want := append(append([]int{tok.SOT()}, tok.Encode("hi")...), tok.EOT())
	require.Equal(t, want, ids)
}

func TestLearnCommonWordsWhole(t *testing.T) {
	var corpus []string
	for i := 0; i < 50; i++ {
		corpus = append(corpus, learnCorpus[i%8])
	}
	vocab, merges := Learn(corpus, 10000)
	tok, err := New(vocab, merges)
	require.NoError(t, err)
	// Enough merges: every pre-token of the corpus is one token, and
	// learning stopped when no pair was left.
	require.Less(t, len(merges), 10000)
	for _, text := range corpus {
		pieces := PreTokenize(Clean(text))
		require.Len(t, tok.Encode(text), len(pieces), text)
	}
	for _, w := range []string{"red", "square", "left", "then", "spins"} {
		require.Len(t, tok.Encode(w), 1, w)
	}
	// The most frequent pair goes first: "e" before end of word, or "t h".
	freq := map[string]int{}
	for _, text := range corpus {
		for _, p := range PreTokenize(Clean(text)) {
			for i := 0; i+1 < len(p); i++ {
				a, b := string(symbolOf[p[i]]), string(symbolOf[p[i+1]])
				if i+2 == len(p) {
					b += endOfWord
				}
				freq[a+" "+b]++
			}
		}
	}
	first := merges[0][0] + " " + merges[0][1]
	for k, c := range freq {
		require.True(t, c < freq[first] || (c == freq[first] && k >= first), "%q (%d) beats the first merge %q (%d)", k, c, first, freq[first])
	}
}

func TestLearnFewMergesSplitsAsLearned(t *testing.T) {
	// With few merges words stay split; the tokenizer must split the corpus
	// exactly as the learner did, which Decode alone would not show.
	vocab, merges := Learn(learnCorpus, 40)
	require.Len(t, merges, 40)
	tok, err := New(vocab, merges)
	require.NoError(t, err)
	l := newLearner(learnCorpus)
	for _, m := range merges {
		l.merge(pairID{l.symbol(m[0]), l.symbol(m[1])})
	}
	for i, w := range l.words {
		var want []int
		for _, s := range w {
			want = append(want, lastIndex(vocab, l.names[s]))
		}
		piece := ""
		for _, s := range w {
			piece += l.names[s]
		}
		got := tok.Encode(decodeSymbols(piece))
		require.Equal(t, want, got, "word %d %q", i, piece)
	}
}

// decodeSymbols turns a pre-token written in byte symbols back into text.
func decodeSymbols(s string) string {
	s = strings.TrimSuffix(s, endOfWord)
	var b []byte
	for _, r := range s {
		b = append(b, byte(byteOfSymbol[r]))
	}
	return string(b)
}

func lastIndex(vocab []string, s string) int {
	for i := len(vocab) - 1; i >= 0; i-- {
		if vocab[i] == s {
			return i
		}
	}
	return -1
}

func TestLearnDeterministic(t *testing.T) {
	v1, m1 := Learn(learnCorpus, 200)
	for i := 0; i < 3; i++ {
		v2, m2 := Learn(learnCorpus, 200)
		require.Equal(t, m1, m2)
		require.Equal(t, v1, v2)
	}
	// Order of the corpus does not matter either: only counts do.
	rev := append([]string(nil), learnCorpus...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	_, m3 := Learn(rev, 200)
	require.Equal(t, m1, m3)
}

func TestLearnEmpty(t *testing.T) {
	vocab, merges := Learn(nil, 100)
	require.Empty(t, merges)
	tok, err := New(vocab, merges)
	require.NoError(t, err)
	require.Equal(t, 514, tok.VocabSize())
	require.Equal(t, "hi ", tok.Decode(tok.Encode("hi")))
}

func TestWriteMergesLoads(t *testing.T) {
	vocab, merges := Learn(learnCorpus, 250)
	var buf bytes.Buffer
	require.NoError(t, WriteMerges(&buf, merges))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Equal(t, MergesHeader, lines[0])
	require.Len(t, lines, len(merges)+1)
	tok, err := FromCLIPMerges(&buf)
	require.NoError(t, err)
	require.Equal(t, vocab, tok.Vocab())
	require.Equal(t, merges, tok.Merges())
}

func ExampleLearn() {
	vocab, merges := Learn([]string{"a red square", "a red circle", "the red square"}, 100)
	tok, _ := New(vocab, merges)
	ids, _, _ := tok.Tokenize("a red square", 32)
	fmt.Println(len(vocab), len(ids), tok.Decode(ids[1:len(ids)-1]))
	// Output: 528 5 a red square
}
