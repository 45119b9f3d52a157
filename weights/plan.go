package weights

import (
	"fmt"
	"sort"
)

// A Plan reads part of a model file without the whole file in memory: the
// browser's engine workers each need one tower of the model, and a frame
// worker holding the text tower (or the query worker the vision tower)
// only costs memory. PlanModel reads the header and Keep chooses tensors;
// the caller copies the file bytes each Range names into a buffer of Size
// bytes (in pieces, from a Blob), and Tensors returns the chosen tensors
// as views of that buffer, aligned as ReadModel's views of the file are.
type Plan struct {
	File    *ModelFile // config, meta and tokenizer from the header; File.Tensors is empty
	Size    int64      // bytes of the buffer the ranges are copied into
	Ranges  []Range    // the file bytes to copy, in file order, adjacent tensors merged
	spans   []span     // every tensor of the file, in file order
	entries []planned  // the chosen ones
}

// Range is a run of a model file's bytes, [Off, Off+Len), that belongs at
// [Dst, Dst+Len) of the plan's buffer.
type Range struct {
	Off, Dst, Len int64
}

// planned is one chosen tensor and where it lies in the buffer.
type planned struct {
	Tensor       // Data unset
	dst    int64 // offset in the buffer
}

// span is one tensor of the file and where it lies there.
type span struct {
	planned
	off, end int64 // in the file
}

// HeaderSize returns how many bytes at the start of a model file hold its
// prelude and JSON header, from at least the file's first 16 bytes: what
// PlanModel needs to read.
func HeaderSize(prelude []byte) (int, error) {
	if len(prelude) < 16 {
		return 0, &FormatError{Msg: fmt.Sprintf("only %d bytes: too short to be a model file (truncated download?)", len(prelude))}
	}
	hlen, err := checkPrelude(prelude, "")
	if err != nil {
		return 0, err
	}
	return 16 + hlen, nil
}

// PlanModel reads the header of a model file of fileSize bytes, header
// being at least its first HeaderSize bytes, and plans to copy every
// tensor (Keep narrows the plan). The tensor table is checked as ReadModel
// checks it (dtype, shape against size, alignment, every tensor inside the
// file), and tensors must not overlap.
func PlanModel(header []byte, fileSize int64) (*Plan, error) {
	n, err := HeaderSize(header)
	if err != nil {
		return nil, err
	}
	if len(header) < n {
		return nil, &FormatError{Msg: fmt.Sprintf("truncated: the header needs %d bytes, %d were given", n, len(header))}
	}
	if fileSize < int64(n) {
		return nil, &FormatError{Msg: fmt.Sprintf("truncated: the header needs %d bytes, the file has %d", n, fileSize)}
	}
	f, table, err := parseHeader(header[16:n], "")
	if err != nil {
		return nil, err
	}
	start := alignUp(int64(n))
	spans := make([]span, 0, len(table))
	seen := make(map[string]bool, len(table))
	for _, e := range table {
		if seen[e.Name] || e.Name == "" {
			return nil, &FormatError{Msg: fmt.Sprintf("tensor name %q is empty or repeated", e.Name)}
		}
		seen[e.Name] = true
		dt, err := e.check(start, fileSize, "")
		if err != nil {
			return nil, err
		}
		spans = append(spans, span{
			planned: planned{Tensor: Tensor{Name: e.Name, DType: dt, Shape: e.Shape, Block: e.Block}},
			off:     start + e.Offset, end: start + e.Offset + e.Size,
		})
	}
	// Tensors in file order; an overlap means the table is corrupt (and
	// would make the merged ranges below copy bytes twice).
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	for i := 1; i < len(spans); i++ {
		if a, b := spans[i-1], spans[i]; b.off < a.end {
			return nil, &FormatError{Msg: fmt.Sprintf("tensors %q (bytes %d..%d) and %q (bytes %d..%d) overlap; the file is corrupt", a.Name, a.off, a.end, b.Name, b.off, b.end)}
		}
	}

	p := &Plan{File: f, spans: spans}
	p.Keep(nil)
	return p, nil
}

// Keep narrows (or widens) the plan to the tensors keep accepts; nil
// keeps all. The chosen tensors are laid out in file order: one that
// directly follows a chosen one in the file keeps its distance from it, so
// their ranges merge into one; others start at the buffer's next Align
// boundary.
func (p *Plan) Keep(keep func(name string) bool) {
	p.Size, p.Ranges, p.entries = 0, nil, nil
	kept := false // whether the previous tensor in the file was chosen
	for _, s := range p.spans {
		if keep != nil && !keep(s.Name) {
			kept = false
			continue
		}
		if n := len(p.Ranges); n > 0 && kept {
			r := &p.Ranges[n-1]
			s.dst = r.Dst + (s.off - r.Off)
			r.Len = s.end - r.Off
		} else {
			s.dst = alignUp(p.Size)
			p.Ranges = append(p.Ranges, Range{Off: s.off, Dst: s.dst, Len: s.end - s.off})
		}
		p.Size = max(p.Size, s.dst+(s.end-s.off))
		p.entries = append(p.entries, s.planned)
		kept = true
	}
}

// Tensors returns the planned tensors as views of buf, a buffer of at
// least Size bytes into which every Range has been copied. Matrices are
// used in place: buf must not change while they are in use, and it should
// start at an Align boundary (Go's large allocations do) for f32 and f16
// data to alias it rather than be copied.
func (p *Plan) Tensors(buf []byte) (*StateDict, error) {
	if int64(len(buf)) < p.Size {
		return nil, fmt.Errorf("weights: a buffer of %d bytes for a plan of %d", len(buf), p.Size)
	}
	sd := &StateDict{}
	for _, e := range p.entries {
		t := e.Tensor
		size := int64(t.Numel() * t.DType.Size())
		t.Data = buf[e.dst : e.dst+size : e.dst+size]
		sd.Add(&t)
	}
	return sd, nil
}
