package weights

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// The model file is one self-contained little-endian file:
//
//	magic   [8]byte  "C4CMODEL"
//	version uint32   ModelVersion
//	hlen    uint32   header length in bytes
//	header  [hlen]byte JSON: config, meta, tokenizer, tensor table
//	padding to a multiple of Align
//	data    tensors, each at a multiple of Align from the data start
//
// Tensor data is aligned so that f32, f16 and int8 weights are used in
// place, straight from the bytes (an ArrayBuffer in the browser).
const (
	ModelMagic   = "C4CMODEL"
	ModelVersion = 1
	Align        = 64
)

// MaxHeader bounds the JSON header (the vocabulary makes it about 1.5 MB).
const MaxHeader = 64 << 20

// ModelFile is a model file's content.
type ModelFile struct {
	Version int               // format version the file was written with
	Config  json.RawMessage   // the model's configuration (model.Config)
	Meta    map[string]string // provenance: source checkpoints, dtype, training command
	Vocab   []string          // tokenizer vocabulary in id order
	Merges  [][2]string       // BPE merges in rank order
	Tensors *StateDict        // weights; int8 matrices come with "<name>.scales"
}

type header struct {
	Config    json.RawMessage   `json:"config"`
	Meta      map[string]string `json:"meta,omitempty"`
	Tokenizer struct {
		Vocab  []string    `json:"vocab"`
		Merges [][2]string `json:"merges"`
	} `json:"tokenizer"`
	Tensors []tableEntry `json:"tensors"`
}

type tableEntry struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"` // from the start of the data section
	Size   int64  `json:"size"`   // bytes
	Block  int    `json:"block,omitempty"`
}

// FormatError describes a model file that cannot be read.
type FormatError struct {
	File string // path, or "" for bytes
	Msg  string
}

func (e *FormatError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("weights: %s: %s", e.File, e.Msg)
	}
	return "weights: model file: " + e.Msg
}

// WriteModel writes f to w in the model file format.
func WriteModel(w io.Writer, f *ModelFile) error {
	var h header
	h.Config, h.Meta = f.Config, f.Meta
	h.Tokenizer.Vocab, h.Tokenizer.Merges = f.Vocab, f.Merges
	if h.Tokenizer.Vocab == nil {
		h.Tokenizer.Vocab = []string{}
	}
	if h.Tokenizer.Merges == nil {
		h.Tokenizer.Merges = [][2]string{}
	}
	var off int64
	for _, name := range f.Tensors.Order {
		t := f.Tensors.Tensors[name]
		if t.DType.Size() == 0 {
			return fmt.Errorf("weights: tensor %q has unknown dtype %v", name, t.DType)
		}
		if int64(len(t.Data)) != int64(t.Numel()*t.DType.Size()) {
			return fmt.Errorf("weights: tensor %q: %d bytes for shape %v of %v", name, len(t.Data), t.Shape, t.DType)
		}
		h.Tensors = append(h.Tensors, tableEntry{Name: name, DType: t.DType.String(), Shape: t.Shape, Offset: off, Size: int64(len(t.Data)), Block: t.Block})
		off = alignUp(off + int64(len(t.Data)))
	}
	js, err := json.Marshal(&h)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var pre [16]byte
	copy(pre[:], ModelMagic)
	binary.LittleEndian.PutUint32(pre[8:], ModelVersion)
	binary.LittleEndian.PutUint32(pre[12:], uint32(len(js)))
	bw.Write(pre[:])
	bw.Write(js)
	pos := int64(16 + len(js))
	pad := func(to int64) {
		for ; pos < to; pos++ {
			bw.WriteByte(0)
		}
	}
	data := alignUp(pos)
	pad(data)
	for i, name := range f.Tensors.Order {
		pad(data + h.Tensors[i].Offset)
		bw.Write(f.Tensors.Tensors[name].Data)
		pos += int64(len(f.Tensors.Tensors[name].Data))
	}
	return bw.Flush()
}

func alignUp(n int64) int64 { return (n + Align - 1) / Align * Align }

// ReadModel parses a model file held in memory. Tensor data aliases data,
// which must stay unchanged while the tensors are in use.
func ReadModel(data []byte) (*ModelFile, error) {
	return readModel(data, "")
}

// ReadModelFile reads and parses the model file at path.
func ReadModelFile(path string) (*ModelFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return readModel(data, path)
}

// DecodeModelHeader reads only the header (config, meta, tokenizer, tensor
// table) from the start of a model file, without its tensor data.
func DecodeModelHeader(r io.Reader) (*ModelFile, error) {
	var pre [16]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, &FormatError{Msg: "too short to be a model file (" + err.Error() + ")"}
	}
	hlen, err := checkPrelude(pre[:], "")
	if err != nil {
		return nil, err
	}
	js := make([]byte, hlen)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, &FormatError{Msg: fmt.Sprintf("truncated in its %d-byte header", hlen)}
	}
	f, _, err := parseHeader(js, "")
	return f, err
}

// NewerVersion says what a format version above max means: a file of a
// later release (advice says what to do), or, far beyond any release
// there could be (more than 100 versions on), corruption: bytes after the
// signature that were never a version.
func NewerVersion(v, max uint32, advice string) string {
	if v > max+100 {
		return fmt.Sprintf("its format version reads %d, far beyond any release (this build reads up to %d): the file is corrupt; make or download it again", v, max)
	}
	return fmt.Sprintf("format version %d is newer than this build reads (%d); %s", v, max, advice)
}

func checkPrelude(pre []byte, file string) (int, error) {
	if string(pre[:8]) != ModelMagic {
		return 0, &FormatError{file, fmt.Sprintf("not a clip4clip model file (it starts with %q, not %q); convert CLIP checkpoints with `clip4clip convert`", printable(pre[:8]), ModelMagic)}
	}
	v := binary.LittleEndian.Uint32(pre[8:])
	if v > ModelVersion {
		return 0, &FormatError{file, NewerVersion(v, ModelVersion, "update clip4clip")}
	}
	if v == 0 {
		return 0, &FormatError{file, "format version 0 is not valid"}
	}
	hlen := binary.LittleEndian.Uint32(pre[12:])
	if hlen > MaxHeader {
		return 0, &FormatError{file, fmt.Sprintf("header of %d bytes exceeds the %d-byte limit; the file is corrupt", hlen, MaxHeader)}
	}
	return int(hlen), nil
}

func printable(b []byte) string {
	out := make([]rune, len(b))
	for i, c := range b {
		out[i] = '.'
		if c >= 0x20 && c < 0x7f {
			out[i] = rune(c)
		}
	}
	return string(out)
}

func parseHeader(js []byte, file string) (*ModelFile, []tableEntry, error) {
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, nil, &FormatError{file, "header is not valid JSON: " + err.Error()}
	}
	f := &ModelFile{Version: ModelVersion, Config: h.Config, Meta: h.Meta, Vocab: h.Tokenizer.Vocab, Merges: h.Tokenizer.Merges, Tensors: &StateDict{}}
	return f, h.Tensors, nil
}

func readModel(data []byte, file string) (*ModelFile, error) {
	if len(data) < 16 {
		return nil, &FormatError{file, fmt.Sprintf("only %d bytes: too short to be a model file (truncated download?)", len(data))}
	}
	hlen, err := checkPrelude(data, file)
	if err != nil {
		return nil, err
	}
	if 16+hlen > len(data) {
		return nil, &FormatError{file, fmt.Sprintf("truncated: the header needs %d bytes, the file has %d", 16+hlen, len(data))}
	}
	f, table, err := parseHeader(data[16:16+hlen], file)
	if err != nil {
		return nil, err
	}
	start := alignUp(int64(16 + hlen))
	for _, e := range table {
		if _, dup := f.Tensors.Tensors[e.Name]; dup || e.Name == "" {
			return nil, &FormatError{file, fmt.Sprintf("tensor name %q is empty or repeated", e.Name)}
		}
		dt, err := e.check(start, int64(len(data)), file)
		if err != nil {
			return nil, err
		}
		b := data[start+e.Offset : start+e.Offset+e.Size : start+e.Offset+e.Size]
		f.Tensors.Add(&Tensor{Name: e.Name, DType: dt, Shape: e.Shape, Data: b, Block: e.Block})
	}
	return f, nil
}

// check validates one entry of the tensor table of a file of fileSize
// bytes whose data section begins at start, and returns its dtype.
func (e tableEntry) check(start, fileSize int64, file string) (DType, error) {
	dt, err := ParseDType(e.DType)
	if err != nil {
		return 0, &FormatError{file, fmt.Sprintf("tensor %q has unknown dtype %q (a newer format?)", e.Name, e.DType)}
	}
	n := int64(1)
	for _, d := range e.Shape {
		if d < 0 || (d > 0 && n > (1<<40)/int64(d)) {
			return 0, &FormatError{file, fmt.Sprintf("tensor %q has invalid shape %v", e.Name, e.Shape)}
		}
		n *= int64(d)
	}
	if e.Size != n*int64(dt.Size()) {
		return 0, &FormatError{file, fmt.Sprintf("tensor %q: %d bytes for shape %v of %v (want %d)", e.Name, e.Size, e.Shape, dt, n*int64(dt.Size()))}
	}
	if e.Offset < 0 || e.Offset%Align != 0 || start+e.Offset+e.Size > fileSize {
		return 0, &FormatError{file, fmt.Sprintf("tensor %q lies at bytes %d..%d, outside the %d-byte file (truncated?)", e.Name, start+e.Offset, start+e.Offset+e.Size, fileSize)}
	}
	if dt == I8 && e.Block <= 0 {
		return 0, &FormatError{file, fmt.Sprintf("int8 tensor %q has no block size", e.Name)}
	}
	return dt, nil
}
