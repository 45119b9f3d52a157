package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/train"
)

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	data := fs.String("data", "", "training set: a directory with captions.json ([{video, caption}]) and the frames of each video (VIDEO/NNN.png or VIDEO.npy), as clip4clip synth writes; or synth:SEED:N for N clips of the synthetic world drawn on the fly")
	vocab := fs.String("vocab", "", "BPE merges file for the tokenizer (CLIP's bpe_simple_vocab_16e6.txt.gz or one written by bpe.WriteMerges)")
	learn := fs.Int("learn-merges", 0, "without -vocab: learn this many BPE merges from the training captions")
	out := fs.String("o", "", "model file to write at the end")
	dtypeName := fs.String("dtype", "f32", "weight format of the final model file: f32 or f16")
	config := fs.String("config", "small", "model size for a new model: "+strings.Join(train.Presets, ", "))
	width := fs.Int("width", 0, "width of both towers and the joint embedding (default: the config's); heads are width/64")
	layers := fs.Int("layers", 0, "vision transformer blocks (default: the config's)")
	textLayers := fs.Int("text-layers", 0, "text transformer blocks (default: the config's)")
	res := fs.Int("res", 0, "input resolution in pixels (default: the config's)")
	patch := fs.Int("patch", 0, "patch size in pixels (default: the config's)")
	head := fs.String("head", "meanP", "similarity head: meanP or seqTransf")
	headLayers := fs.Int("head-layers", 4, "seqTransf: transformerClip blocks")
	initPath := fs.String("init", "", "start from this model file (e.g. a converted CLIP) instead of a new model; -config and the size flags are then ignored")
	def := train.DefaultOptions()
	batch := fs.Int("batch", def.Batch, "clips per step (the loss is over the batch x batch similarity matrix)")
	steps := fs.Int("steps", def.Steps, "optimiser steps")
	lr := fs.Float64("lr", def.LR, "peak learning rate")
	warmup := fs.Float64("warmup", def.Warmup, "fraction of the steps with a linear learning-rate warm-up (then cosine decay)")
	wd := fs.Float64("wd", def.WeightDecay, "AdamW weight decay of the weight matrices")
	clipNorm := fs.Float64("clip", def.ClipNorm, "bound on the global gradient norm (0: none)")
	frames := fs.Int("frames", def.MaxFrames, "frames per clip (longer clips are sampled uniformly)")
	words := fs.Int("words", def.MaxWords, "caption length in tokens, start and end included")
	seed := fs.Uint64("seed", def.Seed, "seed of the initial weights and the data order")
	orderFrac := fs.Float64("order-frac", 0, "with -data synth:SEED:N: this fraction of the training clips are temporal-order pairs (the same two events in both orders, always in one batch as hard negatives)")
	cutFrac := fs.Float64("cut-frac", 0, "with -data synth:SEED:N: this fraction of the training clips are cut pairs (an order pair's first clip and the same frames with the halves swapped, always in one batch: only the order of the frames tells them apart)")
	windowFrac := fs.Float64("window-frac", 0, "with -data synth:SEED:N: this fraction of the training clips are demo-window pairs (two moments of one long video, each captioned with its own event, always in one batch as hard negatives)")
	windowFrames := fs.Int("window-frames", 4, "frames of a demo window, one a second (the page's moment is 4)")
	evalDir := fs.String("eval", "", "held-out set (same layout as -data) for R@1 / MdR")
	evalEvery := fs.Int("eval-every", 500, "steps between evaluations on -eval (and at the end)")
	ckptEvery := fs.Int("checkpoint-every", 500, "steps between checkpoints (0: none)")
	ckptPath := fs.String("checkpoint", "", "checkpoint model file (default: MODEL.ckpt); the optimiser state goes beside it as .opt")
	resume := fs.Bool("resume", false, "continue from the checkpoint (same flags as the run that wrote it)")
	logEvery := fs.Int("log-every", 10, "steps between progress lines")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "goroutines for the kernels")
	cacheMB := fs.Int("cache-mb", 2048, "memory for decoded frames of -data, in MB")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("need -data DIR and -o MODEL (see -h)")
	}
	dtype, err := quant.ParseDType(*dtypeName)
	if err != nil {
		return err
	}
	if dtype == quant.Int8 {
		return fmt.Errorf("-dtype int8 is for `clip4clip convert`; train writes f32 or f16")
	}
	if *head != model.MeanP && *head != model.SeqTransf {
		return fmt.Errorf("-head %s: training supports %s and %s", *head, model.MeanP, model.SeqTransf)
	}
	train.SetThreads(*threads)
	quant.SetThreads(*threads)
	opts := train.Options{Steps: *steps, Batch: *batch, LR: *lr, Warmup: *warmup, WeightDecay: *wd, ClipNorm: *clipNorm,
		MaxFrames: *frames, MaxWords: *words, Seed: *seed}

	// The model: a file to start from, or a new one of the chosen size.
	var start *model.CLIP
	if *initPath != "" {
		if start, err = model.LoadFile(*initPath); err != nil {
			return err
		}
	}
	resolution := *res
	if start != nil {
		resolution = start.Config.Vision.Resolution
	} else if resolution == 0 {
		c, err := train.Preset(*config, 1000)
		if err != nil {
			return err
		}
		resolution = c.Vision.Resolution
	}
	var ds train.Dataset
	if strings.HasPrefix(*data, "synth:") {
		var sd *synthData
		if sd, err = parseSynthData(*data, resolution, *frames); err == nil {
			err = sd.withPairs(*orderFrac, *cutFrac, *windowFrac, *windowFrames)
		}
		ds = sd
	} else if *orderFrac != 0 || *cutFrac != 0 || *windowFrac != 0 {
		return fmt.Errorf("-order-frac, -cut-frac and -window-frac need -data synth:SEED:N (the synthetic world makes the pairs)")
	} else {
		ds, err = train.OpenDir(*data, resolution, *frames, *cacheMB<<20)
	}
	if err != nil {
		return err
	}
	tok, err := tokenizer(*vocab, *learn, ds.(interface{ Captions() []string }), start)
	if err != nil {
		return err
	}
	hc := model.HeadConfig{Type: *head, MaxWords: *words}
	if *head == model.SeqTransf {
		hc.Layers, hc.MaxFrames = *headLayers, max(*frames, 12)
	}
	var net *train.Net
	if start != nil {
		if tok.VocabSize() != start.Config.Text.VocabSize {
			return fmt.Errorf("the tokenizer has %d tokens, %s's text encoder %d; leave out -vocab to use the model's own", tok.VocabSize(), *initPath, start.Config.Text.VocabSize)
		}
		hc.Heads = start.Config.Text.Heads
		if net, err = train.FromModelHead(start, hc, *seed); err != nil {
			return err
		}
	} else {
		cfg, err := train.Preset(*config, tok.VocabSize())
		if err != nil {
			return err
		}
		if *width > 0 {
			h := max(1, *width/64)
			cfg.EmbedDim, cfg.Vision.Width, cfg.Text.Width, cfg.Vision.Heads, cfg.Text.Heads = *width, *width, *width, h, h
		}
		for _, o := range []struct{ flag, field *int }{{layers, &cfg.Vision.Layers}, {textLayers, &cfg.Text.Layers}, {res, &cfg.Vision.Resolution}, {patch, &cfg.Vision.PatchSize}} {
			if *o.flag > 0 {
				*o.field = *o.flag
			}
		}
		cfg.Text.Context = max(cfg.Text.Context, *words)
		hc.Heads = cfg.Text.Heads
		cfg.Head = hc
		if net, err = train.New(cfg, *seed); err != nil {
			return err
		}
	}
	tr, err := train.NewTrainer(net, tok, ds, opts)
	if err != nil {
		return err
	}
	tr.Log, tr.LogEvery = os.Stderr, *logEvery
	tr.CheckpointEvery, tr.CheckpointPath = *ckptEvery, *ckptPath
	if tr.CheckpointPath == "" {
		tr.CheckpointPath = *out + ".ckpt"
	}
	if *evalDir != "" {
		if tr.Eval, err = train.OpenDir(*evalDir, resolution, *frames, *cacheMB<<20); err != nil {
			return err
		}
		tr.EvalEvery = *evalEvery
	}
	tr.Meta = map[string]string{
		"created_by": "clip4clip train",
		"command":    strings.Join(os.Args, " "),
		"seed":       strconv.FormatUint(*seed, 10),
		"git_commit": gitCommit(),
		"train_data": *data,
		"clips":      strconv.Itoa(ds.Len()),
	}
	if *resume {
		if err := tr.Resume(); err != nil {
			return err
		}
	}
	cfg := net.Config
	nParams := len(net.Params.Data)
	fmt.Fprintf(os.Stderr, "training %s head: vision %dx%d (res %d, patch %d), text %dx%d, embed %d, vocabulary %d, %.2fM parameters; %d clips, batch %d, %d steps, %d threads (%s kernels)\n",
		cfg.Head.Type, cfg.Vision.Layers, cfg.Vision.Width, cfg.Vision.Resolution, cfg.Vision.PatchSize, cfg.Text.Layers, cfg.Text.Width,
		cfg.EmbedDim, cfg.Text.VocabSize, float64(nParams)/1e6, ds.Len(), opts.Batch, opts.Steps, train.Threads(), train.KernelName())
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)
	tr.Stop = func() bool {
		select {
		case <-interrupt:
			return true
		default:
			return false
		}
	}
	begin, firstStep := time.Now(), tr.Step
	if err := tr.Run(); err != nil {
		if tr.Step > firstStep {
			if cerr := tr.SaveCheckpoint(); cerr == nil {
				fmt.Fprintf(os.Stderr, "stopped at step %d with a checkpoint; rerun the same command with -resume to continue\n", tr.Step)
			}
		}
		if errors.Is(err, train.ErrStopped) {
			return nil
		}
		return err
	}
	if err := tr.Save(*out, dtype); err != nil {
		return err
	}
	took := time.Since(begin)
	fmt.Fprintf(os.Stderr, "wrote %s (%s weights) after %d steps: loss %.4f, %.1f clips/s over %s\n",
		*out, dtype, tr.Step, tr.Loss, float64((tr.Step-firstStep)*opts.Batch)/took.Seconds(), took.Round(time.Second))
	return nil
}

// tokenizer returns the vocabulary to train with: -vocab, merges learned
// from the training captions, or the starting model's own.
func tokenizer(vocab string, learn int, ds interface{ Captions() []string }, start *model.CLIP) (*bpe.Tokenizer, error) {
	switch {
	case vocab != "":
		f, err := os.Open(vocab)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		tok, err := bpe.FromCLIPMerges(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", vocab, err)
		}
		return tok, nil
	case start != nil && start.Tokenizer != nil:
		return start.Tokenizer, nil
	case learn > 0:
		v, merges := bpe.Learn(ds.Captions(), learn)
		return bpe.New(v, merges)
	}
	return nil, fmt.Errorf("need a tokenizer: -vocab MERGES, or -learn-merges N to learn one from the captions")
}

// gitCommit returns the checkout's HEAD, or "unknown".
func gitCommit() string {
	// A binary built with `go build` in the repository carries its commit;
	// `go run` and `go test` binaries do not, so ask git then.
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if modified == "true" {
				rev += " (with uncommitted changes)"
			}
			return rev
		}
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
