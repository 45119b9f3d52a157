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

// TestOutputChecked: index and merge refuse an -o they could not write
// before reading any input (the video and the indexes here do not exist,
// so an error about them means -o was checked too late), naming the path
// and what to do.
func TestOutputChecked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	locked := filepath.Join(dir, "locked")
	require.NoError(t, os.Mkdir(locked, 0o555))
	video := filepath.Join(dir, "missing.mp4")
	cases := []struct{ out, want string }{
		{filepath.Join(dir, "nope", "site.c4s"), "the directory " + filepath.Join(dir, "nope") + " does not exist: create it (mkdir -p"},
		{dir, "is a directory: give the file to write, e.g. -o " + filepath.Join(dir, "site.c4s")},
		{filepath.Join(file, "site.c4s"), file + " is not a directory"},
		{filepath.Join(locked, "site.c4s"), "cannot write in " + locked},
	}
	for _, c := range cases {
		if c.out == filepath.Join(locked, "site.c4s") {
			if f, err := os.CreateTemp(locked, "probe"); err == nil {
				f.Close()
				os.Remove(f.Name())
				continue // root writes anywhere: no directory refuses it
			}
		}
		for _, args := range [][]string{
			{"index", "-model", "default", "-o", c.out, video},
			{"merge", "-o", c.out, filepath.Join(dir, "a.c4s"), filepath.Join(dir, "b.c4s")},
		} {
			msg, err := run(t, args...)
			require.Error(t, err, "%v", args)
			require.Contains(t, msg, "-o "+c.out, "%v", args)
			require.Contains(t, msg, c.want, "%v", args)
			require.NotContains(t, msg, "missing.mp4", "%v", args)
			require.NotContains(t, msg, "a.c4s", "%v", args)
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "the check leaves no file behind")
}
