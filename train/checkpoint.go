package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"clip4clip/internal/atomicfile"
)

// A checkpoint is two files: the model, a model file with f32 weights
// (model.CLIP.SaveFile) at PATH, and the rest of the run's state at
// PATH.opt:
//
//	magic   "C4CTRAIN" (8 bytes)
//	version uint32 little-endian (stateVersion)
//	n       uint32 little-endian, then n bytes of JSON (State)
//	m, v    AdamW's moments, float32 little-endian, in the order and sizes
//	        State.Tensors lists (the model's parameter order)
const (
	stateMagic   = "C4CTRAIN"
	stateVersion = 1
)

// State is what a checkpoint holds besides the weights: enough to continue
// the run exactly.
type State struct {
	Step    int            `json:"step"`    // updates done
	Options Options        `json:"options"` // the run's settings
	Adam    AdamSettings   `json:"adam"`
	Tensors []TensorSize   `json:"tensors"` // the moments' layout
	Loss    float64        `json:"loss"`    // the last step's loss
	Extra   map[string]any `json:"extra,omitempty"`
}

// AdamSettings are AdamW's hyper-parameters and step count.
type AdamSettings struct {
	Beta1, Beta2, Eps, WeightDecay float64
	Steps                          int
}

// TensorSize names one tensor of the moments' layout.
type TensorSize struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// StateError reports an optimiser state file that cannot be used.
type StateError struct {
	Path, Msg string
}

// Error names the file and what is wrong with it.
func (e *StateError) Error() string { return e.Path + ": " + e.Msg }

// WriteState writes st and the optimiser's moments to path (through
// atomicfile.WriteFile, so a crash leaves the previous state whole).
func WriteState(path string, st *State, opt *AdamW, p *Params) error {
	st.Adam = AdamSettings{opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay, opt.Steps}
	st.Tensors = st.Tensors[:0]
	for _, t := range p.Tensors {
		st.Tensors = append(st.Tensors, TensorSize{t.Name, t.Size})
	}
	js, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		w.WriteString(stateMagic)
		binary.Write(w, binary.LittleEndian, uint32(stateVersion))
		binary.Write(w, binary.LittleEndian, uint32(len(js)))
		w.Write(js)
		writeF32(w, opt.M)
		writeF32(w, opt.V)
		return w.Flush()
	})
}

func writeF32(w io.Writer, x []float32) {
	var buf [4096]byte
	for len(x) > 0 {
		n := min(len(x), len(buf)/4)
		for i, v := range x[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		w.Write(buf[:4*n])
		x = x[n:]
	}
}

// ReadState reads a state file written by WriteState for a model with
// parameters p, returning the state and the optimiser.
func ReadState(path string, p *Params) (*State, *AdamW, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	bad := func(format string, args ...any) error {
		return &StateError{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 16 || string(data[:8]) != stateMagic {
		return nil, nil, bad("not a clip4clip training state (no %q magic); give the .opt file that `clip4clip train` wrote beside the checkpoint", stateMagic)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != stateVersion {
		return nil, nil, bad("training state version %d; this build reads version %d (resume with the clip4clip that wrote it)", v, stateVersion)
	}
	n := int(binary.LittleEndian.Uint32(data[12:]))
	if 16+n > len(data) {
		return nil, nil, bad("truncated header (%d bytes of %d)", len(data)-16, n)
	}
	var st State
	if err := json.Unmarshal(data[16:16+n], &st); err != nil {
		return nil, nil, bad("header: %v", err)
	}
	if len(st.Tensors) != len(p.Tensors) {
		return nil, nil, bad("%d tensors, the model has %d: the state belongs to another model", len(st.Tensors), len(p.Tensors))
	}
	for i, t := range p.Tensors {
		if st.Tensors[i].Name != t.Name || st.Tensors[i].Size != t.Size {
			return nil, nil, bad("tensor %d is %s (%d values), the model's is %s (%d values): the state belongs to another model",
				i, st.Tensors[i].Name, st.Tensors[i].Size, t.Name, t.Size)
		}
	}
	body := data[16+n:]
	if len(body) != 8*len(p.Data) {
		return nil, nil, bad("%d bytes of moments, want %d (truncated?)", len(body), 8*len(p.Data))
	}
	opt := &AdamW{Beta1: st.Adam.Beta1, Beta2: st.Adam.Beta2, Eps: st.Adam.Eps, WeightDecay: st.Adam.WeightDecay, Steps: st.Adam.Steps,
		M: make([]float32, len(p.Data)), V: make([]float32, len(p.Data))}
	for i := range opt.M {
		opt.M[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	body = body[4*len(p.Data):]
	for i := range opt.V {
		opt.V[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return &st, opt, nil
}
