// Package npy reads and writes NumPy .npy files (format versions 1.0, 2.0
// and 3.0): little-endian numeric arrays in C order, which is what the
// reference fixtures and the command line's -pixels option use.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/x448/float16"
)

// Magic is the prefix of every .npy file.
const Magic = "\x93NUMPY"

// maxHeader bounds the header length (NumPy itself refuses more than 10000
// bytes by default).
const maxHeader = 1 << 20

// Array is an n-dimensional array as a .npy file stores it.
type Array struct {
	// Shape lists the dimensions; it is empty for a 0-d array.
	Shape []int
	// DType is NumPy's type string, e.g. "<f4", "|u1", "<i8". Read only
	// returns little-endian (or byte-sized) numeric types: floats (f2, f4,
	// f8), signed and unsigned integers (i1..i8, u1..u8) and bools (b1).
	DType string
	// Data holds the elements, little-endian, in C order.
	Data []byte
}

// Numel returns the number of elements, the product of Shape.
func (a *Array) Numel() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// ReadFile reads the .npy file at path.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	a, err := Read(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Read reads one array in .npy format from r. It refuses big-endian data,
// Fortran order, and dtypes other than little-endian bool, integer and
// float types, with errors that say so. Memory use is bounded by the bytes
// actually present, so a hostile shape cannot make it allocate more than
// the input holds.
func Read(r io.Reader) (*Array, error) {
	var pre [8]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, errors.New("npy: empty input, not a .npy file")
		}
		if string(pre[:n]) != Magic[:min(n, len(Magic))] {
			return nil, fmt.Errorf("npy: bad magic %q, not a .npy file", pre[:n])
		}
		return nil, fmt.Errorf("npy: truncated preamble (%d of 8 bytes)", n)
	}
	if string(pre[:6]) != Magic {
		return nil, fmt.Errorf("npy: bad magic %q, want %q (not a .npy file)", pre[:6], Magic)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: truncated header length: %w", err)
		}
		h := binary.LittleEndian.Uint32(b[:])
		if h > maxHeader {
			return nil, fmt.Errorf("npy: header of %d bytes is implausibly long (corrupt file?)", h)
		}
		hlen = int(h)
	default:
		return nil, fmt.Errorf("npy: format version %d.%d is not supported (want 1.0, 2.0 or 3.0)", major, minor)
	}
	hdr := make([]byte, hlen)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("npy: truncated header (%d of %d bytes)", n, hlen)
	}
	descr, fortran, shape, err := parseHeader(string(hdr))
	if err != nil {
		return nil, fmt.Errorf("npy: header %q: %w", strings.TrimSpace(string(hdr)), err)
	}
	if fortran {
		return nil, errors.New("npy: the array is in Fortran order; only C order is supported (save np.ascontiguousarray(a))")
	}
	size, err := itemSize(descr)
	if err != nil {
		return nil, err
	}
	nbytes := int64(size)
	for _, d := range shape {
		if d != 0 && nbytes > math.MaxInt64/2/int64(d) {
			return nil, fmt.Errorf("npy: shape %v is too large", shape)
		}
		nbytes *= int64(d)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(nbytes, 1<<20)))
	n, err := io.CopyN(&buf, r, nbytes)
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("npy: truncated data: shape %v of %s needs %d bytes, the file has %d", shape, descr, nbytes, n)
		}
		return nil, fmt.Errorf("npy: reading data: %w", err)
	}
	return &Array{Shape: shape, DType: descr, Data: buf.Bytes()}, nil
}

// itemSize checks descr and returns its element size.
func itemSize(descr string) (int, error) {
	if len(descr) < 3 {
		return 0, fmt.Errorf("npy: unsupported dtype %q", descr)
	}
	order, kind, sz := descr[0], descr[1], descr[2:]
	size, err := strconv.Atoi(sz)
	ok := err == nil
	switch kind {
	case 'f':
		ok = ok && (size == 2 || size == 4 || size == 8)
	case 'i', 'u':
		ok = ok && (size == 1 || size == 2 || size == 4 || size == 8)
	case 'b':
		ok = ok && size == 1
	default:
		ok = false
	}
	if !ok {
		return 0, fmt.Errorf("npy: unsupported dtype %q (want a bool, integer or float type)", descr)
	}
	switch order {
	case '<':
	case '|', '=':
		if size != 1 && order == '|' {
			return 0, fmt.Errorf("npy: unsupported dtype %q", descr)
		}
	case '>':
		if size != 1 {
			return 0, fmt.Errorf("npy: dtype %q is big-endian; only little-endian data is supported (save a.astype(a.dtype.newbyteorder('<')))", descr)
		}
	default:
		return 0, fmt.Errorf("npy: unsupported dtype %q", descr)
	}
	return size, nil
}

// parseHeader parses the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 224, 224), }.
func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	p := &hparser{s: h}
	p.skip()
	if !p.eat('{') {
		return "", false, nil, errors.New("not a dict")
	}
	seen := map[string]bool{}
	for {
		p.skip()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return "", false, nil, err
		}
		p.skip()
		if !p.eat(':') {
			return "", false, nil, fmt.Errorf("no ':' after key %q", key)
		}
		p.skip()
		switch key {
		case "descr":
			if descr, err = p.str(); err != nil {
				return "", false, nil, fmt.Errorf("descr: %w (structured dtypes are not supported)", err)
			}
		case "fortran_order":
			switch {
			case strings.HasPrefix(p.s[p.i:], "True"):
				fortran, p.i = true, p.i+4
			case strings.HasPrefix(p.s[p.i:], "False"):
				fortran, p.i = false, p.i+5
			default:
				return "", false, nil, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if shape, err = p.tuple(); err != nil {
				return "", false, nil, fmt.Errorf("shape: %w", err)
			}
		default:
			return "", false, nil, fmt.Errorf("unexpected key %q", key)
		}
		seen[key] = true
		p.skip()
		if p.eat(',') {
			continue
		}
		p.skip()
		if !p.eat('}') {
			return "", false, nil, errors.New("no ',' or '}' after a value")
		}
		break
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return "", false, nil, fmt.Errorf("no %q key", k)
		}
	}
	return descr, fortran, shape, nil
}

type hparser struct {
	s string
	i int
}

func (p *hparser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *hparser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *hparser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("expected a string")
	}
	q := p.s[p.i]
	j := strings.IndexByte(p.s[p.i+1:], q)
	if j < 0 {
		return "", errors.New("unterminated string")
	}
	s := p.s[p.i+1 : p.i+1+j]
	p.i += j + 2
	return s, nil
}

func (p *hparser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("expected a tuple")
	}
	shape := []int{}
	for {
		p.skip()
		if p.eat(')') {
			return shape, nil
		}
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i {
			return nil, errors.New("expected a non-negative integer")
		}
		d, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		if err != nil || d > 1<<40 {
			return nil, fmt.Errorf("dimension %s is too large", p.s[p.i:j])
		}
		if len(shape) >= 64 {
			return nil, errors.New("more than 64 dimensions")
		}
		shape = append(shape, int(d))
		p.i = j
		p.skip()
		if !p.eat(',') {
			p.skip()
			if !p.eat(')') {
				return nil, errors.New("expected ',' or ')'")
			}
			return shape, nil
		}
	}
}

// layout checks the array and returns its dtype's kind letter and size.
func (a *Array) layout() (byte, int, error) {
	size, err := itemSize(a.DType)
	if err != nil {
		return 0, 0, err
	}
	if len(a.Data) != a.Numel()*size {
		return 0, 0, fmt.Errorf("npy: %d bytes of data for shape %v of %s (want %d)", len(a.Data), a.Shape, a.DType, a.Numel()*size)
	}
	return a.DType[1], size, nil
}

// Float32 returns the elements as float32, converting from any float,
// integer or bool dtype by value (float64 rounds to nearest).
func (a *Array) Float32() ([]float32, error) {
	k, size, err := a.layout()
	if err != nil {
		return nil, err
	}
	b := a.Data
	out := make([]float32, a.Numel())
	switch {
	case k == 'f' && size == 4:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case k == 'f' && size == 8:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case k == 'f' && size == 2:
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
		}
	case k == 'u' && size == 8:
		for i := range out {
			out[i] = float32(binary.LittleEndian.Uint64(b[8*i:]))
		}
	default:
		ints, err := a.Int64()
		if err != nil {
			return nil, err
		}
		for i, v := range ints {
			out[i] = float32(v)
		}
	}
	return out, nil
}

// Int64 returns the elements as int64, converting from any integer or bool
// dtype. Float dtypes, and uint64 values above math.MaxInt64, are errors.
func (a *Array) Int64() ([]int64, error) {
	k, size, err := a.layout()
	if err != nil {
		return nil, err
	}
	if k == 'f' {
		return nil, fmt.Errorf("npy: array of %s holds floats, not integers", a.DType)
	}
	b := a.Data
	out := make([]int64, a.Numel())
	for i := range out {
		switch {
		case size == 1 && k == 'i':
			out[i] = int64(int8(b[i]))
		case size == 1:
			out[i] = int64(b[i])
		case size == 2 && k == 'i':
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case size == 2:
			out[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
		case size == 4 && k == 'i':
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case size == 4:
			out[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
		case k == 'i':
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		default:
			v := binary.LittleEndian.Uint64(b[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("npy: element %d of %s array is %d, too large for int64", i, a.DType, v)
			}
			out[i] = int64(v)
		}
	}
	return out, nil
}

// Uint8 returns the elements as uint8: directly for uint8 and bool arrays,
// and by value for other integer dtypes if every element is in 0..255.
func (a *Array) Uint8() ([]uint8, error) {
	k, size, err := a.layout()
	if err != nil {
		return nil, err
	}
	if size == 1 && (k == 'u' || k == 'b') {
		return append([]uint8(nil), a.Data...), nil
	}
	ints, err := a.Int64()
	if err != nil {
		return nil, err
	}
	out := make([]uint8, len(ints))
	for i, v := range ints {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("npy: element %d of %s array is %d, outside 0..255", i, a.DType, v)
		}
		out[i] = uint8(v)
	}
	return out, nil
}

// WriteFloat32 writes data as a float32 ("<f4") array of the given shape
// in .npy format 1.0, with the header padded as NumPy pads it. The product
// of shape must equal len(data).
func WriteFloat32(w io.Writer, shape []int, data []float32) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d elements, got %d", shape, n, len(data))
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	st := strings.Join(dims, ", ")
	if len(shape) == 1 {
		st += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", st)
	pre := len(Magic) + 4
	total := (pre + len(h) + 1 + 63) / 64 * 64
	if total-pre > math.MaxUint16 {
		return fmt.Errorf("npy: shape %v gives too long a header", shape)
	}
	h += strings.Repeat(" ", total-pre-len(h)-1) + "\n"
	var buf bytes.Buffer
	buf.WriteString(Magic)
	buf.Write([]byte{1, 0})
	binary.Write(&buf, binary.LittleEndian, uint16(len(h)))
	buf.WriteString(h)
	body := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(v))
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}
