package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Errors that ReadTorch, ReadTorchFile, ReadSafetensors and
// ReadSafetensorsFile wrap; test for them with errors.Is. Every error also
// carries a message that names the file, entry or tensor concerned.
var (
	// ErrUnsafePickle is wrapped when the pickle in a PyTorch file asks
	// for a Python global that a state dict never needs (os.system,
	// builtins.eval, a model class, ...). Such a file is refused, never
	// executed.
	ErrUnsafePickle = errors.New("unsafe pickle")
	// ErrUnsupportedDType is wrapped when a tensor's element type is none
	// of F32, F16, BF16, F64, I64, I32, I8 and U8 (bool, complex,
	// quantized, float8, ...).
	ErrUnsupportedDType = errors.New("unsupported dtype")
	// ErrMalformed is wrapped when a file is truncated, corrupt, or not
	// laid out as its format requires (missing entries, offsets or sizes
	// out of range, ...).
	ErrMalformed = errors.New("malformed weights file")
)

// wtReadError is an error with a full message that wraps one of the
// sentinel errors above and the underlying cause.
type wtReadError struct {
	msg  string
	errs []error
}

func (e *wtReadError) Error() string   { return e.msg }
func (e *wtReadError) Unwrap() []error { return e.errs }

// wtWrap turns err into a *wtReadError with message "weights: <prefix><err>",
// adding ErrMalformed unless err already is unsafe or an unsupported dtype.
func wtWrap(prefix string, err error) error {
	errs := []error{err}
	if !errors.Is(err, ErrUnsafePickle) && !errors.Is(err, ErrUnsupportedDType) && !errors.Is(err, ErrMalformed) {
		errs = append(errs, ErrMalformed)
	}
	return &wtReadError{msg: "weights: " + prefix + err.Error(), errs: errs}
}

// Is makes a refused global match ErrUnsafePickle.
func (e *pkForbiddenError) Is(target error) bool { return target == ErrUnsafePickle }

// ReadTorchFile reads the PyTorch state dict that torch.save wrote to path;
// see ReadTorch.
func ReadTorchFile(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	return readTorch(f, fi.Size(), path)
}

// ReadTorch reads a PyTorch state dict as torch.save (torch >= 1.6) writes
// it: a zip archive holding <stem>/data.pkl, a pickle of a dict (usually a
// collections.OrderedDict) from names to tensors, and one entry
// <stem>/data/<key> per storage holding its raw little-endian bytes. Files
// with a "byteorder" entry of "big" are byte-swapped on load. Entries may
// be stored or deflated.
//
// The pickle is decoded by a small virtual machine that never runs code: it
// only knows collections.OrderedDict, torch's tensor and parameter rebuild
// functions (torch._utils._rebuild_tensor_v2, _rebuild_tensor,
// _rebuild_parameter, _rebuild_parameter_with_state,
// torch._tensor._rebuild_from_type_v2) and the torch.*Storage types. A file
// that asks for any other global (os.system, a model class, numpy arrays,
// torch.storage._load_from_bytes, ...) is refused with an error wrapping
// ErrUnsafePickle. Legacy (non-zip) torch.save files are not supported:
// load them in Python and torch.save their state_dict().
//
// TorchScript archives (torch.jit.save, as OpenAI's released CLIP
// checkpoints are) are read too, without running their code: data.pkl then
// holds the module itself, every module an instance of a __torch__.* class
// with a dict of attributes. Those classes are never resolved; the reader
// only allows, besides the names above, the type tags of
// torch.jit._pickle (build_intlist, restore_type_tag, ...) and
// torch.device. It walks the attributes from the root module and returns
// every tensor attribute under its dotted path (visual.conv1.weight,
// transformer.resblocks.0.attn.in_proj_weight, ...) in the pickle's order,
// which gives the names, order and shapes of the module's state_dict();
// submodules of nn.ModuleList and nn.Sequential are attributes named 0, 1,
// .... The code/ and constants.pkl entries (the program and the tensor
// constants it uses) are ignored, so a tensor attribute that is neither a
// parameter nor a buffer (which only scripted modules with an attribute
// annotated as a Tensor have; state_dict() leaves it out) is returned as
// well: telling it apart would take reading the code.
//
// For a torch.save file, the result lists the tensors of the top-level
// dict in the pickle's key order; values that are not tensors (ints,
// strings, nested dicts) are skipped. If the top-level dict holds no tensor
// at all, as training checkpoints such as {"epoch": 3, "state_dict": {...}}
// do, the tensors of the dict under "state_dict", or else under "model",
// are returned instead.
//
// Tensors keep their stored dtype (an F16 tensor stays F16). A tensor
// stored with non-contiguous strides is gathered into a new contiguous
// buffer; contiguous ones share their storage's bytes, so tensors that are
// views of one storage in the file share Data: copy before modifying one.
// Every size, stride and offset is checked against its storage; a file that
// is truncated, corrupt or inconsistent gives an error wrapping
// ErrMalformed (or ErrUnsupportedDType for bool, complex or quantized
// storages) that names the entry or tensor.
func ReadTorch(r io.ReaderAt, size int64) (*StateDict, error) {
	return readTorch(r, size, "torch file")
}

// ptZip is an open torch.save archive.
type ptZip struct {
	file    string // name for messages
	size    int64
	entries map[string]*zip.File
	prefix  string // "<stem>/"
	swap    bool   // byteorder "big"
	inflate int64  // decompressed bytes still allowed (bounds zip bombs)
	cache   map[string][]byte
	nocache bool // read storages afresh each time (OpenTorch: one tensor in memory at a time)
}

func readTorch(r io.ReaderAt, size int64, file string) (*StateDict, error) {
	sd, _, _, err := openTorch(r, size, file, false)
	return sd, err
}

// openTorch reads a torch.save or torch.jit.save archive's pickle and
// returns its tensors; lazy leaves their Data unread, to be read by the
// decoder's loaders.
func openTorch(r io.ReaderAt, size int64, file string, lazy bool) (*StateDict, *ptDecoder, *ptZip, error) {
	if size < 0 {
		return nil, nil, nil, wtWrap(file+": ", fmt.Errorf("negative size %d", size))
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		var head [2]byte
		if n, _ := r.ReadAt(head[:], 0); n == 2 && head[0] == 0x80 && head[1] <= 5 {
			return nil, nil, nil, wtWrap(file+": ", errors.New("not a zip archive but a bare pickle: torch.save's legacy format (torch < 1.6, or _use_new_zipfile_serialization=False), which this reader does not support; re-save the state dict with a newer torch"))
		}
		return nil, nil, nil, wtWrap(file+": ", fmt.Errorf("not a readable zip archive (truncated or corrupt? torch.save writes zip files since torch 1.6): %w", err))
	}
	z := &ptZip{file: file, size: size, entries: map[string]*zip.File{}, cache: map[string][]byte{},
		inflate: 32*size + 1<<20, nocache: lazy}
	pkl := ""
	for _, f := range zr.File {
		z.entries[f.Name] = f
		if f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl") {
			if pkl == "" || strings.Count(f.Name, "/") < strings.Count(pkl, "/") {
				pkl = f.Name
			}
		}
	}
	if pkl == "" {
		names := make([]string, 0, 4)
		for _, f := range zr.File {
			if len(names) == 4 {
				names = append(names, "...")
				break
			}
			names = append(names, f.Name)
		}
		for _, f := range zr.File {
			if f.Name == "model.json" || strings.HasSuffix(f.Name, "/model.json") {
				return nil, nil, nil, wtWrap(file+": ", fmt.Errorf("no data.pkl entry in the zip but a %s: an old TorchScript archive (the model.json format of early torch 1.x), which this reader does not support; load it with torch.jit.load and torch.save its state_dict()", f.Name))
			}
		}
		return nil, nil, nil, wtWrap(file+": ", fmt.Errorf("no data.pkl entry in the zip (entries: %s); is it a torch.save file?", strings.Join(names, ", ")))
	}
	z.prefix = strings.TrimSuffix(pkl, "data.pkl")
	if f, ok := z.entries[z.prefix+"byteorder"]; ok {
		b, err := z.read(f, 64)
		if err != nil {
			return nil, nil, nil, wtWrap(file+": ", err)
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			z.swap = true
		default:
			return nil, nil, nil, wtWrap(file+": ", fmt.Errorf("entry %s says %q, want \"little\" or \"big\"", f.Name, b))
		}
	}
	if f := z.entries[pkl]; f.UncompressedSize64 > ptMaxPickle {
		return nil, nil, nil, wtWrap(file+": ", fmt.Errorf("entry %s is %d bytes, more than the %d a state dict's pickle needs (a few hundred kB even for ViT-L); refusing a corrupt or hostile file", pkl, f.UncompressedSize64, ptMaxPickle))
	}
	data, err := z.read(z.entries[pkl], ptMaxPickle)
	if err != nil {
		return nil, nil, nil, wtWrap(file+": ", err)
	}
	d := &ptDecoder{load: z.storage, budget: 2*size + 1<<20, lazy: lazy,
		loaders: map[*Tensor]func() ([]byte, error){}, storageOf: map[*Tensor]string{}}
	sd, err := d.decode(data)
	if err != nil {
		var fe *pkForbiddenError
		if errors.As(err, &fe) {
			return nil, nil, nil, wtWrap("pickle in "+file+" ", err)
		}
		var te *ptTensorError
		if errors.As(err, &te) {
			return nil, nil, nil, wtWrap(file+": ", err)
		}
		return nil, nil, nil, wtWrap("pickle in "+file+" ("+pkl+"): ", err)
	}
	return sd, d, z, nil
}

// ptMaxPickle bounds data.pkl, stored or deflated, whatever the zip's
// inflate budget. A pickle takes about 150 bytes per tensor (the
// TorchScript fixture's 9327 bytes hold 62, its module tree included), so
// OpenAI's ViT-L/14 (about 450 tensors) needs some 70 kB and a training
// checkpoint with two optimizer moments per tensor three times that:
// 2 MiB leaves a margin of ten and more, and caps what a hostile pickle
// may charge the VM at 65 MiB (pkBytesPerByte), however small the file.
const ptMaxPickle = 2 << 20

// read returns the bytes of a zip entry, at most max bytes if max >= 0.
func (z *ptZip) read(f *zip.File, max int64) ([]byte, error) {
	limit := int64(f.UncompressedSize64)
	if f.UncompressedSize64 > math.MaxInt64 {
		limit = math.MaxInt64
	}
	if max >= 0 && limit > max {
		return nil, fmt.Errorf("entry %s is %d bytes, more than the %d expected", f.Name, f.UncompressedSize64, max)
	}
	if f.Method != zip.Store {
		if limit > z.inflate {
			return nil, fmt.Errorf("entry %s would decompress to %d bytes, far more than a %d-byte file can hold; refusing it", f.Name, f.UncompressedSize64, z.size)
		}
		z.inflate -= limit
	} else if limit > z.size {
		return nil, fmt.Errorf("entry %s claims %d bytes in a %d-byte file (truncated or corrupt)", f.Name, limit, z.size)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(min(limit, z.size, 1<<26)))
	n, err := buf.ReadFrom(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w (truncated or corrupt file)", f.Name, err)
	}
	if n != limit {
		return nil, fmt.Errorf("entry %s holds %d bytes, its header says %d (corrupt file)", f.Name, n, limit)
	}
	return buf.Bytes(), nil
}

// storage returns the bytes of storage key, byte-swapped to little-endian
// for elements of es bytes if the file is big-endian.
func (z *ptZip) storage(key string, es int) ([]byte, error) {
	name := z.prefix + "data/" + key
	if b, ok := z.cache[name]; ok {
		return b, nil
	}
	f, ok := z.entries[name]
	if !ok {
		return nil, fmt.Errorf("storage entry %s is missing from the zip", name)
	}
	b, err := z.read(f, -1)
	if err != nil {
		return nil, err
	}
	if z.swap && es > 1 {
		for i := 0; i+es <= len(b); i += es {
			for j, k := i, i+es-1; j < k; j, k = j+1, k-1 {
				b[j], b[k] = b[k], b[j]
			}
		}
	}
	if !z.nocache {
		z.cache[name] = b
	}
	return b, nil
}

// Allow-listed torch values.
type (
	// ptStorageType is a torch.*Storage class; dtype 0 if not supported.
	ptStorageType struct {
		name  string
		dtype DType
	}
	// ptTypeRef is torch.Tensor or torch.nn.parameter.Parameter, only
	// usable as the new_type argument of _rebuild_from_type_v2.
	ptTypeRef struct{ name string }
	// ptStorage is a storage a persistent id names.
	ptStorage struct {
		key   string
		typ   ptStorageType
		numel int64
	}
	// ptTensor is a tensor as _rebuild_tensor_v2 describes it. Problems
	// are recorded in err and reported, with the tensor's name, only if
	// the tensor is part of the result.
	ptTensor struct {
		storage      *ptStorage
		offset       int64
		size, stride []int64
		err          error
	}
)

func (t ptStorageType) pkName() string { return "torch." + t.name }
func (t *ptTypeRef) pkName() string    { return t.name }
func (s *ptStorage) pkName() string    { return "torch storage" }
func (t *ptTensor) pkName() string     { return "torch.Tensor" }

// pkSetState ignores the state of a tensor (Python attributes set on it).
func (t *ptTensor) pkSetState(any) error { return nil }

var ptStorageDTypes = map[string]DType{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16, "DoubleStorage": F64,
	"LongStorage": I64, "IntStorage": I32, "CharStorage": I8, "ByteStorage": U8,
}

var (
	ptRebuildTensorV2 = &pkFunc{name: "torch._utils._rebuild_tensor_v2", call: func(args []any) (any, error) {
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("%d arguments, want 6 or 7", len(args))
		}
		return ptNewTensor(args), nil
	}}
	ptRebuildTensor = &pkFunc{name: "torch._utils._rebuild_tensor", call: func(args []any) (any, error) {
		if len(args) != 4 {
			return nil, fmt.Errorf("%d arguments, want 4", len(args))
		}
		return ptNewTensor(args), nil
	}}
	ptRebuildParameter = &pkFunc{name: "torch._utils._rebuild_parameter", call: func(args []any) (any, error) {
		if len(args) != 3 {
			return nil, fmt.Errorf("%d arguments, want 3", len(args))
		}
		return ptParameterData(args[0])
	}}
	ptRebuildParameterWithState = &pkFunc{name: "torch._utils._rebuild_parameter_with_state", call: func(args []any) (any, error) {
		if len(args) != 4 {
			return nil, fmt.Errorf("%d arguments, want 4", len(args))
		}
		return ptParameterData(args[0])
	}}
	ptRebuildFromTypeV2 = &pkFunc{name: "torch._tensor._rebuild_from_type_v2", call: func(args []any) (any, error) {
		if len(args) != 4 {
			return nil, fmt.Errorf("%d arguments, want 4", len(args))
		}
		fn, ok := args[0].(*pkFunc)
		if !ok || fn.name == "torch._tensor._rebuild_from_type_v2" {
			return nil, fmt.Errorf("rebuild function is a %s", pkTypeName(args[0]))
		}
		if _, ok := args[1].(*ptTypeRef); !ok {
			return nil, fmt.Errorf("new type is a %s, want torch.Tensor or torch.nn.parameter.Parameter", pkTypeName(args[1]))
		}
		inner, ok := args[2].(*pkTuple)
		if !ok {
			return nil, fmt.Errorf("arguments are a %s, want a tuple", pkTypeName(args[2]))
		}
		v, err := fn.pkCall(inner.items)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.name, err)
		}
		return ptParameterData(v)
	}}
)

func ptParameterData(v any) (any, error) {
	t, ok := v.(*ptTensor)
	if !ok {
		return nil, fmt.Errorf("data is a %s, not a tensor", pkTypeName(v))
	}
	return t, nil
}

func ptInts(v any, what string) ([]int64, error) {
	var items []any
	switch v := v.(type) {
	case *pkTuple:
		items = v.items
	case *pkList:
		items = v.items
	default:
		return nil, fmt.Errorf("%s is a %s, want a tuple of ints", what, pkTypeName(v))
	}
	if len(items) > 64 {
		return nil, fmt.Errorf("%s has %d dimensions, more than torch allows", what, len(items))
	}
	out := make([]int64, len(items))
	for i, x := range items {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is a %s, want an int", what, i, pkTypeName(x))
		}
		if n < 0 {
			return nil, fmt.Errorf("%s[%d] is negative (%d)", what, i, n)
		}
		out[i] = n
	}
	return out, nil
}

// ptNewTensor checks the arguments (storage, storage_offset, size, stride,
// ...) of a rebuild call; it never fails but records problems in err.
func ptNewTensor(args []any) *ptTensor {
	t := &ptTensor{}
	var ok bool
	if t.storage, ok = args[0].(*ptStorage); !ok {
		t.err = fmt.Errorf("its storage is a %s, not a persistent storage", pkTypeName(args[0]))
		return t
	}
	if t.offset, ok = args[1].(int64); !ok || t.offset < 0 {
		t.err = fmt.Errorf("storage offset is a %s, want an int >= 0", pkTypeName(args[1]))
		return t
	}
	var err error
	if t.size, err = ptInts(args[2], "size"); err != nil {
		t.err = err
		return t
	}
	if t.stride, err = ptInts(args[3], "stride"); err != nil {
		t.err = err
		return t
	}
	if len(t.size) != len(t.stride) {
		t.err = fmt.Errorf("size (%d dimensions) and stride (%d) differ in length", len(t.size), len(t.stride))
	}
	return t
}

func ptFindClass(module, name string) (any, error) {
	switch module + "." + name {
	case "collections.OrderedDict":
		return pkOrderedDict, nil
	case "torch._utils._rebuild_tensor_v2":
		return ptRebuildTensorV2, nil
	case "torch._utils._rebuild_tensor":
		return ptRebuildTensor, nil
	case "torch._utils._rebuild_parameter":
		return ptRebuildParameter, nil
	case "torch._utils._rebuild_parameter_with_state":
		return ptRebuildParameterWithState, nil
	case "torch._tensor._rebuild_from_type_v2":
		return ptRebuildFromTypeV2, nil
	case "torch.Tensor", "torch.nn.parameter.Parameter":
		return &ptTypeRef{name: module + "." + name}, nil
	case "torch.storage._load_from_bytes":
		return nil, &pkForbiddenError{module: module, name: name, why: "it unpickles nested data, as torch.save's legacy format does"}
	case "torch._utils._rebuild_qtensor":
		return nil, &pkForbiddenError{module: module, name: name, why: "quantized tensors are not supported; dequantize the model in Python first"}
	case "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_sparse_csr_tensor":
		return nil, &pkForbiddenError{module: module, name: name, why: "sparse tensors are not supported; make them dense in Python first"}
	case "torch.jit._pickle.build_intlist":
		return ptBuildIntList, nil
	case "torch.jit._pickle.build_tensorlist":
		return ptBuildTensorList, nil
	case "torch.jit._pickle.build_doublelist":
		return ptBuildDoubleList, nil
	case "torch.jit._pickle.build_boollist":
		return ptBuildBoolList, nil
	case "torch.jit._pickle.restore_type_tag":
		return ptRestoreTypeTag, nil
	case "torch.device":
		return ptTorchDevice, nil
	}
	if module == "torch" && strings.HasSuffix(name, "Storage") && len(name) < 40 {
		return ptStorageType{name: name, dtype: ptStorageDTypes[name]}, nil
	}
	if ptIsScriptModule(module) {
		// A TorchScript class: kept inert, never resolved or run.
		return &ptScriptClass{module: module, name: name}, nil
	}
	return nil, &pkForbiddenError{module: module, name: name}
}

// ptMaxStorageKey bounds a storage's key, which torch writes as a decimal
// number, and so the entry name built from it.
const ptMaxStorageKey = 256

// ptTensorError is an error about one tensor of the result.
type ptTensorError struct {
	name string
	err  error
}

func (e *ptTensorError) Error() string { return fmt.Sprintf("tensor %q: %v", e.name, e.err) }
func (e *ptTensorError) Unwrap() error { return e.err }

// ptDecoder turns data.pkl into a StateDict.
type ptDecoder struct {
	// load returns the raw bytes of a storage (little-endian elements of
	// es bytes).
	load func(key string, es int) ([]byte, error)
	// budget is how many bytes copies of non-contiguous tensors may still
	// take.
	budget int64
	// left is what the pickle's budget (pkVM.left) leaves for the tensors'
	// headers: many names may give one tensor of 64 dimensions.
	left     int64
	storages map[ptStorage]*ptStorage
	// lazy makes tensor return tensors without Data, their bytes read
	// later by the function in loaders (OpenTorch).
	lazy      bool
	loaders   map[*Tensor]func() ([]byte, error)
	storageOf map[*Tensor]string // the storage key of each lazy tensor
}

func (d *ptDecoder) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*pkTuple)
	if !ok || len(t.items) != 5 {
		n := -1
		if ok {
			n = len(t.items)
		}
		return nil, fmt.Errorf("persistent id is a %s of %d items, want ('storage', type, key, location, numel)", pkTypeName(pid), n)
	}
	if s, _ := t.items[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %s, want 'storage'", pkTypeName(t.items[0]))
	}
	typ, ok := t.items[1].(ptStorageType)
	if !ok {
		return nil, fmt.Errorf("persistent id's storage type is a %s, not a torch storage class", pkTypeName(t.items[1]))
	}
	key, ok := t.items[2].(string)
	if !ok {
		return nil, fmt.Errorf("persistent id's key is a %s, want a str", pkTypeName(t.items[2]))
	}
	if len(key) > ptMaxStorageKey {
		return nil, fmt.Errorf("persistent id's storage key is %d bytes, more than %d (torch numbers its storages)", len(key), ptMaxStorageKey)
	}
	if _, ok := t.items[3].(string); !ok {
		return nil, fmt.Errorf("persistent id's location is a %s, want a str", pkTypeName(t.items[3]))
	}
	numel, ok := t.items[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("persistent id's numel is a %s, want an int >= 0", pkTypeName(t.items[4]))
	}
	s := ptStorage{key: key, typ: typ, numel: numel}
	if p, ok := d.storages[s]; ok {
		return p, nil
	}
	p := &s
	d.storages[s] = p
	return p, nil
}

func (d *ptDecoder) decode(pkl []byte) (*StateDict, error) {
	d.storages = map[ptStorage]*ptStorage{}
	vm := &pkVM{data: pkl, findClass: ptFindClass, persistentLoad: d.persistentLoad}
	root, err := vm.unpickle()
	if err != nil {
		return nil, err
	}
	d.left = vm.left
	if obj, ok := root.(*ptScriptObject); ok {
		return d.decodeScript(obj, len(pkl))
	}
	dict, ok := root.(*pkDict)
	if !ok {
		return nil, fmt.Errorf("holds a %s, not a dict of tensors", pkTypeName(root))
	}
	if ptCountTensors(dict) == 0 && len(dict.keys) > 0 {
		found := false
		for _, k := range []string{"state_dict", "model"} {
			if v, ok := dict.get(k); ok {
				if nd, ok := v.(*pkDict); ok && ptCountTensors(nd) > 0 {
					dict, found = nd, true
					break
				}
			}
		}
		if !found {
			keys := []string{}
			for _, k := range dict.keys {
				if s, ok := k.(string); ok && len(keys) < 8 {
					keys = append(keys, pkShort(s))
				}
			}
			sort.Strings(keys)
			return nil, fmt.Errorf("holds a dict with no tensors, neither at the top (keys %s) nor in a dict under \"state_dict\" or \"model\"", strings.Join(keys, ", "))
		}
	}
	sd := &StateDict{Tensors: map[string]*Tensor{}}
	for i, k := range dict.keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		pt, ok := dict.vals[i].(*ptTensor)
		if !ok {
			continue
		}
		t, err := d.tensor(pt, name)
		if err != nil {
			return nil, &ptTensorError{name: name, err: err}
		}
		sd.Add(t)
	}
	return sd, nil
}

func ptCountTensors(d *pkDict) int {
	n := 0
	for i, k := range d.keys {
		if _, ok := k.(string); ok {
			if _, ok := d.vals[i].(*ptTensor); ok {
				n++
			}
		}
	}
	return n
}

// tensor materialises pt as a contiguous Tensor.
func (d *ptDecoder) tensor(pt *ptTensor, name string) (*Tensor, error) {
	if pt.err != nil {
		return nil, pt.err
	}
	// The Tensor, its shape, a lazy loader and the StateDict's entries.
	if cost := 512 + 8*int64(len(pt.size)); cost <= d.left {
		d.left -= cost
	} else {
		return nil, fmt.Errorf("more tensors than the pickle can justify (one tensor under many names?); refusing a corrupt or hostile file")
	}
	s := pt.storage
	dt := s.typ.dtype
	if dt == 0 {
		return nil, fmt.Errorf("storage type torch.%s: %w (want Float, Half, BFloat16, Double, Long, Int, Char or Byte storage); convert the tensor in Python first", s.typ.name, ErrUnsupportedDType)
	}
	es := int64(dt.Size())
	if s.numel > math.MaxInt64/es {
		return nil, fmt.Errorf("storage %s claims %d elements, more than any file holds (corrupt file)", s.key, s.numel)
	}
	shape := make([]int, len(pt.size))
	numel := int64(1)
	last := pt.offset // largest element index the tensor touches
	for i, n := range pt.size {
		shape[i] = int(n)
		if n == 0 {
			numel = 0
			continue
		}
		if numel > 0 {
			if n > math.MaxInt64/numel {
				return nil, fmt.Errorf("shape %v is too large", pt.size)
			}
			numel *= n
		}
		if st := pt.stride[i]; st > 0 {
			if n-1 > (math.MaxInt64-last)/st {
				return nil, fmt.Errorf("shape %v with stride %v overflows", pt.size, pt.stride)
			}
			last += (n - 1) * st
		}
	}
	if numel == 0 {
		return &Tensor{Name: name, DType: dt, Shape: shape, Data: []byte{}}, nil
	}
	if last >= s.numel {
		return nil, fmt.Errorf("storage %s is too short: shape %v, stride %v at offset %d reach element %d, but the storage has %d elements", s.key, pt.size, pt.stride, pt.offset, last, s.numel)
	}
	if d.lazy {
		t := &Tensor{Name: name, DType: dt, Shape: shape}
		d.loaders[t] = func() ([]byte, error) { return d.tensorData(pt, es, numel) }
		d.storageOf[t] = s.key
		return t, nil
	}
	b, err := d.tensorData(pt, es, numel)
	if err != nil {
		return nil, err
	}
	return &Tensor{Name: name, DType: dt, Shape: shape, Data: b}, nil
}

// tensorData reads the bytes of pt, numel elements of es bytes each, in C
// order from its storage.
func (d *ptDecoder) tensorData(pt *ptTensor, es, numel int64) ([]byte, error) {
	s := pt.storage
	dt := s.typ.dtype
	raw, err := d.load(s.key, int(es))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) < s.numel*es {
		return nil, fmt.Errorf("storage entry for key %s is too short: %d bytes, but its %d %v elements need %d", s.key, len(raw), s.numel, dt, s.numel*es)
	}
	contiguous := true
	want := int64(1)
	for i := len(pt.size) - 1; i >= 0; i-- {
		if pt.size[i] != 1 && pt.stride[i] != want {
			contiguous = false
			break
		}
		want *= pt.size[i]
	}
	if contiguous {
		return raw[pt.offset*es : (pt.offset+numel)*es : (pt.offset+numel)*es], nil
	}
	if numel > d.budget/es {
		return nil, fmt.Errorf("non-contiguous tensor of shape %v and stride %v would need %d bytes, more than the file can justify", pt.size, pt.stride, numel*es)
	}
	d.budget -= numel * es
	out := make([]byte, numel*es)
	ptGather(out, raw, int(es), pt.offset, pt.size, pt.stride)
	return out, nil
}

// ptGather copies the strided elements of src into dst in C order.
func ptGather(dst, src []byte, es int, offset int64, size, stride []int64) {
	idx := make([]int64, len(size))
	pos := offset
	for o := 0; o < len(dst); o += es {
		copy(dst[o:o+es], src[pos*int64(es):])
		for d := len(size) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < size[d] {
				break
			}
			pos -= stride[d] * size[d]
			idx[d] = 0
		}
	}
}
