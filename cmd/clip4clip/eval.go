package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"clip4clip/internal/npy"
	"clip4clip/model"
	"clip4clip/model/preprocess"
	"clip4clip/synth"
)

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file (with -data)")
	data := fs.String("data", "", "dataset directory: captions.json ([{video, caption}]) and per video either VIDEO.npy (uint8 frames (T, H, W, 3)) or a folder VIDEO/ of frame images; or synth:SEED:N for N clips of the synthetic world")
	head := fs.String("head", "", "similarity head (default: the model's own)")
	maxFrames := fs.Int("max-frames", 12, "frames per clip; longer clips are sampled uniformly down to this")
	simPath := fs.String("sim", "", "precomputed similarity matrix .npy (N, N), rows captions, columns videos")
	textFeat := fs.String("text-features", "", "precomputed caption features .npy (N, D) (with -video-features)")
	videoFeat := fs.String("video-features", "", "precomputed video features .npy (N, D): cosine similarity is used")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	order := fs.Int("order", 0, "with -model: also score this many temporal-order pairs of the synthetic world (seed -order-seed) with the model's head and meanP, as they are and with the same frames cut and swapped")
	orderSeed := fs.Uint64("order-seed", 3000, "seed of the -order pairs")
	moments := fs.Int("moments", 0, "with -model: also search this many long videos of the synthetic world (seeds -moments-seed on) for their events, as the page searches moments, and print how often the best moment in an event's own video overlaps it")
	momentsSeed := fs.Uint64("moments-seed", 9000, "seed of the first -moments video")
	momentsLength := fs.Float64("moments-length", 60, "length of each -moments video in seconds")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	// The model, loaded once for -data, -moments and -order.
	var m *model.CLIP
	getModel := func() (*model.CLIP, error) {
		if m == nil {
			var err error
			if m, err = loadModel(*modelPath); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	var sim []float32
	var n int
	var err error
	switch {
	case *simPath != "":
		sim, n, err = readSquare(*simPath)
	case *textFeat != "" || *videoFeat != "":
		sim, n, err = cosineMatrix(*textFeat, *videoFeat)
	case *data != "":
		if _, err = getModel(); err == nil {
			sim, n, err = evalData(m, *data, *head, *maxFrames)
		}
	case *moments > 0:
	default:
		err = fmt.Errorf("need -sim, -text-features with -video-features, or -model with -data or -moments (see -h)")
	}
	if err != nil {
		return err
	}
	var mr *momentResult
	if *moments > 0 {
		if *momentsLength < 8 {
			return fmt.Errorf("-moments-length %g: want at least 8 seconds (a video with events; the demo videos are 60)", *momentsLength)
		}
		if _, err := getModel(); err != nil {
			return err
		}
		r, err := evalMoments(m, *momentsSeed, *moments, *momentsLength)
		if err != nil {
			return err
		}
		mr = &r
		if n == 0 {
			if *asJSON {
				return json.NewEncoder(os.Stdout).Encode(map[string]any{"moments": mr})
			}
			mr.print()
			return nil
		}
	}
	var orderAcc, cutAcc map[string]float64
	if *order > 0 {
		if _, err := getModel(); err != nil {
			return err
		}
		heads := []string{model.MeanP}
		if m.Config.Head.Type != model.MeanP {
			heads = append(heads, m.Config.Head.Type)
		}
		if orderAcc, err = evalOrder(m, *orderSeed, *order, heads, synth.OrderPairAt); err != nil {
			return err
		}
		if cutAcc, err = evalOrder(m, *orderSeed, *order, heads, synth.CutPairAt); err != nil {
			return err
		}
	}
	t2v, err := model.ComputeMetrics(sim, n)
	if err != nil {
		return err
	}
	v2t, err := model.ComputeMetrics(model.Transpose(sim, n, n), n)
	if err != nil {
		return err
	}
	if *asJSON {
		type row struct {
			R1, R5, R10, MedianR, MeanR float64
		}
		out := map[string]any{
			"n":             n,
			"text_to_video": row{t2v.R1, t2v.R5, t2v.R10, t2v.MedianR, t2v.MeanR},
			"video_to_text": row{v2t.R1, v2t.R5, v2t.R10, v2t.MedianR, v2t.MeanR},
		}
		if orderAcc != nil {
			out["temporal_order"] = orderAcc
			out["temporal_order_cut"] = cutAcc
		}
		if mr != nil {
			out["moments"] = mr
		}
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	fmt.Printf("%d pairs\n%-14s %6s %6s %6s %6s %7s\n", n, "direction", "R@1", "R@5", "R@10", "MdR", "MnR")
	for _, r := range []struct {
		name string
		m    model.Metrics
	}{{"text-to-video", t2v}, {"video-to-text", v2t}} {
		fmt.Printf("%-14s %6.1f %6.1f %6.1f %6.1f %7.2f\n", r.name, r.m.R1, r.m.R5, r.m.R10, r.m.MedianR, r.m.MeanR)
	}
	for _, h := range slices.Sorted(maps.Keys(orderAcc)) {
		fmt.Printf("temporal order, %s: %.1f%% of %d captions pick their own clip\n", h, 100*orderAcc[h], 2**order)
	}
	for _, h := range slices.Sorted(maps.Keys(cutAcc)) {
		fmt.Printf("temporal order across a cut (the same frames, halves swapped), %s: %.1f%% of %d captions pick their own clip (a tie counts half)\n", h, 100*cutAcc[h], 2**order)
	}
	if mr != nil {
		mr.print()
	}
	return nil
}

func readSquare(path string) ([]float32, int, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(a.Shape) != 2 || a.Shape[0] != a.Shape[1] || a.Shape[0] == 0 {
		return nil, 0, fmt.Errorf("%s has shape %v; want a square (N, N) matrix", path, a.Shape)
	}
	v, err := a.Float32()
	return v, a.Shape[0], err
}

func cosineMatrix(textPath, videoPath string) ([]float32, int, error) {
	if textPath == "" || videoPath == "" {
		return nil, 0, fmt.Errorf("-text-features and -video-features go together")
	}
	read := func(p string) ([]float32, []int, error) {
		a, err := npy.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		if len(a.Shape) != 2 {
			return nil, nil, fmt.Errorf("%s has shape %v; want (N, D)", p, a.Shape)
		}
		v, err := a.Float32()
		return v, a.Shape, err
	}
	t, ts, err := read(textPath)
	if err != nil {
		return nil, 0, err
	}
	v, vs, err := read(videoPath)
	if err != nil {
		return nil, 0, err
	}
	if ts[0] != vs[0] || ts[1] != vs[1] {
		return nil, 0, fmt.Errorf("caption features %v and video features %v differ in shape; want one caption per video", ts, vs)
	}
	n, d := ts[0], ts[1]
	normalize(t, d)
	normalize(v, d)
	sim := make([]float32, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for k := 0; k < d; k++ {
				s += float64(t[i*d+k]) * float64(v[j*d+k])
			}
			sim[i*n+j] = float32(s)
		}
	}
	return sim, n, nil
}

func normalize(x []float32, d int) {
	for i := 0; i+d <= len(x); i += d {
		model.L2Normalize(x[i : i+d])
	}
}

type pair struct {
	Video   string `json:"video"`
	Caption string `json:"caption"`
}

// evalData embeds a dataset and returns its (captions, videos) logits
// under head; video j is pair j's video. data is a directory or
// synth:SEED:N (N clips of the synthetic world).
func evalData(m *model.CLIP, data, head string, maxFrames int) ([]float32, int, error) {
	if head == "" {
		head = m.Config.Head.Type
	}
	res := m.Config.Vision.Resolution
	var pairs []pair
	var load func(video string) ([]float32, error)
	if strings.HasPrefix(data, "synth:") {
		sd, err := parseSynthData(data, res, 8)
		if err != nil {
			return nil, 0, err
		}
		clips := map[string]int{}
		for i := 0; i < sd.n; i++ {
			c := synth.GenerateAt(sd.seed, i, synth.Options{Resolution: 8})
			pairs = append(pairs, pair{Video: c.ID, Caption: c.Caption})
			clips[c.ID] = i
		}
		load = func(video string) ([]float32, error) {
			frames, _, err := sd.Clip(clips[video])
			if err != nil {
				return nil, err
			}
			return concat(model.SampleUniform(frames, maxFrames)), nil
		}
	} else {
		var err error
		if pairs, err = readPairs(data); err != nil {
			return nil, 0, err
		}
		load = func(video string) ([]float32, error) { return loadClip(data, video, res, maxFrames) }
	}
	n, d := len(pairs), m.Config.EmbedDim
	e := m.NewEncoder()
	text := make([]float32, n*d)
	prog := newMeter("eval: embedding captions", "captions", n)
	for i, p := range pairs {
		if err := encodeCaption(m, e, text[i*d:(i+1)*d], p.Caption); err != nil {
			return nil, 0, err
		}
		prog.add(1)
	}
	prog.finish()
	// Every clip is padded to the longest, with its mask, as the reference.
	feats := map[string][]float32{}
	distinct := map[string]bool{}
	for _, p := range pairs {
		distinct[p.Video] = true
	}
	prog = newMeter("eval: embedding clips", "clips", len(distinct))
	t := 0
	for _, p := range pairs {
		if _, ok := feats[p.Video]; ok {
			continue
		}
		frames, err := load(p.Video)
		if err != nil {
			return nil, 0, err
		}
		f, err := encodeClip(m, e, frames)
		if err != nil {
			return nil, 0, fmt.Errorf("video %s: %w", p.Video, err)
		}
		feats[p.Video] = f
		t = max(t, len(f)/d)
		prog.add(1)
	}
	prog.finish()
	vis := make([]float32, n*t*d)
	mask := make([]bool, n*t)
	for j, p := range pairs {
		f := feats[p.Video]
		copy(vis[j*t*d:], f)
		for s := 0; s < len(f)/d; s++ {
			mask[j*t+s] = true
		}
	}
	logits, err := e.Logits(head, text, n, vis, mask, n, t)
	return logits, n, err
}

func readPairs(dir string) ([]pair, error) {
	b, err := os.ReadFile(filepath.Join(dir, "captions.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want captions.json with [{\"video\": ..., \"caption\": ...}])", dir, err)
	}
	var pairs []pair
	if err := json.Unmarshal(b, &pairs); err != nil {
		return nil, fmt.Errorf("%s/captions.json: %v", dir, err)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s/captions.json lists no pairs", dir)
	}
	return pairs, nil
}

// encodeCaption writes a caption's feature, tokenized to max_words as
// CLIP4Clip does.
func encodeCaption(m *model.CLIP, e *model.Encoder, dst []float32, caption string) error {
	ids, _, err := m.Tokenizer.Tokenize(caption, m.Config.Head.MaxWords)
	if err != nil {
		return err
	}
	return e.EncodeText(dst, ids)
}

// encodeClip returns the frame features (k, embed) of k preprocessed frames.
func encodeClip(m *model.CLIP, e *model.Encoder, frames []float32) ([]float32, error) {
	res := m.Config.Vision.Resolution
	k := len(frames) / (3 * res * res)
	f := make([]float32, k*m.Config.EmbedDim)
	return f, e.EncodeFrames(f, frames, k)
}

func concat(frames [][]float32) []float32 {
	var out []float32
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// evalOrder scores n temporal-order pairs of the synthetic world (the same
// two events in either order), made by pair (synth.OrderPairAt or
// synth.CutPairAt): for each caption, the head is right when it scores the
// caption's own clip above the other, and half right on a tie (a coin
// would pick). It returns the fraction right for each head in heads.
func evalOrder(m *model.CLIP, seed uint64, n int, heads []string, pair func(seed uint64, i int, opts synth.Options) [2]synth.Clip) (map[string]float64, error) {
	res, d := m.Config.Vision.Resolution, m.Config.EmbedDim
	e := m.NewEncoder()
	right := map[string]float64{}
	sd := &synthData{res: res}
	prog := newMeter("eval: scoring pairs", "pairs", n)
	defer prog.finish()
	for i := range n {
		p := pair(seed, i, synth.Options{Resolution: res})
		text := make([]float32, 2*d)
		var vis []float32
		t := 0
		for k, c := range p {
			if err := encodeCaption(m, e, text[k*d:(k+1)*d], c.Caption); err != nil {
				return nil, err
			}
			frames, err := sd.frames(c)
			if err != nil {
				return nil, err
			}
			f, err := encodeClip(m, e, concat(frames))
			if err != nil {
				return nil, err
			}
			vis = append(vis, f...)
			t = len(f) / d
		}
		mask := make([]bool, 2*t)
		for i := range mask {
			mask[i] = true
		}
		for _, h := range heads {
			l, err := e.Logits(h, text, 2, vis, mask, 2, t)
			if err != nil {
				return nil, err
			}
			right[h] += better(l[0], l[1]) + better(l[3], l[2])
		}
		prog.add(1)
	}
	out := map[string]float64{}
	for _, h := range heads {
		out[h] = right[h] / float64(2*n)
	}
	return out, nil
}

// better is 1 if a > b, 0.5 if they are equal, else 0. Scores within a
// millionth of each other are equal: meanP's averages of the same frames
// summed in another order differ in rounding only.
func better(a, b float32) float64 {
	switch {
	case math.Abs(float64(a)-float64(b)) <= 1e-6*max(math.Abs(float64(a)), math.Abs(float64(b))):
		return 0.5
	case a > b:
		return 1
	}
	return 0
}

// loadClip reads a clip's frames as model input (k, 3, res, res), sampled
// uniformly down to maxFrames.
func loadClip(dir, video string, res, maxFrames int) ([]float32, error) {
	var imgs []image.Image
	if npyPath := filepath.Join(dir, video+".npy"); fileExists(npyPath) {
		a, err := npy.ReadFile(npyPath)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 4 || a.Shape[3] != 3 || a.DType != "|u1" {
			return nil, fmt.Errorf("%s.npy has shape %v (%s); want uint8 (T, H, W, 3)", video, a.Shape, a.DType)
		}
		pix, _ := a.Uint8()
		h, w := a.Shape[1], a.Shape[2]
		for f := 0; f < a.Shape[0]; f++ {
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			src := pix[f*h*w*3:]
			for i := 0; i < h*w; i++ {
				img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = src[3*i], src[3*i+1], src[3*i+2], 255
			}
			imgs = append(imgs, img)
		}
	} else {
		entries, err := os.ReadDir(filepath.Join(dir, video))
		if err != nil {
			return nil, fmt.Errorf("video %q: neither %s.npy nor a folder of frames in %s", video, video, dir)
		}
		var names []string
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if ext == ".png" || ext == ".jpg" || ext == ".jpeg" {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, name := range names {
			img, err := decodeImage(filepath.Join(dir, video, name))
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("video %q has no frames", video)
	}
	imgs = model.SampleUniform(imgs, maxFrames)
	size := 3 * res * res
	out := make([]float32, len(imgs)*size)
	for i, img := range imgs {
		p, err := preprocess.Image(img, res)
		if err != nil {
			return nil, fmt.Errorf("video %q frame %d: %w", video, i, err)
		}
		copy(out[i*size:], p)
	}
	return out, nil
}
