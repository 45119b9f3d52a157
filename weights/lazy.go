package weights

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
)

// A Lazy is a checkpoint whose tensors are listed but not yet read: the
// converter reads them one at a time, so a checkpoint is never held whole
// in memory (605 MB of float32 for ViT-B/32), and a safetensors file
// converts while it downloads, its tensors being in data order.
type Lazy struct {
	File    string        // name for messages
	Size    int64         // file size in bytes
	Tensors []*LazyTensor // in the order their bytes lie in the file
}

// LazyTensor is one tensor of a Lazy checkpoint.
type LazyTensor struct {
	Name  string
	DType DType
	Shape []int
	// End is the file offset its bytes end before: what of the file a
	// reader must have before Load (the whole file for a zip archive).
	End  int64
	load func() ([]byte, error)
}

// Numel returns the number of elements.
func (t *LazyTensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Load reads the tensor's bytes; each call reads them anew.
func (t *LazyTensor) Load() (*Tensor, error) {
	b, err := t.load()
	if err != nil {
		return nil, err
	}
	return &Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: b}, nil
}

// SafetensorsHeaderSize returns how many bytes at the start of a
// safetensors file hold its header, from at least its first 8 bytes: what
// OpenSafetensors reads before any tensor.
func SafetensorsHeaderSize(first []byte, size int64, file string) (int64, error) {
	if len(first) < 8 || size < 8 {
		return 0, wtWrap(file+": ", fmt.Errorf("%d bytes, too short for the 8-byte header length (truncated file?)", size))
	}
	n := binary.LittleEndian.Uint64(first)
	if n > uint64(size-8) || n > MaxHeader {
		return 0, wtWrap(file+": ", fmt.Errorf("header length %d runs past the end of the %d-byte file (truncated or not a safetensors file)", n, size))
	}
	return 8 + int64(n), nil
}

// OpenSafetensors lists the tensors of the safetensors file of size bytes
// that r reads (see ReadSafetensors for the checks); only the header is
// read now.
func OpenSafetensors(r io.ReaderAt, size int64, file string) (*Lazy, error) {
	var first [8]byte
	if size >= 8 {
		if _, err := r.ReadAt(first[:], 0); err != nil {
			return nil, wtWrap(file+": ", err)
		}
	}
	hs, err := SafetensorsHeaderSize(first[:], size, file)
	if err != nil {
		return nil, err
	}
	header := make([]byte, hs-8)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, wtWrap(file+": ", err)
	}
	entries, err := parseSafetensorsHeader(header, size-hs, file)
	if err != nil {
		return nil, err
	}
	l := &Lazy{File: file, Size: size}
	for _, e := range entries {
		begin, end := hs+e.Offsets[0], hs+e.Offsets[1]
		l.Tensors = append(l.Tensors, &LazyTensor{Name: e.name, DType: stDTypes[e.DType], Shape: e.shape(), End: end,
			load: func() ([]byte, error) {
				b := make([]byte, end-begin)
				if _, err := r.ReadAt(b, begin); err != nil && !(err == io.EOF && end == size) {
					return nil, wtWrap(file+": ", fmt.Errorf("tensor %q: %w", e.name, err))
				}
				return b, nil
			}})
	}
	return l, nil
}

// OpenTorch lists the tensors of a torch.save or TorchScript archive (see
// ReadTorch for what is accepted); the pickle is read now, each tensor's
// storage on Load. A zip archive is read from its end, so End is the file
// size for every tensor.
func OpenTorch(r io.ReaderAt, size int64, file string) (*Lazy, error) {
	sd, d, z, err := openTorch(r, size, file, true)
	if err != nil {
		return nil, err
	}
	l := &Lazy{File: file, Size: size}
	where := map[*LazyTensor]int64{}
	for _, name := range sd.Order {
		t := sd.Tensors[name]
		lt := &LazyTensor{Name: name, DType: t.DType, Shape: t.Shape, End: size}
		if load, ok := d.loaders[t]; ok {
			lt.load = func() ([]byte, error) {
				b, err := load()
				if err != nil {
					return nil, wtWrap(file+": ", &ptTensorError{name: name, err: err})
				}
				return b, nil
			}
		} else { // empty tensors come with their (no) bytes
			data := t.Data
			lt.load = func() ([]byte, error) { return data, nil }
		}
		where[lt] = math.MaxInt64
		if f, ok := z.entries[z.prefix+"data/"+d.storageOf[t]]; ok {
			if off, err := f.DataOffset(); err == nil {
				where[lt] = off
			}
		}
		l.Tensors = append(l.Tensors, lt)
	}
	// Storage order, as a reader that reads the file front to back meets them.
	sort.SliceStable(l.Tensors, func(i, j int) bool { return where[l.Tensors[i]] < where[l.Tensors[j]] })
	return l, nil
}
