package bpe

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// FromCLIPMerges reads CLIP's merges file, bpe_simple_vocab_16e6.txt or its
// .gz (gzip is recognised by its magic bytes), and builds the vocabulary the
// way SimpleTokenizer does: the 256 byte symbols, the same with "</w>", the
// joined merges, then "<|startoftext|>" and "<|endoftext|>". The first line
// is a header and is skipped; the next CLIPMergeCount lines are used and
// the rest of the file is ignored. A Hugging Face merges.txt ("#version"
// header) is read the same way. Malformed lines give an error with their
// line number; a file with fewer merges gives a smaller vocabulary, as in
// Python.
func FromCLIPMerges(r io.Reader) (*Tokenizer, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("bpe: reading merges: %w", err)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("bpe: merges: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("bpe: merges: %w", err)
		}
	}
	merges, err := parseMerges(data)
	if err != nil {
		return nil, err
	}
	return newCLIP(merges)
}

// newCLIP builds SimpleTokenizer's vocabulary around merges.
func newCLIP(merges [][2]string) (*Tokenizer, error) {
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
	vocab = append(vocab, StartOfText, EndOfText)
	return New(vocab, merges)
}

// FromHF builds a tokenizer from Hugging Face CLIPTokenizer files:
// vocab.json (token -> id, ids 0..n-1 each used once) and merges.txt (a
// "#version" header line, then at most CLIPMergeCount merges are read, as
// CLIPTokenizer does). Text is processed like CLIP's simple_tokenizer,
// which is what CLIPTokenizer does when ftfy is installed.
func FromHF(vocabJSON, mergesTXT []byte) (*Tokenizer, error) {
	var enc map[string]int
	if err := json.Unmarshal(vocabJSON, &enc); err != nil {
		return nil, fmt.Errorf("bpe: vocab.json: %w", err)
	}
	vocab := make([]string, len(enc))
	for tok, id := range enc {
		if id < 0 || id >= len(enc) {
			return nil, fmt.Errorf("bpe: vocab.json: id %d of %q is outside 0..%d", id, tok, len(enc)-1)
		}
		if vocab[id] != "" {
			return nil, fmt.Errorf("bpe: vocab.json: id %d is used by %q and %q", id, vocab[id], tok)
		}
		if tok == "" {
			return nil, fmt.Errorf("bpe: vocab.json: id %d has an empty token", id)
		}
		vocab[id] = tok
	}
	merges, err := parseMerges(mergesTXT)
	if err != nil {
		return nil, err
	}
	return New(vocab, merges)
}

// parseMerges reads lines 1..CLIPMergeCount of a merges file (line 0 is the
// header), each two symbols separated by whitespace. One empty line at the
// end of the file (its final newline) is not a merge.
func parseMerges(data []byte) ([][2]string, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("bpe: merges file is not valid UTF-8")
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > CLIPMergeCount+1 {
		lines = lines[:CLIPMergeCount+1]
	}
	if len(lines) < 2 {
		return nil, fmt.Errorf("bpe: merges file has no merges after its header")
	}
	merges := make([][2]string, 0, len(lines)-1)
	for i, line := range lines[1:] {
		f := strings.FieldsFunc(line, isPySpace) // Python's str.split()
		if len(f) != 2 {
			return nil, fmt.Errorf("bpe: merges line %d: want 2 symbols, got %d in %q", i+2, len(f), line)
		}
		for _, part := range f {
			for _, r := range part {
				if !isByteSymbol(r) {
					return nil, fmt.Errorf("bpe: merges line %d: %q is not a byte symbol", i+2, r)
				}
			}
		}
		merges = append(merges, [2]string{f[0], f[1]})
	}
	return merges, nil
}
