package weights

import _ "embed"

// defaultModel is the project's own model, trained on the synthetic video
// world by the command the README gives (see its meta for the exact one).
//
//go:embed default.c4c
var defaultModel []byte

// Default returns the bytes of the default model file, weights/default.c4c:
// a small CLIP4Clip (seqTransf head) that knows only the demo world.
func Default() []byte { return defaultModel }
