package weights

// TorchScript archives (torch.jit.save) pickle the module itself into
// data.pkl: every module is an instance of a class named __torch__.<...>,
// made with NEWOBJ and given a dict of attributes by BUILD (parameters,
// buffers, submodules, and plain values such as `training`). The classes
// are never resolved: each one is an inert ptScriptClass whose instances
// only record their state, and the reader walks the resulting tree of
// ptScriptObjects to name the tensors the way Module.state_dict() does.

import (
	"fmt"
	"strings"
)

type (
	// ptScriptClass is a TorchScript class named by a GLOBAL whose module
	// is __torch__ or under it. Calling it (NEWOBJ, or REDUCE as enums
	// use) makes an inert ptScriptObject and runs nothing.
	ptScriptClass struct{ module, name string }
	// ptScriptObject is an instance of a ptScriptClass: the arguments it
	// was made with and the state BUILD gave it (a dict of attributes for
	// modules, anything __getstate__ returned for classes that have one).
	ptScriptObject struct {
		class *ptScriptClass
		args  []any
		state any
	}
	// ptDevice is a torch.device, which TorchScript pickles for
	// attributes of type Device.
	ptDevice struct{ name string }
)

func (c *ptScriptClass) qualified() string { return c.module + "." + c.name }
func (c *ptScriptClass) pkName() string    { return c.qualified() }
func (o *ptScriptObject) pkName() string   { return o.class.qualified() + " object" }
func (d *ptDevice) pkName() string         { return "torch.device" }

func (c *ptScriptClass) pkNew(args []any) (any, error) {
	return &ptScriptObject{class: c, args: args}, nil
}

func (c *ptScriptClass) pkCall(args []any) (any, error) { return c.pkNew(args) }

// pkSetState records the state; a later BUILD replaces an earlier one.
func (o *ptScriptObject) pkSetState(state any) error {
	o.state = state
	return nil
}

// ptIsScriptModule reports whether a GLOBAL's module names a TorchScript
// class (__torch__.Net, __torch__.torch.nn.modules.linear.Linear,
// __torch__.torch.nn.modules.linear.___torch_mangle_3.Linear, ...).
func ptIsScriptModule(module string) bool {
	return module == "__torch__" || strings.HasPrefix(module, "__torch__.")
}

// ptIdentity makes an allow-listed function of torch.jit._pickle that
// returns its first argument: TorchScript wraps typed lists and dicts in
// build_intlist(list), restore_type_tag(value, "Dict[str, int]") and
// similar calls, which only tag the container's type.
func ptIdentity(name string, nargs int) *pkFunc {
	return &pkFunc{name: "torch.jit._pickle." + name, call: func(args []any) (any, error) {
		if len(args) != nargs {
			return nil, fmt.Errorf("%d arguments, want %d", len(args), nargs)
		}
		return args[0], nil
	}}
}

var (
	ptBuildIntList    = ptIdentity("build_intlist", 1)
	ptBuildTensorList = ptIdentity("build_tensorlist", 1)
	ptBuildDoubleList = ptIdentity("build_doublelist", 1)
	ptBuildBoolList   = ptIdentity("build_boollist", 1)
	ptRestoreTypeTag  = ptIdentity("restore_type_tag", 2)
	ptTorchDevice     = &pkFunc{name: "torch.device", call: func(args []any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("%d arguments, want 1", len(args))
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("device is a %s, want a str", pkTypeName(args[0]))
		}
		return &ptDevice{name: s}, nil
	}}
)

// ptScriptWalk names the tensors of a TorchScript module tree.
type ptScriptWalk struct {
	d  *ptDecoder
	sd *StateDict
	// onPath holds the objects being walked, to stop at cycles.
	onPath map[*ptScriptObject]bool
	// steps and nameBytes bound the work and the memory a hostile tree
	// of shared objects (a DAG that unfolds exponentially) could cost.
	steps, nameBytes int64
	pklSize          int
}

// ptMaxScriptDepth bounds how deeply modules may nest.
const ptMaxScriptDepth = 200

// decodeScript returns the tensors of a TorchScript module: each tensor
// attribute under its dotted path from the root (visual.conv1.weight,
// transformer.resblocks.0.attn.in_proj_weight, ...), in the order the
// pickle lists the attributes, which is the order of state_dict().
func (d *ptDecoder) decodeScript(root *ptScriptObject, pklSize int) (*StateDict, error) {
	w := &ptScriptWalk{d: d, sd: &StateDict{Tensors: map[string]*Tensor{}}, onPath: map[*ptScriptObject]bool{},
		steps: 4*int64(pklSize) + 1<<16, nameBytes: 8*int64(pklSize) + 1<<20, pklSize: pklSize}
	if err := w.walk(root, "", 0); err != nil {
		return nil, err
	}
	return w.sd, nil
}

func (w *ptScriptWalk) walk(o *ptScriptObject, prefix string, depth int) error {
	if w.onPath[o] {
		return fmt.Errorf("TorchScript module %q (%s) contains itself", strings.TrimSuffix(prefix, "."), o.class.qualified())
	}
	if depth > ptMaxScriptDepth {
		return fmt.Errorf("TorchScript modules nest more than %d deep at %q", ptMaxScriptDepth, strings.TrimSuffix(prefix, "."))
	}
	// A class with __getstate__ pickles whatever that returns; only a dict
	// names its attributes, so other states hold nothing state_dict shows.
	state, ok := o.state.(*pkDict)
	if !ok {
		return nil
	}
	w.onPath[o] = true
	defer delete(w.onPath, o)
	for i, k := range state.keys {
		w.steps--
		if w.steps < 0 {
			return fmt.Errorf("TorchScript module tree unfolds into more attributes than a %d-byte pickle can describe (submodules shared many times?)", w.pklSize)
		}
		key, ok := k.(string)
		if !ok {
			continue
		}
		switch v := state.vals[i].(type) {
		case *ptTensor:
			name := prefix + key
			if w.nameBytes -= int64(len(name)); w.nameBytes < 0 {
				return fmt.Errorf("TorchScript tensor names add up to more than a %d-byte pickle can justify", w.pklSize)
			}
			t, err := w.d.tensor(v, name)
			if err != nil {
				return &ptTensorError{name: name, err: err}
			}
			w.sd.Add(t)
		case *ptScriptObject:
			sub := prefix + key + "."
			if w.nameBytes -= int64(len(sub)); w.nameBytes < 0 {
				return fmt.Errorf("TorchScript module names add up to more than a %d-byte pickle can justify", w.pklSize)
			}
			if err := w.walk(v, sub, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
