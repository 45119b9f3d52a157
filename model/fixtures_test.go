package model

import (
	"math"
	"os"
	"sync"
	"testing"

	"clip4clip/internal/npy"
	"clip4clip/internal/testenv"
	"clip4clip/model/bpe"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// fixtures is where CI puts the reference outputs of the original PyTorch
// code: ../shared/fixtures beside the checkout.
const fixtures = "../../shared/fixtures"

func fixture(t testing.TB, rel string) string {
	t.Helper()
	return testenv.Fixture(t, fixtures, rel)
}

func loadNpy(t testing.TB, rel string) (*npy.Array, []float32) {
	t.Helper()
	a, err := npy.ReadFile(fixture(t, rel))
	require.NoError(t, err)
	v, err := a.Float32()
	require.NoError(t, err)
	return a, v
}

func loadInts(t testing.TB, rel string) (*npy.Array, []int) {
	t.Helper()
	a, err := npy.ReadFile(fixture(t, rel))
	require.NoError(t, err)
	v, err := a.Int64()
	require.NoError(t, err)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return a, out
}

var tinyOnce struct {
	sync.Once
	cfg Config
	sd  *weights.StateDict
	err error
}

// tinyCLIP loads the fixture CLIP from OpenAI's .pt layout (cached: the
// 30 MB pickle is read once per test binary).
func tinyCLIP(t testing.TB) *CLIP {
	t.Helper()
	path := fixture(t, "clip/clip_tiny_openai.pt")
	tinyOnce.Do(func() {
		sd, err := weights.ReadTorchFile(path)
		if err != nil {
			tinyOnce.err = err
			return
		}
		tinyOnce.cfg, tinyOnce.sd, tinyOnce.err = Canonical(sd, nil)
	})
	require.NoError(t, tinyOnce.err)
	m, err := New(tinyOnce.cfg, tinyOnce.sd)
	require.NoError(t, err)
	return m
}

var vocabOnce struct {
	sync.Once
	tok *bpe.Tokenizer
	err error
}

func clipTokenizer(t testing.TB) *bpe.Tokenizer {
	t.Helper()
	path := fixture(t, "bpe_simple_vocab_16e6.txt.gz")
	vocabOnce.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			vocabOnce.err = err
			return
		}
		defer f.Close()
		vocabOnce.tok, vocabOnce.err = bpe.FromCLIPMerges(f)
	})
	require.NoError(t, vocabOnce.err)
	return vocabOnce.tok
}

// requireClose fails with the first values and the largest difference when
// |want - got| > atol + rtol*|want| anywhere.
func requireClose(t testing.TB, name string, want, got []float32, atol, rtol float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", name)
	worst, at := 0.0, -1
	for i := range want {
		d := math.Abs(float64(want[i] - got[i]))
		if math.IsNaN(d) || d > atol+rtol*math.Abs(float64(want[i])) {
			if at < 0 || d > worst || math.IsNaN(d) {
				worst, at = d, i
			}
		}
	}
	if at >= 0 {
		n := min(5, len(want))
		t.Fatalf("%s: |diff| %.3g at index %d exceeds %.1g+%.1g*|want|\nwant[:%d] %v\ngot[:%d]  %v", name, worst, at, atol, rtol, n, want[:n], n, got[:n])
	}
	var md float64
	for i := range want {
		md = max(md, math.Abs(float64(want[i]-got[i])))
	}
	t.Logf("%s: max |diff| %.3g over %d values", name, md, len(want))
}
