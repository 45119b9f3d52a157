package main

import (
	"os"
	"path/filepath"
	"testing"

	"clip4clip/siteindex"
	"github.com/stretchr/testify/require"
)

// TestWriteIndexAtomic: writeIndex (index and merge -o) writes a file that
// reads back; one whose rename fails (the path is a directory) leaves no
// temporary file beside it.
func TestWriteIndexAtomic(t *testing.T) {
	dir := t.TempDir()
	x := &siteindex.Index{ModelID: "m", Head: "meanP", EmbedDim: 4, FPS: 1, Window: 4}
	path := filepath.Join(dir, "site.c4s")
	require.NoError(t, writeIndex(path, x))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	back, err := siteindex.Read(data)
	require.NoError(t, err)
	require.Equal(t, "m", back.ModelID)

	sub := filepath.Join(dir, "sub.c4s")
	require.NoError(t, os.Mkdir(sub, 0o755))
	require.Error(t, writeIndex(sub, x))
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Equal(t, []string{path, sub}, names, "no temporary file left")
}
