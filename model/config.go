// Package model is CLIP and CLIP4Clip in plain Go: the ViT image encoder,
// the causal text encoder and the CLIP4Clip similarity heads, over flat
// float32 buffers and quant.Matrix weights whose dtype the model never sees.
//
// References: openai/CLIP clip/model.py (VisionTransformer, Transformer,
// ResidualAttentionBlock, CLIP.encode_image/encode_text) and
// ArrowLuo/CLIP4Clip modules/modeling.py, module_clip.py, module_cross.py.
package model

import "fmt"

// VisionConfig describes CLIP's VisionTransformer.
type VisionConfig struct {
	Width      int    `json:"width"`        // transformer width (768 for ViT-B)
	Layers     int    `json:"layers"`       // residual attention blocks
	Heads      int    `json:"heads"`        // attention heads, width/64 in CLIP
	PatchSize  int    `json:"patch_size"`   // conv1 kernel and stride
	Resolution int    `json:"resolution"`   // input image side in pixels
	Patch      string `json:"linear_patch"` // "2d" (conv1) or "3d" (CLIP4Clip's conv2 over 3 frames)
}

// TextConfig describes CLIP's text Transformer.
type TextConfig struct {
	Width     int `json:"width"`      // transformer width (512 for ViT-B)
	Layers    int `json:"layers"`     // causal residual attention blocks
	Heads     int `json:"heads"`      // attention heads, width/64 in CLIP
	Context   int `json:"context"`    // positional embeddings (77)
	VocabSize int `json:"vocab_size"` // token embeddings (49408)
}

// Config is a CLIP model with an optional CLIP4Clip similarity head.
type Config struct {
	EmbedDim int          `json:"embed_dim"` // joint embedding size
	Vision   VisionConfig `json:"vision"`
	Text     TextConfig   `json:"text"`
	Head     HeadConfig   `json:"head"`

	// TextOnly marks a model file that holds only the query side: the text
	// tower, its projection, the logit scale and the tokenizer. Vision and
	// Head still describe the full model the file was cut from (an index
	// checks the head); their weights are absent (see CLIP.TextOnly).
	TextOnly bool `json:"text_only,omitempty"`

	// Part is the share of the model a LoadPart built ("" for the whole
	// model): FramePart holds the vision tower only, QueryPart the rest.
	// The other fields still describe the full model. Files never set it.
	Part Part `json:"part,omitempty"`
}

// HeadConfig describes the CLIP4Clip similarity head a model carries.
type HeadConfig struct {
	Type      string `json:"type"`       // MeanP, SeqLSTM, SeqTransf or TightTransf
	Layers    int    `json:"layers"`     // transformerClip / cross blocks
	Heads     int    `json:"heads"`      // their attention heads
	MaxFrames int    `json:"max_frames"` // frame position embeddings available
	MaxWords  int    `json:"max_words"`  // caption length CLIP4Clip tokenizes to (32)
}

// ViTB32 is OpenAI's CLIP ViT-B/32.
func ViTB32() Config {
	return Config{
		EmbedDim: 512,
		Vision:   VisionConfig{Width: 768, Layers: 12, Heads: 12, PatchSize: 32, Resolution: 224, Patch: "2d"},
		Text:     TextConfig{Width: 512, Layers: 12, Heads: 8, Context: 77, VocabSize: 49408},
		Head:     HeadConfig{Type: MeanP, MaxWords: 32},
	}
}

// ViTB16 is OpenAI's CLIP ViT-B/16.
func ViTB16() Config {
	c := ViTB32()
	c.Vision.PatchSize = 16
	return c
}

// Grid returns the number of patches along one side of the image.
func (v VisionConfig) Grid() int { return v.Resolution / v.PatchSize }

// Tokens returns the image sequence length: one class token and the patches.
func (v VisionConfig) Tokens() int { return 1 + v.Grid()*v.Grid() }

// Validate reports a configuration the model cannot run.
func (c Config) Validate() error {
	v, t := c.Vision, c.Text
	switch {
	case c.EmbedDim <= 0:
		return fmt.Errorf("model: embed_dim %d", c.EmbedDim)
	case v.Width <= 0 || v.Layers < 0 || v.Heads <= 0 || v.Width%v.Heads != 0:
		return fmt.Errorf("model: vision width %d with %d heads", v.Width, v.Heads)
	case v.PatchSize <= 0 || v.Resolution < v.PatchSize || v.Resolution%v.PatchSize != 0:
		return fmt.Errorf("model: vision resolution %d is not a multiple of patch size %d", v.Resolution, v.PatchSize)
	case v.Patch != "2d" && v.Patch != "3d":
		return fmt.Errorf("model: linear_patch %q (want 2d or 3d)", v.Patch)
	case t.Width <= 0 || t.Layers < 0 || t.Heads <= 0 || t.Width%t.Heads != 0:
		return fmt.Errorf("model: text width %d with %d heads", t.Width, t.Heads)
	case t.Context < 2 || t.VocabSize < 3:
		return fmt.Errorf("model: text context %d, vocabulary %d", t.Context, t.VocabSize)
	case c.Part != WholeModel:
		return fmt.Errorf("model: config part %q: a part is what LoadPart builds from a whole model file, not a model of its own", c.Part)
	}
	return nil
}

// The CLIP4Clip similarity heads (sim_header in the reference code).
const (
	MeanP       = "meanP"
	SeqLSTM     = "seqLSTM"
	SeqTransf   = "seqTransf"
	TightTransf = "tightTransf"
)

// Part is a share of a model that LoadPart builds from a model file, for a
// browser worker that needs only one side of the model.
type Part string

// The parts LoadPart builds.
const (
	WholeModel Part = ""       // every weight
	QueryPart  Part = "text"   // the query worker's: text tower, text_projection, logit_scale, the tokenizer and a loose head's weights (it pools and scores)
	FramePart  Part = "vision" // a frame worker's: the vision tower and visual.proj (it embeds frames)
)

// HasVision reports whether the model can embed frames: it holds the
// vision tower (neither a text-only file nor a QueryPart).
func (c Config) HasVision() bool { return !c.TextOnly && c.Part != QueryPart }

// HasText reports whether the model can embed text, pool frame features
// and score: everything but a FramePart.
func (c Config) HasText() bool { return c.Part != FramePart }
