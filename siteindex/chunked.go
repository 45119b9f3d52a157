package siteindex

// The chunked form of a site index (`clip4clip index -chunked`): a folder a
// visitor's browser loads a few megabytes of, whatever the archive's size,
// as Pagefind does for text. An inverted file (IVF) index with product
// quantised (PQ) codes for the probe and the int8 vectors for re-ranking:
//
//	index.c4m          Meta: model identity, head, fps, window, the coarse
//	                   quantiser's centroids (int8), the PQ codebooks (int8)
//	                   and each list's chunk hash and size. Its name is
//	                   fixed: serve it with a short cache (or revalidation).
//	c/<hash>.bin       one chunk per list: the moments nearest that centroid,
//	                   each as a PQ code (PQM bytes) and a reference to its
//	                   fragment (4 bytes); see Chunk.
//	f/<hash>.bin       fragments: FragMoments consecutive moments of one video
//	                   as int8 vectors (as the single file holds them), the
//	                   video's metadata and the thumbnails of that stretch;
//	                   the first of a video also holds its whole feature.
//	videos-<hash>.json the catalog, every video's fragments in order: only
//	                   `clip4clip index` and `merge` read it (to update or
//	                   join), never a visitor.
//
// Every name but index.c4m carries the first 8 bytes of the SHA-256 of its
// content in hex, so those files can be cached forever and a re-run writes
// only the files whose content changed. The folder holds exactly what the
// single file does (ReadDir gives the Index back); the files are a pure
// function of the videos, so merged shards give the folder one run gives.
//
// A query (Search): score the centroids, fetch the nprobe best lists'
// chunks, score their PQ codes with a table per query (asymmetric distance),
// fetch the fragments holding the best codes, and rank those fragments'
// moments exactly, by the int8 dot products Index.Search computes. With
// nprobe and the fragments all, that is Index.Search's ranking, bit for bit.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"strings"
	"unsafe"
)

// Magic numbers and the version of the chunked form's files.
const (
	MetaMagic      = "C4CMETA\x00"
	ChunkMagic     = "C4CLIST\x00"
	FragmentMagic  = "C4CFRAG\x00"
	ChunkedVersion = 1
	MetaName       = "index.c4m"
)

// Shape of the chunked form: PQM subspaces of 256 codewords each, and
// FragMoments moments a fragment (at 4 s moments, 128 s of video).
const (
	PQM         = 32
	pqK         = 256
	FragMoments = 32
	fragShift   = 5 // log2(FragMoments): a chunk entry is fragment<<5 | slot
)

// Search defaults, chosen by the measurements in the README (chunked_measure_test.go).
const (
	DefaultNProbe    = 16 // lists probed a query
	DefaultFragments = 24 // fragments re-ranked a query
)

// Lists returns the number of lists (centroids) the writer uses for n
// moments: about sqrt(n), at least 1, at most 4096.
func Lists(n int) int {
	return max(1, min(4096, int(math.Round(math.Sqrt(float64(n))))))
}

// hashName is the file name of content: prefix, the first 8 bytes of its
// SHA-256 in hex, ext.
func hashName(prefix, ext string, content []byte) string {
	h := sha256.Sum256(content)
	return prefix + hex.EncodeToString(h[:8]) + ext
}

// CheckName reports a *FormatError unless data's SHA-256 matches the hash
// its file name carries (as the meta, a chunk and the catalog give them).
func CheckName(name string, data []byte) error {
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if len(base) < 16 || hashName(base[:len(base)-16], ext, data) != name {
		return &FormatError{fmt.Sprintf("%s: its content does not match its name (%d bytes; truncated, corrupt or a stale copy): index the videos again, or clear the host's cache", name, len(data))}
	}
	return nil
}

// metaHeader is the JSON header of index.c4m.
type metaHeader struct {
	ModelID   string  `json:"model_id"`
	ModelName string  `json:"model_name"`
	Head      string  `json:"head"`
	EmbedDim  int     `json:"embed_dim"`
	FPS       float64 `json:"fps"`
	Window    float64 `json:"window"`
	Videos    int     `json:"videos"`
	Moments   int     `json:"moments"`
	Lists     int     `json:"lists"`
	PQM       int     `json:"pq_m"`
	Catalog   string  `json:"catalog"`
}

// Meta is a chunked index's meta file, index.c4m, read: what a visitor
// loads first.
type Meta struct {
	ModelID, ModelName, Head string
	EmbedDim                 int
	FPS, Window              float64
	Videos, Moments          int
	Catalog                  string // the catalog's file name

	Lists     int
	Centroids []int8    // (Lists, EmbedDim) the coarse quantiser, int8 as the vectors
	CScales   []float32 // (Lists)
	Codebooks []float32 // (PQM, 256, EmbedDim/PQM) the PQ codewords, dequantised
	ChunkHash [][8]byte // (Lists) the content hash naming each list's chunk
	ChunkSize []int     // (Lists) bytes of each chunk (0: an empty list has no chunk)
	ChunkLen  []int     // (Lists) moments in each list
	Size      int       // bytes of the meta file
}

// Check returns a *ModelMismatchError unless the index was built with the
// model whose model.CLIP.ID is modelID.
func (m *Meta) Check(modelID string) error {
	if modelID == m.ModelID && modelID != "" {
		return nil
	}
	return &ModelMismatchError{Index: Describe(m.ModelName, m.ModelID), Model: Describe("", modelID)}
}

// ChunkName returns the file name of list l's chunk, relative to the
// folder, or "" for an empty list.
func (m *Meta) ChunkName(l int) string {
	if m.ChunkSize[l] == 0 {
		return ""
	}
	return "c/" + hex.EncodeToString(m.ChunkHash[l][:]) + ".bin"
}

// encodeMeta writes the meta file: magic, version, hlen, JSON header,
// padding to 4, then (Lists) f32 centroid scales, (PQM*256) f32 codeword
// scales, (Lists) u32 chunk sizes, (Lists) u32 list lengths, (Lists, 8)
// chunk hashes, (Lists, d) int8 centroids, (PQM, 256, d/PQM) int8 codewords.
func encodeMeta(h metaHeader, cq []int8, cs []float32, pq []int8, ps []float32, hashes [][8]byte, sizes, lens []int) []byte {
	js, _ := json.Marshal(&h)
	start := 16 + len(js)
	start += (4 - start%4) % 4
	l := h.Lists
	n := start + 4*l + 4*len(ps) + 8*l + 8*l + len(cq) + len(pq)
	out := make([]byte, n)
	copy(out, MetaMagic)
	binary.LittleEndian.PutUint32(out[8:], ChunkedVersion)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(js)))
	copy(out[16:], js)
	off := start
	for _, s := range cs {
		binary.LittleEndian.PutUint32(out[off:], math.Float32bits(s))
		off += 4
	}
	for _, s := range ps {
		binary.LittleEndian.PutUint32(out[off:], math.Float32bits(s))
		off += 4
	}
	for i := range l {
		binary.LittleEndian.PutUint32(out[off:], uint32(sizes[i]))
		binary.LittleEndian.PutUint32(out[off+4*l:], uint32(lens[i]))
		off += 4
	}
	off += 4 * l
	for _, hh := range hashes {
		off += copy(out[off:], hh[:])
	}
	off += copy(out[off:], i8bytes(cq))
	copy(out[off:], i8bytes(pq))
	return out
}

func i8bytes(v []int8) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v))
}

func bytesI8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// prelude checks a file's magic and version; what names the kind of file
// in messages.
func prelude(data []byte, magic, what string) (hlen int, err error) {
	if len(data) < 16 {
		return 0, &FormatError{fmt.Sprintf("%s: only %d bytes: truncated", what, len(data))}
	}
	if string(data[:8]) != magic {
		if string(data[:8]) == Magic {
			return 0, &FormatError{fmt.Sprintf("%s is a single-file site index (C4CSITE), not a chunked index's %s", what, strings.TrimRight(magic[3:], "\x00"))}
		}
		return 0, &FormatError{fmt.Sprintf("%s is not a chunked site index file (it does not start with %q)", what, strings.TrimRight(magic, "\x00"))}
	}
	switch v := binary.LittleEndian.Uint32(data[8:]); {
	case v > ChunkedVersion:
		return 0, &FormatError{fmt.Sprintf("%s: format version %d is newer than this build reads (%d); update clip4clip (or reload the page)", what, v, ChunkedVersion)}
	case v == 0:
		return 0, &FormatError{what + ": format version 0: corrupt"}
	}
	hlen = int(binary.LittleEndian.Uint32(data[12:]))
	if hlen > len(data)-16 {
		return 0, &FormatError{fmt.Sprintf("%s: truncated: the header needs %d bytes, the file has %d", what, 16+hlen, len(data))}
	}
	return hlen, nil
}

// ReadMeta parses a meta file (index.c4m). Any input that is not one gives
// a *FormatError; ReadMeta never panics.
func ReadMeta(data []byte) (*Meta, error) {
	hlen, err := prelude(data, MetaMagic, MetaName)
	if err != nil {
		return nil, err
	}
	var h metaHeader
	if err := json.Unmarshal(data[16:16+hlen], &h); err != nil {
		return nil, &FormatError{MetaName + ": the header is not valid JSON: " + err.Error()}
	}
	d := h.EmbedDim
	switch {
	case d <= 0 || d > maxEmbedDim || h.PQM != PQM || d%PQM != 0:
		return nil, &FormatError{fmt.Sprintf("%s: embed_dim %d with %d PQ subspaces: corrupt", MetaName, d, h.PQM)}
	case !finitePos(h.FPS) || !finitePos(h.Window):
		return nil, &FormatError{fmt.Sprintf("%s: fps %v, window %v: corrupt", MetaName, h.FPS, h.Window)}
	case h.Lists <= 0 || h.Lists > 1<<20 || h.Videos < 0 || h.Moments < 0:
		return nil, &FormatError{fmt.Sprintf("%s: %d lists, %d videos, %d moments: corrupt", MetaName, h.Lists, h.Videos, h.Moments)}
	}
	if err := CheckHead(h.Head); err != nil {
		return nil, &FormatError{err.Error()}
	}
	start := 16 + hlen
	start += (4 - start%4) % 4
	l := h.Lists
	want := start + 4*l + 4*PQM*pqK + 8*l + 8*l + l*d + PQM*pqK*(d/PQM)
	if len(data) != want {
		return nil, &FormatError{fmt.Sprintf("%s: %d bytes, its header (%d lists of %d values) needs %d: truncated or corrupt", MetaName, len(data), l, d, want)}
	}
	m := &Meta{ModelID: h.ModelID, ModelName: h.ModelName, Head: h.Head, EmbedDim: d, FPS: h.FPS, Window: h.Window,
		Videos: h.Videos, Moments: h.Moments, Catalog: h.Catalog, Lists: l, Size: len(data),
		CScales: make([]float32, l), ChunkHash: make([][8]byte, l), ChunkSize: make([]int, l), ChunkLen: make([]int, l)}
	off := start
	f32 := func() (float32, error) {
		s := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		off += 4
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return 0, &FormatError{fmt.Sprintf("%s: a scale of %v: corrupt", MetaName, s)}
		}
		return s, nil
	}
	for i := range m.CScales {
		if m.CScales[i], err = f32(); err != nil {
			return nil, err
		}
	}
	ps := make([]float32, PQM*pqK)
	for i := range ps {
		if ps[i], err = f32(); err != nil {
			return nil, err
		}
	}
	total := 0
	for i := range l {
		m.ChunkSize[i] = int(binary.LittleEndian.Uint32(data[off:]))
		m.ChunkLen[i] = int(binary.LittleEndian.Uint32(data[off+4*l:]))
		total += m.ChunkLen[i]
		off += 4
	}
	off += 4 * l
	if total != h.Moments {
		return nil, &FormatError{fmt.Sprintf("%s: its lists hold %d moments, its header says %d: corrupt", MetaName, total, h.Moments)}
	}
	for i := range l {
		off += copy(m.ChunkHash[i][:], data[off:])
	}
	m.Centroids = bytesI8(data[off : off+l*d])
	off += l * d
	pq := bytesI8(data[off:])
	m.Codebooks = make([]float32, len(pq))
	sub := d / PQM
	for c := range PQM * pqK {
		dequantize(m.Codebooks[c*sub:(c+1)*sub], pq[c*sub:(c+1)*sub], ps[c])
	}
	return m, nil
}

// Chunk is one list of a chunked index read: its moments' fragments and PQ
// codes. File layout: magic, list u32, moments u32, fragments u32, then
// (fragments, 8) the fragments' content hashes, (moments) u32 entries
// fragment<<5 | slot (the moment's place in the fragment), (moments, PQM)
// u8 codes.
type Chunk struct {
	List      int
	Fragments [][8]byte
	Entries   []uint32
	Codes     []uint8 // (len(Entries), PQM)
}

// FragmentName returns the file name of fragment f of c.
func (c *Chunk) FragmentName(f int) string {
	return "f/" + hex.EncodeToString(c.Fragments[f][:]) + ".bin"
}

func encodeChunk(list int, frags [][8]byte, entries []uint32, codes []uint8) []byte {
	out := make([]byte, 20+8*len(frags)+4*len(entries)+len(codes))
	copy(out, ChunkMagic)
	binary.LittleEndian.PutUint32(out[8:], uint32(list))
	binary.LittleEndian.PutUint32(out[12:], uint32(len(entries)))
	binary.LittleEndian.PutUint32(out[16:], uint32(len(frags)))
	off := 20
	for _, h := range frags {
		off += copy(out[off:], h[:])
	}
	for _, e := range entries {
		binary.LittleEndian.PutUint32(out[off:], e)
		off += 4
	}
	copy(out[off:], codes)
	return out
}

// ReadChunk parses list l's chunk, checking it against the hash and size
// the meta gives it: a truncated, corrupt or stale file is a *FormatError
// that names it.
func (m *Meta) ReadChunk(l int, data []byte) (*Chunk, error) {
	name := m.ChunkName(l)
	if len(data) != m.ChunkSize[l] {
		return nil, &FormatError{fmt.Sprintf("%s: %d bytes, the index lists %d: truncated or a stale copy; index the videos again, or clear the host's cache", name, len(data), m.ChunkSize[l])}
	}
	if err := CheckName(name, data); err != nil {
		return nil, err
	}
	if len(data) < 20 || string(data[:8]) != ChunkMagic {
		return nil, &FormatError{name + ": not a chunk of a chunked site index"}
	}
	n, nf := int(binary.LittleEndian.Uint32(data[12:])), int(binary.LittleEndian.Uint32(data[16:]))
	if int(binary.LittleEndian.Uint32(data[8:])) != l || n != m.ChunkLen[l] || 20+8*nf+(4+PQM)*n != len(data) {
		return nil, &FormatError{fmt.Sprintf("%s: list %d, %d moments, %d fragments in %d bytes: not the chunk of list %d; corrupt", name, binary.LittleEndian.Uint32(data[8:]), n, nf, len(data), l)}
	}
	c := &Chunk{List: l, Fragments: make([][8]byte, nf), Entries: make([]uint32, n)}
	off := 20
	for i := range c.Fragments {
		off += copy(c.Fragments[i][:], data[off:])
	}
	for i := range c.Entries {
		c.Entries[i] = binary.LittleEndian.Uint32(data[off:])
		if int(c.Entries[i]>>fragShift) >= nf {
			return nil, &FormatError{fmt.Sprintf("%s: entry %d names fragment %d of %d: corrupt", name, i, c.Entries[i]>>fragShift, nf)}
		}
		off += 4
	}
	c.Codes = data[off:]
	return c, nil
}

// fragHeader is a fragment's JSON header.
type fragHeader struct {
	Video    int          `json:"video"` // the video's place in the index (sorted by path)
	Path     string       `json:"path"`
	Title    string       `json:"title,omitempty"`
	Duration float64      `json:"duration"`
	Width    int          `json:"w"`
	Height   int          `json:"h"`
	Size     int64        `json:"size"`
	ModTime  int64        `json:"mtime"`
	Moments  int          `json:"moments"` // the video's, all fragments
	First    int          `json:"first"`   // this fragment's first moment
	Count    int          `json:"count"`   // moments in this fragment
	Whole    bool         `json:"whole"`   // it holds the video's feature, before its moments
	Thumbs   [][2]float64 `json:"thumbs"`  // (time, bytes), this stretch's
}

// Fragment is one stretch of a video read from its fragment file: the
// video's metadata (Video's fields but Moments and Feature), its moments
// First..First+Count as int8 rows, and this stretch's thumbnails.
// File layout: magic, version u32, hlen u32, JSON header, the thumbnails'
// JPEG bytes, padding to 4, (Whole+Count) f32 scales, (Whole+Count, d) int8.
type Fragment struct {
	Name    string
	Index   int // the video's place in the index
	Video   Video
	Moments int // the video's
	First   int
	Count   int
	Whole   bool
	Q       []int8    // (Whole+Count, d): the video's feature first when Whole
	Scales  []float32 // (Whole+Count)
}

func encodeFragment(h fragHeader, thumbs [][]byte, q []int8, scales []float32) []byte {
	js, _ := json.Marshal(&h)
	tb := 0
	for _, t := range thumbs {
		tb += len(t)
	}
	start := 16 + len(js) + tb
	start += (4 - start%4) % 4
	out := make([]byte, start+4*len(scales)+len(q))
	copy(out, FragmentMagic)
	binary.LittleEndian.PutUint32(out[8:], ChunkedVersion)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(js)))
	off := 16 + copy(out[16:], js)
	for _, t := range thumbs {
		off += copy(out[off:], t)
	}
	off = start
	for _, s := range scales {
		binary.LittleEndian.PutUint32(out[off:], math.Float32bits(s))
		off += 4
	}
	copy(out[off:], i8bytes(q))
	return out
}

// ReadFragment parses the fragment file name (as Chunk.FragmentName gives
// it) of an index of d-value features, checking its content hash.
func ReadFragment(name string, data []byte, d int) (*Fragment, error) {
	if err := CheckName(name, data); err != nil {
		return nil, err
	}
	hlen, err := prelude(data, FragmentMagic, name)
	if err != nil {
		return nil, err
	}
	var h fragHeader
	if err := json.Unmarshal(data[16:16+hlen], &h); err != nil {
		return nil, &FormatError{name + ": the header is not valid JSON: " + err.Error()}
	}
	rows := h.Count
	if h.Whole {
		rows++
	}
	off := 16 + hlen
	tb := 0
	for _, t := range h.Thumbs {
		if t[1] < 0 || t[1] != math.Trunc(t[1]) || t[1] > float64(len(data)) {
			return nil, &FormatError{name + ": a thumbnail's size is corrupt"}
		}
		tb += int(t[1])
	}
	start := off + tb
	start += (4 - start%4) % 4
	if h.Count < 0 || h.Count > FragMoments || h.First < 0 || h.First+h.Count > h.Moments || start+rows*(4+d) != len(data) {
		return nil, &FormatError{fmt.Sprintf("%s: moments %d..%d of %d in %d bytes: corrupt", name, h.First, h.First+h.Count, h.Moments, len(data))}
	}
	f := &Fragment{Name: name, Index: h.Video, Moments: h.Moments, First: h.First, Count: h.Count, Whole: h.Whole, Scales: make([]float32, rows),
		Video: Video{Path: h.Path, Title: h.Title, Duration: h.Duration, Width: h.Width, Height: h.Height, Size: h.Size, ModTime: h.ModTime}}
	if f.Video.Title == "" {
		f.Video.Title = DefaultTitle(h.Path)
	}
	for _, t := range h.Thumbs {
		end := off + int(t[1])
		f.Video.Thumbs = append(f.Video.Thumbs, Thumb{Time: t[0], JPEG: data[off:end:end]})
		off = end
	}
	for i := range f.Scales {
		f.Scales[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[start+4*i:]))
		if s := float64(f.Scales[i]); math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, &FormatError{name + ": a scale is not finite: corrupt"}
		}
	}
	f.Q = bytesI8(data[start+4*rows:])
	return f, nil
}
