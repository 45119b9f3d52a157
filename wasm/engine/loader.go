package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"unsafe"

	"clip4clip/model"
	"clip4clip/weights"
)

// Loader builds an Engine from a model file handed over in pieces, so that
// the file is never in memory whole: a browser worker reads the model Blob
// in slices and keeps only the part of the model it needs (model.Part: a
// frame worker the vision tower, the query worker the rest) in one buffer
// (weights.Plan). It can also hash the whole file as it passes (the app's
// key for its index), for which every byte must be written.
//
//	n := HeaderSize(first 16 bytes)
//	l := NewLoader(first n bytes, size, part, hash)
//	for each [from, to) in l.Reads(): l.Write(from, bytes) in pieces, in order
//	e, sum := l.Engine()
type Loader struct {
	part   model.Part
	plan   *weights.Plan
	buf    []byte    // the plan's buffer, Align-aligned
	size   int64     // the file's size
	sum    hash.Hash // SHA-256 of the file, nil unless asked for
	next   int64     // end of the bytes written so far
	filled int64     // bytes of the plan's ranges written
	want   int64     // bytes of the plan's ranges
	r      int       // the first range not yet written to its end
}

// HeaderSize returns how many bytes at the start of a model file NewLoader
// needs, from at least the file's first 16.
func HeaderSize(prelude []byte) (int, error) { return weights.HeaderSize(prelude) }

// NewLoader reads the header of a model file of size bytes (at least its
// first HeaderSize bytes) and prepares the buffer for part of it. With
// hash, Write must be given every byte of the file and Engine returns its
// SHA-256. A part the file cannot give (the frames of a text-only file) is
// refused here, before anything is read.
func NewLoader(header []byte, size int64, part model.Part, hash bool) (*Loader, error) {
	plan, err := weights.PlanModel(header, size)
	if err != nil {
		return nil, err
	}
	cfg, err := model.PartConfig(plan.File, part)
	if err != nil {
		return nil, err
	}
	plan.Keep(func(name string) bool { return part.Needs(cfg, name) })
	l := &Loader{part: part, plan: plan, size: size}
	for _, r := range plan.Ranges {
		l.want += r.Len
	}
	// One allocation, aligned for the f32 and f16 views (Go's large
	// allocations are page-aligned already; this does not rely on it).
	raw := make([]byte, plan.Size+weights.Align-1)
	skip := 0
	if len(raw) > 0 {
		skip = int((weights.Align - uintptr(unsafe.Pointer(&raw[0]))%weights.Align) % weights.Align)
	}
	l.buf = raw[skip : skip+int(plan.Size)]
	if hash {
		l.sum = sha256.New()
	}
	return l, nil
}

// Reads returns the byte ranges [from, to) of the file that Write needs, in
// file order: the whole file when hashing, otherwise the plan's ranges.
func (l *Loader) Reads() [][2]int64 {
	if l.sum != nil {
		return [][2]int64{{0, l.size}}
	}
	out := make([][2]int64, len(l.plan.Ranges))
	for i, r := range l.plan.Ranges {
		out[i] = [2]int64{r.Off, r.Off + r.Len}
	}
	return out
}

// Bytes returns the size of the buffer the part's weights are read into.
func (l *Loader) Bytes() int64 { return l.plan.Size }

// Write takes the file's bytes p, which start at offset off. Pieces come
// in file order without overlapping; when hashing, each starts where the
// last ended.
func (l *Loader) Write(off int64, p []byte) error {
	switch end := off + int64(len(p)); {
	case off < l.next:
		return fmt.Errorf("engine: model bytes %d..%d written after bytes up to %d; write them in file order", off, end, l.next)
	case l.sum != nil && off != l.next:
		return fmt.Errorf("engine: model bytes from %d written when hashing expects bytes from %d; write every byte in order", off, l.next)
	case end > l.size:
		return fmt.Errorf("engine: model bytes %d..%d written to a file of %d bytes", off, end, l.size)
	default:
		l.next = end
	}
	if l.sum != nil {
		l.sum.Write(p)
	}
	for ; l.r < len(l.plan.Ranges); l.r++ {
		r := l.plan.Ranges[l.r]
		lo, hi := max(off, r.Off), min(off+int64(len(p)), r.Off+r.Len)
		if lo < hi {
			copy(l.buf[r.Dst+lo-r.Off:], p[lo-off:hi-off])
			l.filled += hi - lo
		}
		if r.Off+r.Len > off+int64(len(p)) {
			break // the rest of this range comes with a later piece
		}
	}
	return nil
}

// Engine builds the engine once every byte of the part has been written,
// and returns it with the file's hex SHA-256 ("" unless hashing). The
// engine's weights live in the loader's buffer.
func (l *Loader) Engine() (*Engine, string, error) {
	if l.filled != l.want || (l.sum != nil && l.next != l.size) {
		return nil, "", fmt.Errorf("engine: the model file was not read whole: %d of the %d bytes needed were written (up to byte %d of %d); read it again", l.filled, l.want, l.next, l.size)
	}
	sd, err := l.plan.Tensors(l.buf)
	if err != nil {
		return nil, "", err
	}
	f := *l.plan.File
	f.Tensors = sd
	m, err := model.LoadPart(&f, l.part)
	if err != nil {
		return nil, "", err
	}
	e, err := FromModel(m)
	if err != nil {
		return nil, "", err
	}
	sum := ""
	if l.sum != nil {
		sum = hex.EncodeToString(l.sum.Sum(nil))
	}
	return e, sum, nil
}
