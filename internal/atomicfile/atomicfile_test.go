package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// entries lists dir's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteFile: the saved file has the bytes; a failing write leaves the
// old file untouched; no temporary file is left either way.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	require.NoError(t, WriteFile(path, write("first")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first", string(got))
	require.NoError(t, WriteFile(path, write("second, longer")))
	got, _ = os.ReadFile(path)
	require.Equal(t, "second, longer", string(got))

	boom := errors.New("boom")
	err = WriteFile(path, func(w io.Writer) error {
		io.WriteString(w, "half a")
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, _ = os.ReadFile(path)
	require.Equal(t, "second, longer", string(got), "a failed write must leave the old file")
	require.Equal(t, []string{"out.bin"}, entries(t, dir), "no temporary file left")

	// A failed write to a new path creates nothing.
	require.ErrorIs(t, WriteFile(filepath.Join(dir, "new.bin"), func(io.Writer) error { return boom }), boom)
	require.Equal(t, []string{"out.bin"}, entries(t, dir))

	// A directory that does not exist: an error naming it, nothing made.
	err = WriteFile(filepath.Join(dir, "missing", "x.bin"), write("x"))
	require.ErrorContains(t, err, filepath.Join(dir, "missing"))
}

// TestWriteFileSyncs: the temporary file is synced while path still has
// the old bytes, and the directory after the rename, once path has the new
// ones; a failing file sync leaves the old file.
func TestWriteFileSyncs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	defer func(f func(*os.File) error, d func(string) error) { syncFile, syncDir = f, d }(syncFile, syncDir)
	var calls []string
	syncFile = func(f *os.File) error {
		cur, _ := os.ReadFile(path)
		calls = append(calls, "file "+filepath.Dir(f.Name())+" while path has "+string(cur))
		return f.Sync()
	}
	syncDir = func(d string) error {
		cur, _ := os.ReadFile(path)
		calls = append(calls, "dir "+d+" when path has "+string(cur))
		return SyncDir(d)
	}
	require.NoError(t, WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }))
	require.Equal(t, []string{"file " + dir + " while path has old", "dir " + dir + " when path has new"}, calls)

	calls = nil
	syncFile = func(*os.File) error { return errors.New("disk gone") }
	err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "newer"); return err })
	require.ErrorContains(t, err, "disk gone")
	got, _ := os.ReadFile(path)
	require.Equal(t, "new", string(got))
	require.Equal(t, []string{"out.bin"}, entries(t, dir))
	require.Empty(t, calls, "no directory sync without a rename")

	// Rename syncs the target's directory too.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "part"), []byte("done"), 0o644))
	syncFile = (*os.File).Sync
	require.NoError(t, Rename(filepath.Join(dir, "part"), path))
	require.Equal(t, []string{"dir " + dir + " when path has done"}, calls)
}

// TestSyncDir syncs a real directory and names one that is missing.
func TestSyncDir(t *testing.T) {
	require.NoError(t, SyncDir(t.TempDir()))
	missing := filepath.Join(t.TempDir(), "missing")
	require.ErrorContains(t, SyncDir(missing), missing)
}
