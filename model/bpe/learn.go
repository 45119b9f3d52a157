package bpe

import (
	"bufio"
	"fmt"
	"io"
	"sort"
)

// MergesHeader is the first line WriteMerges writes. Readers of merges
// files (FromCLIPMerges, Hugging Face's CLIPTokenizer) skip the first line.
const MergesHeader = "#version: 0.2 - learned by clip4clip bpe.Learn"

// Learn learns a byte-level BPE vocabulary from a corpus the way CLIP's
// was made: every text goes through Clean and PreTokenize, each pre-token
// becomes its UTF-8 bytes written as byte symbols with "</w>" on the last
// one, and the most frequent adjacent pair of symbols (counted over all
// pre-tokens, with repeats) is merged, numMerges times or until no pair is
// left. Ties go to the pair that sorts first (left symbol, then right), so
// the result depends only on the corpus and numMerges, not on map order.
// The special tokens "<|startoftext|>" and "<|endoftext|>" written in the
// text are not learned from.
//
// vocab is in CLIP's order (the 256 byte symbols, the same with "</w>", the
// joined merges, "<|startoftext|>", "<|endoftext|>"), so New(vocab, merges)
// and FromCLIPMerges of WriteMerges' output build the same tokenizer, and
// that tokenizer splits every pre-token of the corpus as learning did.
func Learn(corpus []string, numMerges int) (vocab []string, merges [][2]string) {
	l := newLearner(corpus)
	for len(merges) < numMerges {
		p, ok := l.best()
		if !ok {
			break
		}
		l.merge(p)
		merges = append(merges, [2]string{l.names[p.a], l.names[p.b]})
	}
	return clipVocab(merges), merges
}

// clipVocab lays out a vocabulary around merges as SimpleTokenizer does.
func clipVocab(merges [][2]string) []string {
	vocab := make([]string, 0, 512+len(merges)+2)
	for _, b := range byteOrder {
		vocab = append(vocab, string(symbolOf[b]))
	}
	for _, b := range byteOrder {
		vocab = append(vocab, string(symbolOf[b])+endOfWord)
	}
	for _, m := range merges {
		vocab = append(vocab, m[0]+m[1])
	}
	return append(vocab, StartOfText, EndOfText)
}

// WriteMerges writes merges in the format of CLIP's merges file
// (bpe_simple_vocab_16e6.txt): the MergesHeader line, then one merge per
// line, its two symbols separated by a space. Byte symbols never contain
// whitespace, so every line splits back into its merge.
func WriteMerges(w io.Writer, merges [][2]string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, MergesHeader)
	for _, m := range merges {
		fmt.Fprintf(bw, "%s %s\n", m[0], m[1])
	}
	return bw.Flush()
}

// pairID is an adjacent pair of symbol ids.
type pairID struct{ a, b int32 }

// learner holds the distinct pre-tokens of a corpus as symbol sequences
// with their counts, and the counts of adjacent pairs, updated
// incrementally as merges are made.
type learner struct {
	names []string         // symbol id -> text
	ids   map[string]int32 // text -> symbol id
	words [][]int32        // distinct pre-tokens as symbol ids
	freq  []int            // occurrences of each word
	count map[pairID]int   // occurrences of each pair, over all words
	where map[pairID]map[int32]struct{}
}

func newLearner(corpus []string) *learner {
	l := &learner{
		ids:   make(map[string]int32),
		count: make(map[pairID]int),
		where: make(map[pairID]map[int32]struct{}),
	}
	index := make(map[string]int)
	var order []string
	for _, text := range corpus {
		for _, piece := range PreTokenize(Clean(text)) {
			if piece == "" || piece == StartOfText || piece == EndOfText {
				continue
			}
			i, ok := index[piece]
			if !ok {
				i = len(order)
				index[piece] = i
				order = append(order, piece)
				l.freq = append(l.freq, 0)
			}
			l.freq[i]++
		}
	}
	for _, piece := range order {
		w := make([]int32, len(piece))
		for i := 0; i < len(piece); i++ {
			s := string(symbolOf[piece[i]])
			if i == len(piece)-1 {
				s += endOfWord
			}
			w[i] = l.symbol(s)
		}
		l.words = append(l.words, w)
	}
	for i, w := range l.words {
		l.add(int32(i), w, 1)
	}
	return l
}

// symbol returns the id of a symbol, adding it if new.
func (l *learner) symbol(s string) int32 {
	if id, ok := l.ids[s]; ok {
		return id
	}
	id := int32(len(l.names))
	l.names = append(l.names, s)
	l.ids[s] = id
	return id
}

// add adds sign times word i's pairs (weighted by its count) to the counts.
func (l *learner) add(i int32, w []int32, sign int) {
	for j := 0; j+1 < len(w); j++ {
		p := pairID{w[j], w[j+1]}
		l.count[p] += sign * l.freq[i]
		if sign > 0 {
			set := l.where[p]
			if set == nil {
				set = make(map[int32]struct{})
				l.where[p] = set
			}
			set[i] = struct{}{}
		} else if l.count[p] <= 0 {
			delete(l.count, p)
		}
	}
}

// best returns the most frequent pair, ties to the first by (left, right)
// text; false when no pair is left.
func (l *learner) best() (pairID, bool) {
	var top pairID
	n := 0
	for p, c := range l.count {
		if c > n || (c == n && l.before(p, top)) {
			top, n = p, c
		}
	}
	return top, n > 0
}

func (l *learner) before(p, q pairID) bool {
	if l.names[p.a] != l.names[q.a] {
		return l.names[p.a] < l.names[q.a]
	}
	return l.names[p.b] < l.names[q.b]
}

// merge replaces every occurrence of p, left to right, in the words that
// hold it, and updates the pair counts.
func (l *learner) merge(p pairID) {
	joined := l.symbol(l.names[p.a] + l.names[p.b])
	holders := make([]int32, 0, len(l.where[p]))
	for i := range l.where[p] {
		holders = append(holders, i)
	}
	sort.Slice(holders, func(x, y int) bool { return holders[x] < holders[y] })
	delete(l.where, p)
	for _, i := range holders {
		w := l.words[i]
		l.add(i, w, -1)
		out := w[:0:0]
		for j := 0; j < len(w); j++ {
			if j+1 < len(w) && w[j] == p.a && w[j+1] == p.b {
				out = append(out, joined)
				j++
				continue
			}
			out = append(out, w[j])
		}
		l.words[i] = out
		l.add(i, out, 1)
	}
	delete(l.count, p)
}
