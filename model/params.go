package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"clip4clip/quant"
	"clip4clip/weights"
)

// LoadError lists everything wrong between a set of tensors and the model a
// config describes, by tensor name, so a user sees all problems at once.
type LoadError struct {
	Missing []string // tensors the model needs that the file lacks
	Unknown []string // tensors in the file that the model does not use
	Shape   []string // "name: got [..], want [..]"
	Other   []string // dtype and data problems
}

func (e *LoadError) empty() bool {
	return len(e.Missing)+len(e.Unknown)+len(e.Shape)+len(e.Other) == 0
}

// Error lists the problems, a few names per kind.
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("model: the weights do not fit the model")
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		fmt.Fprintf(&b, "; %d %s: %s", len(names), what, strings.Join(names[:min(len(names), 8)], ", "))
		if len(names) > 8 {
			b.WriteString(", ...")
		}
	}
	list("missing", e.Missing)
	list("unknown", e.Unknown)
	list("mis-shaped", e.Shape)
	list("unreadable", e.Other)
	b.WriteString(" (is this a CLIP ViT checkpoint, converted with `clip4clip convert`?)")
	return b.String()
}

// param is one named weight the model holds, for export to a model file.
type param struct {
	name  string
	shape []int
	mat   **quant.Matrix // set for matrices
	vec   *[]float32     // set for everything else
}

// params builds the model's weights from a state dict of canonical names,
// checking each by name and shape, and remembering them for export.
type params struct {
	rng  *rand.Rand // if set, weights are drawn at random instead of read from sd
	dry  bool       // check names and shapes only: sd's tensors may lack Data, matrices get none
	sd   *weights.StateDict
	used map[string]bool
	err  LoadError
	list []param
}

func newParams(sd *weights.StateDict) *params {
	return &params{sd: sd, used: map[string]bool{}}
}

func (p *params) get(name string, shape []int) *weights.Tensor {
	p.used[name] = true
	if p.rng != nil {
		return p.random(name, shape)
	}
	t, ok := p.sd.Tensors[name]
	if !ok {
		p.err.Missing = append(p.err.Missing, name)
		return nil
	}
	if !slices.Equal(t.Shape, shape) && !(len(shape) == 0 && t.Numel() == 1) {
		p.err.Shape = append(p.err.Shape, fmt.Sprintf("%s: got %v, want %v", name, t.Shape, shape))
		return nil
	}
	return t
}

// vec returns a float tensor as float32, any float dtype.
func (p *params) vec(name string, shape ...int) []float32 {
	v := make([]float32, 0)
	out := &v
	p.list = append(p.list, param{name: name, shape: shape, vec: out})
	t := p.get(name, shape)
	if t == nil || p.dry {
		*out = make([]float32, numel(shape))
		return *out
	}
	var err error
	switch t.DType {
	case weights.F32:
		*out, err = t.F32View()
	case weights.F16, weights.BF16, weights.F64:
		*out, err = t.Float32()
	default:
		err = fmt.Errorf("%s is %v; want a float tensor", name, t.DType)
	}
	if err != nil {
		p.err.Other = append(p.err.Other, err.Error())
		*out = make([]float32, numel(shape))
	}
	return *out
}

// scalar returns a one-element float tensor.
func (p *params) scalar(name string) float32 {
	v := p.vec(name)
	p.list[len(p.list)-1].shape = []int{}
	return v[0]
}

// mat returns a (rows, cols) weight matrix in its stored dtype: f32 and f16
// alias the file's bytes, i8 comes with its "<name>.scales" tensor.
func (p *params) mat(name string, rows, cols int) *quant.Matrix {
	// The zero matrix that stands in for a missing or unreadable tensor is
	// made only then: the token embedding's would be 100 MB of float32 for
	// ViT-B, garbage as soon as the file's int8 or f16 view replaces it.
	m := &quant.Matrix{Rows: rows, Cols: cols, DType: quant.F32}
	holder := new(*quant.Matrix)
	*holder = m
	p.list = append(p.list, param{name: name, shape: []int{rows, cols}, mat: holder})
	t := p.get(name, []int{rows, cols})
	if p.dry {
		return m
	}
	if t == nil {
		m.F32 = make([]float32, rows*cols)
		return m
	}
	var err error
	switch t.DType {
	case weights.F32:
		m.F32, err = t.F32View()
	case weights.F16:
		m.DType, m.F32 = quant.F16, nil
		m.F16, err = t.U16View()
	case weights.BF16, weights.F64:
		m.F32, err = t.Float32()
	case weights.I8:
		m.DType, m.F32, m.Block = quant.Int8, nil, t.Block
		m.I8, err = t.I8View()
		nb := 0
		if t.Block > 0 {
			nb = (cols + t.Block - 1) / t.Block
		}
		if s := p.get(name+".scales", []int{rows, nb}); s != nil && err == nil {
			m.Scales, err = s.F32View()
		}
	default:
		err = fmt.Errorf("%s is %v; want f32, f16, bf16 or i8", name, t.DType)
	}
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		p.err.Other = append(p.err.Other, fmt.Sprintf("%s: %v", name, err))
		*m = quant.Matrix{Rows: rows, Cols: cols, DType: quant.F32, F32: make([]float32, rows*cols)}
	}
	return m
}

// finish reports unused tensors and returns the accumulated error, if any.
func (p *params) finish() error {
	for _, name := range p.sd.Order {
		if !p.used[name] {
			p.err.Unknown = append(p.err.Unknown, name)
		}
	}
	sort.Strings(p.err.Unknown)
	if p.err.empty() {
		return nil
	}
	return &p.err
}

// random draws a tensor for name: layer norms start at weight 1, bias 0,
// matrices N(0, 1/in), embeddings N(0, 0.02^2), as CLIP's initialisation
// does in spirit. Used for benchmarks and training from scratch.
func (p *params) random(name string, shape []int) *weights.Tensor {
	n := numel(shape)
	v := make([]float32, n)
	std := 0.02
	if len(shape) == 2 && !strings.Contains(name, "embedding") {
		std = 1 / math.Sqrt(float64(shape[1]))
	}
	switch {
	case strings.HasSuffix(name, ".scales"):
		return nil
	case name == "logit_scale":
		v[0] = float32(math.Log(1 / 0.07))
	case strings.Contains(name, "ln") && strings.HasSuffix(name, ".weight"), strings.HasSuffix(name, "norm.weight"):
		for i := range v {
			v[i] = 1
		}
	case strings.HasSuffix(name, "bias") || strings.Contains(name, "bias_"):
	default:
		for i := range v {
			v[i] = float32(p.rng.NormFloat64() * std)
		}
	}
	return weights.FromFloat32(name, shape, v)
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// exportDict returns the model's weights as tensors, matrices converted to
// dtype (int8 with one scale per block of `block` elements, 0 = per row),
// or kept as they are stored for KeepDType. Vectors, embeddings other than
// the token table, and norms stay f32.
func exportDict(list []param, dtype quant.DType, block int) (*weights.StateDict, error) {
	sd := &weights.StateDict{}
	for _, p := range list {
		if p.vec != nil {
			sd.Add(weights.FromFloat32(p.name, p.shape, *p.vec))
			continue
		}
		m := *p.mat
		q := m
		if dtype != KeepDType {
			var err error
			if q, err = quant.Quantize(m.Rows, m.Cols, m.Float32(), matrixDType(p.name, dtype), block); err != nil {
				return nil, err
			}
		}
		for _, t := range matrixTensors(p.name, p.shape, q) {
			sd.Add(t)
		}
	}
	return sd, nil
}

// matrixDType is the dtype a matrix called name is stored in when a model
// is converted to dtype: dtype itself, except that int8 models keep the
// patch embedding (visual.conv1 and, 3D, visual.conv2) in f16. Its input is
// raw pixels, 3*patch*patch of them per row, and every int8 kernel but
// Go's rounds a row of its input to 8 bits or fewer (amd64 int8, relaxed
// SIMD 7): on the default model quantized to int8 that rounding was most
// of the image features' error: worst cosine to f32 over 144 demo frames
// 0.99955 (AVX2) and 0.99803 (relaxed SIMD in Chromium) with an int8
// conv1, 0.99994 and 0.99985 with it in f16 (TestInt8PathsAgree measures
// every path). It is 2.7% of ViT-B/32's
// weights, so the f16 copy costs the file 2.4 MB.
func matrixDType(name string, dtype quant.DType) quant.DType {
	if dtype == quant.Int8 && (name == "visual.conv1.weight" || name == "visual.conv2.weight") {
		return quant.F16
	}
	return dtype
}

// matrixTensors returns q as the tensors a model file stores for the
// matrix called name: the weights (their bytes aliasing q's on a
// little-endian machine, as every machine this runs on is) and, for int8,
// "<name>.scales".
func matrixTensors(name string, shape []int, q *quant.Matrix) []*weights.Tensor {
	switch q.DType {
	case quant.F16:
		var b []byte
		if littleEndian && len(q.F16) > 0 {
			b = unsafe.Slice((*byte)(unsafe.Pointer(&q.F16[0])), 2*len(q.F16))
		} else {
			b = make([]byte, 2*len(q.F16))
			for i, h := range q.F16 {
				b[2*i], b[2*i+1] = byte(h), byte(h>>8)
			}
		}
		return []*weights.Tensor{{Name: name, DType: weights.F16, Shape: shape, Data: b}}
	case quant.Int8:
		b := []byte{}
		if len(q.I8) > 0 {
			b = unsafe.Slice((*byte)(unsafe.Pointer(&q.I8[0])), len(q.I8))
		}
		nb := (q.Cols + q.Block - 1) / q.Block
		return []*weights.Tensor{
			{Name: name, DType: weights.I8, Shape: shape, Data: b, Block: q.Block},
			weights.FromFloat32(name+".scales", []int{q.Rows, nb}, q.Scales),
		}
	}
	return []*weights.Tensor{weights.FromFloat32(name, shape, q.F32)}
}

// littleEndian reports whether the host stores integers little-endian, as
// the model file does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
