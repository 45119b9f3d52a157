package train

import (
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // frames may be JPEG
	_ "image/png"  // or PNG
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"clip4clip/internal/npy"
	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/model/preprocess"
)

// Dataset is a collection of captioned clips to train or evaluate on.
// Another package (a synthetic world, a video reader) can feed training by
// implementing it; DirDataset reads the directory layout of `clip4clip
// synth` and `clip4clip eval -data`.
type Dataset interface {
	// Len returns the number of clips.
	Len() int
	// Clip returns clip i: its frames in time order, each (3, res, res)
	// preprocessed for the model (preprocess.Image), and its caption. It
	// may be called from several goroutines at once.
	Clip(i int) (frames [][]float32, caption string, err error)
}

// DirDataset reads a dataset directory: captions.json, a JSON array of
// {"video": NAME, "caption": TEXT}, and for each NAME either NAME.npy
// (uint8 frames (T, H, W, 3)) or a folder NAME/ of frame images (PNG or
// JPEG, in name order). Frames are sampled uniformly down to MaxFrames,
// resized and center-cropped to the model's resolution; the uint8 result
// is cached in memory up to a budget.
type DirDataset struct {
	Dir       string
	Res       int // model resolution
	MaxFrames int // frames kept per clip, uniformly sampled

	pairs []Pair

	mu          sync.Mutex
	cache       map[string][]*image.RGBA
	cacheBytes  int
	cacheBudget int
}

// Pair is one entry of captions.json.
type Pair struct {
	Video   string `json:"video"`
	Caption string `json:"caption"`
}

// OpenDir reads dir/captions.json. cacheBytes bounds the memory kept for
// decoded frames (0: no cache).
func OpenDir(dir string, res, maxFrames, cacheBytes int) (*DirDataset, error) {
	b, err := os.ReadFile(filepath.Join(dir, "captions.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: %v (want captions.json with [{\"video\": ..., \"caption\": ...}])", dir, err)
	}
	var pairs []Pair
	if err := json.Unmarshal(b, &pairs); err != nil {
		return nil, fmt.Errorf("%s/captions.json: %v", dir, err)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s/captions.json lists no clips", dir)
	}
	return &DirDataset{Dir: dir, Res: res, MaxFrames: maxFrames, pairs: pairs,
		cache: map[string][]*image.RGBA{}, cacheBudget: cacheBytes}, nil
}

// Len returns the number of captioned clips.
func (d *DirDataset) Len() int { return len(d.pairs) }

// Pairs returns the entries of captions.json.
func (d *DirDataset) Pairs() []Pair { return d.pairs }

// Captions returns every caption, in order.
func (d *DirDataset) Captions() []string {
	out := make([]string, len(d.pairs))
	for i, p := range d.pairs {
		out[i] = p.Caption
	}
	return out
}

// Clip returns clip i's preprocessed frames and caption.
func (d *DirDataset) Clip(i int) ([][]float32, string, error) {
	p := d.pairs[i]
	imgs, err := d.frames(p.Video)
	if err != nil {
		return nil, "", err
	}
	out := make([][]float32, len(imgs))
	for k, img := range imgs {
		out[k] = make([]float32, 3*d.Res*d.Res)
		preprocess.Normalize(out[k], img)
	}
	return out, p.Caption, nil
}

// frames returns a video's frames resized and cropped, from the cache or
// from disk.
func (d *DirDataset) frames(video string) ([]*image.RGBA, error) {
	d.mu.Lock()
	imgs, ok := d.cache[video]
	d.mu.Unlock()
	if ok {
		return imgs, nil
	}
	raw, err := readFrames(d.Dir, video)
	if err != nil {
		return nil, err
	}
	raw = model.SampleUniform(raw, d.MaxFrames)
	imgs = make([]*image.RGBA, len(raw))
	for k, img := range raw {
		if imgs[k], err = preprocess.ResizeCrop(img, d.Res); err != nil {
			return nil, fmt.Errorf("video %q frame %d: %w", video, k, err)
		}
	}
	size := len(imgs) * 4 * d.Res * d.Res
	d.mu.Lock()
	if d.cacheBytes+size <= d.cacheBudget {
		d.cache[video] = imgs
		d.cacheBytes += size
	}
	d.mu.Unlock()
	return imgs, nil
}

// readFrames decodes VIDEO.npy or the images in the folder VIDEO.
func readFrames(dir, video string) ([]image.Image, error) {
	if p := filepath.Join(dir, video+".npy"); fileExists(p) {
		a, err := npy.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 4 || a.Shape[3] != 3 || a.DType != "|u1" {
			return nil, fmt.Errorf("%s has shape %v (%s); want uint8 (T, H, W, 3)", p, a.Shape, a.DType)
		}
		pix, _ := a.Uint8()
		h, w := a.Shape[1], a.Shape[2]
		var imgs []image.Image
		for f := 0; f < a.Shape[0]; f++ {
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			src := pix[f*h*w*3:]
			for i := 0; i < h*w; i++ {
				img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = src[3*i], src[3*i+1], src[3*i+2], 255
			}
			imgs = append(imgs, img)
		}
		if len(imgs) == 0 {
			return nil, fmt.Errorf("%s has no frames", p)
		}
		return imgs, nil
	}
	entries, err := os.ReadDir(filepath.Join(dir, video))
	if err != nil {
		return nil, fmt.Errorf("video %q: neither %s.npy nor a folder of frames in %s", video, video, dir)
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("video %q: no PNG or JPEG frames in %s", video, filepath.Join(dir, video))
	}
	imgs := make([]image.Image, len(names))
	for i, name := range names {
		f, err := os.Open(filepath.Join(dir, video, name))
		if err != nil {
			return nil, err
		}
		imgs[i], _, err = image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, video, name), err)
		}
	}
	return imgs, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// MemDataset is a Dataset held in memory: preprocessed frames and captions,
// for generated data and tests.
type MemDataset struct {
	Frames   [][][]float32 // per clip, per frame (3, res, res)
	Captions []string
}

// Len returns the number of clips.
func (m *MemDataset) Len() int { return len(m.Captions) }

// Clip returns clip i.
func (m *MemDataset) Clip(i int) ([][]float32, string, error) {
	return m.Frames[i], m.Captions[i], nil
}

// Add preprocesses frames (any size; resized and center-cropped as CLIP
// does) to res and appends the clip.
func (m *MemDataset) Add(frames []image.Image, caption string, res int) error {
	clip := make([][]float32, len(frames))
	for i, f := range frames {
		var err error
		if clip[i], err = preprocess.Image(f, res); err != nil {
			return err
		}
	}
	m.Frames = append(m.Frames, clip)
	m.Captions = append(m.Captions, caption)
	return nil
}

// BatchOrder returns the dataset indices of training step `step` (0-based)
// for batches of b clips out of n: epoch e visits the clips in the order of
// a permutation drawn from (seed, e) and is cut into n/b batches (the rest
// is dropped), so what a step sees depends only on the seed and the step
// number; a resumed run sees what the uninterrupted one would have.
func BatchOrder(n, b int, seed uint64, step int) []int {
	per := n / b
	epoch, k := step/per, step%per
	perm := rand.New(rand.NewPCG(seed, uint64(epoch))).Perm(n)
	return perm[k*b : (k+1)*b]
}

// Partnered is a Dataset whose clips may have a hard negative: a partner
// clip whose caption differs from its own in one way the model must learn
// to see (the synthetic world's temporal-order pairs: the same two events
// in the other order). Training puts partners in the same batch, so the
// contrastive loss has to tell them apart; drawn at random, they would
// almost never meet.
type Partnered interface {
	Dataset
	// Partner returns the partner of clip i, if it has one.
	Partner(i int) (j int, ok bool)
}

// WithPartners returns a batch of len(idx) clips that keeps each clip of
// idx in turn, each followed by its partner when it has one, until the
// batch is full: the clips at the end of idx give way to the partners of
// those before them. A clip is never taken twice.
func WithPartners(idx []int, p Partnered) []int {
	out := make([]int, 0, len(idx))
	seen := make(map[int]bool, len(idx))
	for _, i := range idx {
		if len(out) == len(idx) {
			break
		}
		if seen[i] {
			continue
		}
		out, seen[i] = append(out, i), true
		if j, ok := p.Partner(i); ok && !seen[j] && len(out) < len(idx) {
			out, seen[j] = append(out, j), true
		}
	}
	return out
}

// MakeBatch loads clips idx of d into a Batch: up to maxFrames frames per
// clip (sampled uniformly if a clip has more), captions tokenized to
// maxWords tokens (SOT and EOT included) and zero-padded.
func MakeBatch(d Dataset, idx []int, tok *bpe.Tokenizer, maxFrames, maxWords int) (*Batch, error) {
	type clip struct {
		frames [][]float32
		ids    []int
		err    error
	}
	clips := make([]clip, len(idx))
	var wg sync.WaitGroup
	for j, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames, caption, err := d.Clip(i)
			if err != nil {
				clips[j].err = err
				return
			}
			if len(frames) == 0 {
				clips[j].err = fmt.Errorf("clip %d has no frames", i)
				return
			}
			clips[j].frames = model.SampleUniform(frames, maxFrames)
			clips[j].ids, _, clips[j].err = tok.Tokenize(caption, maxWords)
		}()
	}
	wg.Wait()
	b := &Batch{B: len(idx), L: maxWords}
	for _, c := range clips {
		if c.err != nil {
			return nil, c.err
		}
		b.F = max(b.F, len(c.frames))
	}
	b.Mask = make([]bool, b.B*b.F)
	b.IDs = make([]int, b.B*b.L)
	for j, c := range clips {
		for f, fr := range c.frames {
			b.Mask[j*b.F+f] = true
			b.Frames = append(b.Frames, fr...)
		}
		copy(b.IDs[j*b.L:], c.ids)
	}
	return b, nil
}
