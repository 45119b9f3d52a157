package model

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// readPart writes m as a model file in dtype and loads part of it through
// a weights.Plan that keeps only what the part Needs, as the browser's
// workers read it, so a tensor the part lacks shows up as missing.
func readPart(t testing.TB, m *CLIP, dtype quant.DType, part Part) (*CLIP, []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, m.Save(&buf, dtype, 0))
	data := buf.Bytes()
	n, err := weights.HeaderSize(data)
	require.NoError(t, err)
	plan, err := weights.PlanModel(data[:n], int64(len(data)))
	require.NoError(t, err)
	cfg, err := PartConfig(plan.File, part)
	require.NoError(t, err)
	plan.Keep(func(name string) bool { return part.Needs(cfg, name) })
	b := make([]byte, plan.Size)
	for _, r := range plan.Ranges {
		copy(b[r.Dst:r.Dst+r.Len], data[r.Off:r.Off+r.Len])
	}
	sd, err := plan.Tensors(b)
	require.NoError(t, err)
	f := *plan.File
	f.Tensors = sd
	p, err := LoadPart(&f, part)
	require.NoError(t, err)
	return p, data
}

// TestLoadPartMatchesWhole: the vision part embeds frames and the text
// part embeds text and pools frame features exactly as the whole model
// does, for each loose head and dtype; together they hold the whole
// model's weights.
func TestLoadPartMatchesWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, head := range []HeadConfig{
		{Type: MeanP, MaxWords: 8},
		{Type: SeqTransf, Layers: 1, Heads: 2, MaxFrames: 4, MaxWords: 8},
		{Type: SeqLSTM, Layers: 1, Heads: 2, MaxFrames: 4, MaxWords: 8},
	} {
		for _, dt := range []quant.DType{quant.F32, quant.F16, quant.Int8} {
			tok, err := bpe.FromCLIPMerges(strings.NewReader("#version: test\nr e\nre d</w>\ns t\nst ar</w>\n"))
			require.NoError(t, err)
			cfg := tinyConfig()
			cfg.Head = head
			cfg.Text.VocabSize = tok.VocabSize()
			r, err := Random(cfg, 5)
			require.NoError(t, err)
			r.Tokenizer = tok
			r.Meta = map[string]string{"source": "random"}
			vis, data := readPart(t, r, dt, FramePart)
			txt, _ := readPart(t, r, dt, QueryPart)
			whole, err := Load(data)
			require.NoError(t, err)
			name := head.Type + "/" + dt.String()

			require.Equal(t, FramePart, vis.Config.Part, name)
			require.Equal(t, QueryPart, txt.Config.Part, name)
			require.True(t, vis.Config.HasVision() && !vis.Config.HasText(), name)
			require.True(t, txt.Config.HasText() && !txt.Config.HasVision(), name)
			require.Nil(t, vis.Tokenizer, name)
			require.NotNil(t, txt.Tokenizer, name)
			require.Equal(t, whole.WeightBytes(), vis.WeightBytes()+txt.WeightBytes(), name)
			require.Empty(t, vis.ID(), "%s: a part's weights do not make the model's identity", name)
			require.Empty(t, txt.ID(), name)

			d, res := cfg.EmbedDim, cfg.Vision.Resolution
			pix := make([]float32, 3*res*res)
			for i := range pix {
				pix[i] = float32(rng.NormFloat64())
			}
			want, got := make([]float32, d), make([]float32, d)
			require.NoError(t, whole.NewEncoder().EncodeImage(want, pix))
			require.NoError(t, vis.NewEncoder().EncodeImage(got, pix))
			require.Equal(t, want, got, "%s: frame features", name)

			ids, _, err := whole.Tokenizer.Tokenize("a small red star", cfg.Text.Context)
			require.NoError(t, err)
			require.NoError(t, whole.NewEncoder().EncodeText(want, ids))
			require.NoError(t, txt.NewEncoder().EncodeText(got, ids))
			require.Equal(t, want, got, "%s: text features", name)
			require.Equal(t, whole.LogitScale, txt.LogitScale, name)

			frames := make([]float32, 3*d)
			for i := range frames {
				frames[i] = float32(rng.NormFloat64())
			}
			mask := []bool{true, true, true}
			require.NoError(t, whole.NewEncoder().VideoFeature(want, frames, mask, 3, head.Type))
			require.NoError(t, txt.NewEncoder().VideoFeature(got, frames, mask, 3, head.Type))
			require.Equal(t, want, got, "%s: pooled features", name)
		}
	}
}

// TestLoadPartTextOnlyFile: a text-only file's text part is the file
// itself, with its model_id; it has no vision part.
func TestLoadPartTextOnlyFile(t *testing.T) {
	full, err := Load(weights.Default())
	require.NoError(t, err)
	to, err := full.TextOnly()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, to.Save(&buf, KeepDType, 0))
	f, err := weights.ReadModel(buf.Bytes())
	require.NoError(t, err)
	txt, err := LoadPart(f, QueryPart)
	require.NoError(t, err)
	require.True(t, txt.Config.TextOnly)
	require.Equal(t, WholeModel, txt.Config.Part)
	require.Equal(t, full.ID(), txt.ID())
	_, err = LoadPart(f, FramePart)
	require.ErrorContains(t, err, "text-only model file holds no vision tower")

	// A whole file read whole gives the whole model, and its parts too
	// (LoadPart skips what a part does not need).
	wf, err := weights.ReadModel(weights.Default())
	require.NoError(t, err)
	whole, err := LoadPart(wf, WholeModel)
	require.NoError(t, err)
	require.Equal(t, full.ID(), whole.ID())
	vis, err := LoadPart(wf, FramePart)
	require.NoError(t, err)
	require.Equal(t, full.Vision.Pos, vis.Vision.Pos)
}

// TestLoadPartErrors: unknown parts, a part missing a tensor it needs
// (named), a part saved as a file, and a file whose config claims a part.
func TestLoadPartErrors(t *testing.T) {
	_, err := ParsePart("audio")
	require.ErrorContains(t, err, `unknown part "audio" (want all, text or vision)`)
	for _, s := range []string{"", "all"} {
		p, err := ParsePart(s)
		require.NoError(t, err)
		require.Equal(t, WholeModel, p)
	}

	f, err := weights.ReadModel(weights.Default())
	require.NoError(t, err)
	_, err = LoadPart(f, Part("audio"))
	require.ErrorContains(t, err, "unknown part")

	// A tensor of the part missing from the file: named as missing.
	sd := &weights.StateDict{}
	for _, name := range f.Tensors.Order {
		if name != "visual.ln_post.bias" {
			sd.Add(f.Tensors.Tensors[name])
		}
	}
	broken := *f
	broken.Tensors = sd
	_, err = LoadPart(&broken, FramePart)
	require.ErrorContains(t, err, "1 missing: visual.ln_post.bias")
	_, err = LoadPart(&broken, QueryPart) // the text part does not need it
	require.NoError(t, err)

	vis, err := LoadPart(f, FramePart)
	require.NoError(t, err)
	require.ErrorContains(t, vis.Save(&bytes.Buffer{}, KeepDType, 0), "holds only its vision part")

	var cfg map[string]any
	require.NoError(t, json.Unmarshal(f.Config, &cfg))
	cfg["part"] = "vision"
	claims := *f
	claims.Config, _ = json.Marshal(cfg)
	_, err = LoadPart(&claims, FramePart)
	require.ErrorContains(t, err, `config part "vision"`)
	_, err = fromFile(&claims)
	require.ErrorContains(t, err, `config part "vision"`)
}

// TestPartNeeds: which tensor names each part keeps.
func TestPartNeeds(t *testing.T) {
	cfg := tinyConfig()
	cfg.Head = HeadConfig{Type: SeqTransf}
	for _, c := range []struct {
		name         string
		vision, text bool
	}{
		{"visual.conv1.weight", true, false},
		{"visual.transformer.resblocks.0.mlp.c_fc.weight.scales", true, false},
		{"visual.proj", true, false},
		{"token_embedding.weight", false, true},
		{"transformer.resblocks.3.attn.in_proj_weight.scales", false, true},
		{"text_projection", false, true},
		{"logit_scale", false, true},
		{"frame_position_embeddings.weight", false, true},
		{"transformerClip.resblocks.0.ln_1.weight", false, true},
	} {
		require.Equal(t, c.vision, FramePart.Needs(cfg, c.name), c.name)
		require.Equal(t, c.text, QueryPart.Needs(cfg, c.name), c.name)
		require.True(t, WholeModel.Needs(cfg, c.name), c.name)
	}
	// A tight head's weights: the query worker pools with meanP instead.
	cfg.Head.Type = TightTransf
	require.False(t, QueryPart.Needs(cfg, "cross.transformer.resblocks.0.ln_1.weight"))
}
