package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"clip4clip/internal/atomicfile"
	"clip4clip/siteindex"
)

// isChunked reports whether path is a chunked index's folder (it holds
// siteindex.MetaName).
func isChunked(path string) bool {
	st, err := os.Stat(filepath.Join(path, siteindex.MetaName))
	return err == nil && !st.IsDir()
}

// dirFetch reads the files of the chunked index in dir.
func dirFetch(dir string) func(name string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	}
}

// readAnyIndex reads a site index: a single file or a chunked folder.
func readAnyIndex(path string) (*siteindex.Index, error) {
	if isChunked(path) {
		x, _, err := siteindex.ReadChunked(dirFetch(path))
		return x, err
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a folder without %s: not a chunked site index", path, siteindex.MetaName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return siteindex.Read(data)
}

// checkChunkedOutput reports why -o dir cannot take a chunked index: its
// parent must exist, and dir must be new, empty or a chunked index.
func checkChunkedOutput(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("-o %s is a file: a chunked index is a folder; give a new folder's name (or drop -chunked to write one file)", dir)
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 && !isChunked(dir) {
			return fmt.Errorf("-o %s is a folder that holds other files and no %s: give a new or empty folder for the chunked index", dir, siteindex.MetaName)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if st, err := os.Stat(parent); err != nil || !st.IsDir() {
		return fmt.Errorf("-o %s: the directory %s does not exist: create it (mkdir -p %s) or give another -o", dir, parent, parent)
	}
	return nil
}

// chunkedWrite is what writeChunked did to the folder.
type chunkedWrite struct {
	siteindex.ChunkedStats
	written, kept, removed int
}

// writeChunked writes x as a chunked index into dir: files whose name (and
// so content) is already there are kept, the meta is replaced last and
// atomically, then the files no longer named are removed.
func writeChunked(dir string, x *siteindex.Index) (chunkedWrite, error) {
	var w chunkedWrite
	for _, sub := range []string{"c", "f"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return w, err
		}
	}
	live := map[string]bool{}
	put := func(name string, data []byte) error {
		live[name] = true
		p := filepath.Join(dir, filepath.FromSlash(name))
		if name != siteindex.MetaName {
			if st, err := os.Stat(p); err == nil && st.Size() == int64(len(data)) {
				w.kept++
				return nil
			}
		}
		w.written++
		return atomicfile.WriteFile(p, func(f io.Writer) error {
			_, err := io.Copy(f, bytes.NewReader(data))
			return err
		})
	}
	st, err := x.WriteChunked(put)
	if err != nil {
		return w, err
	}
	w.ChunkedStats = st
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		hashed := strings.HasPrefix(rel, "c/") || strings.HasPrefix(rel, "f/") || (strings.HasPrefix(rel, "videos-") && strings.HasSuffix(rel, ".json"))
		if hashed && !live[rel] {
			w.removed++
			return os.Remove(p)
		}
		return nil
	})
	return w, err
}

// describeChunked is the line index and merge print for a chunked index.
func describeChunked(dir string, x *siteindex.Index, w chunkedWrite) string {
	moments := 0
	for _, v := range x.Videos {
		moments += len(v.Moments)
	}
	per := ""
	if moments > 0 {
		per = fmt.Sprintf(" (%.0f bytes per moment)", float64(w.Total())/float64(moments))
	}
	return fmt.Sprintf("wrote %s/: %s, %s, %s%s in a %s meta, %d chunks, %d fragments; %d files written, %d kept, %d removed",
		dir, count(len(x.Videos), "video"), count(moments, "moment"), byteSize(w.Total()), per, byteSize(w.MetaBytes), w.Chunks, w.Fragments, w.written, w.kept, w.removed)
}
