package model

import (
	"os"
	"path/filepath"
	"testing"

	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// TestSaveFileAtomic: SaveFile writes a model that loads back as the same
// one; a save that fails, in the model or at the rename (the path is a
// directory), leaves the old file and no temporary file.
func TestSaveFileAtomic(t *testing.T) {
	m, err := Load(weights.Default())
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.c4c")
	require.NoError(t, m.SaveFile(path, KeepDType, 0))
	back, err := LoadFile(path)
	require.NoError(t, err)
	require.Equal(t, m.ID(), back.ID())
	saved, err := os.ReadFile(path)
	require.NoError(t, err)

	// A part cannot be saved: Save fails after the file is created.
	f, err := weights.ReadModel(weights.Default())
	require.NoError(t, err)
	part, err := LoadPart(f, QueryPart)
	require.NoError(t, err)
	require.Error(t, part.SaveFile(path, KeepDType, 0))
	now, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, saved, now, "a failed save must leave the old file")

	// The rename fails: path is a directory.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.c4c"), 0o755))
	require.Error(t, m.SaveFile(filepath.Join(dir, "sub.c4c"), KeepDType, 0))
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Equal(t, []string{path, filepath.Join(dir, "sub.c4c")}, names, "no temporary file left")
}
