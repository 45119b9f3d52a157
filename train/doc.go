// Package train trains CLIP4Clip models in Go: the training forward and
// backward passes of every layer the model uses (patch embedding as a
// matrix over patch vectors, class and positional embeddings, layer norm,
// multi-head attention with CLIP's causal mask or CLIP4Clip's key padding
// mask, QuickGELU MLP, token embeddings, end-of-text pooling, projections,
// the meanP and seqTransf heads, the logit scale and the symmetric
// cross-entropy), AdamW with a warm-up and cosine schedule, checkpoints
// with exact resume, and evaluation through the inference engine.
//
// It is written after llm.c's train_gpt2.c: f32 weights and gradients in
// one flat buffer each (Params), activations in flat slices with their
// (B, T, C) shapes in comments, and ops as forward/backward function pairs
// (layernormForward / layernormBackward, ...) that the tests check against
// central finite differences in float64 and, end to end, against the
// gradients of the original PyTorch code (../shared/fixtures).
//
// References: openai/CLIP clip/model.py; ArrowLuo/CLIP4Clip
// modules/modeling.py (CLIP4Clip.forward, get_similarity_logits),
// modules/until_module.py (CrossEn, LayerNorm), main_task_retrieval.py.
package train
