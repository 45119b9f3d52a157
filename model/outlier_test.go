package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
	"clip4clip/quant"
	"clip4clip/weights"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Trained CLIPs carry a few residual-stream channels 50-100x larger than
// the rest (as LLMs do: Dettmers et al., LLM.int8(), arXiv:2208.07339).
// After ln_1/ln_2 those channels set every token's max |x|, so quantizing
// x per token to int8 leaves the other channels a level or two. Random and
// fixture weights have no such channels; withOutliers puts them in.

// outlierDims are the residual channels made large, and their size in
// units of the stream's typical magnitude (signs differ, as in CLIP).
var outlierDims = []struct {
	dim    int // index into the width, taken modulo it
	factor float32
}{{7, 60}, {42, -90}, {101, 75}}

// withOutliers returns a copy of m whose residual streams carry outlierDims
// from the embeddings on: the vision tower through visual.ln_pre.bias (the
// stream right after ln_pre, about unit size), the text tower through
// positional_embedding (scaled to the rms of token + position embedding),
// each position jittered by 10% so no two tokens are alike.
func withOutliers(t testing.TB, m *CLIP, seed uint64) *CLIP {
	t.Helper()
	sd, err := m.StateDict(KeepDType, 0)
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(seed, 1))
	f32 := func(name string) []float32 {
		tn := sd.Tensors[name]
		require.NotNil(t, tn, name)
		v, err := tn.Float32()
		require.NoError(t, err)
		return v
	}
	set := func(name string, v []float32) {
		old := sd.Tensors[name]
		sd.Tensors[name] = weights.FromFloat32(name, old.Shape, v)
	}
	if m.Config.HasVision() {
		w := m.Config.Vision.Width
		b := f32("visual.ln_pre.bias")
		pos := f32("visual.positional_embedding") // (tokens, w): varies the outliers per token too
		lnw := f32("visual.ln_pre.weight")
		for _, o := range outlierDims {
			d := o.dim % w
			b[d] += o.factor
			lnw[d] = 1 // ln_pre's weight would scale the outlier's jitter below
			for p := 0; p < len(pos)/w; p++ {
				pos[p*w+d] += 0.1 * o.factor * float32(r.NormFloat64())
			}
		}
		set("visual.ln_pre.bias", b)
		set("visual.ln_pre.weight", lnw)
		set("visual.positional_embedding", pos)
	}
	w := m.Config.Text.Width
	pos := f32("positional_embedding") // (context, w)
	emb := m.Text.TokenEmb.Float32()   // (vocab, w)
	var ss float64
	for i := 0; i < 256*w; i++ {
		v := float64(emb[i] + pos[i%len(pos)])
		ss += v * v
	}
	rms := float32(math.Sqrt(ss / float64(256*w)))
	for _, o := range outlierDims {
		d := o.dim % w
		for p := 0; p < len(pos)/w; p++ {
			pos[p*w+d] += o.factor * rms * (1 + 0.1*float32(r.NormFloat64()))
		}
	}
	set("positional_embedding", pos)
	// A trained model reads these channels lightly: the weights that take
	// ln_1/ln_2's output (and ln_post/ln_final's gain) are about 1/factor
	// on them, so the outputs depend on the other channels, which is what
	// per-token int8 loses. Without this the features would follow the
	// outliers alone and any quantization would keep their direction.
	for name, tn := range sd.Tensors {
		if !strings.HasSuffix(name, "attn.in_proj_weight") && !strings.HasSuffix(name, "mlp.c_fc.weight") &&
			name != "visual.ln_post.weight" && name != "ln_final.weight" {
			continue
		}
		v := f32(name)
		w := tn.Shape[len(tn.Shape)-1]
		for _, o := range outlierDims {
			d, s := o.dim%w, 1/float32(math.Abs(float64(o.factor)))
			for r := 0; r < len(v)/w; r++ {
				v[r*w+d] *= s
			}
		}
		set(name, v)
	}
	out, err := New(m.Config, sd)
	require.NoError(t, err)
	return out
}

// requantized is what `clip4clip convert -dtype` builds: every matrix of m
// quantized to dtype (int8: one scale per block, 0 per row).
func requantized(t testing.TB, m *CLIP, dtype quant.DType, block int) *CLIP {
	t.Helper()
	sd, err := m.StateDict(dtype, block)
	require.NoError(t, err)
	q, err := New(m.Config, sd)
	require.NoError(t, err)
	return q
}

// blockInputStats traces the inputs of the first block's Linears in both
// towers (ln_1 of the residual stream) and returns, over every token,
// max |x| over the outlier dims and over the others.
func blockInputStats(t *testing.T, m *CLIP, pix []float32, ids []int) (vOut, vRest, tOut, tRest float64) {
	e := m.NewEncoder()
	stats := func(x []float32, w int, b *Block) (out, rest float64) {
		n := len(x) / w
		h := make([]float32, len(x))
		quant.LayerNorm(h, x, n, w, b.LN1W, b.LN1B, float32(b.Eps))
		isOut := map[int]bool{}
		for _, o := range outlierDims {
			isOut[o.dim%w] = true
		}
		for i, v := range h {
			a := math.Abs(float64(v))
			if isOut[i%w] {
				out = max(out, a)
			} else {
				rest = max(rest, a)
			}
		}
		return
	}
	e.Trace = func(stage string, data []float32) {
		switch stage {
		case "vision_ln_pre_out":
			vOut, vRest = stats(data, m.Config.Vision.Width, &m.Vision.Blocks[0])
		case "text_embed_out":
			tOut, tRest = stats(data, m.Config.Text.Width, &m.Text.Blocks[0])
		}
	}
	d := m.Config.EmbedDim
	require.NoError(t, e.EncodeImage(make([]float32, d), pix))
	require.NoError(t, e.EncodeText(make([]float32, d), ids))
	return
}

// worstCosines returns the smallest cosine between ref's and m's features,
// over the images and over the captions.
func worstCosines(ref, m *CLIP, pix []float32, nImg int, ids []int, nTxt int) (img, txt float64) {
	d := ref.Config.EmbedDim
	re, me := ref.NewEncoder(), m.NewEncoder()
	a, b := make([]float32, d), make([]float32, d)
	img, txt = 1, 1
	size, L := len(pix)/nImg, len(ids)/nTxt
	for i := 0; i < nImg; i++ {
		if err := re.EncodeImage(a, pix[i*size:(i+1)*size]); err != nil {
			panic(err)
		}
		if err := me.EncodeImage(b, pix[i*size:(i+1)*size]); err != nil {
			panic(err)
		}
		img = min(img, cosine(a, b))
	}
	for i := 0; i < nTxt; i++ {
		if err := re.EncodeText(a, ids[i*L:(i+1)*L]); err != nil {
			panic(err)
		}
		if err := me.EncodeText(b, ids[i*L:(i+1)*L]); err != nil {
			panic(err)
		}
		txt = min(txt, cosine(a, b))
	}
	return
}

// outlierCase is one model with injected outliers and its inputs.
type outlierCase struct {
	name      string
	base, m   *CLIP // without and with the outliers
	pix       []float32
	nImg      int
	ids       []int
	nTxt      int
	shipped   bool // whether the fixture (not a random model) is the base
	minCosine float64
	missing   error // the fixture the case needs is missing
}

func outlierCases(t *testing.T) []outlierCase {
	var cases []outlierCase
	// The fixture tiny CLIP (width 128) on the fixture inputs.
	if _, err := os.Stat(filepath.Join(fixtures, "clip/clip_tiny_openai.pt")); err != nil {
		cases = append(cases, outlierCase{name: "tiny", missing: err}) // reported by its subtest
	} else {
		pa, pix := loadNpy(t, "preprocess/pixel_values.npy")
		ta, ids := loadInts(t, "clip/text_tokens.npy")
		cases = append(cases, outlierCase{"tiny", tinyCLIP(t), withOutliers(t, tinyCLIP(t), 1), pix, pa.Shape[0], ids, ta.Shape[0], true, 0.99, nil})
	}
	// A ViT-B/32-wide random CLIP (widths 768 and 512, 12 and 8 heads) with
	// 3 layers a tower and a small vocabulary, on seeded random pixels and
	// ids: the widths of the real model at a fraction of its weights.
	cfg := ViTB32()
	cfg.Vision.Layers, cfg.Text.Layers, cfg.Text.VocabSize = 3, 3, 1000
	r, err := Random(cfg, 3)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(4, 5))
	nImg, nTxt := 2, 3
	pix := make([]float32, nImg*3*224*224)
	for i := range pix {
		pix[i] = float32(rng.NormFloat64())
	}
	ids := make([]int, nTxt*12)
	for i := range ids {
		ids[i] = 1 + rng.IntN(cfg.Text.VocabSize-2)
	}
	for i := 0; i < nTxt; i++ {
		ids[i*12+3+2*i] = cfg.Text.VocabSize - 1 // the end of text, at 3, 5, 7
	}
	cases = append(cases, outlierCase{"vitb32w", r, withOutliers(t, r, 2), pix, nImg, ids, nTxt, false, 0.99, nil})
	return cases
}

// TestInt8Outliers measures int8 (per row and per block) and f16 against
// f32 on CLIPs with injected outlier channels, and requires int8 to keep
// the features at cosine >= 0.99. It first checks that the outliers really
// dominate the inputs of the first blocks' Linears.
func TestInt8Outliers(t *testing.T) {
	for _, tc := range outlierCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.missing != nil {
				testenv.Fixture(t, fixtures, "clip/clip_tiny_openai.pt")
			}
			L := len(tc.ids) / tc.nTxt
			vo, vr, to, tr := blockInputStats(t, tc.m, tc.pix[:len(tc.pix)/tc.nImg], tc.ids[:L])
			t.Logf("ln_1 output of block 0, max |x|: vision outlier dims %.3g, others %.3g (x%.0f); text %.3g, others %.3g (x%.0f)",
				vo, vr, vo/vr, to, tr, to/tr)
			require.Greater(t, vo/vr, 20.0, "the vision outliers do not dominate ln_1's output")
			require.Greater(t, to/tr, 20.0, "the text outliers do not dominate ln_1's output")
			for _, q := range []struct {
				dt    quant.DType
				block int
			}{{quant.F16, 0}, {quant.Int8, 0}, {quant.Int8, 32}, {quant.Int8, 64}} {
				bi, bt := worstCosines(tc.base, requantized(t, tc.base, q.dt, q.block), tc.pix, tc.nImg, tc.ids, tc.nTxt)
				t.Logf("%-14s without outliers, min cosine to f32: image %.6f, text %.6f", fmt.Sprintf("%v block %d", q.dt, q.block), bi, bt)
				m := requantized(t, tc.m, q.dt, q.block)
				img, txt := worstCosines(tc.m, m, tc.pix, tc.nImg, tc.ids, tc.nTxt)
				name := fmt.Sprintf("%v block %d", q.dt, q.block)
				t.Logf("%-14s min cosine to f32: image %.6f, text %.6f", name, img, txt)
				assert.GreaterOrEqual(t, img, tc.minCosine, "%s image", name)
				assert.GreaterOrEqual(t, txt, tc.minCosine, "%s text", name)
			}
		})
	}
}
