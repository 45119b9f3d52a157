package preprocess

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// npyArray is a .npy file as read by readNpy: format 1.0, little-endian, C
// order, '<f4' or '|u1' only. Test-local on purpose; the shared reader lives
// elsewhere.
type npyArray struct {
	descr string
	shape []int
	f32   []float32
	u8    []uint8
}

func readNpy(path string) (*npyArray, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) || b[6] != 1 || b[7] != 0 {
		return nil, fmt.Errorf("%s: not a version 1.0 .npy file", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if 10+hl > len(b) {
		return nil, fmt.Errorf("%s: truncated header", path)
	}
	hdr := string(b[10 : 10+hl])
	data := b[10+hl:]
	field := func(key string) (string, error) {
		i := strings.Index(hdr, "'"+key+"':")
		if i < 0 {
			return "", fmt.Errorf("%s: no %s in header %q", path, key, hdr)
		}
		return strings.TrimSpace(hdr[i+len(key)+3:]), nil
	}
	a := &npyArray{}
	v, err := field("descr")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(v, "'") {
		return nil, fmt.Errorf("%s: bad descr", path)
	}
	a.descr = v[1 : 1+strings.Index(v[1:], "'")]
	if v, err = field("fortran_order"); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(v, "False") {
		return nil, fmt.Errorf("%s: Fortran order not supported", path)
	}
	if v, err = field("shape"); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(v, "(") || !strings.Contains(v, ")") {
		return nil, fmt.Errorf("%s: bad shape", path)
	}
	count := 1
	for _, s := range strings.Split(v[1:strings.Index(v, ")")], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		d, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%s: bad shape: %v", path, err)
		}
		a.shape = append(a.shape, d)
		count *= d
	}
	switch a.descr {
	case "<f4":
		if len(data) != 4*count {
			return nil, fmt.Errorf("%s: %d data bytes for %d float32", path, len(data), count)
		}
		a.f32 = make([]float32, count)
		for i := range a.f32 {
			a.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case "|u1":
		if len(data) != count {
			return nil, fmt.Errorf("%s: %d data bytes for %d uint8", path, len(data), count)
		}
		a.u8 = data
	default:
		return nil, fmt.Errorf("%s: dtype %s not supported", path, a.descr)
	}
	return a, nil
}
