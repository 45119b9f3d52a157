package model

import (
	"bytes"
	"slices"
	"testing"

	"clip4clip/quant"
	"github.com/stretchr/testify/require"
)

// TestWeights: Weights lists every tensor the model file stores (the int8
// scales inside their matrix) under the same names and shapes, in the
// stored dtype, aliasing the model's own slices; a part lists its share.
func TestWeights(t *testing.T) {
	m, err := Random(tinyConfig(), 7)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, m.Save(&buf, quant.Int8, 16))
	q, err := Load(buf.Bytes())
	require.NoError(t, err)
	sd, err := q.StateDict(KeepDType, 0)
	require.NoError(t, err)
	var names []string
	for _, w := range q.Weights() {
		names = append(names, w.Name)
		st := sd.Tensors[w.Name]
		require.NotNil(t, st, w.Name)
		require.True(t, slices.Equal(st.Shape, w.Shape), "%s: %v, want %v", w.Name, w.Shape, st.Shape)
		if w.Matrix != nil {
			names = append(names, w.Name+".scales")
			require.Nil(t, w.Vec)
			require.Equal(t, w.Shape, []int{w.Matrix.Rows, w.Matrix.Cols}, w.Name)
			if w.Name == "visual.conv1.weight" {
				require.Equal(t, quant.F16, w.Matrix.DType) // int8 models keep it in f16
				names = names[:len(names)-1]
				continue
			}
			require.Equal(t, quant.Int8, w.Matrix.DType, w.Name)
			require.Equal(t, 16, w.Matrix.Block)
		} else {
			require.Len(t, w.Vec, st.Numel(), w.Name)
		}
	}
	require.ElementsMatch(t, sd.Order, names)
	// The same memory as the encoder's.
	b0 := q.Weights()
	i := slices.IndexFunc(b0, func(w Weight) bool { return w.Name == "visual.transformer.resblocks.0.attn.in_proj_weight" })
	require.Same(t, q.Vision.Blocks[0].QKV, b0[i].Matrix)
	j := slices.IndexFunc(b0, func(w Weight) bool { return w.Name == "ln_final.weight" })
	require.Same(t, &q.Text.LNFinalW[0], &b0[j].Vec[0])
}
