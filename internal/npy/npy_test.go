package npy

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
)

const fixtures = "../../../shared/fixtures"

func fixture(t *testing.T, name string) string {
	t.Helper()
	return testenv.Fixture(t, fixtures, name)
}

func TestReadFixtures(t *testing.T) {
	cases := []struct {
		name  string
		dtype string
		shape []int
	}{
		{"preprocess/pixel_values.npy", "<f4", []int{3, 3, 224, 224}},
		{"preprocess/resized_cropped_uint8.npy", "|u1", []int{3, 224, 224, 3}},
		{"clip4clip/video_frames_uint8.npy", "|u1", []int{4, 6, 224, 224, 3}},
		{"clip/text_tokens.npy", "<i4", []int{4, 77}},
		{"clip4clip/input_ids.npy", "<i8", []int{4, 32}},
		{"clip4clip/video_mask.npy", "<i8", []int{4, 6}},
		{"clip/logits_per_image.npy", "<f4", []int{3, 4}},
		{"clip4clip/sequence_output.npy", "<f4", []int{4, 1, 128}},
	}
	for _, c := range cases {
		a, err := ReadFile(fixture(t, c.name))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if a.DType != c.dtype || !reflect.DeepEqual(a.Shape, c.shape) {
			t.Errorf("%s: got %s %v, want %s %v", c.name, a.DType, a.Shape, c.dtype, c.shape)
		}
		if _, err := a.Float32(); err != nil {
			t.Errorf("%s: Float32: %v", c.name, err)
		}
	}
}

func TestFixtureValues(t *testing.T) {
	// clip.tokenize output: every row starts with SOT (49406) and holds
	// one EOT (49407); int32 converts to int64.
	a, err := ReadFile(fixture(t, "clip/text_tokens.npy"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := a.Int64()
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 4; r++ {
		row := ids[r*77 : (r+1)*77]
		eot := 0
		for _, v := range row {
			if v == 49407 {
				eot++
			}
		}
		if row[0] != 49406 || eot != 1 {
			t.Errorf("text_tokens row %d: first %d, %d EOTs", r, row[0], eot)
		}
	}
	if _, err := a.Uint8(); err == nil {
		t.Error("Uint8 of token ids (49406) should fail")
	}

	// video_mask: valid frames per video [6, 4, 6, 6].
	m, err := ReadFile(fixture(t, "clip4clip/video_mask.npy"))
	if err != nil {
		t.Fatal(err)
	}
	mask, err := m.Int64()
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range []int64{6, 4, 6, 6} {
		var s int64
		for _, x := range mask[v*6 : (v+1)*6] {
			s += x
		}
		if s != want {
			t.Errorf("video %d: %d valid frames, want %d", v, s, want)
		}
	}
	if u, err := m.Uint8(); err != nil || u[0] != 1 {
		t.Errorf("Uint8 of a 0/1 int64 mask: %v %v", u[:1], err)
	}

	// uint8 frames: Uint8 returns the bytes; Int64 works, Float32 too.
	f, err := ReadFile(fixture(t, "preprocess/resized_cropped_uint8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.Uint8()
	if err != nil || len(u) != 3*224*224*3 {
		t.Fatalf("Uint8: %d values, %v", len(u), err)
	}
	fl, _ := f.Float32()
	for i := range u {
		if float32(u[i]) != fl[i] {
			t.Fatalf("element %d: uint8 %d, float32 %v", i, u[i], fl[i])
		}
	}

	// Floats are not integers.
	p, err := ReadFile(fixture(t, "preprocess/pixel_values.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Int64(); err == nil || !strings.Contains(err.Error(), "floats") {
		t.Errorf("Int64 of a float array: %v", err)
	}
}

// TestWriteMatchesNumPy writes a fixture's values back and expects the very
// bytes NumPy wrote.
func TestWriteMatchesNumPy(t *testing.T) {
	for _, name := range []string{"preprocess/pixel_values.npy", "clip/logits_per_image.npy", "clip4clip/sequence_output.npy"} {
		path := fixture(t, name)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Read(bytes.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		v, err := a.Float32()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteFloat32(&buf, a.Shape, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), orig) {
			t.Errorf("%s: WriteFloat32 output differs from NumPy's file (%d vs %d bytes)", name, buf.Len(), len(orig))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, shape := range [][]int{{}, {0}, {5}, {2, 3}, {1, 2, 3, 4}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(i)*0.5 - 1
		}
		var buf bytes.Buffer
		if err := WriteFloat32(&buf, shape, data); err != nil {
			t.Fatal(err)
		}
		if (buf.Len()-4*n)%64 != 0 {
			t.Errorf("shape %v: header not padded to 64 bytes", shape)
		}
		a, err := Read(&buf)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		got, err := a.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if a.DType != "<f4" || !reflect.DeepEqual(a.Shape, shape) || len(got) != n {
			t.Fatalf("shape %v: read back %s %v", shape, a.DType, a.Shape)
		}
		for i := range got {
			if got[i] != data[i] {
				t.Fatalf("shape %v element %d: %v != %v", shape, i, got[i], data[i])
			}
		}
	}
	if err := WriteFloat32(&bytes.Buffer{}, []int{2, 2}, make([]float32, 3)); err == nil {
		t.Error("WriteFloat32 with a shape not matching the data should fail")
	}
}

// npyFile builds a .npy file with the given version, header and data.
func npyFile(major byte, header string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	b.Write([]byte{major, 0})
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func hdr(descr, fortran, shape string) string {
	return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n"
}

func TestVersionsAndDTypes(t *testing.T) {
	le := func(vals ...uint64) func(size int) []byte {
		return func(size int) []byte {
			out := make([]byte, size*len(vals))
			for i, v := range vals {
				for j := 0; j < size; j++ {
					out[i*size+j] = byte(v >> (8 * j))
				}
			}
			return out
		}
	}
	neg := le(1, math.MaxUint64, 7) // 1, -1, 7 in two's complement
	for _, c := range []struct {
		descr string
		size  int
		want  []int64
	}{
		{"|i1", 1, []int64{1, -1, 7}}, {"|u1", 1, []int64{1, 255, 7}}, {"|b1", 1, []int64{1, 255, 7}},
		{"<i2", 2, []int64{1, -1, 7}}, {"<u2", 2, []int64{1, 65535, 7}},
		{"<i4", 4, []int64{1, -1, 7}}, {"<u4", 4, []int64{1, 4294967295, 7}},
		{"<i8", 8, []int64{1, -1, 7}},
	} {
		for _, major := range []byte{1, 2, 3} {
			a, err := Read(bytes.NewReader(npyFile(major, hdr(c.descr, "False", "(3,)"), neg(c.size))))
			if err != nil {
				t.Fatalf("%s v%d: %v", c.descr, major, err)
			}
			got, err := a.Int64()
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s v%d: Int64 = %v, %v; want %v", c.descr, major, got, err, c.want)
			}
			f, err := a.Float32()
			if err != nil || f[1] != float32(c.want[1]) {
				t.Errorf("%s: Float32 = %v, %v", c.descr, f, err)
			}
		}
	}
	// <u8 above MaxInt64 is an Int64 error but a valid Float32.
	a, err := Read(bytes.NewReader(npyFile(1, hdr("<u8", "False", "(3,)"), neg(8))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Int64(); err == nil {
		t.Error("Int64 of a uint64 above MaxInt64 should fail")
	}
	// float64 and float16.
	f64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(f64, math.Float64bits(1.5))
	binary.LittleEndian.PutUint64(f64[8:], math.Float64bits(-0.25))
	a, err = Read(bytes.NewReader(npyFile(1, hdr("<f8", "False", "(2,)"), f64)))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := a.Float32(); err != nil || f[0] != 1.5 || f[1] != -0.25 {
		t.Errorf("<f8: %v %v", f, err)
	}
	a, err = Read(bytes.NewReader(npyFile(1, hdr("<f2", "False", "(2,)"), []byte{0x00, 0x3e, 0x00, 0xbc})))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := a.Float32(); err != nil || f[0] != 1.5 || f[1] != -1 {
		t.Errorf("<f2: %v %v", f, err)
	}
}

func TestBadInput(t *testing.T) {
	good := npyFile(1, hdr("<f4", "False", "(2, 2)"), make([]byte, 16))
	if _, err := Read(bytes.NewReader(good)); err != nil {
		t.Fatalf("the good file fails: %v", err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"bad magic", []byte("PK\x03\x04 not npy at all"), "bad magic"},
		{"short magic", []byte("\x93NUM"), "truncated preamble"},
		{"wrong short", []byte("GIF"), "bad magic"},
		{"version", append([]byte(Magic+"\x04\x00"), good[8:]...), "version 4.0"},
		{"no header length", []byte(Magic + "\x01\x00\x10"), "truncated header length"},
		{"truncated header", good[:30], "truncated header"},
		{"truncated data", good[:len(good)-1], "truncated data"},
		{"no data", good[:len(good)-16], "truncated data"},
		{"fortran", npyFile(1, hdr("<f4", "True", "(2, 2)"), make([]byte, 16)), "Fortran order"},
		{"big endian", npyFile(1, hdr(">f4", "False", "(2, 2)"), make([]byte, 16)), "big-endian"},
		{"complex", npyFile(1, hdr("<c8", "False", "(2,)"), make([]byte, 16)), "unsupported dtype"},
		{"object", npyFile(1, hdr("|O", "False", "(2,)"), make([]byte, 16)), "unsupported dtype"},
		{"unicode", npyFile(1, hdr("<U8", "False", "(2,)"), make([]byte, 64)), "unsupported dtype"},
		{"odd float", npyFile(1, hdr("<f3", "False", "(2,)"), make([]byte, 6)), "unsupported dtype"},
		{"structured", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", make([]byte, 8)), "structured"},
		{"not a dict", npyFile(1, "['descr']", nil), "not a dict"},
		{"missing shape", npyFile(1, "{'descr': '<f4', 'fortran_order': False}", nil), "no \"shape\" key"},
		{"negative dim", npyFile(1, hdr("<f4", "False", "(-2,)"), nil), "non-negative"},
		{"bad bool", npyFile(1, hdr("<f4", "maybe", "(2,)"), nil), "fortran_order"},
		{"unknown key", npyFile(1, "{'descr': '<f4', 'color': 'red'}", nil), "unexpected key"},
		{"huge shape", npyFile(1, hdr("<f4", "False", "(1000000, 1000000)"), make([]byte, 16)), "truncated data"},
		{"overflowing shape", npyFile(1, hdr("<f8", "False", "(1099511627776, 1099511627776)"), nil), "too large"},
		{"huge v2 header", append([]byte(Magic+"\x02\x00"), 0xff, 0xff, 0xff, 0x7f), "implausibly long"},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.data))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.npy")); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	// Inconsistent Arrays built by hand are caught by the converters.
	bad := &Array{Shape: []int{3}, DType: "<f4", Data: make([]byte, 8)}
	if _, err := bad.Float32(); err == nil {
		t.Error("Float32 with too little data should fail")
	}
	if _, err := (&Array{DType: "x"}).Int64(); err == nil {
		t.Error("Int64 with dtype x should fail")
	}
}

func FuzzNpy(f *testing.F) {
	f.Add(npyFile(1, hdr("<f4", "False", "(2, 2)"), make([]byte, 16)))
	f.Add(npyFile(2, hdr("|u1", "False", "(3,)"), []byte{1, 2, 3}))
	f.Add(npyFile(3, hdr("<i8", "False", "()"), make([]byte, 8)))
	f.Add(npyFile(1, hdr("<f4", "True", "(2, 2)"), make([]byte, 16)))
	f.Add(npyFile(1, hdr("<f4", "False", "(1000000, 1000000)"), make([]byte, 16)))
	f.Add([]byte(Magic + "\x02\x00\xff\xff\xff\x7f"))
	f.Add([]byte("\x93NUMPY"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(a.Data) > len(data) {
			t.Fatalf("%d bytes of data from a %d-byte input", len(a.Data), len(data))
		}
		a.Float32()
		a.Int64()
		a.Uint8()
		if v, err := a.Float32(); err == nil && a.DType == "<f4" {
			var buf bytes.Buffer
			if err := WriteFloat32(&buf, a.Shape, v); err != nil {
				t.Fatal(err)
			}
			b, err := Read(&buf)
			if err != nil || !bytes.Equal(b.Data, a.Data) || !reflect.DeepEqual(b.Shape, a.Shape) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}
