package weights

// A small pickle virtual machine that never runs code. It implements the
// opcodes of pickle protocols 2 to 5 that data (as opposed to code) needs,
// and resolves every GLOBAL through a caller-supplied allow-list: anything
// outside it stops the load. Calls (REDUCE, NEWOBJ) only reach Go functions
// that the allow-list returned.
//
// What a pickle may cost is bounded by its length: every opcode is charged
// the bytes it makes the VM allocate (pkOps: the object it pushes; pkGrow:
// every array the stack, the MARK stack, the memo, a list or a dict grows
// into) and the bytes it copies or hashes (strings, dict keys, a call's
// arguments), against a budget of pkBytesPerByte per pickle byte plus
// pkSlack. A pickle that asks for more (a megabyte of EMPTY_LIST or MARK
// opcodes, a long string hashed as a dict key again and again) is refused
// with an error naming the opcode; TestPickleHostile measures what Go
// allocates for such pickles against the budget.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Opcodes, named as in CPython's pickle.py.
const (
	pkMARK            = '('
	pkSTOP            = '.'
	pkPOP             = '0'
	pkPOPMARK         = '1'
	pkDUP             = '2'
	pkFLOAT           = 'F'
	pkINT             = 'I'
	pkBININT          = 'J'
	pkBININT1         = 'K'
	pkLONG            = 'L'
	pkBININT2         = 'M'
	pkNONE            = 'N'
	pkPERSID          = 'P'
	pkBINPERSID       = 'Q'
	pkREDUCE          = 'R'
	pkSTRING          = 'S'
	pkBINSTRING       = 'T'
	pkSHORTBINSTRING  = 'U'
	pkUNICODE         = 'V'
	pkBINUNICODE      = 'X'
	pkAPPEND          = 'a'
	pkBUILD           = 'b'
	pkGLOBAL          = 'c'
	pkDICT            = 'd'
	pkEMPTYDICT       = '}'
	pkAPPENDS         = 'e'
	pkGET             = 'g'
	pkBINGET          = 'h'
	pkINST            = 'i'
	pkLONGBINGET      = 'j'
	pkLIST            = 'l'
	pkEMPTYLIST       = ']'
	pkOBJ             = 'o'
	pkPUT             = 'p'
	pkBINPUT          = 'q'
	pkLONGBINPUT      = 'r'
	pkSETITEM         = 's'
	pkTUPLE           = 't'
	pkEMPTYTUPLE      = ')'
	pkSETITEMS        = 'u'
	pkBINFLOAT        = 'G'
	pkPROTO           = 0x80
	pkNEWOBJ          = 0x81
	pkEXT1            = 0x82
	pkEXT2            = 0x83
	pkEXT4            = 0x84
	pkTUPLE1          = 0x85
	pkTUPLE2          = 0x86
	pkTUPLE3          = 0x87
	pkNEWTRUE         = 0x88
	pkNEWFALSE        = 0x89
	pkLONG1           = 0x8a
	pkLONG4           = 0x8b
	pkBINBYTES        = 'B'
	pkSHORTBINBYTES   = 'C'
	pkSHORTBINUNICODE = 0x8c
	pkBINUNICODE8     = 0x8d
	pkBINBYTES8       = 0x8e
	pkEMPTYSET        = 0x8f
	pkADDITEMS        = 0x90
	pkFROZENSET       = 0x91
	pkNEWOBJEX        = 0x92
	pkSTACKGLOBAL     = 0x93
	pkMEMOIZE         = 0x94
	pkFRAME           = 0x95
	pkBYTEARRAY8      = 0x96
	pkNEXTBUFFER      = 0x97
	pkREADONLYBUFFER  = 0x98
)

// pkOpNames names the opcodes this VM refuses although they are valid
// pickle: they build objects by calling classes, use the extension
// registry, out-of-band buffers or the text protocol that torch never writes.
var pkOpNames = map[byte]string{
	pkPERSID: "PERSID", pkSTRING: "STRING", pkUNICODE: "UNICODE", pkINST: "INST", pkOBJ: "OBJ",
	pkEXT1: "EXT1", pkEXT2: "EXT2", pkEXT4: "EXT4", pkNEXTBUFFER: "NEXT_BUFFER", pkREADONLYBUFFER: "READONLY_BUFFER",
}

// Budget of a pickle: the fixtures' pickles (torch.save and TorchScript)
// allocate about 17 bytes per byte and are charged as much (TestPickleCost),
// so 32 per byte leaves a margin; the slack covers small pickles.
const (
	pkBytesPerByte = 32
	pkSlack        = 1 << 20
)

// pkOps names every opcode and gives its fixed cost in bytes: the object
// it makes (a boxed int 8, a string header 16, a list 24, a dict 64, ...).
// Variable costs (bytes copied, arrays grown, calls) are charged where
// they arise.
var pkOps = func() (t [256]struct {
	name string
	cost int64
}) {
	for _, o := range []struct {
		op   byte
		name string
		cost int64
	}{
		{pkMARK, "MARK", 0}, {pkSTOP, "STOP", 0}, {pkPOP, "POP", 0}, {pkPOPMARK, "POP_MARK", 0}, {pkDUP, "DUP", 0},
		{pkFLOAT, "FLOAT", 8}, {pkINT, "INT", 8}, {pkBININT, "BININT", 8}, {pkBININT1, "BININT1", 8},
		{pkLONG, "LONG", 16}, {pkBININT2, "BININT2", 8}, {pkNONE, "NONE", 0}, {pkPERSID, "PERSID", 0},
		{pkBINPERSID, "BINPERSID", 160}, {pkREDUCE, "REDUCE", 0}, {pkSTRING, "STRING", 0}, {pkBINSTRING, "BINSTRING", 16},
		{pkSHORTBINSTRING, "SHORT_BINSTRING", 16}, {pkUNICODE, "UNICODE", 0}, {pkBINUNICODE, "BINUNICODE", 16},
		{pkAPPEND, "APPEND", 0}, {pkBUILD, "BUILD", 0}, {pkGLOBAL, "GLOBAL", 64}, {pkDICT, "DICT", 64},
		{pkEMPTYDICT, "EMPTY_DICT", 64}, {pkAPPENDS, "APPENDS", 0}, {pkGET, "GET", 0}, {pkBINGET, "BINGET", 0},
		{pkINST, "INST", 0}, {pkLONGBINGET, "LONG_BINGET", 0}, {pkLIST, "LIST", 24}, {pkEMPTYLIST, "EMPTY_LIST", 24},
		{pkOBJ, "OBJ", 0}, {pkPUT, "PUT", 0}, {pkBINPUT, "BINPUT", 0}, {pkLONGBINPUT, "LONG_BINPUT", 0},
		{pkSETITEM, "SETITEM", 0}, {pkTUPLE, "TUPLE", 24}, {pkEMPTYTUPLE, "EMPTY_TUPLE", 24}, {pkSETITEMS, "SETITEMS", 0},
		{pkBINFLOAT, "BINFLOAT", 8}, {pkPROTO, "PROTO", 0}, {pkNEWOBJ, "NEWOBJ", 0}, {pkEXT1, "EXT1", 0},
		{pkEXT2, "EXT2", 0}, {pkEXT4, "EXT4", 0}, {pkTUPLE1, "TUPLE1", 40}, {pkTUPLE2, "TUPLE2", 56},
		{pkTUPLE3, "TUPLE3", 72}, {pkNEWTRUE, "NEWTRUE", 0}, {pkNEWFALSE, "NEWFALSE", 0}, {pkLONG1, "LONG1", 16},
		{pkLONG4, "LONG4", 16}, {pkBINBYTES, "BINBYTES", 16}, {pkSHORTBINBYTES, "SHORT_BINBYTES", 16},
		{pkSHORTBINUNICODE, "SHORT_BINUNICODE", 16}, {pkBINUNICODE8, "BINUNICODE8", 16}, {pkBINBYTES8, "BINBYTES8", 16},
		{pkEMPTYSET, "EMPTY_SET", 24}, {pkADDITEMS, "ADDITEMS", 0}, {pkFROZENSET, "FROZENSET", 24},
		{pkNEWOBJEX, "NEWOBJ_EX", 0}, {pkSTACKGLOBAL, "STACK_GLOBAL", 64}, {pkMEMOIZE, "MEMOIZE", 0},
		{pkFRAME, "FRAME", 0}, {pkBYTEARRAY8, "BYTEARRAY8", 16}, {pkNEXTBUFFER, "NEXT_BUFFER", 0},
		{pkREADONLYBUFFER, "READONLY_BUFFER", 0},
	} {
		t[o.op].name, t[o.op].cost = o.name, o.cost
	}
	return t
}()

// pkGrow makes room in s for n more items, doubling its capacity, and
// charges the new array. Doubling makes the arrays a slice of n items has
// taken add up to 4n at most, where append's growth by 1.25 for large
// slices takes about 6n.
func pkGrow[T any](vm *pkVM, s []T, n int) ([]T, error) {
	if len(s)+n <= cap(s) {
		return s, nil
	}
	c := max(2*cap(s), len(s)+n, 4)
	var zero T
	if err := vm.charge(int64(c) * int64(unsafe.Sizeof(zero))); err != nil {
		return s, err
	}
	ns := make([]T, len(s), c)
	copy(ns, s)
	return ns, nil
}

// pkShort quotes s for an error message, cut to its first 40 bytes.
func pkShort(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// Python values. None is nil, bool is bool, int is int64 (or pkBigInt),
// float is float64, str is string. Every type pushed on the stack is
// comparable, so any value can be a dict key without a panic.
type (
	pkBytes  string                // bytes / bytearray
	pkBigInt struct{ raw string }  // an int that does not fit in int64, kept opaque
	pkTuple  struct{ items []any } // tuple
	pkList   struct{ items []any } // list
	pkSet    struct{ items []any } // set / frozenset (not deduplicated)
	pkDict   struct {              // dict / OrderedDict, in insertion order
		keys  []any
		vals  []any
		index map[any]int
	}
)

// pkCallable is a Go function the allow-list hands out for REDUCE.
type pkCallable interface {
	pkCall(args []any) (any, error)
}

// pkClass is a class the allow-list hands out for NEWOBJ.
type pkClass interface {
	pkNew(args []any) (any, error)
}

// pkStateful accepts a BUILD.
type pkStateful interface {
	pkSetState(state any) error
}

// pkFunc is an allow-listed global that can be called.
type pkFunc struct {
	name string
	call func(args []any) (any, error)
}

func (f *pkFunc) pkCall(args []any) (any, error) { return f.call(args) }

// pkOrderedDict is collections.OrderedDict: callable with no arguments (and
// usable with NEWOBJ), it makes an empty dict that SETITEMS then fills.
var pkOrderedDict = &pkFunc{name: "collections.OrderedDict", call: func(args []any) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("collections.OrderedDict called with %d arguments, want none", len(args))
	}
	return &pkDict{}, nil
}}

func (f *pkFunc) pkNew(args []any) (any, error) {
	if f != pkOrderedDict {
		return nil, fmt.Errorf("NEWOBJ on %s, which is not a class", f.name)
	}
	return f.call(args)
}

func (d *pkDict) set(k, v any) {
	if d.index == nil {
		d.index = map[any]int{}
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *pkDict) get(k any) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// pkSetState ignores the state: it is how an OrderedDict state dict gets its
// _metadata attribute, which a reader does not need.
func (d *pkDict) pkSetState(any) error { return nil }

// pkForbiddenError is returned for a GLOBAL outside the allow-list.
type pkForbiddenError struct {
	module, name string
	why          string // optional: why this one is refused
}

func (e *pkForbiddenError) Error() string {
	what := e.module + "." + e.name
	if len(what) > 200 {
		what = pkShort(what)
	}
	s := fmt.Sprintf("asks for %s, which a state dict never needs; refusing to load it", what)
	if e.why != "" {
		s += " (" + e.why + ")"
	}
	return s
}

// pkTypeName names a value's Python type for error messages without
// printing it (values may be large or cyclic).
func pkTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, pkBigInt:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pkBytes:
		return "bytes"
	case *pkTuple:
		return "tuple"
	case *pkList:
		return "list"
	case *pkSet:
		return "set"
	case *pkDict:
		return "dict"
	case *pkFunc:
		return v.name
	case interface{ pkName() string }:
		return v.pkName()
	}
	return fmt.Sprintf("%T", v)
}

// pkVM is one run of the unpickler.
type pkVM struct {
	data      []byte
	pos       int
	op        int // offset of the current opcode, for errors
	stack     []any
	metastack [][]any
	// memo holds the entries PUT at 0, 1, 2, ... in order, as every
	// pickler writes them; sparse any others; memoLen counts both, for
	// MEMOIZE.
	memo    []any
	sparse  map[int64]any
	memoLen int64
	// left is what the pickle may still allocate, copy or hash, in bytes.
	left int64

	// findClass resolves GLOBAL / STACK_GLOBAL; it returns an error for
	// anything outside the allow-list.
	findClass func(module, name string) (any, error)
	// persistentLoad resolves BINPERSID; nil refuses persistent ids.
	persistentLoad func(pid any) (any, error)
}

var errPkTruncated = errors.New("pickle data ends early")

func (vm *pkVM) errorf(format string, args ...any) error {
	return fmt.Errorf("pickle byte %d: %s", vm.op, fmt.Sprintf(format, args...))
}

// charge takes n bytes from the budget, or fails naming the opcode.
func (vm *pkVM) charge(n int64) error {
	if n <= vm.left {
		vm.left -= n
		return nil
	}
	vm.left = 0
	return vm.errorf("%s: the pickle needs more memory than its %d bytes can justify (%d per byte plus %d); refusing a corrupt or hostile file",
		pkOps[vm.data[vm.op]].name, len(vm.data), pkBytesPerByte, pkSlack)
}

// chargeKeys charges each string-like value among items for its bytes,
// which a map that takes it as a key hashes.
func (vm *pkVM) chargeKeys(items ...any) error {
	n := int64(0)
	for _, v := range items {
		switch v := v.(type) {
		case string:
			n += int64(len(v))
		case pkBytes:
			n += int64(len(v))
		case pkBigInt:
			n += int64(len(v.raw))
		}
	}
	return vm.charge(n)
}

// pkItems returns the items of a tuple or list, or nil.
func pkItems(v any) []any {
	switch v := v.(type) {
	case *pkTuple:
		return v.items
	case *pkList:
		return v.items
	}
	return nil
}

// pkCallCost is what a call with args is charged: the object it returns
// and a copy of the tuples and lists among its arguments and their first
// items, which is as deep as the allow-listed functions copy (a tensor's
// size and stride, inside _rebuild_from_type_v2's argument tuple too).
func pkCallCost(args []any) int64 {
	n := int64(128)
	for _, a := range args {
		items := pkItems(a)
		n += 16 + 8*int64(len(items))
		for _, b := range items[:min(len(items), 8)] {
			n += 8 * int64(len(pkItems(b)))
		}
	}
	return n
}

// unpickle runs the pickle in data and returns the object STOP leaves.
func (vm *pkVM) unpickle() (any, error) {
	vm.memo, vm.sparse, vm.memoLen = nil, map[int64]any{}, 0
	vm.left = pkBytesPerByte*int64(len(vm.data)) + pkSlack
	for {
		if vm.pos >= len(vm.data) {
			return nil, fmt.Errorf("%w at byte %d without a STOP opcode", errPkTruncated, vm.pos)
		}
		vm.op = vm.pos
		op := vm.data[vm.pos]
		vm.pos++
		if op == pkSTOP {
			v, err := vm.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		}
		if err := vm.charge(pkOps[op].cost); err != nil {
			return nil, err
		}
		// Every opcode pushes at most one value more than it pops.
		var err error
		if vm.stack, err = pkGrow(vm, vm.stack, 1); err != nil {
			return nil, err
		}
		if err := vm.step(op); err != nil {
			return nil, err
		}
	}
}

func (vm *pkVM) read(n uint64, what string) ([]byte, error) {
	if n > uint64(len(vm.data)-vm.pos) {
		return nil, fmt.Errorf("%w: %s at byte %d wants %d bytes, %d left", errPkTruncated, what, vm.op, n, len(vm.data)-vm.pos)
	}
	b := vm.data[vm.pos : vm.pos+int(n)]
	vm.pos += int(n)
	return b, nil
}

func (vm *pkVM) readLine(what string) (string, error) {
	i := bytes.IndexByte(vm.data[vm.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("%w: %s at byte %d has no end of line", errPkTruncated, what, vm.op)
	}
	if err := vm.charge(int64(i)); err != nil {
		return "", err
	}
	s := string(vm.data[vm.pos : vm.pos+i])
	vm.pos += i + 1
	return s, nil
}

func (vm *pkVM) readUint(n int, what string) (uint64, error) {
	b, err := vm.read(uint64(n), what)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// push pushes v into the room unpickle or popMark made for it.
func (vm *pkVM) push(v any) { vm.stack = append(vm.stack, v) }

func (vm *pkVM) pop() (any, error) {
	if len(vm.stack) == 0 {
		return nil, vm.errorf("stack underflow")
	}
	v := vm.stack[len(vm.stack)-1]
	vm.stack = vm.stack[:len(vm.stack)-1]
	return v, nil
}

func (vm *pkVM) top() (any, error) {
	if len(vm.stack) == 0 {
		return nil, vm.errorf("stack underflow")
	}
	return vm.stack[len(vm.stack)-1], nil
}

func (vm *pkVM) popMark() ([]any, error) {
	if len(vm.metastack) == 0 {
		return nil, vm.errorf("no MARK on the stack")
	}
	items := vm.stack
	vm.stack = vm.metastack[len(vm.metastack)-1]
	vm.metastack = vm.metastack[:len(vm.metastack)-1]
	var err error
	vm.stack, err = pkGrow(vm, vm.stack, 1) // for what the opcode pushes
	return items, err
}

func (vm *pkVM) pushString(n uint64, what string, bytes bool) error {
	b, err := vm.read(n, what)
	if err != nil {
		return err
	}
	if err := vm.charge(int64(n)); err != nil {
		return err
	}
	if bytes {
		vm.push(pkBytes(b))
	} else {
		vm.push(string(b))
	}
	return nil
}

func (vm *pkVM) setItems(d any, items []any) error {
	dict, ok := d.(*pkDict)
	if !ok {
		return vm.errorf("SETITEM(S) on a %s, not a dict", pkTypeName(d))
	}
	if len(items)%2 != 0 {
		return vm.errorf("SETITEMS with an odd number (%d) of keys and values", len(items))
	}
	// A new entry: its map slot (with the map's growth), key and value.
	if err := vm.charge(64 * int64(len(items)/2)); err != nil {
		return err
	}
	var err error
	if dict.keys, err = pkGrow(vm, dict.keys, len(items)/2); err != nil {
		return err
	}
	if dict.vals, err = pkGrow(vm, dict.vals, len(items)/2); err != nil {
		return err
	}
	for i := 0; i < len(items); i += 2 {
		if err := vm.chargeKeys(items[i]); err != nil {
			return err
		}
		dict.set(items[i], items[i+1])
	}
	return nil
}

func (vm *pkVM) memoPut(idx int64) error {
	v, err := vm.top()
	if err != nil {
		return err
	}
	if idx < 0 {
		return vm.errorf("negative memo index %d", idx)
	}
	n := int64(len(vm.memo))
	if idx < n {
		vm.memo[idx] = v
		return nil
	}
	_, had := vm.sparse[idx]
	if !had {
		vm.memoLen++
	}
	if idx == n {
		var err error
		if vm.memo, err = pkGrow(vm, vm.memo, 1); err != nil {
			return err
		}
		vm.memo = append(vm.memo, v)
		delete(vm.sparse, idx)
		return nil
	}
	if !had {
		if err := vm.charge(64); err != nil { // a map entry, with the map's growth
			return err
		}
	}
	vm.sparse[idx] = v
	return nil
}

func (vm *pkVM) memoGet(idx int64) error {
	if idx >= 0 && idx < int64(len(vm.memo)) {
		vm.push(vm.memo[idx])
		return nil
	}
	v, ok := vm.sparse[idx]
	if !ok {
		return vm.errorf("memo entry %d was never stored", idx)
	}
	vm.push(v)
	return nil
}

func (vm *pkVM) global(module, name string) error {
	if err := vm.charge(int64(len(module) + len(name))); err != nil { // findClass joins them
		return err
	}
	v, err := vm.findClass(module, name)
	if err != nil {
		return err
	}
	vm.push(v)
	return nil
}

func pkLongFromBytes(b []byte) any {
	if len(b) > 8 {
		return pkBigInt{string(b)}
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n := len(b); n > 0 && n < 8 && b[n-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * uint(n)) // sign-extend
	}
	return int64(v)
}

func (vm *pkVM) step(op byte) error {
	switch op {
	case pkPROTO:
		b, err := vm.read(1, "PROTO")
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return vm.errorf("pickle protocol %d is newer than 5", b[0])
		}
	case pkFRAME:
		n, err := vm.readUint(8, "FRAME")
		if err != nil {
			return err
		}
		if n > uint64(len(vm.data)-vm.pos) {
			return fmt.Errorf("%w: FRAME at byte %d announces %d bytes, %d left", errPkTruncated, vm.op, n, len(vm.data)-vm.pos)
		}
	case pkMARK:
		var err error
		if vm.metastack, err = pkGrow(vm, vm.metastack, 1); err != nil {
			return err
		}
		vm.metastack = append(vm.metastack, vm.stack)
		vm.stack = nil
	case pkPOP:
		if len(vm.stack) > 0 {
			vm.stack = vm.stack[:len(vm.stack)-1]
		} else if _, err := vm.popMark(); err != nil {
			return err
		}
	case pkPOPMARK:
		if _, err := vm.popMark(); err != nil {
			return err
		}
	case pkDUP:
		v, err := vm.top()
		if err != nil {
			return err
		}
		vm.push(v)
	case pkNONE:
		vm.push(nil)
	case pkNEWTRUE:
		vm.push(true)
	case pkNEWFALSE:
		vm.push(false)
	case pkINT:
		s, err := vm.readLine("INT")
		if err != nil {
			return err
		}
		switch s {
		case "00":
			vm.push(false)
		case "01":
			vm.push(true)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return vm.errorf("bad INT %s", pkShort(s))
			}
			vm.push(v)
		}
	case pkLONG:
		s, err := vm.readLine("LONG")
		if err != nil {
			return err
		}
		s = strings.TrimSuffix(s, "L")
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			digits := strings.TrimPrefix(s, "-")
			if digits == "" || strings.Trim(digits, "0123456789") != "" {
				return vm.errorf("bad LONG %s", pkShort(s))
			}
			vm.push(pkBigInt{s}) // out of int64 range: kept opaque
			break
		}
		vm.push(v)
	case pkBININT:
		v, err := vm.readUint(4, "BININT")
		if err != nil {
			return err
		}
		vm.push(int64(int32(uint32(v))))
	case pkBININT1:
		v, err := vm.readUint(1, "BININT1")
		if err != nil {
			return err
		}
		vm.push(int64(v))
	case pkBININT2:
		v, err := vm.readUint(2, "BININT2")
		if err != nil {
			return err
		}
		vm.push(int64(v))
	case pkLONG1:
		n, err := vm.readUint(1, "LONG1")
		if err != nil {
			return err
		}
		b, err := vm.read(n, "LONG1")
		if err != nil {
			return err
		}
		if err := vm.charge(int64(n)); err != nil {
			return err
		}
		vm.push(pkLongFromBytes(b))
	case pkLONG4:
		n, err := vm.readUint(4, "LONG4")
		if err != nil {
			return err
		}
		if int32(uint32(n)) < 0 {
			return vm.errorf("LONG4 with negative length")
		}
		b, err := vm.read(n, "LONG4")
		if err != nil {
			return err
		}
		if err := vm.charge(int64(n)); err != nil {
			return err
		}
		vm.push(pkLongFromBytes(b))
	case pkFLOAT:
		s, err := vm.readLine("FLOAT")
		if err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return vm.errorf("bad FLOAT %s", pkShort(s))
		}
		vm.push(v)
	case pkBINFLOAT:
		b, err := vm.read(8, "BINFLOAT")
		if err != nil {
			return err
		}
		vm.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case pkBINUNICODE:
		n, err := vm.readUint(4, "BINUNICODE")
		if err != nil {
			return err
		}
		return vm.pushString(n, "BINUNICODE", false)
	case pkSHORTBINUNICODE:
		n, err := vm.readUint(1, "SHORT_BINUNICODE")
		if err != nil {
			return err
		}
		return vm.pushString(n, "SHORT_BINUNICODE", false)
	case pkBINUNICODE8:
		n, err := vm.readUint(8, "BINUNICODE8")
		if err != nil {
			return err
		}
		return vm.pushString(n, "BINUNICODE8", false)
	case pkBINSTRING:
		n, err := vm.readUint(4, "BINSTRING")
		if err != nil {
			return err
		}
		if int32(uint32(n)) < 0 {
			return vm.errorf("BINSTRING with negative length")
		}
		return vm.pushString(n, "BINSTRING", false)
	case pkSHORTBINSTRING:
		n, err := vm.readUint(1, "SHORT_BINSTRING")
		if err != nil {
			return err
		}
		return vm.pushString(n, "SHORT_BINSTRING", false)
	case pkBINBYTES:
		n, err := vm.readUint(4, "BINBYTES")
		if err != nil {
			return err
		}
		return vm.pushString(n, "BINBYTES", true)
	case pkSHORTBINBYTES:
		n, err := vm.readUint(1, "SHORT_BINBYTES")
		if err != nil {
			return err
		}
		return vm.pushString(n, "SHORT_BINBYTES", true)
	case pkBINBYTES8, pkBYTEARRAY8:
		n, err := vm.readUint(8, "BINBYTES8")
		if err != nil {
			return err
		}
		return vm.pushString(n, "BINBYTES8", true)
	case pkEMPTYTUPLE:
		vm.push(&pkTuple{})
	case pkTUPLE:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		vm.push(&pkTuple{items: items})
	case pkTUPLE1, pkTUPLE2, pkTUPLE3:
		n := int(op-pkTUPLE1) + 1
		if len(vm.stack) < n {
			return vm.errorf("stack underflow in TUPLE%d", n)
		}
		items := append([]any(nil), vm.stack[len(vm.stack)-n:]...)
		vm.stack = vm.stack[:len(vm.stack)-n]
		vm.push(&pkTuple{items: items})
	case pkEMPTYLIST:
		vm.push(&pkList{})
	case pkLIST:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		vm.push(&pkList{items: items})
	case pkAPPEND:
		v, err := vm.pop()
		if err != nil {
			return err
		}
		l, err := vm.top()
		if err != nil {
			return err
		}
		list, ok := l.(*pkList)
		if !ok {
			return vm.errorf("APPEND to a %s, not a list", pkTypeName(l))
		}
		if list.items, err = pkGrow(vm, list.items, 1); err != nil {
			return err
		}
		list.items = append(list.items, v)
	case pkAPPENDS:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		l, err := vm.top()
		if err != nil {
			return err
		}
		list, ok := l.(*pkList)
		if !ok {
			return vm.errorf("APPENDS to a %s, not a list", pkTypeName(l))
		}
		if list.items, err = pkGrow(vm, list.items, len(items)); err != nil {
			return err
		}
		list.items = append(list.items, items...)
	case pkEMPTYDICT:
		vm.push(&pkDict{})
	case pkDICT:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		d := &pkDict{}
		if err := vm.setItems(d, items); err != nil {
			return err
		}
		vm.push(d)
	case pkSETITEM:
		v, err := vm.pop()
		if err != nil {
			return err
		}
		k, err := vm.pop()
		if err != nil {
			return err
		}
		d, err := vm.top()
		if err != nil {
			return err
		}
		return vm.setItems(d, []any{k, v})
	case pkSETITEMS:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		d, err := vm.top()
		if err != nil {
			return err
		}
		return vm.setItems(d, items)
	case pkEMPTYSET:
		vm.push(&pkSet{})
	case pkADDITEMS:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		s, err := vm.top()
		if err != nil {
			return err
		}
		set, ok := s.(*pkSet)
		if !ok {
			return vm.errorf("ADDITEMS to a %s, not a set", pkTypeName(s))
		}
		if set.items, err = pkGrow(vm, set.items, len(items)); err != nil {
			return err
		}
		set.items = append(set.items, items...)
	case pkFROZENSET:
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		vm.push(&pkSet{items: items})
	case pkPUT:
		s, err := vm.readLine("PUT")
		if err != nil {
			return err
		}
		idx, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return vm.errorf("bad PUT index %s", pkShort(s))
		}
		return vm.memoPut(idx)
	case pkBINPUT:
		idx, err := vm.readUint(1, "BINPUT")
		if err != nil {
			return err
		}
		return vm.memoPut(int64(idx))
	case pkLONGBINPUT:
		idx, err := vm.readUint(4, "LONG_BINPUT")
		if err != nil {
			return err
		}
		return vm.memoPut(int64(idx))
	case pkMEMOIZE:
		return vm.memoPut(vm.memoLen)
	case pkGET:
		s, err := vm.readLine("GET")
		if err != nil {
			return err
		}
		idx, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return vm.errorf("bad GET index %s", pkShort(s))
		}
		return vm.memoGet(idx)
	case pkBINGET:
		idx, err := vm.readUint(1, "BINGET")
		if err != nil {
			return err
		}
		return vm.memoGet(int64(idx))
	case pkLONGBINGET:
		idx, err := vm.readUint(4, "LONG_BINGET")
		if err != nil {
			return err
		}
		return vm.memoGet(int64(idx))
	case pkGLOBAL:
		module, err := vm.readLine("GLOBAL")
		if err != nil {
			return err
		}
		name, err := vm.readLine("GLOBAL")
		if err != nil {
			return err
		}
		return vm.global(module, name)
	case pkSTACKGLOBAL:
		name, err := vm.pop()
		if err != nil {
			return err
		}
		module, err := vm.pop()
		if err != nil {
			return err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return vm.errorf("STACK_GLOBAL with a %s and a %s, want two str", pkTypeName(module), pkTypeName(name))
		}
		return vm.global(m, n)
	case pkREDUCE:
		args, err := vm.pop()
		if err != nil {
			return err
		}
		fn, err := vm.pop()
		if err != nil {
			return err
		}
		c, ok := fn.(pkCallable)
		if !ok {
			return vm.errorf("REDUCE calls a %s, which cannot be called", pkTypeName(fn))
		}
		t, ok := args.(*pkTuple)
		if !ok {
			return vm.errorf("REDUCE with %s arguments, want a tuple", pkTypeName(args))
		}
		if err := vm.charge(pkCallCost(t.items)); err != nil {
			return err
		}
		v, err := c.pkCall(t.items)
		if err != nil {
			return vm.errorf("%s: %v", pkTypeName(fn), err)
		}
		vm.push(v)
	case pkNEWOBJ, pkNEWOBJEX:
		if op == pkNEWOBJEX {
			kw, err := vm.pop()
			if err != nil {
				return err
			}
			if d, ok := kw.(*pkDict); !ok || len(d.keys) != 0 {
				return vm.errorf("NEWOBJ_EX with keyword arguments")
			}
		}
		args, err := vm.pop()
		if err != nil {
			return err
		}
		cls, err := vm.pop()
		if err != nil {
			return err
		}
		c, ok := cls.(pkClass)
		if !ok {
			return vm.errorf("NEWOBJ on a %s, which is not a class", pkTypeName(cls))
		}
		t, ok := args.(*pkTuple)
		if !ok {
			return vm.errorf("NEWOBJ with %s arguments, want a tuple", pkTypeName(args))
		}
		if err := vm.charge(pkCallCost(t.items)); err != nil {
			return err
		}
		v, err := c.pkNew(t.items)
		if err != nil {
			return vm.errorf("%v", err)
		}
		vm.push(v)
	case pkBUILD:
		state, err := vm.pop()
		if err != nil {
			return err
		}
		inst, err := vm.top()
		if err != nil {
			return err
		}
		s, ok := inst.(pkStateful)
		if !ok {
			return vm.errorf("BUILD on a %s", pkTypeName(inst))
		}
		return s.pkSetState(state)
	case pkBINPERSID:
		pid, err := vm.pop()
		if err != nil {
			return err
		}
		if vm.persistentLoad == nil {
			return vm.errorf("persistent id outside a torch file")
		}
		// persistentLoad hashes the id's strings (a storage's key).
		items := pkItems(pid)
		if err := vm.charge(16 * int64(len(items))); err != nil {
			return err
		}
		if err := vm.chargeKeys(items...); err != nil {
			return err
		}
		v, err := vm.persistentLoad(pid)
		if err != nil {
			return err
		}
		vm.push(v)
	default:
		if name, ok := pkOpNames[op]; ok {
			return vm.errorf("opcode %s (0x%02x) is not supported in a state dict", name, op)
		}
		return vm.errorf("unknown opcode 0x%02x (the file is corrupt or not a pickle)", op)
	}
	return nil
}
