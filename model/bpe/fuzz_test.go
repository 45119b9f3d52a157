package bpe

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are strings that have tripped tokenizers before.
var fuzzSeeds = []string{
	"", " ", "a photo of a cat", "HELLO, World!", "it's 'tis rock'n'roll 'ſ", "ΟΔΥΣΣΕΥΣ Σ.", "İstanbul",
	"<|startoftext|>hi<|endoftext|>", "!<|endoftext|>", "</w>", "</ w>", "&amp &amp;amp; &#0; &#x110000; &#99999999999999;",
	"&notit; &nLt; &aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "x\u0345y", "a\x1cb\x1f", "\xff\xfe\xe2\x82",
	"I ❤️ pizza 👨\u200d👩\u200d👧", "สวัสดีครับ", "٣½²", "\u00a0\u3000\u2028", strings.Repeat("ab", 300),
}

// fuzzTokenizer is CLIP's tokenizer when the fixtures are there, else a
// small one with the same layout (so the invariants are still checked).
func fuzzTokenizer(f *testing.F) *Tokenizer {
	if _, err := os.Stat(filepath.Join(fixtureDir, "bpe_simple_vocab_16e6.txt.gz")); err == nil {
		return clipTokenizer(f)
	}
	f.Logf("fixtures missing under %s: fuzzing a small synthetic vocabulary", fixtureDir)
	return synthetic(f, smallMerges...)
}

func FuzzTokenize(f *testing.F) {
	tok := fuzzTokenizer(f)
	for i, s := range fuzzSeeds {
		f.Add(s, uint8(77-i))
	}
	if _, err := os.Stat(filepath.Join(fixtureDir, "tokenizer/cases.json")); err == nil {
		for _, c := range loadCases(f).Cases {
			f.Add(c.Text, uint8(77))
		}
	}
	ranks := referenceRanks(tok.Merges())
	f.Fuzz(func(t *testing.T, text string, context uint8) {
		ctx := int(context)
		ids, truncated, err := tok.Tokenize(text, ctx)
		if ctx < 2 {
			if err == nil {
				t.Fatalf("Tokenize(%q, %d): no error", text, ctx)
			}
			return
		}
		if err != nil {
			t.Fatalf("Tokenize(%q, %d): %v", text, ctx, err)
		}
		body := tok.Encode(text)
		if len(ids) > ctx || len(ids) < 2 || ids[0] != tok.SOT() || ids[len(ids)-1] != tok.EOT() {
			t.Fatalf("Tokenize(%q, %d) = %v", text, ctx, ids)
		}
		if truncated != (len(body) > ctx-2) || !equalInts(ids[1:len(ids)-1], body[:len(ids)-2]) {
			t.Fatalf("Tokenize(%q, %d) = %v, %v; Encode = %v", text, ctx, ids, truncated, body)
		}
		for _, id := range body {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("Encode(%q): id %d out of range", text, id)
			}
		}
		// Decode gives the cleaned text back, up to spaces ("</w>" ends
		// every word) and the U+0345 that the pre-tokenizer skips.
		strip := strings.NewReplacer(" ", "", "\u0345", "")
		cleaned := Clean(text)
		if got, want := strip.Replace(tok.Decode(body)), strip.Replace(cleaned); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q without spaces", text, got, want)
		}
		for _, p := range PreTokenize(cleaned) {
			if p == StartOfText || p == EndOfText || len(p) > 300 {
				continue
			}
			want := referenceBPE(ranks, p)
			if got := symbols(tok, p); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("bpe(%q) = %q, want %q", p, got, want)
			}
		}
	})
}

// checkLoaded exercises a tokenizer a fuzzed file produced.
func checkLoaded(t *testing.T, tok *Tokenizer) {
	again, err := New(tok.Vocab(), tok.Merges())
	if err != nil {
		t.Fatalf("New(Vocab(), Merges()): %v", err)
	}
	for _, s := range fuzzSeeds[:12] {
		ids, _, err := tok.Tokenize(s, ContextLength)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if !equalInts(ids[1:len(ids)-1], again.Encode(s)[:len(ids)-2]) {
			t.Fatalf("rebuilt tokenizer differs on %q", s)
		}
		tok.Decode(ids)
	}
}

func FuzzFromCLIPMerges(f *testing.F) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	small := "#version: 0.2\nt h\nth e</w>\na t</w>\nc at</w>\n"
	for _, s := range []string{"", "\n", small, "#v\na b c\n", "#v\n\n\n", "#v\na \xff\n", "#v\nab</w> c\n", "#v\r\na\tb\r\n"} {
		f.Add([]byte(s))
	}
	f.Add(gz(small))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := FromCLIPMerges(bytes.NewReader(data))
		if err != nil {
			return
		}
		if tok.VocabSize() != 512+len(tok.Merges())+2 {
			t.Fatalf("vocab size %d for %d merges", tok.VocabSize(), len(tok.Merges()))
		}
		checkLoaded(t, tok)
	})
}

func FuzzFromHF(f *testing.F) {
	tok := synthetic(f, smallMerges...)
	enc := map[string]int{}
	for id, v := range tok.Vocab() {
		enc[v] = id
	}
	vocabJSON, _ := json.Marshal(enc)
	var merges strings.Builder
	merges.WriteString("#version: 0.2\n")
	for _, m := range tok.Merges() {
		merges.WriteString(m[0] + " " + m[1] + "\n")
	}
	f.Add(vocabJSON, []byte(merges.String()))
	f.Add(vocabJSON, []byte("#version: 0.2\nq q\n"))
	f.Add([]byte(`{"a": 0, "b": 0}`), []byte("#version: 0.2\na b\n"))
	f.Add([]byte(`{"<|startoftext|>": 0, "<|endoftext|>": 1}`), []byte(""))
	f.Add([]byte(`{"\u00ff": 1e3}`), []byte("x"))
	f.Fuzz(func(t *testing.T, vocabJSON, mergesTXT []byte) {
		tok, err := FromHF(vocabJSON, mergesTXT)
		if err != nil {
			return
		}
		checkLoaded(t, tok)
	})
}
