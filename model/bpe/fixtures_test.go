package bpe

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"clip4clip/internal/testenv"
	"github.com/stretchr/testify/require"
)

// fixtureDir holds the shared fixtures, relative to this package directory
// (<repo>/../shared/fixtures).
var fixtureDir = filepath.Join("..", "..", "..", "shared", "fixtures")

// fixture returns the path of a fixture file, or reports it missing
// (testenv.Missing).
func fixture(t testing.TB, name string) string {
	t.Helper()
	return testenv.Fixture(t, fixtureDir, name)
}

var loadCLIP = sync.OnceValues(func() (*Tokenizer, error) {
	f, err := os.Open(filepath.Join(fixtureDir, "bpe_simple_vocab_16e6.txt.gz"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return FromCLIPMerges(f)
})

// clipTokenizer is CLIP's tokenizer read from the fixtures.
func clipTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	fixture(t, "bpe_simple_vocab_16e6.txt.gz")
	tok, err := loadCLIP()
	require.NoError(t, err)
	return tok
}

type fixtureCase struct {
	Index                  int      `json:"index"`
	Category               string   `json:"category"`
	Text                   string   `json:"text"`
	Notes                  string   `json:"notes"`
	Cleaned                string   `json:"cleaned"`
	Pretokens              []string `json:"pretokens"`
	BPETokens              []string `json:"bpe_tokens"`
	IDs                    []int    `json:"ids"`
	IDsPadded77            []int    `json:"ids_padded_77"`
	Truncated              bool     `json:"truncated"`
	RaisesWithoutTruncate  bool     `json:"raises_without_truncate"`
	EOTIndexInPadded       int      `json:"eot_index_in_padded"`
	Decoded                string   `json:"decoded"`
	CLIP4ClipInputIDs      []int    `json:"clip4clip_input_ids"`
	CLIP4ClipAttentionMask []int    `json:"clip4clip_attention_mask"`
}

type fixtureFile struct {
	SOT      int           `json:"sot_id"`
	EOT      int           `json:"eot_id"`
	Context  int           `json:"context_length"`
	MaxWords int           `json:"clip4clip_max_words"`
	Pattern  string        `json:"pretokenizer_regex"`
	Cases    []fixtureCase `json:"cases"`
}

func loadCases(t testing.TB) fixtureFile {
	t.Helper()
	data, err := os.ReadFile(fixture(t, "tokenizer/cases.json"))
	require.NoError(t, err)
	var f fixtureFile
	require.NoError(t, json.Unmarshal(data, &f))
	require.Len(t, f.Cases, 48)
	return f
}

// requireSame fails with the case text and the first differing position.
func requireSame[T comparable](t *testing.T, want, got []T, text, what string) {
	t.Helper()
	n := min(len(want), len(got))
	for i := 0; i < n; i++ {
		if want[i] != got[i] {
			t.Fatalf("%s of %q: first difference at %d: want %v, got %v\nwant %v\ngot  %v",
				what, text, i, want[i], got[i], want, got)
		}
	}
	if len(want) != len(got) {
		t.Fatalf("%s of %q: length %d, want %d (same up to %d)\nwant %v\ngot  %v",
			what, text, len(got), len(want), n, want, got)
	}
}

func pad(ids []int, n int) []int {
	out := make([]int, n)
	copy(out, ids)
	return out
}

func TestFixtureCases(t *testing.T) {
	tok := clipTokenizer(t)
	f := loadCases(t)
	require.Equal(t, Pattern, f.Pattern)
	require.Equal(t, f.SOT, tok.SOT())
	require.Equal(t, f.EOT, tok.EOT())
	require.Equal(t, ContextLength, f.Context)
	vocab := tok.Vocab()
	for _, c := range f.Cases {
		t.Run(fmt.Sprintf("%02d_%s", c.Index, c.Category), func(t *testing.T) {
			cleaned := Clean(c.Text)
			require.Equalf(t, c.Cleaned, cleaned, "Clean(%q) (%s)", c.Text, c.Notes)
			requireSame(t, c.Pretokens, PreTokenize(cleaned), c.Text, "pretokens")

			body := tok.Encode(c.Text)
			ids, truncated, err := tok.Tokenize(c.Text, len(body)+2)
			require.NoError(t, err)
			require.False(t, truncated)
			requireSame(t, c.IDs, ids, c.Text, "ids")
			var bpe []string // bpe_tokens include SOT and EOT
			for _, id := range ids {
				bpe = append(bpe, vocab[id])
			}
			requireSame(t, c.BPETokens, bpe, c.Text, "bpe_tokens")

			ids, truncated, err = tok.Tokenize(c.Text, f.Context)
			require.NoError(t, err)
			require.Equal(t, c.Truncated, truncated, "truncated")
			require.Equal(t, c.RaisesWithoutTruncate, truncated, "raises_without_truncate")
			requireSame(t, c.IDsPadded77, pad(ids, f.Context), c.Text, "ids_padded_77")
			argmax := 0 // the first maximal id, as torch's argmax: a literal <|endoftext|> counts
			for i, id := range ids {
				if id > ids[argmax] {
					argmax = i
				}
			}
			require.Equal(t, c.EOTIndexInPadded, argmax, "eot_index_in_padded")

			ids, _, err = tok.Tokenize(c.Text, f.MaxWords)
			require.NoError(t, err)
			requireSame(t, c.CLIP4ClipInputIDs, pad(ids, f.MaxWords), c.Text, "clip4clip_input_ids")
			mask := pad(nil, f.MaxWords)
			for i := range ids {
				mask[i] = 1
			}
			requireSame(t, c.CLIP4ClipAttentionMask, mask, c.Text, "clip4clip_attention_mask")

			require.Equal(t, c.Decoded, tok.Decode(body), "decoded")
		})
	}
}

// readNPYInts reads a little-endian int32 or int64 .npy file.
func readNPYInts(t *testing.T, path string) (data []int, shape []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, len(b) > 10 && string(b[:6]) == "\x93NUMPY" && b[6] == 1, "npy v1 header")
	n := int(binary.LittleEndian.Uint16(b[8:10]))
	header, body := string(b[10:10+n]), b[10+n:]
	descr := regexp.MustCompile(`'descr': '([^']*)'`).FindStringSubmatch(header)
	dims := regexp.MustCompile(`'shape': \(([^)]*)\)`).FindStringSubmatch(header)
	require.NotNil(t, descr)
	require.NotNil(t, dims)
	for _, d := range strings.Split(dims[1], ",") {
		if d = strings.TrimSpace(d); d != "" {
			v, err := strconv.Atoi(d)
			require.NoError(t, err)
			shape = append(shape, v)
		}
	}
	switch descr[1] {
	case "<i4":
		for i := 0; i+4 <= len(body); i += 4 {
			data = append(data, int(int32(binary.LittleEndian.Uint32(body[i:]))))
		}
	case "<i8":
		for i := 0; i+8 <= len(body); i += 8 {
			data = append(data, int(int64(binary.LittleEndian.Uint64(body[i:]))))
		}
	default:
		t.Fatalf("%s: dtype %s", path, descr[1])
	}
	return data, shape
}

// TestCaptionTokens checks the token inputs of the model fixtures:
// clip.tokenize for CLIP and the MSR-VTT dataloader for CLIP4Clip.
func TestCaptionTokens(t *testing.T) {
	tok := clipTokenizer(t)
	for _, set := range []struct{ captions, ids, mask string }{
		{"clip/captions.json", "clip/text_tokens.npy", ""},
		{"clip4clip/captions.json", "clip4clip/input_ids.npy", "clip4clip/attention_mask.npy"},
	} {
		raw, err := os.ReadFile(fixture(t, set.captions))
		require.NoError(t, err)
		var captions []string
		require.NoError(t, json.Unmarshal(raw, &captions))
		want, shape := readNPYInts(t, fixture(t, set.ids))
		require.Equal(t, []int{len(captions), shape[1]}, shape)
		var mask []int
		if set.mask != "" {
			mask, _ = readNPYInts(t, fixture(t, set.mask))
		}
		n := shape[1]
		for i, c := range captions {
			ids, _, err := tok.Tokenize(c, n)
			require.NoError(t, err)
			requireSame(t, want[i*n:(i+1)*n], pad(ids, n), c, set.ids)
			if mask != nil {
				for j := 0; j < n; j++ {
					require.Equal(t, j < len(ids), mask[i*n+j] == 1, "%s row %d col %d", set.mask, i, j)
				}
			}
		}
	}
}

func TestCLIPVocabulary(t *testing.T) {
	tok := clipTokenizer(t)
	vocab, merges := tok.Vocab(), tok.Merges()
	require.Equal(t, 49408, tok.VocabSize())
	require.Len(t, vocab, 49408)
	require.Len(t, merges, CLIPMergeCount)
	require.Equal(t, "!", vocab[0])
	require.Equal(t, "!</w>", vocab[256])
	require.Equal(t, "\u0100", vocab[188]) // byte 0x00, the first non-printable
	require.Equal(t, StartOfText, vocab[tok.SOT()])
	require.Equal(t, EndOfText, vocab[tok.EOT()])
	require.Equal(t, [2]string{"jeky", "ll</w>"}, merges[len(merges)-1])
	seen := make(map[string]bool, len(vocab))
	for _, v := range vocab {
		require.False(t, seen[v], "duplicate vocab entry %q", v)
		seen[v] = true
	}

	// New(Vocab(), Merges()) gives the same tokenizer.
	again, err := New(vocab, merges)
	require.NoError(t, err)
	f := loadCases(t)
	for _, c := range f.Cases {
		requireSame(t, tok.Encode(c.Text), again.Encode(c.Text), c.Text, "rebuilt")
	}
}

// TestFromHF writes CLIP's vocabulary as Hugging Face files and reads them
// back.
func TestFromHF(t *testing.T) {
	tok := clipTokenizer(t)
	enc := map[string]int{}
	for id, v := range tok.Vocab() {
		enc[v] = id
	}
	vocabJSON, err := json.Marshal(enc)
	require.NoError(t, err)
	var merges strings.Builder
	merges.WriteString("#version: 0.2\n")
	for _, m := range tok.Merges() {
		merges.WriteString(m[0] + " " + m[1] + "\n")
	}
	hf, err := FromHF(vocabJSON, []byte(merges.String()))
	require.NoError(t, err)
	require.Equal(t, tok.Vocab(), hf.Vocab())
	require.Equal(t, tok.Merges(), hf.Merges())

	// The same merges.txt through FromCLIPMerges.
	plain, err := FromCLIPMerges(strings.NewReader(merges.String()))
	require.NoError(t, err)
	require.Equal(t, tok.Vocab(), plain.Vocab())

	for _, c := range loadCases(t).Cases {
		requireSame(t, tok.Encode(c.Text), hf.Encode(c.Text), c.Text, "FromHF")
	}
}
