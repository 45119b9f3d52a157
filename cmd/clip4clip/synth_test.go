package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"clip4clip/internal/testenv"
	"clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/synth"
	"github.com/stretchr/testify/require"
)

func readEntries(t *testing.T, path string) []synthEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var entries []synthEntry
	require.NoError(t, json.Unmarshal(b, &entries))
	return entries
}

func TestSynthDataset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "synth", "-seed", "3", "-n", "5", "-o", dir, "-res", "32", "-frames", "6", "-order", "2")
	entries := readEntries(t, filepath.Join(dir, "captions.json"))
	require.Len(t, entries, 5)
	for i, e := range entries {
		c := synth.GenerateAt(3, i, synth.Options{Frames: 6, Resolution: 32})
		require.Equal(t, c.ID, e.Video)
		require.Equal(t, c.Caption, e.Caption)
		require.Equal(t, c.Events, e.Events)
		names, err := filepath.Glob(filepath.Join(dir, e.Video, "*.png"))
		require.NoError(t, err)
		require.Len(t, names, 6)
		f, err := os.Open(filepath.Join(dir, e.Video, "005.png"))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err)
		require.Equal(t, 32, img.Bounds().Dx())
		// eval reads the folder as a clip.
		frames, err := loadClip(dir, e.Video, 32, 12)
		require.NoError(t, err)
		require.Len(t, frames, 6*3*32*32)
	}
	order := readEntries(t, filepath.Join(dir, "order", "captions.json"))
	require.Len(t, order, 4)
	require.Equal(t, order[0].Events[0].Kind, order[1].Events[1].Kind)
	require.NotEqual(t, order[0].Caption, order[1].Caption)

	// The same seed writes the same files.
	again := filepath.Join(t.TempDir(), "again")
	mustRun(t, "synth", "-seed", "3", "-n", "5", "-o", again, "-res", "32", "-frames", "6")
	for _, rel := range []string{"captions.json", entries[4].Video + "/003.png"} {
		a, err := os.ReadFile(filepath.Join(dir, rel))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(again, rel))
		require.NoError(t, err)
		require.Equal(t, a, b, rel)
	}

	// A vocabulary learned from the captions, in a model that eval runs on
	// the dataset end to end.
	vocabPath := filepath.Join(t.TempDir(), "vocab.txt")
	mustRun(t, "vocab", "-data", dir, "-data", filepath.Join(dir, "order"), "-merges", "500", "-o", vocabPath)
	f, err := os.Open(vocabPath)
	require.NoError(t, err)
	tok, err := bpe.FromCLIPMerges(f)
	f.Close()
	require.NoError(t, err)
	for _, e := range entries {
		require.Len(t, tok.Encode(e.Caption), len(bpe.PreTokenize(bpe.Clean(e.Caption))), e.Caption)
	}
	cfg := model.Config{
		EmbedDim: 16,
		Vision:   model.VisionConfig{Width: 32, Layers: 1, Heads: 2, PatchSize: 8, Resolution: 32, Patch: "2d"},
		Text:     model.TextConfig{Width: 32, Layers: 1, Heads: 2, Context: 32, VocabSize: tok.VocabSize()},
		Head:     model.HeadConfig{Type: model.MeanP, MaxWords: 32},
	}
	m, err := model.Random(cfg, 1)
	require.NoError(t, err)
	m.Tokenizer = tok
	modelPath := filepath.Join(t.TempDir(), "m.c4c")
	require.NoError(t, m.SaveFile(modelPath, quant.F32, 0))
	out := mustRun(t, "eval", "-model", modelPath, "-data", dir, "-json")
	require.Contains(t, out, "R1")
}

func TestSynthVideos(t *testing.T) {
	testenv.Command(t, "ffmpeg", "apt-get install -y ffmpeg: synth -video and -demo encode with it")
	dir := t.TempDir()
	mustRun(t, "synth", "-seed", "2", "-n", "1", "-o", dir, "-res", "32", "-frames", "4", "-video", "-video-size", "32",
		"-demo", "1", "-demo-duration", "8", "-demo-size", "64")
	entries := readEntries(t, filepath.Join(dir, "captions.json"))
	for _, name := range []string{entries[0].Video + ".webm", "demo0.webm"} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Greater(t, st.Size(), int64(100), name)
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo0.json"))
	require.NoError(t, err)
	var demo struct {
		Duration float64       `json:"duration"`
		FPS      float64       `json:"fps"`
		Events   []synth.Event `json:"events"`
	}
	require.NoError(t, json.Unmarshal(b, &demo))
	require.Equal(t, 8.0, demo.Duration)
	require.Equal(t, 4.0, demo.FPS)
	require.NotEmpty(t, demo.Events)
	for _, e := range demo.Events {
		require.True(t, e.Start >= 0 && e.End <= demo.Duration, "%+v", e)
	}
}

func TestSynthErrors(t *testing.T) {
	for _, args := range [][]string{
		{"synth", "-n", "2"},
		{"synth", "-n", "2", "-o", t.TempDir(), "-objects", "4"},
		{"synth", "-n", "1", "-o", t.TempDir(), "-video", "-video-size", "33"},
		{"vocab", "-o", filepath.Join(t.TempDir(), "v.txt")},
		{"vocab", "-data", t.TempDir(), "-o", filepath.Join(t.TempDir(), "v.txt")},
	} {
		_, err := run(t, args...)
		require.Error(t, err, "%v", args)
	}
}
