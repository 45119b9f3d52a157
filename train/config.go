package train

import (
	"fmt"

	"clip4clip/model"
)

// Presets names the model sizes Preset knows, smallest first.
var Presets = []string{"tiny", "small", "base"}

// Preset returns a named model configuration for training from scratch
// with a vocabulary of vocab tokens. Heads are width/64 as in CLIP (at
// least one), captions are 32 tokens (CLIP4Clip's max_words) and the
// seqTransf head, when chosen, gets 4 blocks and 12 frame positions.
//
//	tiny:  res 32, patch 8,  width 64,  vision 2 layers, text 1 layer,  embed 64
//	small: res 64, patch 8,  width 128, vision 3 layers, text 2 layers, embed 128
//	base:  res 224, patch 32, width 768 / 512, 12 layers each, embed 512 (CLIP ViT-B/32)
func Preset(name string, vocab int) (model.Config, error) {
	var c model.Config
	switch name {
	case "tiny":
		c = sized(64, 2, 1, 32, 8)
	case "small":
		c = sized(128, 3, 2, 64, 8)
	case "base":
		c = model.ViTB32()
	default:
		return c, fmt.Errorf("train: unknown config %q (want one of %v)", name, Presets)
	}
	c.Text.VocabSize = vocab
	c.Text.Context = 32
	c.Head = model.HeadConfig{Type: model.MeanP, Layers: 4, Heads: c.Text.Width / 64, MaxFrames: 12, MaxWords: 32}
	return c, nil
}

// sized is a CLIP with one width for both towers and the embedding.
func sized(width, visionLayers, textLayers, res, patch int) model.Config {
	heads := max(1, width/64)
	return model.Config{
		EmbedDim: width,
		Vision:   model.VisionConfig{Width: width, Layers: visionLayers, Heads: heads, PatchSize: patch, Resolution: res, Patch: "2d"},
		Text:     model.TextConfig{Width: width, Layers: textLayers, Heads: heads},
	}
}
