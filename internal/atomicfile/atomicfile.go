// Package atomicfile saves files so that a crash or a failed write leaves
// either the old file or the whole new one: the bytes go to a temporary
// file beside the target, which is synced, renamed over it, and the
// directory synced so the rename itself is on disk (as in
// https://lwn.net/Articles/457667/ and SQLite's journal commit).
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// syncFile and syncDir are the two fsyncs, variables so a test can see
// when they are called.
var (
	syncFile = (*os.File).Sync
	syncDir  = SyncDir
)

// WriteFile writes what write writes to path, replacing path only once it
// is all written and synced. If write or any step before the rename fails,
// path is left as it was and the temporary file is removed; if only the
// directory's sync fails, path has the new bytes and the error says so.
// The new file has mode 0666 less the umask, as os.Create gives.
func WriteFile(path string, write func(w io.Writer) error) (err error) {
	f, tmp, err := create(path)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := syncFile(f); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// create opens a new temporary file in path's directory, named after it.
func create(path string) (*os.File, string, error) {
	for range 100 {
		tmp := fmt.Sprintf("%s.%08x.tmp", path, rand.Uint32())
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, tmp, err
	}
	return nil, "", fmt.Errorf("atomicfile: no free temporary name beside %s", path)
}

// Rename renames a file that is already complete and synced (a finished
// download) to newpath, and syncs newpath's directory so the rename lasts.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	return syncDir(filepath.Dir(newpath))
}
