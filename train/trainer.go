package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
)

// Options are the settings that decide what a run computes; a resumed run
// must use the same ones.
type Options struct {
	Steps       int     `json:"steps"`        // optimiser updates in all
	Batch       int     `json:"batch"`        // clips per step: the B x B loss
	LR          float64 `json:"lr"`           // peak learning rate
	Warmup      float64 `json:"warmup"`       // fraction of Steps with a linear warm-up
	WeightDecay float64 `json:"weight_decay"` // AdamW's decoupled decay of weight matrices
	ClipNorm    float64 `json:"clip_norm"`    // bound on the global gradient norm; 0 for none
	MaxFrames   int     `json:"max_frames"`   // frame slots per clip
	MaxWords    int     `json:"max_words"`    // caption tokens, SOT and EOT included
	Seed        uint64  `json:"seed"`         // data order (and the initial weights of a new model)
}

// DefaultOptions are the settings of `clip4clip train` without flags.
func DefaultOptions() Options {
	return Options{Steps: 3000, Batch: 32, LR: 1e-3, Warmup: 0.1, WeightDecay: 0.2, ClipNorm: 1,
		MaxFrames: 8, MaxWords: 32, Seed: 1}
}

// Trainer runs CLIP4Clip training: batches from Data in the order
// BatchOrder gives, AdamW with a warm-up and cosine schedule, clipping,
// progress lines, evaluation and checkpoints.
type Trainer struct {
	Net  *Net
	Opt  *AdamW
	Tok  *bpe.Tokenizer
	Data Dataset
	Opts Options
	Step int     // updates done
	Loss float64 // the last step's loss

	Eval            Dataset // held-out clips, or nil
	EvalEvery       int     // steps between evaluations (0: only at the end)
	CheckpointEvery int     // steps between checkpoints (0: none)
	CheckpointPath  string  // the checkpoint's model file; the state goes to CheckpointPath + ".opt"
	LogEvery        int     // steps between progress lines
	Log             io.Writer
	Meta            map[string]string // copied into every model file written

	// EvalHook, if set, receives every evaluation's result.
	EvalHook func(step int, r EvalResult)
	// Stop, if set, is asked after every step; true ends Run with
	// ErrStopped (the CLI sets it on Ctrl-C and then saves a checkpoint).
	Stop func() bool
}

// ErrStopped is Run's error when Stop asked it to end early.
var ErrStopped = errors.New("train: stopped")

// NewTrainer returns a Trainer for net on data with a fresh optimiser.
func NewTrainer(net *Net, tok *bpe.Tokenizer, data Dataset, opts Options) (*Trainer, error) {
	if tok.VocabSize() != net.Config.Text.VocabSize {
		return nil, fmt.Errorf("train: the tokenizer has %d tokens, the text encoder %d", tok.VocabSize(), net.Config.Text.VocabSize)
	}
	if opts.Batch < 2 {
		return nil, fmt.Errorf("train: batch of %d clips; the contrastive loss needs at least 2", opts.Batch)
	}
	if data.Len() < opts.Batch {
		return nil, fmt.Errorf("train: %d clips in the data, fewer than one batch of %d (use a smaller -batch)", data.Len(), opts.Batch)
	}
	if opts.MaxWords < 2 || opts.MaxWords > net.Config.Text.Context {
		return nil, fmt.Errorf("train: captions of %d tokens; the text encoder takes 2 to %d", opts.MaxWords, net.Config.Text.Context)
	}
	if net.Config.Head.Type == model.SeqTransf && opts.MaxFrames > net.Config.Head.MaxFrames {
		return nil, fmt.Errorf("train: %d frames per clip, but seqTransf has %d frame positions", opts.MaxFrames, net.Config.Head.MaxFrames)
	}
	opt := NewAdamW(net.Params)
	opt.WeightDecay = opts.WeightDecay
	return &Trainer{Net: net, Opt: opt, Tok: tok, Data: data, Opts: opts, LogEvery: 10, Log: io.Discard}, nil
}

// Schedule returns the run's learning-rate schedule.
func (t *Trainer) Schedule() Schedule {
	return Schedule{Peak: t.Opts.LR, Warmup: int(math.Round(t.Opts.Warmup * float64(t.Opts.Steps))), Total: t.Opts.Steps}
}

// Batch loads the batch of step.
func (t *Trainer) Batch(step int) (*Batch, error) {
	idx := BatchOrder(t.Data.Len(), t.Opts.Batch, t.Opts.Seed, step)
	if p, ok := t.Data.(Partnered); ok {
		idx = WithPartners(idx, p)
	}
	return MakeBatch(t.Data, idx, t.Tok, t.Opts.MaxFrames, t.Opts.MaxWords)
}

// TrainStep does one update on b: forward, backward, gradient clipping,
// AdamW at the schedule's rate, and the clamp of logit_scale to
// [0, ln 100] that CLIP's training applies. It returns the loss, the
// learning rate and the gradient norm before clipping.
func (t *Trainer) TrainStep(b *Batch) (loss Loss, lr, norm float64, err error) {
	loss, err = t.Net.Forward(b)
	if err != nil {
		return loss, 0, 0, err
	}
	if math.IsNaN(loss.Loss) || math.IsInf(loss.Loss, 0) {
		return loss, 0, 0, fmt.Errorf("train: the loss is %v at step %d (try a lower -lr)", loss.Loss, t.Step)
	}
	t.Net.ZeroGrad()
	t.Net.Backward()
	norm = ClipGradNorm(t.Net.Grads, t.Opts.ClipNorm)
	lr = t.Schedule().At(t.Step)
	t.Opt.Update(t.Net.Params, t.Net.Grads, lr)
	ls := t.Net.Params.Get("logit_scale")
	ls[0] = float32(math.Min(math.Max(float64(ls[0]), 0), maxLogitScale))
	t.Step++
	t.Loss = loss.Loss
	return loss, lr, norm, nil
}

// Run trains from the current step to Opts.Steps, loading each next batch
// while the current one computes.
func (t *Trainer) Run() error {
	type loaded struct {
		b   *Batch
		err error
	}
	next := make(chan loaded, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for s := t.Step; s < t.Opts.Steps; s++ {
			b, err := t.Batch(s)
			select {
			case next <- loaded{b, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	start, lastLog, lastStep := time.Now(), time.Now(), t.Step
	first := t.Step
	for t.Step < t.Opts.Steps {
		l := <-next
		if l.err != nil {
			return fmt.Errorf("train: batch of step %d: %w", t.Step, l.err)
		}
		loss, lr, norm, err := t.TrainStep(l.b)
		if err != nil {
			return err
		}
		if t.LogEvery > 0 && (t.Step%t.LogEvery == 0 || t.Step == t.Opts.Steps) {
			now := time.Now()
			rate := float64((t.Step-lastStep)*t.Opts.Batch) / now.Sub(lastLog).Seconds()
			perStep := now.Sub(start) / time.Duration(t.Step-first)
			left := perStep * time.Duration(t.Opts.Steps-t.Step)
			fmt.Fprintf(t.Log, "step %d/%d  loss %.4f (t2v %.4f v2t %.4f)  lr %.3g  |g| %.3g  scale %.2f  %.1f clips/s  %s left\n",
				t.Step, t.Opts.Steps, loss.Loss, loss.TextToVideo, loss.VideoToText, lr, norm, t.Net.a.scale, rate, left.Round(time.Second))
			lastLog, lastStep = now, t.Step
		}
		if t.CheckpointEvery > 0 && t.Step%t.CheckpointEvery == 0 && t.Step < t.Opts.Steps {
			if err := t.SaveCheckpoint(); err != nil {
				return err
			}
		}
		if t.Eval != nil && ((t.EvalEvery > 0 && t.Step%t.EvalEvery == 0) || t.Step == t.Opts.Steps) {
			if _, err := t.Evaluate(); err != nil {
				return err
			}
		}
		if t.Stop != nil && t.Step < t.Opts.Steps && t.Stop() {
			return ErrStopped
		}
	}
	return nil
}

// Model returns an inference model of the current weights with the
// tokenizer and the meta (plus the step and the last loss).
func (t *Trainer) Model() (*model.CLIP, error) {
	m, err := t.Net.Model()
	if err != nil {
		return nil, err
	}
	m.Tokenizer = t.Tok
	m.Meta = map[string]string{}
	for k, v := range t.Meta {
		m.Meta[k] = v
	}
	m.Meta["step"] = strconv.Itoa(t.Step)
	m.Meta["steps"] = strconv.Itoa(t.Opts.Steps)
	m.Meta["loss"] = strconv.FormatFloat(t.Loss, 'g', 6, 64)
	return m, nil
}

// Save writes the model file of the current weights with its matrices in
// dtype.
func (t *Trainer) Save(path string, dtype quant.DType) error {
	m, err := t.Model()
	if err != nil {
		return err
	}
	m.Meta["dtype"] = dtype.String()
	return m.SaveFile(path, dtype, 0)
}

// SaveCheckpoint writes the f32 model to CheckpointPath and the optimiser
// state beside it.
func (t *Trainer) SaveCheckpoint() error {
	if t.CheckpointPath == "" {
		return errors.New("train: no checkpoint path")
	}
	if err := t.Save(t.CheckpointPath, quant.F32); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	st := &State{Step: t.Step, Options: t.Opts, Loss: t.Loss}
	if err := WriteState(t.CheckpointPath+".opt", st, t.Opt, t.Net.Params); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	fmt.Fprintf(t.Log, "checkpoint at step %d: %s (+ .opt)\n", t.Step, t.CheckpointPath)
	return nil
}

// Resume loads the checkpoint at CheckpointPath (model and state) and
// continues from its step. The run's Options must equal the checkpoint's,
// or the data order and the schedule would differ; the error names the
// settings that do.
func (t *Trainer) Resume() error {
	m, err := model.LoadFile(t.CheckpointPath)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if m.Config != t.Net.Config {
		return fmt.Errorf("train: resume: %s holds a model of another configuration (%+v); resume with the flags of the run that wrote it", t.CheckpointPath, m.Config)
	}
	net, err := FromModel(m)
	if err != nil {
		return err
	}
	st, opt, err := ReadState(t.CheckpointPath+".opt", net.Params)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if s := m.Meta["step"]; s != strconv.Itoa(st.Step) {
		return fmt.Errorf("train: resume: the model file is from step %s and the state from step %d; the checkpoint was interrupted while being written", s, st.Step)
	}
	if st.Options != t.Opts {
		return fmt.Errorf("train: resume: the checkpoint was written with %+v, this run has %+v; resume with the same flags", st.Options, t.Opts)
	}
	if m.Tokenizer != nil && m.Tokenizer.VocabSize() != t.Tok.VocabSize() {
		return fmt.Errorf("train: resume: the checkpoint's tokenizer has %d tokens, this run's %d", m.Tokenizer.VocabSize(), t.Tok.VocabSize())
	}
	copy(t.Net.Params.Data, net.Params.Data)
	t.Opt, t.Step, t.Loss = opt, st.Step, st.Loss
	fmt.Fprintf(t.Log, "resumed from %s at step %d\n", t.CheckpointPath, t.Step)
	return nil
}

// EvalResult holds retrieval metrics in both directions over N pairs.
type EvalResult struct {
	N                        int
	TextToVideo, VideoToText model.Metrics
}

// Evaluate scores the held-out set with the current weights and prints a
// line of metrics.
func (t *Trainer) Evaluate() (EvalResult, error) {
	m, err := t.Model()
	if err != nil {
		return EvalResult{}, err
	}
	start := time.Now()
	r, err := Evaluate(m, t.Eval, t.Opts.MaxFrames, t.Opts.MaxWords)
	if err != nil {
		return r, fmt.Errorf("train: evaluation: %w", err)
	}
	fmt.Fprintf(t.Log, "eval step %d (%d pairs, %s): text-to-video R@1 %.1f R@5 %.1f R@10 %.1f MdR %.1f | video-to-text R@1 %.1f MdR %.1f\n",
		t.Step, r.N, time.Since(start).Round(time.Millisecond), r.TextToVideo.R1, r.TextToVideo.R5, r.TextToVideo.R10, r.TextToVideo.MedianR,
		r.VideoToText.R1, r.VideoToText.MedianR)
	if t.EvalHook != nil {
		t.EvalHook(t.Step, r)
	}
	return r, nil
}

// Evaluate scores every caption of d against every clip with the inference
// engine (package model: EncodeText, EncodeFrames, Logits under the
// model's head) and returns R@K, MdR and MnR both ways. Caption i belongs
// to clip i; clips are padded to the longest with masks, as the reference
// does. m must carry its tokenizer.
func Evaluate(m *model.CLIP, d Dataset, maxFrames, maxWords int) (EvalResult, error) {
	if m.Tokenizer == nil {
		return EvalResult{}, errors.New("train: the model has no tokenizer")
	}
	n, e := d.Len(), m.Config.EmbedDim
	enc := m.NewEncoder()
	text := make([]float32, n*e)
	feats := make([][]float32, n)
	T := 0
	for i := 0; i < n; i++ {
		frames, caption, err := d.Clip(i)
		if err != nil {
			return EvalResult{}, err
		}
		ids, _, err := m.Tokenizer.Tokenize(caption, maxWords)
		if err != nil {
			return EvalResult{}, err
		}
		if err := enc.EncodeText(text[i*e:(i+1)*e], ids); err != nil {
			return EvalResult{}, err
		}
		frames = model.SampleUniform(frames, maxFrames)
		var flat []float32
		for _, f := range frames {
			flat = append(flat, f...)
		}
		feats[i] = make([]float32, len(frames)*e)
		if err := enc.EncodeFrames(feats[i], flat, len(frames)); err != nil {
			return EvalResult{}, fmt.Errorf("clip %d: %w", i, err)
		}
		T = max(T, len(frames))
	}
	vis := make([]float32, n*T*e)
	mask := make([]bool, n*T)
	for i, f := range feats {
		copy(vis[i*T*e:], f)
		for s := 0; s < len(f)/e; s++ {
			mask[i*T+s] = true
		}
	}
	logits, err := enc.Logits(m.Config.Head.Type, text, n, vis, mask, n, T)
	if err != nil {
		return EvalResult{}, err
	}
	r := EvalResult{N: n}
	if r.TextToVideo, err = model.ComputeMetrics(logits, n); err != nil {
		return r, err
	}
	r.VideoToText, err = model.ComputeMetrics(model.Transpose(logits, n, n), n)
	return r, err
}
