package model

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"

	"clip4clip/quant"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// features runs both encoders of m over the fixture inputs:
// preprocess/pixel_values.npy and clip/text_tokens.npy.
func features(t *testing.T, m *CLIP) (img, txt []float32, nImg, nTxt int) {
	t.Helper()
	pa, pix := loadNpy(t, "preprocess/pixel_values.npy")
	ta, ids := loadInts(t, "clip/text_tokens.npy")
	e := m.NewEncoder()
	d := m.Config.EmbedDim
	nImg, nTxt = pa.Shape[0], ta.Shape[0]
	img, txt = make([]float32, nImg*d), make([]float32, nTxt*d)
	size := len(pix) / nImg
	for i := 0; i < nImg; i++ {
		require.NoError(t, e.EncodeImage(img[i*d:(i+1)*d], pix[i*size:(i+1)*size]))
	}
	L := ta.Shape[1]
	for i := 0; i < nTxt; i++ {
		require.NoError(t, e.EncodeText(txt[i*d:(i+1)*d], ids[i*L:(i+1)*L]))
	}
	return
}

// logitsPerImage is exp(logit_scale) * cos(image i, caption j), as CLIP.forward.
func logitsPerImage(m *CLIP, img, txt []float32, nImg, nTxt int) []float32 {
	d := m.Config.EmbedDim
	in, tn := append([]float32(nil), img...), append([]float32(nil), txt...)
	for i := 0; i < nImg; i++ {
		L2Normalize(in[i*d : (i+1)*d])
	}
	for j := 0; j < nTxt; j++ {
		L2Normalize(tn[j*d : (j+1)*d])
	}
	out := make([]float32, nImg*nTxt)
	scale := float32(math.Exp(float64(m.LogitScale)))
	for i := 0; i < nImg; i++ {
		for j := 0; j < nTxt; j++ {
			out[i*nTxt+j] = scale * dot(in[i*d:(i+1)*d], tn[j*d:(j+1)*d])
		}
	}
	return out
}

func checkFeatures(t *testing.T, m *CLIP) {
	img, txt, ni, nt := features(t, m)
	_, wantImg := loadNpy(t, "clip/image_features.npy")
	_, wantTxt := loadNpy(t, "clip/text_features.npy")
	requireClose(t, "image_features", wantImg, img, 1e-4, 1e-4)
	requireClose(t, "text_features", wantTxt, txt, 1e-4, 1e-4)
	d := m.Config.EmbedDim
	in, tn := append([]float32(nil), img...), append([]float32(nil), txt...)
	for i := 0; i < ni; i++ {
		L2Normalize(in[i*d : (i+1)*d])
	}
	for j := 0; j < nt; j++ {
		L2Normalize(tn[j*d : (j+1)*d])
	}
	_, wantIn := loadNpy(t, "clip/image_embeds_normalized.npy")
	_, wantTn := loadNpy(t, "clip/text_embeds_normalized.npy")
	requireClose(t, "image_embeds_normalized", wantIn, in, 1e-5, 0)
	requireClose(t, "text_embeds_normalized", wantTn, tn, 1e-5, 0)
	logits := logitsPerImage(m, img, txt, ni, nt)
	_, wantLogits := loadNpy(t, "clip/logits_per_image.npy")
	requireClose(t, "logits_per_image", wantLogits, logits, 1e-4, 1e-4)
	_, wantPerText := loadNpy(t, "clip/logits_per_text.npy")
	perText := make([]float32, len(logits))
	for i := 0; i < ni; i++ {
		for j := 0; j < nt; j++ {
			perText[j*ni+i] = logits[i*nt+j]
		}
	}
	requireClose(t, "logits_per_text", wantPerText, perText, 1e-4, 1e-4)
}

func TestCLIPMatchesOpenAI(t *testing.T) {
	checkFeatures(t, tinyCLIP(t))
}

func TestCLIPMatchesHuggingFace(t *testing.T) {
	sd, err := weights.ReadSafetensorsFile(fixture(t, "hf/model.safetensors"))
	require.NoError(t, err)
	cfgJSON, err := os.ReadFile(fixture(t, "hf/config.json"))
	require.NoError(t, err)
	cfg, csd, err := Canonical(sd, cfgJSON)
	require.NoError(t, err)
	require.Equal(t, tinyCLIP(t).Config, cfg)
	m, err := New(cfg, csd)
	require.NoError(t, err)
	checkFeatures(t, m)
}

// TestIntermediates compares every traced stage with clip/intermediates.
func TestIntermediates(t *testing.T) {
	m := tinyCLIP(t)
	e := m.NewEncoder()
	got := map[string][]float32{}
	e.Trace = func(stage string, data []float32) { got[stage] = append(got[stage], data...) }
	pa, pix := loadNpy(t, "preprocess/pixel_values.npy")
	ta, ids := loadInts(t, "clip/text_tokens.npy")
	d := m.Config.EmbedDim
	out := make([]float32, d)
	size := len(pix) / pa.Shape[0]
	for i := 0; i < pa.Shape[0]; i++ {
		require.NoError(t, e.EncodeImage(out, pix[i*size:(i+1)*size]))
	}
	L := ta.Shape[1]
	for i := 0; i < ta.Shape[0]; i++ {
		require.NoError(t, e.EncodeText(out, ids[i*L:(i+1)*L]))
	}
	// conv1 is channel-first in the fixture, (N, width, grid, grid).
	w, g := m.Config.Vision.Width, m.Config.Vision.Grid()
	conv := got["vision_conv1_out"]
	chw := make([]float32, len(conv))
	for n := 0; n < len(conv)/(w*g*g); n++ {
		for p := 0; p < g*g; p++ {
			for c := 0; c < w; c++ {
				chw[n*w*g*g+c*g*g+p] = conv[n*w*g*g+p*w+c]
			}
		}
	}
	got["vision_conv1_out"] = chw
	stages := []string{"vision_conv1_out", "vision_ln_pre_out", "vision_ln_post_out", "text_embed_out", "text_ln_final_out"}
	for i := 0; i < m.Config.Vision.Layers; i++ {
		stages = append(stages, fmt.Sprintf("vision_block%d_out", i))
	}
	for i := 0; i < m.Config.Text.Layers; i++ {
		stages = append(stages, fmt.Sprintf("text_block%d_out", i))
	}
	for _, s := range stages {
		_, want := loadNpy(t, "clip/intermediates/"+s+".npy")
		requireClose(t, s, want, got[s], 1e-4, 1e-4)
	}
}

// TestTextStopsAtEOT: computing only the positions up to the end-of-text
// token gives the same feature as all 77, and padding does not matter.
func TestTextStopsAtEOT(t *testing.T) {
	m := tinyCLIP(t)
	ta, ids := loadInts(t, "clip/text_tokens.npy")
	L := ta.Shape[1]
	e := m.NewEncoder()
	d := m.Config.EmbedDim
	for i := 0; i < ta.Shape[0]; i++ {
		row := ids[i*L : (i+1)*L]
		eot := EOTIndex(row)
		short, full := make([]float32, d), make([]float32, d)
		require.NoError(t, e.EncodeText(short, row[:eot+1]))
		e.Trace = func(string, []float32) {}
		require.NoError(t, e.EncodeText(full, row))
		e.Trace = nil
		requireClose(t, fmt.Sprintf("caption %d", i), full, short, 1e-5, 1e-5)
	}
}

// TestQuantizedFidelity saves the fixture model as f32, f16 and int8 model
// files, loads them back and measures cosine to the f32 features and the
// logits' argmax per row.
func TestQuantizedFidelity(t *testing.T) {
	ref := tinyCLIP(t)
	refImg, refTxt, ni, nt := features(t, ref)
	refLogits := logitsPerImage(ref, refImg, refTxt, ni, nt)
	for _, tc := range []struct {
		dtype  quant.DType
		block  int
		minCos float64
	}{{quant.F32, 0, 1 - 1e-9}, {quant.F16, 0, 0.9999}, {quant.Int8, 0, 0.995}, {quant.Int8, 32, 0.995}} {
		t.Run(fmt.Sprintf("%v_block%d", tc.dtype, tc.block), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, ref.Save(&buf, tc.dtype, tc.block))
			m, err := Load(buf.Bytes())
			require.NoError(t, err)
			img, txt, _, _ := features(t, m)
			d := m.Config.EmbedDim
			worst := 1.0
			for i := 0; i < ni; i++ {
				worst = min(worst, cosine(refImg[i*d:(i+1)*d], img[i*d:(i+1)*d]))
			}
			for j := 0; j < nt; j++ {
				worst = min(worst, cosine(refTxt[j*d:(j+1)*d], txt[j*d:(j+1)*d]))
			}
			t.Logf("%v block %d: file %d bytes, min cosine to f32 %.6f", tc.dtype, tc.block, buf.Len(), worst)
			require.GreaterOrEqual(t, worst, tc.minCos)
			logits := logitsPerImage(m, img, txt, ni, nt)
			for i := 0; i < ni; i++ {
				require.Equal(t, argmax(refLogits[i*nt:(i+1)*nt]), argmax(logits[i*nt:(i+1)*nt]), "image %d", i)
			}
			for j := 0; j < nt; j++ {
				col, refCol := make([]float32, ni), make([]float32, ni)
				for i := 0; i < ni; i++ {
					col[i], refCol[i] = logits[i*nt+j], refLogits[i*nt+j]
				}
				require.Equal(t, argmax(refCol), argmax(col), "caption %d", j)
			}
		})
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestLoadErrorsNameTensors: a missing, mis-shaped or unknown tensor is
// reported by name, never a panic.
func TestLoadErrorsNameTensors(t *testing.T) {
	m := tinyCLIP(t)
	sd, err := m.StateDict(quant.F32, 0)
	require.NoError(t, err)
	clone := func() *weights.StateDict {
		c := &weights.StateDict{}
		for _, n := range sd.Order {
			tt := *sd.Tensors[n]
			c.Add(&tt)
		}
		return c
	}
	missing := clone()
	delete(missing.Tensors, "visual.ln_post.bias")
	_, err = New(m.Config, missing)
	require.ErrorContains(t, err, "missing: visual.ln_post.bias")

	shaped := clone()
	bad := *shaped.Tensors["transformer.resblocks.1.mlp.c_fc.weight"]
	bad.Shape = []int{bad.Shape[1], bad.Shape[0]}
	shaped.Tensors[bad.Name] = &bad
	_, err = New(m.Config, shaped)
	require.ErrorContains(t, err, "transformer.resblocks.1.mlp.c_fc.weight: got [128 512], want [512 128]")

	unknown := clone()
	unknown.Add(weights.FromFloat32("visual.extra_thing", []int{2}, []float32{1, 2}))
	_, err = New(m.Config, unknown)
	require.ErrorContains(t, err, "unknown: visual.extra_thing")

	short := clone()
	tr := *short.Tensors["visual.class_embedding"]
	tr.Data = tr.Data[:8]
	short.Tensors[tr.Name] = &tr
	_, err = New(m.Config, short)
	require.ErrorContains(t, err, "visual.class_embedding")
}

func TestEncodeRejectsBadInput(t *testing.T) {
	m := tinyCLIP(t)
	e := m.NewEncoder()
	out := make([]float32, m.Config.EmbedDim)
	require.ErrorContains(t, e.EncodeImage(out, make([]float32, 10)), "values for 1 frames")
	require.ErrorContains(t, e.EncodeText(out, nil), "tokens")
	require.ErrorContains(t, e.EncodeText(out, make([]int, 78)), "tokens")
	require.ErrorContains(t, e.EncodeText(out, []int{49406, 1 << 20}), "outside the vocabulary")
}
