package model

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	"clip4clip/quant"
)

// FLOPs counts the multiply-adds (as 2) of one image forward: patch
// embedding, the blocks (projections, attention products, MLP), projection.
func (c Config) ImageFLOPs() float64 {
	v := c.Vision
	n, w := float64(v.Tokens()), float64(v.Width)
	pp := float64(3 * v.PatchSize * v.PatchSize)
	block := 2*n*w*3*w + 2*2*n*n*w + 2*n*w*w + 2*2*n*w*4*w
	return 2*(n-1)*pp*w + float64(v.Layers)*block + 2*w*float64(c.EmbedDim)
}

// TextFLOPs counts the same for a caption of n tokens up to end-of-text.
func (c Config) TextFLOPs(n int) float64 {
	t := c.Text
	nn, w := float64(n), float64(t.Width)
	block := 2*nn*w*3*w + 2*nn*nn*w + 2*nn*w*w + 2*2*nn*w*4*w // causal: half the scores
	return float64(t.Layers)*block + 2*w*float64(c.EmbedDim)
}

var vitB32 struct {
	sync.Once
	files map[quant.DType][]byte
}

// vitB32File returns a random ViT-B/32 saved as a model file in dtype.
func vitB32File(b *testing.B, dtype quant.DType) []byte {
	vitB32.Do(func() {
		m, err := Random(ViTB32(), 1)
		if err != nil {
			panic(err)
		}
		vitB32.files = map[quant.DType][]byte{}
		for _, dt := range []quant.DType{quant.F32, quant.F16, quant.Int8} {
			var buf bytes.Buffer
			if err := m.Save(&buf, dt, 0); err != nil {
				panic(err)
			}
			vitB32.files[dt] = buf.Bytes()
		}
	})
	return vitB32.files[dtype]
}

// BenchmarkImageViTB32 times one image through a ViT-B/32-shaped encoder
// (random weights) per weight format.
func BenchmarkImageViTB32(b *testing.B) {
	for _, dt := range []quant.DType{quant.F32, quant.F16, quant.Int8} {
		b.Run(dt.String(), func(b *testing.B) {
			m, err := Load(vitB32File(b, dt))
			if err != nil {
				b.Fatal(err)
			}
			e := m.NewEncoder()
			r := rand.New(rand.NewPCG(1, 1))
			pix := make([]float32, 3*224*224)
			for i := range pix {
				pix[i] = float32(r.NormFloat64())
			}
			out := make([]float32, m.Config.EmbedDim)
			// A warm-up call, as the onnxruntime harness makes: the first
			// computes int8 matrices' column sums and sizes buffers.
			if err := e.EncodeImage(out, pix); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := e.EncodeImage(out, pix); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/image")
			b.ReportMetric(m.Config.ImageFLOPs()/sec/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkTextViTB32 times a 10-token and a 77-token caption through the
// ViT-B/32 text encoder (random weights).
func BenchmarkTextViTB32(b *testing.B) {
	for _, dt := range []quant.DType{quant.F32, quant.Int8} {
		for _, n := range []int{10, 77} {
			b.Run(dt.String()+"/"+map[int]string{10: "10tok", 77: "77tok"}[n], func(b *testing.B) {
				m, err := Load(vitB32File(b, dt))
				if err != nil {
					b.Fatal(err)
				}
				e := m.NewEncoder()
				ids := make([]int, n)
				for i := range ids {
					ids[i] = 400 + i
				}
				ids[0], ids[n-1] = 49406, 49407
				out := make([]float32, m.Config.EmbedDim)
				if err := e.EncodeText(out, ids); err != nil { // warm-up, as for images
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := e.EncodeText(out, ids); err != nil {
						b.Fatal(err)
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3, "ms/text")
				b.ReportMetric(m.Config.TextFLOPs(n)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

func TestFLOPsViTB32(t *testing.T) {
	// The figure: about 8.8 GFLOP for one ViT-B/32 image.
	if f := ViTB32().ImageFLOPs(); f < 8.7e9 || f > 8.9e9 {
		t.Fatalf("ViT-B/32 image FLOPs %.3g, want about 8.8e9", f)
	}
}
