//go:build !purego

package quant_test

// Whole ViT-B/32 encoders (random weights) through the amd64 kernels: the
// int8 fidelity with activations quantized per row, and the encoder times
// at 1 and 2 threads. An external test package, so it may import model.

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"clip4clip/model"
	"clip4clip/quant"
)

var vit struct {
	sync.Once
	models map[quant.DType]*model.CLIP
	err    error
}

// vitB32 returns a random ViT-B/32 saved and loaded back in dtype.
func vitB32(tb testing.TB, dtype quant.DType) *model.CLIP {
	vit.Do(func() {
		ref, err := model.Random(model.ViTB32(), 1)
		if err != nil {
			vit.err = err
			return
		}
		vit.models = map[quant.DType]*model.CLIP{}
		for _, dt := range []quant.DType{quant.F32, quant.F16, quant.Int8} {
			var buf bytes.Buffer
			if vit.err = ref.Save(&buf, dt, 0); vit.err != nil {
				return
			}
			if vit.models[dt], vit.err = model.Load(buf.Bytes()); vit.err != nil {
				return
			}
		}
	})
	if vit.err != nil {
		tb.Fatal(vit.err)
	}
	return vit.models[dtype]
}

func randImage(r *rand.Rand) []float32 {
	pix := make([]float32, 3*224*224)
	for i := range pix {
		pix[i] = float32(r.NormFloat64())
	}
	return pix
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestViTB32Fidelity compares the f16 and int8 image features of a random
// ViT-B/32 with the f32 ones over a few random images (the fixture model in
// model's TestQuantizedFidelity is much smaller).
func TestViTB32Fidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a ViT-B/32")
	}
	const images = 4
	feats := map[quant.DType][][]float32{}
	for _, dt := range []quant.DType{quant.F32, quant.F16, quant.Int8} {
		e := vitB32(t, dt).NewEncoder()
		r := rand.New(rand.NewPCG(9, 9))
		for i := 0; i < images; i++ {
			f := make([]float32, 512)
			if err := e.EncodeImage(f, randImage(r)); err != nil {
				t.Fatal(err)
			}
			feats[dt] = append(feats[dt], f)
		}
	}
	for _, tc := range []struct {
		dt     quant.DType
		minCos float64
	}{{quant.F16, 0.9999}, {quant.Int8, 0.995}} {
		worst, mean := 1.0, 0.0
		for i := 0; i < images; i++ {
			c := cosine(feats[quant.F32][i], feats[tc.dt][i])
			worst, mean = min(worst, c), mean+c/images
		}
		t.Logf("%v: image cosine to f32 over %d random images: min %.6f, mean %.6f", tc.dt, images, worst, mean)
		if worst < tc.minCos {
			t.Errorf("%v: min cosine %.6f < %g", tc.dt, worst, tc.minCos)
		}
	}
}

// BenchmarkViTB32Threads times one image and one 77-token caption per
// weight format at 1 and 2 threads (quant.SetThreads).
func BenchmarkViTB32Threads(b *testing.B) {
	defer quant.SetThreads(quant.Threads())
	for _, dt := range []quant.DType{quant.F32, quant.F16, quant.Int8} {
		for _, threads := range []int{1, 2} {
			for _, kind := range []string{"image", "text77"} {
				b.Run(fmt.Sprintf("%v/threads%d/%s", dt, threads, kind), func(b *testing.B) {
					m := vitB32(b, dt)
					quant.SetThreads(threads)
					e := m.NewEncoder()
					out := make([]float32, m.Config.EmbedDim)
					pix := randImage(rand.New(rand.NewPCG(1, 1)))
					ids := make([]int, 77)
					for i := range ids {
						ids[i] = 400 + i
					}
					ids[0], ids[76] = 49406, 49407
					run := func() error { return e.EncodeImage(out, pix) }
					if kind == "text77" {
						run = func() error { return e.EncodeText(out, ids) }
					}
					if err := run(); err != nil { // first call: int8 sums, buffers
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/call")
				})
			}
		}
	}
}
