package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

func runConvert(args []string) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	var ins multi
	fs.Var(&ins, "in", "checkpoint: a .pt/.bin state dict, a .safetensors file or a Hugging Face model directory (repeat to merge, e.g. a CLIP4Clip head checkpoint and its CLIP); or one model file, \"default\" (the built-in model) or hf:OWNER/NAME[@REV], to change its -dtype or write its -text-only part")
	out := fs.String("out", "", "model file to write")
	dtypeName := fs.String("dtype", "f16", "weight format of the matrices: f32, f16 or int8")
	block := fs.Int("block", 0, "int8 only: elements of a row sharing one scale (0: one scale per row)")
	vocab := fs.String("vocab", "", "CLIP's bpe_simple_vocab_16e6.txt.gz or a merges.txt (a Hugging Face directory brings its own)")
	var metas multi
	fs.Var(&metas, "meta", "key=value to record in the model file's meta (repeat; fetch records the download's source this way)")
	textOnly := fs.Bool("text-only", false, "write only the query side (text tower, tokenizer, logit scale): what a static site's visitors load to search an index built with the full model")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if len(ins) == 0 || *out == "" {
		return fmt.Errorf("need -in SRC and -out MODEL (see -h)")
	}
	dtype, err := quant.ParseDType(*dtypeName)
	if err != nil {
		return err
	}
	dtypeSet := false
	fs.Visit(func(f *flag.Flag) { dtypeSet = dtypeSet || f.Name == "dtype" || f.Name == "block" })
	if len(ins) == 1 && (isModelFile(ins[0]) || isModelName(ins[0])) {
		// A model: keep its weights as stored unless -dtype asks otherwise.
		m, err := openModel(ins[0])
		if err != nil {
			return err
		}
		if dtypeSet {
			if m, err = requantize(m, dtype, *block); err != nil {
				return err
			}
		}
		return writeConverted(m, *out, *textOnly)
	}
	for _, in := range ins {
		if isModelFile(in) {
			return fmt.Errorf("%s is a clip4clip model file: give it as the only -in", in)
		}
	}
	var lazies []*weights.Lazy
	var hfConfig []byte
	var tok *bpe.Tokenizer
	from := map[string]string{} // tensor name -> the -in it came from
	for _, in := range ins {
		l, cfg, t, closer, err := openCheckpoint(in)
		if err != nil {
			return err
		}
		defer closer.Close()
		if cfg != nil {
			hfConfig = cfg
		}
		if t != nil && tok == nil {
			tok = t
		}
		for _, lt := range l.Tensors {
			if _, dup := from[lt.Name]; dup {
				fmt.Fprintf(os.Stderr, "note: %s from %s replaces the earlier one\n", lt.Name, in)
			}
			from[lt.Name] = in
		}
		lazies = append(lazies, l)
	}
	if *vocab != "" {
		f, err := os.Open(*vocab)
		if err != nil {
			return err
		}
		tok, err = bpe.FromCLIPMerges(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *vocab, err)
		}
	}
	if tok == nil {
		return fmt.Errorf("no vocabulary: give -vocab with CLIP's bpe_simple_vocab_16e6.txt.gz (from the openai/CLIP repository) or a Hugging Face merges.txt")
	}
	m, probe, err := model.ConvertLazy(lazies, hfConfig, dtype, *block, tok, nil)
	if err != nil {
		return err
	}
	var srcs []string
	for _, in := range ins {
		srcs = append(srcs, filepath.Base(in))
	}
	m.Meta = map[string]string{"source": strings.Join(srcs, " + "), "dtype": dtype.String(), "converted_by": "clip4clip convert"}
	for k, v := range model.ProbeMeta(probe) {
		m.Meta[k] = v
	}
	for _, kv := range metas {
		k, v, _ := strings.Cut(kv, "=")
		m.Meta[k] = v
	}
	fmt.Fprintf(os.Stderr, "probe: %s features against the checkpoint's own weights, cosine %s\n", dtype, probe)
	if w := model.ProbeWarning(probe, dtype); w != "" {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	return writeConverted(m, *out, *textOnly)
}

// requantize returns m with its matrices in dtype: the model a file of that
// dtype holds, so its ID is the one the written file will have.
func requantize(m *model.CLIP, dtype quant.DType, block int) (*model.CLIP, error) {
	sd, err := m.StateDict(dtype, block)
	if err != nil {
		return nil, err
	}
	q, err := model.New(m.Config, sd)
	if err != nil {
		return nil, err
	}
	q.Tokenizer, q.Meta = m.Tokenizer, m.Meta
	if q.Meta != nil {
		q.Meta["dtype"] = dtype.String()
	}
	return q, nil
}

// writeConverted writes m as stored, or its query side for -text-only,
// with its calibration in the meta (storeCalibration).
func writeConverted(m *model.CLIP, out string, textOnly bool) error {
	if err := storeCalibration(m); err != nil {
		return err
	}
	what := "full model"
	if textOnly {
		t, err := m.TextOnly()
		if err != nil {
			return err
		}
		m, what = t, "text-only (query side of model "+shortID(m.ID())+")"
	}
	if err := m.SaveFile(out, model.KeepDType, 0); err != nil {
		return err
	}
	st, _ := os.Stat(out)
	cfg := m.Config
	fmt.Fprintf(os.Stderr, "wrote %s: %s, %s head, vision %d layers x %d, text %d layers x %d, embed %d, %s weights, %.1f MB\n",
		out, what, headName(cfg.Head.Type), cfg.Vision.Layers, cfg.Vision.Width, cfg.Text.Layers, cfg.Text.Width, cfg.EmbedDim, m.Meta["dtype"], float64(st.Size())/1e6)
	return nil
}

// isModelFile reports whether path starts with the model file magic.
// isModelName reports whether in names a model the way -model does
// ("default", hf:OWNER/NAME) rather than a file.
func isModelName(in string) bool {
	return !fileExists(in) && (in == "default" || strings.HasPrefix(in, "hf:"))
}

// openModel loads a model file or a model named as -model takes it.
func openModel(in string) (*model.CLIP, error) {
	path, err := resolveModel(in)
	if err != nil {
		return nil, err
	}
	if path == "default" && !fileExists(path) {
		return model.Load(weights.Default())
	}
	return model.LoadFile(path)
}

func isModelFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [8]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == weights.ModelMagic
}

// shortID is the first 12 hex digits of a model ID, for messages.
func shortID(id string) string { return id[:min(12, len(id))] }

// headName is the head a model's config names, meanP where it names none.
func headName(h string) string {
	if h == "" {
		return model.MeanP
	}
	return h
}

// openCheckpoint opens one -in for lazy reading: a Hugging Face directory
// (config.json, model.safetensors or pytorch_model.bin, vocab.json +
// merges.txt), a .safetensors file, or a torch.save / TorchScript file.
func openCheckpoint(path string) (l *weights.Lazy, hfConfig []byte, tok *bpe.Tokenizer, closer io.Closer, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	weightsFile := path
	if st.IsDir() {
		if hfConfig, err = os.ReadFile(filepath.Join(path, "config.json")); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%s is a directory but has no config.json: is it a Hugging Face CLIP model?", path)
		}
		if p := filepath.Join(path, "model.safetensors"); fileExists(p) {
			weightsFile = p
		} else if p := filepath.Join(path, "pytorch_model.bin"); fileExists(p) {
			weightsFile = p
		} else {
			return nil, nil, nil, nil, fmt.Errorf("%s has neither model.safetensors nor pytorch_model.bin", path)
		}
		vj, err1 := os.ReadFile(filepath.Join(path, "vocab.json"))
		mt, err2 := os.ReadFile(filepath.Join(path, "merges.txt"))
		if err1 == nil && err2 == nil {
			if tok, err = bpe.FromHF(vj, mt); err != nil {
				return nil, nil, nil, nil, fmt.Errorf("%s: vocab.json/merges.txt: %w", path, err)
			}
		}
	}
	f, err := os.Open(weightsFile)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fst, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, nil, nil, err
	}
	if strings.HasSuffix(weightsFile, ".safetensors") {
		l, err = weights.OpenSafetensors(f, fst.Size(), weightsFile)
	} else {
		l, err = weights.OpenTorch(f, fst.Size(), weightsFile)
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, nil, err
	}
	return l, hfConfig, tok, f, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
