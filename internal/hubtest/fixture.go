package hubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"clip4clip/model/bpe"
)

// FixtureCLIP returns the fixture tiny CLIP as a Hugging Face repo's files:
// config.json and model.safetensors from <shared>/fixtures/hf, and
// vocab.json and merges.txt written from CLIP's
// <shared>/fixtures/bpe_simple_vocab_16e6.txt.gz. The error wraps
// os.ErrNotExist when the fixtures are absent, for callers to skip.
func FixtureCLIP(shared string) (map[string][]byte, error) {
	files, err := fixtureTokenizer(shared)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(shared, "fixtures", "hf", name))
		if err != nil {
			return nil, fmt.Errorf("hubtest: fixture CLIP: %w", err)
		}
		files[name] = data
	}
	return files, nil
}

// FixtureCLIPBin is FixtureCLIP without model.safetensors but with
// pytorch_model.bin: the OpenAI state dict
// <shared>/fixtures/clip/clip_tiny_openai.pt, for the fallback path.
func FixtureCLIPBin(shared string) (map[string][]byte, error) {
	files, err := fixtureTokenizer(shared)
	if err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(shared, "fixtures", "hf", "config.json"))
	if err != nil {
		return nil, fmt.Errorf("hubtest: fixture CLIP: %w", err)
	}
	pt, err := os.ReadFile(filepath.Join(shared, "fixtures", "clip", "clip_tiny_openai.pt"))
	if err != nil {
		return nil, fmt.Errorf("hubtest: fixture CLIP: %w", err)
	}
	files["config.json"], files["pytorch_model.bin"] = cfg, pt
	return files, nil
}

// fixtureTokenizer returns vocab.json and merges.txt made from CLIP's
// merges file.
func fixtureTokenizer(shared string) (map[string][]byte, error) {
	f, err := os.Open(filepath.Join(shared, "fixtures", "bpe_simple_vocab_16e6.txt.gz"))
	if err != nil {
		return nil, fmt.Errorf("hubtest: fixture CLIP: %w", err)
	}
	defer f.Close()
	tok, err := bpe.FromCLIPMerges(f)
	if err != nil {
		return nil, fmt.Errorf("hubtest: fixture CLIP: %w", err)
	}
	vocab, merges := HFTokenizerFiles(tok)
	return map[string][]byte{"vocab.json": vocab, "merges.txt": merges}, nil
}

// HFTokenizerFiles writes tok as Hugging Face CLIPTokenizer files:
// vocab.json, a JSON object token -> id in id order (not ASCII-escaped, as
// transformers writes it), and merges.txt, a "#version: 0.2" line then one
// "a b" line per merge.
func HFTokenizerFiles(tok *bpe.Tokenizer) (vocabJSON, mergesTXT []byte) {
	var v bytes.Buffer
	v.WriteByte('{')
	for id, t := range tok.Vocab() {
		if id > 0 {
			v.WriteString(", ")
		}
		var k bytes.Buffer
		enc := json.NewEncoder(&k)
		enc.SetEscapeHTML(false)
		enc.Encode(t) // a string always encodes
		v.Write(bytes.TrimSuffix(k.Bytes(), []byte("\n")))
		fmt.Fprintf(&v, ": %d", id)
	}
	v.WriteByte('}')
	var m bytes.Buffer
	m.WriteString("#version: 0.2\n")
	for _, p := range tok.Merges() {
		m.WriteString(p[0] + " " + p[1] + "\n")
	}
	return v.Bytes(), m.Bytes()
}
