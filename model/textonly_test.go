package model

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"clip4clip/quant"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// saveLoad writes m as a model file and loads it back.
func saveLoad(t testing.TB, m *CLIP, dtype quant.DType) (*CLIP, int) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, m.Save(&buf, dtype, 0))
	n := buf.Len()
	back, err := Load(buf.Bytes())
	require.NoError(t, err)
	return back, n
}

func TestIDIsStable(t *testing.T) {
	m, err := Load(weights.Default())
	require.NoError(t, err)
	id := m.ID()
	require.Len(t, id, 64)
	require.Equal(t, id, m.ID())

	// The same weights written again (as stored) are the same model; an f32
	// copy of the f16 file holds the same values, so it is too.
	same, _ := saveLoad(t, m, KeepDType)
	require.Equal(t, id, same.ID())
	f32, _ := saveLoad(t, m, quant.F32)
	require.Equal(t, id, f32.ID())
	// int8 changes the values: another model.
	i8, _ := saveLoad(t, m, quant.Int8)
	require.NotEqual(t, id, i8.ID())

	// One changed weight, the logit scale, or the tokenizer: another model.
	other, _ := saveLoad(t, m, quant.F32)
	other.Text.LNFinalB[0] += 1e-3
	require.NotEqual(t, id, other.ID())
	scaled, _ := saveLoad(t, m, quant.F32)
	for _, p := range scaled.params {
		if p.name == "logit_scale" {
			(*p.vec)[0] += 1e-3
		}
	}
	require.NotEqual(t, id, scaled.ID())
	untok, _ := saveLoad(t, m, KeepDType)
	untok.Tokenizer = nil
	require.NotEqual(t, id, untok.ID())

	// A file that names its model keeps that name.
	named, _ := saveLoad(t, m, KeepDType)
	named.Meta["model_id"] = "abc"
	require.Equal(t, "abc", named.ID())
}

func TestTextOnlyDefaultModel(t *testing.T) {
	full, err := Load(weights.Default())
	require.NoError(t, err)
	to, err := full.TextOnly()
	require.NoError(t, err)
	text, n := saveLoad(t, to, KeepDType)
	require.True(t, text.Config.TextOnly)
	require.Equal(t, full.Config.Head, text.Config.Head, "the head's description stays, for the index to check")
	require.Equal(t, full.ID(), text.ID())
	require.Equal(t, "true", text.Meta["text_only"])
	require.Less(t, n, len(weights.Default()))
	t.Logf("default model: full %d bytes, text-only %d", len(weights.Default()), n)

	ids, _, err := full.Tokenizer.Tokenize("a small red star moves left", full.Config.Text.Context)
	require.NoError(t, err)
	d := full.Config.EmbedDim
	want, got := make([]float32, d), make([]float32, d)
	require.NoError(t, full.NewEncoder().EncodeText(want, ids))
	e := text.NewEncoder()
	require.NoError(t, e.EncodeText(got, ids))
	require.Equal(t, want, got)

	res := full.Config.Vision.Resolution
	err = e.EncodeImage(got, make([]float32, 3*res*res))
	require.True(t, errors.Is(err, ErrTextOnly), "%v", err)
	require.ErrorContains(t, err, "text-only model: it cannot embed frames; use the full model file")
	err = e.VideoFeature(got, make([]float32, 2*d), []bool{true, true}, 2, MeanP)
	require.ErrorIs(t, err, ErrTextOnly)

	// The vision and head weights are gone: a text-only file with them is
	// refused, naming them.
	sd, err := full.StateDict(KeepDType, 0)
	require.NoError(t, err)
	cfg := full.Config
	cfg.TextOnly = true
	_, err = New(cfg, sd)
	require.ErrorContains(t, err, "unknown: frame_position_embeddings.weight")
}

func TestTextOnlyRefusesTightTransf(t *testing.T) {
	cfg := tinyConfig()
	cfg.Head = HeadConfig{Type: TightTransf, Layers: 1, Heads: 2, MaxFrames: 4, MaxWords: 8}
	m, err := Random(cfg, 1)
	require.NoError(t, err)
	_, err = m.TextOnly()
	require.ErrorContains(t, err, "tightTransf")
	cfg.TextOnly = true
	_, err = Random(cfg, 1)
	require.ErrorContains(t, err, "tightTransf")
}

// tinyConfig is a small model for fast tests.
func tinyConfig() Config {
	return Config{
		EmbedDim: 32,
		Vision:   VisionConfig{Width: 32, Layers: 1, Heads: 2, PatchSize: 8, Resolution: 16, Patch: "2d"},
		Text:     TextConfig{Width: 32, Layers: 1, Heads: 2, Context: 8, VocabSize: 50},
		Head:     HeadConfig{Type: MeanP, MaxWords: 8},
	}
}

// TestTextOnlyViTB32Int8 is the size figure: the query side of an
// int8 ViT-B/32 is about a third of the file, and gives the same text
// features as the full file, bit for bit.
func TestTextOnlyViTB32Int8(t *testing.T) {
	if testing.Short() || runtime.GOOS == "js" {
		t.Skip("builds a ViT-B/32 (native only without -short: 600 MB of float32 weights)")
	}
	r, err := Random(ViTB32(), 7)
	require.NoError(t, err)
	full, fullBytes := saveLoad(t, r, quant.Int8)
	r = nil
	to, err := full.TextOnly()
	require.NoError(t, err)
	text, textBytes := saveLoad(t, to, KeepDType)
	ratio := float64(textBytes) / float64(fullBytes)
	t.Logf("ViT-B/32 int8: full %.1f MB, text-only %.1f MB (%.2f)", float64(fullBytes)/1e6, float64(textBytes)/1e6, ratio)
	require.True(t, ratio >= 0.25 && ratio <= 0.45, "text-only / full = %.3f, want 0.25..0.45", ratio)
	require.Equal(t, full.ID(), text.ID())

	d := full.Config.EmbedDim
	fe, te := full.NewEncoder(), text.NewEncoder()
	for _, ids := range [][]int{{49406, 320, 1125, 49407}, {49406, 2368, 530, 320, 2442, 3143, 49407}} {
		want, got := make([]float32, d), make([]float32, d)
		require.NoError(t, fe.EncodeText(want, ids))
		require.NoError(t, te.EncodeText(got, ids))
		require.Equal(t, want, got)
	}
}
