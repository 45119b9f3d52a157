package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"clip4clip/internal/npy"
	"clip4clip/model"
	"clip4clip/model/preprocess"
)

func runScore(args []string) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file")
	head := fs.String("head", "", "similarity head: meanP, seqLSTM, seqTransf or tightTransf (default: the model's own)")
	framesPath := fs.String("frames", "", "frames .npy: uint8 (B, T, H, W, 3) at the model's resolution, or float32 preprocessed (B, T, 3, H, W)")
	maskPath := fs.String("video-mask", "", "video mask .npy (B, T): 1 for a real frame, 0 for padding")
	textsPath := fs.String("texts", "", "JSON array of captions (rows of the logits)")
	maxWords := fs.Int("max-words", 0, "caption length in tokens, start and end included (default: the model's, 32)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *framesPath == "" || *maskPath == "" || *textsPath == "" {
		return fmt.Errorf("need -frames, -video-mask and -texts (see -h)")
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	if *head == "" {
		*head = m.Config.Head.Type
	}
	if *maxWords == 0 {
		*maxWords = m.Config.Head.MaxWords
	}
	texts, err := readTexts(*textsPath)
	if err != nil {
		return err
	}
	frames, mask, b, t, err := readFrames(m, *framesPath, *maskPath)
	if err != nil {
		return err
	}
	e := m.NewEncoder()
	d := m.Config.EmbedDim
	text := make([]float32, len(texts)*d)
	for i, s := range texts {
		ids, _, err := m.Tokenizer.Tokenize(s, *maxWords)
		if err != nil {
			return err
		}
		if err := e.EncodeText(text[i*d:(i+1)*d], ids); err != nil {
			return err
		}
	}
	size := 3 * m.Config.Vision.Resolution * m.Config.Vision.Resolution
	vis := make([]float32, b*t*d)
	for v := 0; v < b; v++ {
		if err := e.EncodeFrames(vis[v*t*d:(v+1)*t*d], frames[v*t*size:(v+1)*t*size], t); err != nil {
			return err
		}
	}
	logits, err := e.Logits(*head, text, len(texts), vis, mask, b, t)
	if err != nil {
		return err
	}
	rows := make([][]float32, len(texts))
	for i := range rows {
		rows[i] = logits[i*b : (i+1)*b]
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	w.WriteString(`{"logits": `)
	writeMatrix(w, rows)
	if len(texts) == b {
		loss, _, _, _ := model.SymmetricLoss(logits, b)
		fmt.Fprintf(w, `, "loss": %s`, formatFloat(loss))
	} else {
		w.WriteString(`, "loss": null`)
		fmt.Fprintf(os.Stderr, "note: %d captions and %d videos: the loss needs one caption per video, so it is null\n", len(texts), b)
	}
	w.WriteString("}\n")
	return nil
}

func readTexts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var texts []string
	if err := json.Unmarshal(b, &texts); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of strings: %v", path, err)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%s holds no captions", path)
	}
	return texts, nil
}

// readFrames loads a batch of clips as model input, (B, T, 3, res, res),
// zeroing masked slots as CLIP4Clip's dataloader does.
func readFrames(m *model.CLIP, framesPath, maskPath string) (frames []float32, mask []bool, b, t int, err error) {
	res := m.Config.Vision.Resolution
	size := 3 * res * res
	fa, err := npy.ReadFile(framesPath)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	ma, err := npy.ReadFile(maskPath)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	s := fa.Shape
	switch {
	case len(s) == 5 && s[4] == 3 && fa.DType == "|u1":
		if s[2] != res || s[3] != res {
			return nil, nil, 0, 0, fmt.Errorf("%s holds %dx%d frames; the model takes %dx%d (resize and center-crop first, or pass float32 preprocessed frames)", framesPath, s[3], s[2], res, res)
		}
	case len(s) == 5 && s[2] == 3:
		if s[3] != res || s[4] != res {
			return nil, nil, 0, 0, fmt.Errorf("%s holds %dx%d frames; the model takes %dx%d", framesPath, s[4], s[3], res, res)
		}
	default:
		return nil, nil, 0, 0, fmt.Errorf("%s has shape %v (%s); want uint8 (B, T, %d, %d, 3) or float32 (B, T, 3, %d, %d)", framesPath, s, fa.DType, res, res, res, res)
	}
	b, t = s[0], s[1]
	if len(ma.Shape) != 2 || ma.Shape[0] != b || ma.Shape[1] != t {
		return nil, nil, 0, 0, fmt.Errorf("%s has shape %v; want (%d, %d) to match the frames", maskPath, ma.Shape, b, t)
	}
	mv, err := ma.Int64()
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%s: %w", maskPath, err)
	}
	mask = make([]bool, b*t)
	for i, v := range mv {
		mask[i] = v != 0
	}
	for v := 0; v < b; v++ {
		if !mask[v*t] {
			return nil, nil, 0, 0, fmt.Errorf("%s: video %d has no valid first frame; valid frames come first and every video needs one", maskPath, v)
		}
	}
	frames = make([]float32, b*t*size)
	if fa.DType == "|u1" {
		pix, err := fa.Uint8()
		if err != nil {
			return nil, nil, 0, 0, err
		}
		for i := range mask {
			if mask[i] {
				preprocess.NormalizeHWC(frames[i*size:(i+1)*size], pix[i*size:(i+1)*size], res, res, 3)
			}
		}
	} else {
		f, err := fa.Float32()
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("%s: %w", framesPath, err)
		}
		for i := range mask {
			if mask[i] {
				copy(frames[i*size:(i+1)*size], f[i*size:(i+1)*size])
			}
		}
	}
	return frames, mask, b, t, nil
}

func formatFloat(v float64) string {
	return fmt.Sprint(float32(v))
}
