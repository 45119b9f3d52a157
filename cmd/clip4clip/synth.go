package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"clip4clip/model/bpe"
	"clip4clip/synth"
)

// synthEntry is one line of a synthetic dataset's captions.json; eval reads
// its video and caption.
type synthEntry struct {
	Video   string        `json:"video"`
	Caption string        `json:"caption"`
	Events  []synth.Event `json:"events"`
}

func runSynth(args []string) error {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "seed: the same seed gives the same clips; use another for a held-out set")
	n := fs.Int("n", 100, "clips to write")
	out := fs.String("o", "", "output directory: DIR/<id>/000.png... (frames at 1 fps) and DIR/captions.json")
	res := fs.Int("res", 64, "frame side in pixels")
	frames := fs.Int("frames", 8, "frames per clip, one a second")
	objects := fs.Int("objects", 3, "most objects in a scene (1 to 3)")
	video := fs.Bool("video", false, "also write DIR/<id>.webm per clip (needs ffmpeg)")
	videoFPS := fs.Float64("video-fps", 4, "frame rate of the -video and -demo WebMs")
	videoSize := fs.Int("video-size", 128, "frame side of the -video WebMs")
	demos := fs.Int("demo", 0, "also write this many demo videos DIR/demo<i>.webm with their events in DIR/demo<i>.json (needs ffmpeg)")
	demoDuration := fs.Float64("demo-duration", 60, "length of each demo video in seconds")
	demoSize := fs.Int("demo-size", 256, "frame side of the demo WebMs")
	order := fs.Int("order", 0, "also write this many temporal-order pairs (the same two events in either order) to DIR/order/, a dataset of its own")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *out == "":
		return errors.New("need -o DIR")
	case *n < 0 || *demos < 0 || *order < 0:
		return errors.New("-n, -demo and -order must not be negative")
	case *res < 8 || *frames < 1 || *objects < 1 || *objects > 3:
		return fmt.Errorf("bad -res %d, -frames %d or -objects %d", *res, *frames, *objects)
	case (*video || *demos > 0) && (*videoFPS <= 0 || *videoSize%2 != 0 || *demoSize%2 != 0 || *demoDuration <= 0):
		return errors.New("-video-fps and -demo-duration must be positive, -video-size and -demo-size even")
	}
	if (*video || *demos > 0) && !synth.FFmpegAvailable() {
		return errors.New("-video and -demo write WebM with ffmpeg, which is not on PATH (apt-get install ffmpeg)")
	}
	opts := synth.Options{Frames: *frames, Resolution: *res, MaxObjects: *objects}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if *n > 0 {
		entries, err := writeClips(*out, *n, func(i int) synth.Clip { return synth.GenerateAt(*seed, i, opts) }, *video, *videoFPS, *videoSize)
		if err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(*out, "captions.json"), entries); err != nil {
			return err
		}
	}
	if *order > 0 {
		pairs := synth.OrderPairs(*seed, *order, opts)
		dir := filepath.Join(*out, "order")
		entries, err := writeClips(dir, 2**order, func(i int) synth.Clip { return pairs[i/2][i%2] }, *video, *videoFPS, *videoSize)
		if err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(dir, "captions.json"), entries); err != nil {
			return err
		}
	}
	for i := 0; i < *demos; i++ {
		v := synth.Demo(*seed+uint64(i), *demoDuration)
		base := filepath.Join(*out, fmt.Sprintf("demo%d", i))
		fmt.Fprintf(os.Stderr, "synth: writing %s.webm (%d events)\n", base, len(v.Events))
		if err := v.WriteWebM(base+".webm", *videoFPS, *demoSize); err != nil {
			return err
		}
		meta := struct {
			ID       string        `json:"id"`
			Duration float64       `json:"duration"`
			FPS      float64       `json:"fps"`
			Size     int           `json:"size"`
			Events   []synth.Event `json:"events"`
		}{v.ID, v.Duration, *videoFPS, *demoSize, v.Events}
		if err := writeJSON(base+".json", meta); err != nil {
			return err
		}
	}
	return nil
}

// writeClips writes clips 0..n-1 (from clip(i)) as DIR/<id>/NNN.png, and
// DIR/<id>.webm with video, in parallel, and returns their entries in
// order.
func writeClips(dir string, n int, clip func(int) synth.Clip, video bool, fps float64, size int) ([]synthEntry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	entries := make([]synthEntry, n)
	prog := newMeter("synth: writing clips to "+dir, "clips", n)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
		next    = make(chan int)
		failed  atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err })
		failed.Store(true)
	}
	for w := 0; w < min(runtime.GOMAXPROCS(0), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := clip(i)
				if err := writeFrames(filepath.Join(dir, c.ID), c); err != nil {
					fail(err)
					continue
				}
				if video {
					if err := c.Video().WriteWebM(filepath.Join(dir, c.ID+".webm"), fps, size); err != nil {
						fail(err)
						continue
					}
				}
				entries[i] = synthEntry{Video: c.ID, Caption: c.Caption, Events: c.Events}
				prog.add(1)
			}
		}()
	}
	for i := 0; i < n && !failed.Load(); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	prog.finish()
	return entries, first
}

// writeFrames writes a clip's frames as dir/000.png, 001.png, ...
func writeFrames(dir string, c synth.Clip) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, img := range c.Frames {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%03d.png", i)))
		if err != nil {
			return err
		}
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(f, img)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func runVocab(args []string) error {
	fs := flag.NewFlagSet("vocab", flag.ContinueOnError)
	var data multi
	fs.Var(&data, "data", "dataset directory with captions.json ([{video, caption}]); may be repeated")
	merges := fs.Int("merges", 2000, "most merges to learn (learning stops early when every word is one token)")
	out := fs.String("o", "", "merges file to write, in the format of CLIP's bpe_simple_vocab_16e6.txt (for convert -vocab and training)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if len(data) == 0 || *out == "" {
		return errors.New("need -data DIR and -o VOCAB.txt")
	}
	var corpus []string
	for _, dir := range data {
		b, err := os.ReadFile(filepath.Join(dir, "captions.json"))
		if err != nil {
			return err
		}
		var pairs []pair
		if err := json.Unmarshal(b, &pairs); err != nil {
			return fmt.Errorf("%s/captions.json: %v", dir, err)
		}
		for _, p := range pairs {
			corpus = append(corpus, p.Caption)
		}
	}
	if len(corpus) == 0 {
		return errors.New("no captions to learn from")
	}
	vocab, m := bpe.Learn(corpus, *merges)
	tok, err := bpe.New(vocab, m)
	if err != nil {
		return err
	}
	longest := 0
	for _, c := range corpus {
		longest = max(longest, len(tok.Encode(c)))
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := bpe.WriteMerges(f, m); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("%d merges, vocabulary of %d tokens, from %d captions; the longest caption is %d tokens\n", len(m), len(vocab), len(corpus), longest)
	return nil
}
