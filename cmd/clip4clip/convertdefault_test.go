package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"clip4clip/model"
	"clip4clip/quant"
	"clip4clip/weights"
)

// TestConvertDefault: convert takes -in default as every other command
// takes -model default, to requantize the built-in model or write its
// query side.
func TestConvertDefault(t *testing.T) {
	dir := t.TempDir()
	def, err := model.Load(weights.Default())
	require.NoError(t, err)

	i8 := filepath.Join(dir, "default-int8.c4c")
	mustRun(t, "convert", "-in", "default", "-dtype", "int8", "-out", i8)
	m, err := model.LoadFile(i8)
	require.NoError(t, err)
	require.Equal(t, quant.Int8, m.Text.Blocks[0].QKV.DType)
	require.Equal(t, quant.F16, m.Vision.Conv1.DType, "int8 models keep the patch embedding in f16")
	require.Equal(t, def.Config, m.Config)

	txt := filepath.Join(dir, "default-text.c4c")
	mustRun(t, "convert", "-in", "default", "-text-only", "-out", txt)
	m, err = model.LoadFile(txt)
	require.NoError(t, err)
	require.True(t, m.Config.TextOnly)
	require.Equal(t, def.ID(), m.ID(), "the query side carries the full model's ID")
}
