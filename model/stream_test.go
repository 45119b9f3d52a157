package model

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

// openLazy opens a fixture checkpoint for the streaming converter.
func openLazy(t *testing.T, rel string) *weights.Lazy {
	t.Helper()
	f, err := os.Open(fixture(t, rel))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	require.NoError(t, err)
	var l *weights.Lazy
	if bytes.HasSuffix([]byte(rel), []byte(".safetensors")) {
		l, err = weights.OpenSafetensors(f, st.Size(), rel)
	} else {
		l, err = weights.OpenTorch(f, st.Size(), rel)
	}
	require.NoError(t, err)
	return l
}

// fileBytes is the model file m saves as.
func fileBytes(t *testing.T, m *CLIP) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, m.Save(&b, KeepDType, 0))
	return b.Bytes()
}

// TestConverterMatchesCanonical: converting tensor by tensor writes the
// very file that reading the whole checkpoint, Canonical, New and
// requantizing write, for OpenAI, Hugging Face and CLIP4Clip checkpoints
// in every dtype; and the f32 conversion gives the reference features.
func TestConverterMatchesCanonical(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		hf    bool
	}{
		{"openai", []string{"clip/clip_tiny_openai.pt"}, false},
		{"hf", []string{"hf/model.safetensors"}, true},
		{"clip4clip-seqTransf", []string{"clip/clip_tiny_openai.pt", "clip4clip/seqTransf/pytorch_model.bin"}, false},
		{"clip4clip-3d", []string{"clip/clip_tiny_openai.pt", "clip4clip/meanP_3d/pytorch_model.bin"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hfCfg []byte
			if tc.hf {
				var err error
				hfCfg, err = os.ReadFile(fixture(t, "hf/config.json"))
				require.NoError(t, err)
			}
			sd := &weights.StateDict{}
			var lazies []*weights.Lazy
			for _, f := range tc.files {
				var part *weights.StateDict
				var err error
				if tc.hf {
					part, err = weights.ReadSafetensorsFile(fixture(t, f))
				} else {
					part, err = weights.ReadTorchFile(fixture(t, f))
				}
				require.NoError(t, err)
				for _, n := range part.Order {
					sd.Add(part.Tensors[n])
				}
				lazies = append(lazies, openLazy(t, f))
			}
			cfg, csd, err := Canonical(sd, hfCfg)
			require.NoError(t, err)
			whole, err := New(cfg, csd)
			require.NoError(t, err)
			for _, d := range []struct {
				dtype quant.DType
				block int
			}{{quant.F32, 0}, {quant.F16, 0}, {quant.Int8, 0}, {quant.Int8, 32}} {
				qsd, err := whole.StateDict(d.dtype, d.block)
				require.NoError(t, err)
				want, err := New(cfg, qsd)
				require.NoError(t, err)
				got, probe, err := ConvertLazy(lazies, hfCfg, d.dtype, d.block, nil, nil)
				require.NoError(t, err)
				require.Equal(t, cfg, got.Config)
				require.True(t, bytes.Equal(fileBytes(t, want), fileBytes(t, got)), "%s %s/%d: the converted file differs", tc.name, d.dtype, d.block)
				t.Logf("%s %s block %d: probe %s", tc.name, d.dtype, d.block, probe)
				if d.dtype == quant.F32 && cfg.Vision.Patch == "2d" {
					checkFeatures(t, got)
					// The reference runs the same float32 kernels one block at a
					// time: the f32 model agrees with it to rounding.
					require.Greater(t, probe.Min, 0.999999)
				}
				require.Greater(t, probe.Min, 0.99)
			}
		})
	}
}

// TestConverterProbeText: with a tokenizer the probe covers the captions,
// and a damaged conversion shows in it.
func TestConverterProbeText(t *testing.T) {
	f, err := os.Open(fixture(t, "bpe_simple_vocab_16e6.txt.gz"))
	require.NoError(t, err)
	defer f.Close()
	tok, err := bpe.FromCLIPMerges(f)
	require.NoError(t, err)
	hfCfg, err := os.ReadFile(fixture(t, "hf/config.json"))
	require.NoError(t, err)
	l := openLazy(t, "hf/model.safetensors")
	m, probe, err := ConvertLazy([]*weights.Lazy{l}, hfCfg, quant.Int8, 0, tok, nil)
	require.NoError(t, err)
	require.Len(t, probe.Image, ProbeImages)
	require.Len(t, probe.Text, len(ProbeCaptions))
	t.Logf("int8: %s", probe)
	require.Greater(t, probe.Min, 0.99)
	require.NotNil(t, m.Tokenizer)

	// The probe must see a wrong weight: convert again with one layer's MLP
	// weights negated in the reference's view only.
	c, err := NewConverter(lazyMeta(l), hfCfg, quant.F32, 0)
	require.NoError(t, err)
	byName := map[string]*weights.LazyTensor{}
	for _, lt := range l.Tensors {
		byName[lt.Name] = lt
		tt, err := lt.Load()
		require.NoError(t, err)
		require.NoError(t, c.Add(tt))
	}
	fm, err := c.Finish()
	require.NoError(t, err)
	fm.Tokenizer = tok
	bad, err := c.Probe(fm, func(name string) (*weights.Tensor, error) {
		tt, err := byName[name].Load()
		if err == nil && name == "text_model.encoder.layers.0.mlp.fc2.weight" {
			v, _ := tt.Float32()
			for i := range v {
				v[i] = -v[i]
			}
			tt = weights.FromFloat32(name, tt.Shape, v)
		}
		return tt, err
	})
	require.NoError(t, err)
	t.Logf("f32 against a damaged reference: %s", bad)
	require.Greater(t, bad.Image[0], 0.999999, "the vision probe does not read that tensor")
	require.Less(t, bad.Min, 0.99, "a negated MLP does not show in the text probe")
}

func lazyMeta(l *weights.Lazy) *weights.StateDict {
	meta := &weights.StateDict{}
	for _, t := range l.Tensors {
		meta.Add(&weights.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape})
	}
	return meta
}

// TestConverterRefusesNonCLIP: the plan names what is wrong before any data is read.
func TestConverterRefusesNonCLIP(t *testing.T) {
	meta := &weights.StateDict{}
	meta.Add(&weights.Tensor{Name: "model.encoder.layers.0.self_attn.q_proj.weight", DType: weights.F32, Shape: []int{8, 8}})
	_, err := NewConverter(meta, nil, quant.Int8, 0)
	require.Error(t, err)
	require.Contains(t, err.Error(), "visual.conv1.weight")

	l := openLazy(t, "hf/model.safetensors")
	meta = lazyMeta(l)
	delete(meta.Tensors, "text_model.final_layer_norm.weight")
	meta.Order = meta.Order[:0]
	for n := range meta.Tensors {
		meta.Order = append(meta.Order, n)
	}
	_, err = NewConverter(meta, nil, quant.Int8, 0)
	require.Error(t, err)
	require.Contains(t, err.Error(), "ln_final.weight")
}
