package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"strconv"

	"clip4clip/internal/npy"
	"clip4clip/model"
	"clip4clip/model/preprocess"
	"clip4clip/weights"
)

func runTokenize(args []string) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file (its vocabulary is used), "+modelHelp)
	context := fs.Int("context", 0, "context length to truncate to (default: the model's, 77 for CLIP)")
	setUsage(fs, "tokenize -model MODEL [-context N] CAPTION...", `Prints the token ids of each caption, one JSON line per argument: each
argument is one caption, so quote one of several words
(tokenize -model default "a red star" "a blue ring" prints two lines).
search, by contrast, joins its words into one query.`)
	texts, err := parse(fs, args)
	if err != nil {
		return err
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	if *context == 0 {
		*context = m.Config.Text.Context
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	for _, t := range texts {
		ids, _, err := m.Tokenizer.Tokenize(t, *context)
		if err != nil {
			return err
		}
		if err := enc.Encode(struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}{t, ids}); err != nil {
			return err
		}
	}
	return nil
}

func loadModel(path string) (*model.CLIP, error) {
	if path == "" {
		return nil, fmt.Errorf("need -model MODEL (a file made by `clip4clip convert`, %s)", modelHelp)
	}
	path, err := resolveModel(path)
	if err != nil {
		return nil, err
	}
	var m *model.CLIP
	if path == "default" {
		m, err = model.Load(weights.Default())
	} else {
		m, err = model.LoadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("%s stores no tokenizer; convert it again with -vocab", path)
	}
	return m, nil
}

func runEmbed(args []string) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file, "+modelHelp)
	pixels := fs.String("pixels", "", "float32 .npy of preprocessed images (N, 3, H, W)")
	textsPath := fs.String("texts", "", "JSON array of captions")
	var texts multi
	fs.Var(&texts, "text", "a caption (repeatable)")
	var images multi
	fs.Var(&images, "images", "image files to preprocess and embed (PNG, JPEG, GIF); more may follow as arguments")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(images) > 0 {
		images = append(images, rest...)
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q (images go after -images)", rest)
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	e := m.NewEncoder()
	d, res := m.Config.EmbedDim, m.Config.Vision.Resolution
	var imgFeat, txtFeat [][]float32
	if *pixels != "" {
		a, err := npy.ReadFile(*pixels)
		if err != nil {
			return err
		}
		if len(a.Shape) != 4 || a.Shape[1] != 3 || a.Shape[2] != res || a.Shape[3] != res {
			return fmt.Errorf("%s has shape %v; want (N, 3, %d, %d) preprocessed images", *pixels, a.Shape, res, res)
		}
		v, err := a.Float32()
		if err != nil {
			return fmt.Errorf("%s: %w", *pixels, err)
		}
		for i := 0; i < a.Shape[0]; i++ {
			f := make([]float32, d)
			if err := e.EncodeImage(f, v[i*3*res*res:(i+1)*3*res*res]); err != nil {
				return err
			}
			imgFeat = append(imgFeat, f)
		}
	}
	for _, path := range images {
		img, err := decodeImage(path)
		if err != nil {
			return err
		}
		pix, err := preprocess.Image(img, res)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		f := make([]float32, d)
		if err := e.EncodeImage(f, pix); err != nil {
			return err
		}
		imgFeat = append(imgFeat, f)
	}
	if *textsPath != "" {
		b, err := os.ReadFile(*textsPath)
		if err != nil {
			return err
		}
		var more []string
		if err := json.Unmarshal(b, &more); err != nil {
			return fmt.Errorf("%s: want a JSON array of strings: %v", *textsPath, err)
		}
		texts = append(texts, more...)
	}
	for _, t := range texts {
		ids, truncated, err := m.Tokenizer.Tokenize(t, m.Config.Text.Context)
		if err != nil {
			return err
		}
		if truncated {
			fmt.Fprintf(os.Stderr, "note: %q is longer than %d tokens and was truncated\n", t, m.Config.Text.Context)
		}
		f := make([]float32, d)
		if err := e.EncodeText(f, ids); err != nil {
			return err
		}
		txtFeat = append(txtFeat, f)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	w.WriteString(`{"image_features": `)
	writeMatrix(w, imgFeat)
	w.WriteString(`, "text_features": `)
	writeMatrix(w, txtFeat)
	w.WriteString("}\n")
	return nil
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decode the image (PNG, JPEG and GIF are supported): %v", path, err)
	}
	return img, nil
}

// writeMatrix prints rows of float32 in full precision (shortest repr that
// reads back to the same float32).
func writeMatrix(w *bufio.Writer, rows [][]float32) {
	w.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			w.WriteString(", ")
		}
		w.WriteByte('[')
		for j, v := range r {
			if j > 0 {
				w.WriteString(", ")
			}
			w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
		}
		w.WriteByte(']')
	}
	w.WriteByte(']')
}
