// Package bpe is CLIP's byte-level BPE tokenizer, a port of openai/CLIP's
// clip/simple_tokenizer.py that gives the same ids, including the
// truncation of clip.tokenize and CLIP4Clip's dataloader.
//
// Text goes through Clean (html.unescape, whitespace and lower-casing with
// Python semantics), PreTokenize (CLIP's regex), then BPE on the UTF-8
// bytes of each piece, written as vocabulary symbols through
// bytes_to_unicode. ftfy.fix_text is treated as the identity.
package bpe

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ContextLength is CLIP's text context: clip.tokenize pads to 77 ids.
const ContextLength = 77

// CLIPMergeCount is how many merges CLIP reads from its merges file:
// merges[1:49152-256-2+1] in simple_tokenizer.py, so that the vocabulary
// (256 byte symbols, 256 more with "</w>", the merges and 2 special tokens)
// has 49152+256 = 49408 entries.
const CLIPMergeCount = 49152 - 256 - 2

// endOfWord marks the last symbol of a pre-token.
const endOfWord = "</w>"

// cacheLimit bounds the pre-token cache; it is emptied when full.
const cacheLimit = 1 << 16

// cacheMaxLen is the longest pre-token (in bytes) worth caching.
const cacheMaxLen = 64

// Tokenizer is a CLIP BPE vocabulary with its merges. It is safe for
// concurrent use.
type Tokenizer struct {
	vocab   []string
	merges  [][2]string
	encoder map[string]int    // later duplicates win, like Python's dict
	ranks   map[uint64]merged // pair of symbol ids -> merge
	byteID  [256]int32        // id of the symbol of each byte
	endID   [256]int32        // the same with "</w>"
	sot     int
	eot     int

	mu    sync.RWMutex
	cache map[string][]int32
}

// merged is one applicable merge: its rank and the id of its result.
type merged struct {
	rank int32
	id   int32
}

// symbolOf is bytes_to_unicode: the vocabulary character of each byte.
// Printable Latin-1 bytes stand for themselves, the others for U+0100
// onwards. byteOrder lists the bytes in the order of the first 256
// vocabulary entries (the printable ones first).
var symbolOf, byteOrder = bytesToUnicode()

// byteOfSymbol inverts symbolOf: -1 for characters that stand for no byte.
var byteOfSymbol = func() (inv [256 + 68]int16) {
	for i := range inv {
		inv[i] = -1
	}
	for b, r := range symbolOf {
		inv[r] = int16(b)
	}
	return inv
}()

func bytesToUnicode() (symbol [256]rune, order [256]byte) {
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
	}
	n, extra := 0, rune(256)
	for b := 0; b < 256; b++ {
		if printable(b) {
			symbol[b], order[n] = rune(b), byte(b)
			n++
		}
	}
	for b := 0; b < 256; b++ {
		if !printable(b) {
			symbol[b], order[n] = extra, byte(b)
			n++
			extra++
		}
	}
	return symbol, order
}

// isByteSymbol reports whether r stands for a byte.
func isByteSymbol(r rune) bool {
	return r >= 0 && int(r) < len(byteOfSymbol) && byteOfSymbol[r] >= 0
}

// New builds a tokenizer from a vocabulary in id order and merges in rank
// order. Every vocabulary entry must be written in byte symbols (as
// bytes_to_unicode gives them, "</w>" included), the vocabulary must hold
// the 512 single-byte symbols, every merge result and both special tokens.
// If an entry appears twice the later id is used for encoding, as in
// Python. Merges whose parts are not in the vocabulary can never apply and
// are kept but ignored.
func New(vocab []string, merges [][2]string) (*Tokenizer, error) {
	if len(vocab) > 1<<31-1 || len(merges) > 1<<31-1 {
		return nil, errors.New("bpe: vocabulary too large") // ids are int32 inside
	}
	t := &Tokenizer{
		vocab:   append([]string(nil), vocab...),
		merges:  append([][2]string(nil), merges...),
		encoder: make(map[string]int, len(vocab)),
		ranks:   make(map[uint64]merged, len(merges)),
		cache:   make(map[string][]int32),
	}
	for i, v := range vocab {
		if v == "" {
			return nil, fmt.Errorf("bpe: vocab entry %d is empty", i)
		}
		for _, r := range v {
			if !isByteSymbol(r) {
				return nil, fmt.Errorf("bpe: vocab entry %d %q: %q is not a byte symbol", i, v, r)
			}
		}
		t.encoder[v] = i
	}
	var ok bool
	if t.sot, ok = t.encoder[StartOfText]; !ok {
		return nil, fmt.Errorf("bpe: vocab has no %s", StartOfText)
	}
	if t.eot, ok = t.encoder[EndOfText]; !ok {
		return nil, fmt.Errorf("bpe: vocab has no %s", EndOfText)
	}
	for b := 0; b < 256; b++ {
		sym := string(symbolOf[b])
		id, ok := t.encoder[sym]
		if !ok {
			return nil, fmt.Errorf("bpe: vocab has no symbol %q for byte 0x%02x", sym, b)
		}
		end, ok := t.encoder[sym+endOfWord]
		if !ok {
			return nil, fmt.Errorf("bpe: vocab has no symbol %q for byte 0x%02x", sym+endOfWord, b)
		}
		t.byteID[b], t.endID[b] = int32(id), int32(end)
	}
	for i, m := range merges {
		if m[0] == "" || m[1] == "" {
			return nil, fmt.Errorf("bpe: merge %d %q has an empty part", i, m)
		}
		id, ok := t.encoder[m[0]+m[1]]
		if !ok {
			return nil, fmt.Errorf("bpe: merge %d %q: %q is not in the vocab", i, m, m[0]+m[1])
		}
		a, okA := t.encoder[m[0]]
		b, okB := t.encoder[m[1]]
		if okA && okB {
			// A repeated pair keeps its last rank, as dict(zip(merges, ranks)) does.
			t.ranks[pairKey(int32(a), int32(b))] = merged{rank: int32(i), id: int32(id)}
		}
	}
	return t, nil
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Vocab returns a copy of the vocabulary in id order; New(Vocab(), Merges())
// rebuilds the tokenizer.
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.vocab...) }

// Merges returns a copy of the merges in rank order.
func (t *Tokenizer) Merges() [][2]string { return append([][2]string(nil), t.merges...) }

// SOT returns the id of "<|startoftext|>" (49406 for CLIP).
func (t *Tokenizer) SOT() int { return t.sot }

// EOT returns the id of "<|endoftext|>" (49407 for CLIP).
func (t *Tokenizer) EOT() int { return t.eot }

// VocabSize returns the number of vocabulary entries (49408 for CLIP).
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Encode returns the BPE ids of text after Clean and PreTokenize, without
// SOT and EOT, like SimpleTokenizer.encode. Special tokens written in the
// text become their ids.
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	for _, piece := range PreTokenize(Clean(text)) {
		ids = t.appendPiece(ids, piece)
	}
	return ids
}

// Tokenize returns SOT, the first context-2 ids of Encode(text) and EOT,
// without padding, and whether ids were dropped. This is clip.tokenize with
// truncate=True (which keeps 77 ids and writes EOT over the last) and
// CLIP4Clip's dataloader with max_words = context. It fails only if context
// is below 2; the caller pads with zeros.
func (t *Tokenizer) Tokenize(text string, context int) (ids []int, truncated bool, err error) {
	if context < 2 {
		return nil, false, fmt.Errorf("bpe: context %d leaves no room for SOT and EOT", context)
	}
	body := t.Encode(text)
	if len(body) > context-2 {
		body, truncated = body[:context-2], true
	}
	ids = make([]int, 0, len(body)+2)
	ids = append(ids, t.sot)
	ids = append(ids, body...)
	return append(ids, t.eot), truncated, nil
}

// Decode is SimpleTokenizer.decode: the bytes of the tokens, decoded as
// UTF-8 with U+FFFD for invalid sequences, with every "</w>" turned into a
// space. Special tokens come out as their text. Ids outside the vocabulary
// are skipped (Python raises KeyError).
func (t *Tokenizer) Decode(ids []int) string {
	var buf []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.vocab) {
			continue
		}
		for _, r := range t.vocab[id] {
			buf = append(buf, byte(byteOfSymbol[r]))
		}
	}
	return strings.ReplaceAll(validUTF8(string(buf)), endOfWord, " ")
}

// appendPiece appends the ids of one pre-token.
func (t *Tokenizer) appendPiece(ids []int, piece string) []int {
	switch piece {
	case StartOfText: // kept whole by SimpleTokenizer's initial cache
		return append(ids, t.sot)
	case EndOfText:
		return append(ids, t.eot)
	}
	if piece == "" {
		return ids
	}
	cacheable := len(piece) <= cacheMaxLen
	if cacheable {
		t.mu.RLock()
		word, ok := t.cache[piece]
		t.mu.RUnlock()
		if ok {
			for _, id := range word {
				ids = append(ids, int(id))
			}
			return ids
		}
	}
	word := t.bpe(piece)
	if cacheable {
		t.mu.Lock()
		if len(t.cache) >= cacheLimit {
			clear(t.cache)
		}
		t.cache[piece] = word
		t.mu.Unlock()
	}
	for _, id := range word {
		ids = append(ids, int(id))
	}
	return ids
}

// bpe splits one non-empty pre-token into vocabulary ids. It gives the
// result of SimpleTokenizer.bpe, which repeatedly takes the adjacent pair
// of lowest rank and merges all its occurrences left to right, in
// O(n log n) instead of O(n²): a heap holds (rank, position) of every
// pair that has a rank, and all entries of the lowest rank are merged
// together, in position order, skipping those a merge has changed.
func (t *Tokenizer) bpe(piece string) []int32 {
	n := len(piece)
	sym := make([]int32, n)  // symbol id at each position (list node)
	next := make([]int32, n) // next live position, -1 at the end
	prev := make([]int32, n) // previous live position, -1 at the start
	for i := 0; i < n; i++ {
		sym[i] = t.byteID[piece[i]]
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	sym[n-1] = t.endID[piece[n-1]]
	next[n-1] = -1

	var h pairHeap
	push := func(p int32) {
		if p < 0 || next[p] < 0 {
			return
		}
		if m, ok := t.ranks[pairKey(sym[p], sym[next[p]])]; ok {
			h.push(pairAt{rank: m.rank, pos: p})
		}
	}
	for i := 0; i < n-1; i++ {
		push(int32(i))
	}
	var batch []int32
	for len(h) > 0 {
		// Take every entry of the lowest rank first: merges made now can
		// create pairs of lower rank, which Python only sees after merging
		// all occurrences of this pair.
		rank := h[0].rank
		batch = batch[:0]
		for len(h) > 0 && h[0].rank == rank {
			batch = append(batch, h.pop().pos)
		}
		for _, p := range batch { // in position order
			// Entries go stale when a merge changes either symbol; symbols
			// only grow, so a stale entry never looks valid again.
			if sym[p] < 0 || next[p] < 0 {
				continue
			}
			q := next[p]
			m, ok := t.ranks[pairKey(sym[p], sym[q])]
			if !ok || m.rank != rank {
				continue
			}
			sym[p] = m.id
			sym[q] = -1 // dead
			next[p] = next[q]
			if next[q] >= 0 {
				prev[next[q]] = p
			}
			// The new pairs contain the merged symbol, so they are not
			// this pair and never join this batch.
			push(prev[p])
			push(p)
		}
	}
	out := make([]int32, 0, 4)
	for p := int32(0); p >= 0; p = next[p] {
		out = append(out, sym[p])
	}
	return out
}

// pairAt is a heap entry: the pair starting at list position pos.
type pairAt struct{ rank, pos int32 }

// pairHeap is a binary min-heap ordered by rank, then position.
type pairHeap []pairAt

func (h pairAt) less(o pairAt) bool {
	return h.rank < o.rank || (h.rank == o.rank && h.pos < o.pos)
}

func (h *pairHeap) push(e pairAt) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].less(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *pairHeap) pop() pairAt {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, min := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].less(s[min]) {
			min = l
		}
		if r < len(s) && s[r].less(s[min]) {
			min = r
		}
		if min == i {
			break
		}
		s[i], s[min] = s[min], s[i]
		i = min
	}
	*h = s
	return top
}
