package model

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"clip4clip/weights"
)

// Canonical turns a checkpoint's tensors into the names and shapes New
// expects, and infers the model's Config from their shapes the way
// clip.model.build_model does. It accepts OpenAI's CLIP layout, CLIP4Clip's
// (the same keys prefixed "clip." plus the head's keys) and Hugging Face's
// CLIPModel layout (hfConfig is that model's config.json, or nil).
// Several checkpoints may be merged into sd before (a CLIP4Clip head
// checkpoint and its CLIP backbone).
func Canonical(sd *weights.StateDict, hfConfig []byte) (Config, *weights.StateDict, error) {
	var cfg Config
	var out *weights.StateDict
	var err error
	if _, ok := sd.Tensors["vision_model.embeddings.patch_embedding.weight"]; ok {
		out, err = fromHF(sd, hfConfig)
	} else {
		out, err = fromOpenAI(sd)
	}
	if err != nil {
		return cfg, nil, err
	}
	cfg, err = inferConfig(out)
	return cfg, out, err
}

// fromOpenAI strips CLIP4Clip's "clip." prefix, drops build_model's
// non-weight entries, flattens the patch convolutions and transposes the
// two projections into (out, in) matrices.
func fromOpenAI(sd *weights.StateDict) (*weights.StateDict, error) {
	out := &weights.StateDict{}
	for _, name := range sd.Order {
		t := *sd.Tensors[name]
		key := strings.TrimPrefix(name, "clip.")
		switch key {
		case "input_resolution", "context_length", "vocab_size": // deleted by build_model
			continue
		}
		if strings.HasPrefix(key, "visual.layer1.") || strings.HasPrefix(key, "visual.attnpool.") {
			return nil, fmt.Errorf("model: %s belongs to a ResNet CLIP (RN50 and kin); only ViT CLIP models are supported", name)
		}
		if key == name && sd.Tensors["clip."+key] != nil {
			continue // a CLIP4Clip checkpoint's fine-tuned copy wins over its CLIP backbone's
		}
		t.Name = key
		var err error
		switch key {
		case "visual.conv1.weight":
			if len(t.Shape) != 4 {
				return nil, fmt.Errorf("model: %s has shape %v; want (width, 3, patch, patch)", name, t.Shape)
			}
			t.Shape = []int{t.Shape[0], t.Shape[1] * t.Shape[2] * t.Shape[3]}
		case "visual.conv2.weight":
			err = flattenConv3D(&t)
		case "visual.proj", "text_projection":
			err = transpose(&t)
		}
		if err != nil {
			return nil, err
		}
		out.Add(&t)
	}
	return out, nil
}

// flattenConv3D reorders CLIP4Clip's conv2 kernel (width, 3 rgb, 3 time,
// p, p) to (width, 3 time * 3 rgb * p * p): one matrix over the three
// frames' patch vectors laid side by side.
func flattenConv3D(t *weights.Tensor) error {
	s := t.Shape
	if len(s) != 5 || s[1] != 3 || s[2] != 3 {
		return fmt.Errorf("model: visual.conv2.weight has shape %v; want (width, 3, 3, patch, patch)", s)
	}
	w, pp := s[0], s[3]*s[4]
	if t.Data == nil { // shapes only (Converter's plan)
		*t = weights.Tensor{Name: t.Name, DType: t.DType, Shape: []int{w, 9 * pp}}
		return nil
	}
	src, err := t.Float32()
	if err != nil {
		return err
	}
	dst := make([]float32, len(src))
	for o := 0; o < w; o++ {
		for c := 0; c < 3; c++ {
			for tap := 0; tap < 3; tap++ {
				copy(dst[o*9*pp+tap*3*pp+c*pp:][:pp], src[o*9*pp+c*3*pp+tap*pp:][:pp])
			}
		}
	}
	*t = *weights.FromFloat32(t.Name, []int{w, 9 * pp}, dst)
	return nil
}

// transpose turns a (in, out) matrix, used as x @ W, into (out, in).
func transpose(t *weights.Tensor) error {
	if len(t.Shape) != 2 {
		return fmt.Errorf("model: %s has shape %v; want a matrix", t.Name, t.Shape)
	}
	r, c := t.Shape[0], t.Shape[1]
	if t.Data == nil { // shapes only (Converter's plan)
		*t = weights.Tensor{Name: t.Name, DType: t.DType, Shape: []int{c, r}}
		return nil
	}
	src, err := t.Float32()
	if err != nil {
		return err
	}
	dst := make([]float32, len(src))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			dst[j*r+i] = src[i*c+j]
		}
	}
	*t = *weights.FromFloat32(t.Name, []int{c, r}, dst)
	return nil
}

var hfLayer = regexp.MustCompile(`^(vision|text)_model\.encoder\.layers\.(\d+)\.(.+)$`)

// hfNames maps Hugging Face CLIPModel keys to OpenAI's, after the mapping of
// transformers' convert_clip_original_pytorch_to_hf.py.
var hfNames = map[string]string{
	"vision_model.embeddings.patch_embedding.weight":    "visual.conv1.weight",
	"vision_model.embeddings.class_embedding":           "visual.class_embedding",
	"vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
	"vision_model.pre_layrnorm.weight":                  "visual.ln_pre.weight",
	"vision_model.pre_layrnorm.bias":                    "visual.ln_pre.bias",
	"vision_model.post_layernorm.weight":                "visual.ln_post.weight",
	"vision_model.post_layernorm.bias":                  "visual.ln_post.bias",
	"visual_projection.weight":                          "visual.proj",
	"text_model.embeddings.token_embedding.weight":      "token_embedding.weight",
	"text_model.embeddings.position_embedding.weight":   "positional_embedding",
	"text_model.final_layer_norm.weight":                "ln_final.weight",
	"text_model.final_layer_norm.bias":                  "ln_final.bias",
	"text_projection.weight":                            "text_projection",
	"logit_scale":                                       "logit_scale",
}

var hfBlockNames = map[string]string{
	"self_attn.out_proj.weight": "attn.out_proj.weight",
	"self_attn.out_proj.bias":   "attn.out_proj.bias",
	"layer_norm1.weight":        "ln_1.weight",
	"layer_norm1.bias":          "ln_1.bias",
	"layer_norm2.weight":        "ln_2.weight",
	"layer_norm2.bias":          "ln_2.bias",
	"mlp.fc1.weight":            "mlp.c_fc.weight",
	"mlp.fc1.bias":              "mlp.c_fc.bias",
	"mlp.fc2.weight":            "mlp.c_proj.weight",
	"mlp.fc2.bias":              "mlp.c_proj.bias",
}

// hfConfigFields are the parts of a Hugging Face CLIPConfig that change the
// computation; anything else is recovered from the tensors' shapes.
type hfConfigFields struct {
	TextConfig   hfTowerConfig `json:"text_config"`
	VisionConfig hfTowerConfig `json:"vision_config"`
}

type hfTowerConfig struct {
	HiddenAct    string   `json:"hidden_act"`
	LayerNormEps *float64 `json:"layer_norm_eps"`
	NumHeads     int      `json:"num_attention_heads"`
}

// fromHF maps a Hugging Face CLIPModel state dict to OpenAI's layout: q, k
// and v projections are stacked into in_proj, the patch kernel flattened.
func fromHF(sd *weights.StateDict, hfConfig []byte) (*weights.StateDict, error) {
	if hfConfig != nil {
		var c hfConfigFields
		if err := json.Unmarshal(hfConfig, &c); err != nil {
			return nil, fmt.Errorf("model: Hugging Face config.json: %v", err)
		}
		for _, tc := range []struct {
			name string
			c    hfTowerConfig
		}{{"text_config", c.TextConfig}, {"vision_config", c.VisionConfig}} {
			if tc.c.HiddenAct != "" && tc.c.HiddenAct != "quick_gelu" {
				return nil, fmt.Errorf("model: config.json %s.hidden_act is %q; only CLIP's quick_gelu is supported", tc.name, tc.c.HiddenAct)
			}
			if tc.c.LayerNormEps != nil && math.Abs(*tc.c.LayerNormEps-1e-5) > 1e-9 {
				return nil, fmt.Errorf("model: config.json %s.layer_norm_eps is %g; only CLIP's 1e-5 is supported", tc.name, *tc.c.LayerNormEps)
			}
		}
	}
	out := &weights.StateDict{}
	qkv := map[string][3]*weights.Tensor{} // OpenAI in_proj key -> q, k, v
	var qkvOrder []string
	for _, name := range sd.Order {
		t := *sd.Tensors[name]
		if strings.HasSuffix(name, "position_ids") {
			continue // a buffer, not a weight
		}
		if key, ok := hfNames[name]; ok {
			t.Name = key
			if key == "visual.conv1.weight" && len(t.Shape) == 4 {
				t.Shape = []int{t.Shape[0], t.Shape[1] * t.Shape[2] * t.Shape[3]}
			}
			out.Add(&t)
			continue
		}
		m := hfLayer.FindStringSubmatch(name)
		if m == nil {
			t.Name = "unmapped Hugging Face key " + name
			out.Add(&t) // reported as unknown by New
			continue
		}
		prefix := "transformer.resblocks." + m[2] + "."
		if m[1] == "vision" {
			prefix = "visual." + prefix
		}
		if key, ok := hfBlockNames[m[3]]; ok {
			t.Name = prefix + key
			out.Add(&t)
			continue
		}
		var part int
		switch {
		case strings.HasPrefix(m[3], "self_attn.q_proj."):
			part = 0
		case strings.HasPrefix(m[3], "self_attn.k_proj."):
			part = 1
		case strings.HasPrefix(m[3], "self_attn.v_proj."):
			part = 2
		default:
			t.Name = "unmapped Hugging Face key " + name
			out.Add(&t)
			continue
		}
		key := prefix + "attn.in_proj_weight"
		if strings.HasSuffix(m[3], ".bias") {
			key = prefix + "attn.in_proj_bias"
		}
		if _, ok := qkv[key]; !ok {
			qkvOrder = append(qkvOrder, key)
		}
		parts := qkv[key]
		parts[part] = &t
		qkv[key] = parts
	}
	for _, key := range qkvOrder {
		parts := qkv[key]
		var data []float32
		var shape []int
		shapesOnly := false
		for i, p := range parts {
			if p == nil {
				return nil, fmt.Errorf("model: Hugging Face checkpoint lacks the %s projection for %s", [3]string{"q", "k", "v"}[i], key)
			}
			shapesOnly = shapesOnly || p.Data == nil
		}
		for _, p := range parts {
			var v []float32
			if !shapesOnly {
				var err error
				if v, err = p.Float32(); err != nil {
					return nil, err
				}
			}
			if shape == nil {
				shape = append([]int(nil), p.Shape...)
			} else if fmt.Sprint(p.Shape) != fmt.Sprint(parts[0].Shape) {
				return nil, fmt.Errorf("model: q, k and v of %s differ in shape: %v, %v", key, parts[0].Shape, p.Shape)
			}
			data = append(data, v...)
		}
		if len(shape) == 0 {
			return nil, fmt.Errorf("model: %s: q, k, v are scalars", key)
		}
		shape[0] *= 3
		if shapesOnly {
			out.Add(&weights.Tensor{Name: key, DType: weights.F32, Shape: shape})
			continue
		}
		out.Add(weights.FromFloat32(key, shape, data))
	}
	return out, nil
}

var blockIndex = regexp.MustCompile(`^(visual\.transformer|transformer|transformerClip|cross\.transformer)\.resblocks\.(\d+)\.`)

// inferConfig reads the model's shape from canonical tensors, as
// clip.model.build_model does, and the head from which keys are present.
func inferConfig(sd *weights.StateDict) (Config, error) {
	var c Config
	shape := func(name string, dims int) ([]int, error) {
		t, ok := sd.Tensors[name]
		if !ok {
			return nil, fmt.Errorf("model: the checkpoint has no %s; is it a CLIP ViT model?", name)
		}
		if len(t.Shape) != dims {
			return nil, fmt.Errorf("model: %s has shape %v; want %d dimensions", name, t.Shape, dims)
		}
		return t.Shape, nil
	}
	layers := map[string]int{}
	for name := range sd.Tensors {
		if m := blockIndex.FindStringSubmatch(name); m != nil {
			i, _ := strconv.Atoi(m[2])
			layers[m[1]] = max(layers[m[1]], i+1)
		}
	}
	conv, err := shape("visual.conv1.weight", 2)
	if err != nil {
		return c, err
	}
	pos, err := shape("visual.positional_embedding", 2)
	if err != nil {
		return c, err
	}
	tok, err := shape("token_embedding.weight", 2)
	if err != nil {
		return c, err
	}
	tpos, err := shape("positional_embedding", 2)
	if err != nil {
		return c, err
	}
	proj, err := shape("text_projection", 2)
	if err != nil {
		return c, err
	}
	patch := int(math.Round(math.Sqrt(float64(conv[1] / 3))))
	grid := int(math.Round(math.Sqrt(float64(pos[0] - 1))))
	c.EmbedDim = proj[0]
	c.Vision = VisionConfig{Width: conv[0], Layers: layers["visual.transformer"], Heads: conv[0] / 64,
		PatchSize: patch, Resolution: patch * grid, Patch: "2d"}
	if _, ok := sd.Tensors["visual.conv2.weight"]; ok {
		c.Vision.Patch = "3d"
	}
	c.Text = TextConfig{Width: tok[1], Layers: layers["transformer"], Heads: tok[1] / 64, Context: tpos[0], VocabSize: tok[0]}
	c.Head = HeadConfig{Type: MeanP, MaxWords: 32}
	if c.Vision.Heads == 0 || c.Text.Heads == 0 {
		return c, fmt.Errorf("model: widths %d (vision) and %d (text) are below CLIP's 64 per head", c.Vision.Width, c.Text.Width)
	}
	if err := inferHead(sd, &c, layers); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// inferHead sets c.Head from the CLIP4Clip head keys present.
func inferHead(sd *weights.StateDict, c *Config, layers map[string]int) error {
	var kinds []string
	has := func(prefix string) bool {
		for name := range sd.Tensors {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		}
		return false
	}
	if has("lstm_visual.") {
		kinds = append(kinds, SeqLSTM)
	}
	if has("transformerClip.") {
		kinds = append(kinds, SeqTransf)
	}
	if has("cross.") || has("similarity_dense.") {
		kinds = append(kinds, TightTransf)
	}
	sort.Strings(kinds)
	if len(kinds) > 1 {
		return fmt.Errorf("model: the checkpoint holds weights of several CLIP4Clip heads (%s); merge only one head checkpoint", strings.Join(kinds, ", "))
	}
	if len(kinds) == 0 {
		return nil
	}
	c.Head.Type = kinds[0]
	c.Head.Heads = c.Text.Width / 64
	switch kinds[0] {
	case SeqTransf:
		c.Head.Layers = layers["transformerClip"]
	case TightTransf:
		c.Head.Layers = layers["cross.transformer"]
	}
	if t, ok := sd.Tensors["frame_position_embeddings.weight"]; ok && len(t.Shape) == 2 {
		c.Head.MaxFrames = t.Shape[0]
	}
	if t, ok := sd.Tensors["cross.embeddings.position_embeddings.weight"]; ok && len(t.Shape) == 2 {
		c.Head.MaxFrames = t.Shape[0] - 1
	}
	return nil
}

// NotCLIPError says that a checkpoint or its config.json is not a CLIP
// ViT model, and what it is instead where that is known.
type NotCLIPError struct{ Msg string }

func (e *NotCLIPError) Error() string { return "model: " + e.Msg }

// CheckHFConfig refuses a Hugging Face config.json that does not describe
// a CLIP ViT (a CLIPModel with a vision tower), naming what it describes,
// so that a download stops before the weights.
func CheckHFConfig(data []byte) error {
	var c struct {
		Architectures []string        `json:"architectures"`
		ModelType     string          `json:"model_type"`
		VisionConfig  json.RawMessage `json:"vision_config"`
		TextConfig    json.RawMessage `json:"text_config"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return &NotCLIPError{Msg: fmt.Sprintf("config.json is not valid JSON (%v): not a Hugging Face model config", err)}
	}
	what := c.ModelType
	if len(c.Architectures) > 0 {
		what = strings.Join(c.Architectures, ", ")
	}
	if what == "" {
		what = "a model of unknown type"
	}
	isCLIP := c.ModelType == "clip" || slices.Contains(c.Architectures, "CLIPModel")
	switch {
	case !isCLIP:
		return &NotCLIPError{Msg: fmt.Sprintf("config.json describes %s, not a CLIP model (model_type %q); only CLIP ViT checkpoints such as openai/clip-vit-base-patch32 can be converted", what, c.ModelType)}
	case len(c.VisionConfig) == 0 || string(c.VisionConfig) == "null":
		return &NotCLIPError{Msg: fmt.Sprintf("config.json describes %s without a vision tower (no vision_config); video search needs both towers of a CLIP ViT", what)}
	case len(c.TextConfig) == 0 || string(c.TextConfig) == "null":
		return &NotCLIPError{Msg: fmt.Sprintf("config.json describes %s without a text tower (no text_config); video search needs both towers of a CLIP ViT", what)}
	}
	for _, a := range c.Architectures {
		if a == "CLIPVisionModel" || a == "CLIPVisionModelWithProjection" || a == "CLIPTextModel" || a == "CLIPTextModelWithProjection" {
			return &NotCLIPError{Msg: fmt.Sprintf("config.json describes a %s, one tower of CLIP; video search needs the whole CLIPModel", a)}
		}
	}
	return nil
}
