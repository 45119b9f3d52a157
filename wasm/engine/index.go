package engine

import (
	"clip4clip/weights"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// The index file is what the app exports: every indexed video's frame
// features, frame times and thumbnails, never the video itself. It is one
// little-endian file:
//
//	magic   [8]byte  "C4CINDEX"
//	version uint32   IndexVersion
//	hlen    uint32   header length in bytes
//	header  [hlen]byte JSON: the model's identity, then each video's
//	                 file facts, frame count and thumbnail sizes
//	data    per video, in header order: times (frames) float64 seconds,
//	        features (frames, embed_dim) float32, thumbnails back to back
//
// Numbers in the header are JSON numbers that float64 holds exactly (sizes,
// milliseconds) or shortest round-trip forms (duration, fps), so reading a
// file and writing it again gives the same bytes.
const (
	IndexMagic   = "C4CINDEX"
	IndexVersion = 1
)

// maxIndexHeader bounds the JSON header (names and thumbnail sizes).
const maxIndexHeader = 256 << 20

// indexBytes is the product of non-negative factors, math.MaxInt64 if it
// overflows (more than any file holds).
func indexBytes(factors ...int64) int64 {
	p := int64(1)
	for _, f := range factors {
		if f != 0 && p > math.MaxInt64/f {
			return math.MaxInt64
		}
		p *= f
	}
	return p
}

// IndexError describes an index file that cannot be read.
type IndexError struct {
	Msg string
}

func (e *IndexError) Error() string { return "engine: index file: " + e.Msg }

// Index is the content of an index file.
type Index struct {
	ModelID   string  // hex SHA-256 of the model file the features come from
	ModelName string  // the model's file name or source, for messages
	EmbedDim  int     // feature size
	Videos    []Video // in the order they were indexed
}

// Video is one indexed video file.
type Video struct {
	Key          string    // the app's identity of the file: name, size and lastModified
	Name         string    // file name
	Type         string    // MIME type the browser gave the file, maybe ""
	Size         int64     // bytes
	LastModified int64     // milliseconds since 1970 (File.lastModified)
	Duration     float64   // seconds
	Width        int       // video pixels
	Height       int       //
	FPS          float64   // frames sampled per second
	Window       int       // frames per moment when indexed
	Times        []float64 // (frames) seconds of each sampled frame
	Features     []float32 // (frames, embed_dim) EmbedFrame outputs
	Thumbs       [][]byte  // (frames) small JPEG images, or empty
}

type indexHeader struct {
	ModelID   string        `json:"model_id"`
	ModelName string        `json:"model_name"`
	EmbedDim  int           `json:"embed_dim"`
	Videos    []videoHeader `json:"videos"`
}

type videoHeader struct {
	Key          string  `json:"key"`
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	Size         int64   `json:"size"`
	LastModified int64   `json:"last_modified"`
	Duration     float64 `json:"duration"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	FPS          float64 `json:"fps"`
	Window       int     `json:"window"`
	Frames       int     `json:"frames"`
	Thumbs       []int   `json:"thumbs"` // byte size of each thumbnail
}

// MarshalBinary writes x in the index file format. It fails on values the
// format cannot hold: a feature size that does not match, thumbnails not
// one per frame, non-finite numbers in the header.
func (x *Index) MarshalBinary() ([]byte, error) {
	if x.EmbedDim <= 0 {
		return nil, fmt.Errorf("engine: index with embed_dim %d", x.EmbedDim)
	}
	h := indexHeader{ModelID: x.ModelID, ModelName: x.ModelName, EmbedDim: x.EmbedDim, Videos: make([]videoHeader, len(x.Videos))}
	size := 0
	for i, v := range x.Videos {
		n := len(v.Times)
		if len(v.Features) != n*x.EmbedDim {
			return nil, fmt.Errorf("engine: video %q: %d feature values for %d frames of %d", v.Name, len(v.Features), n, x.EmbedDim)
		}
		if len(v.Thumbs) != 0 && len(v.Thumbs) != n {
			return nil, fmt.Errorf("engine: video %q: %d thumbnails for %d frames", v.Name, len(v.Thumbs), n)
		}
		for _, f := range []float64{v.Duration, v.FPS} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("engine: video %q: duration %v, fps %v: not finite", v.Name, v.Duration, v.FPS)
			}
		}
		vh := videoHeader{Key: v.Key, Name: v.Name, Type: v.Type, Size: v.Size, LastModified: v.LastModified,
			Duration: v.Duration, Width: v.Width, Height: v.Height, FPS: v.FPS, Window: v.Window, Frames: n, Thumbs: make([]int, len(v.Thumbs))}
		size += 8*n + 4*len(v.Features)
		for j, t := range v.Thumbs {
			vh.Thumbs[j] = len(t)
			size += len(t)
		}
		h.Videos[i] = vh
	}
	js, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 16, 16+len(js)+size)
	copy(out, IndexMagic)
	binary.LittleEndian.PutUint32(out[8:], IndexVersion)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(js)))
	out = append(out, js...)
	for _, v := range x.Videos {
		for _, t := range v.Times {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(t))
		}
		for _, f := range v.Features {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
		}
		for _, t := range v.Thumbs {
			out = append(out, t...)
		}
	}
	return out, nil
}

// UnmarshalBinary reads an index file, checking that every size adds up.
// The thumbnails alias data.
func (x *Index) UnmarshalBinary(data []byte) error {
	if len(data) < 16 || string(data[:8]) != IndexMagic {
		return &IndexError{"not a clip4clip index file (it should start with " + IndexMagic + "); export one with the app's Export button"}
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != IndexVersion {
		if v > IndexVersion {
			return &IndexError{weights.NewerVersion(v, IndexVersion, "reload the app to update it")}
		}
		return &IndexError{fmt.Sprintf("format version %d is not valid", v)}
	}
	hlen := int(binary.LittleEndian.Uint32(data[12:]))
	if hlen > maxIndexHeader || 16+hlen > len(data) {
		return &IndexError{fmt.Sprintf("header of %d bytes in a file of %d: truncated or corrupt", hlen, len(data))}
	}
	var h indexHeader
	if err := json.Unmarshal(data[16:16+hlen], &h); err != nil {
		return &IndexError{"header is not valid JSON: " + err.Error()}
	}
	if h.EmbedDim <= 0 {
		return &IndexError{fmt.Sprintf("embed_dim %d", h.EmbedDim)}
	}
	rest := data[16+hlen:]
	take := func(n int64, what string) ([]byte, error) {
		if n < 0 || n > int64(len(rest)) {
			return nil, &IndexError{fmt.Sprintf("%s needs %d bytes, %d are left: truncated", what, n, len(rest))}
		}
		b := rest[:n:n]
		rest = rest[n:]
		return b, nil
	}
	*x = Index{ModelID: h.ModelID, ModelName: h.ModelName, EmbedDim: h.EmbedDim, Videos: make([]Video, len(h.Videos))}
	for i, vh := range h.Videos {
		n := vh.Frames
		if n < 0 || (len(vh.Thumbs) != 0 && len(vh.Thumbs) != n) {
			return &IndexError{fmt.Sprintf("video %q: %d frames and %d thumbnails", vh.Name, n, len(vh.Thumbs))}
		}
		// The bytes are taken before anything is allocated, so a header
		// that claims 2^40 frames is refused, not allocated (or overflowed).
		tb, err := take(indexBytes(8, int64(n)), fmt.Sprintf("video %q's frame times", vh.Name))
		if err != nil {
			return err
		}
		fb, err := take(indexBytes(4, int64(n), int64(h.EmbedDim)), fmt.Sprintf("video %q's features", vh.Name))
		if err != nil {
			return err
		}
		v := Video{Key: vh.Key, Name: vh.Name, Type: vh.Type, Size: vh.Size, LastModified: vh.LastModified,
			Duration: vh.Duration, Width: vh.Width, Height: vh.Height, FPS: vh.FPS, Window: vh.Window,
			Times: make([]float64, n), Features: make([]float32, n*h.EmbedDim)}
		for j := range v.Times {
			v.Times[j] = math.Float64frombits(binary.LittleEndian.Uint64(tb[8*j:]))
		}
		for j := range v.Features {
			v.Features[j] = math.Float32frombits(binary.LittleEndian.Uint32(fb[4*j:]))
		}
		if len(vh.Thumbs) > 0 {
			v.Thumbs = make([][]byte, n)
		}
		for j, s := range vh.Thumbs {
			if v.Thumbs[j], err = take(int64(s), fmt.Sprintf("video %q's thumbnail %d", vh.Name, j)); err != nil {
				return err
			}
		}
		x.Videos[i] = v
	}
	if len(rest) != 0 {
		return &IndexError{fmt.Sprintf("%d bytes after the last video: corrupt", len(rest))}
	}
	return nil
}
