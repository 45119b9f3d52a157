//go:build js && wasm

package main

import (
	"bytes"
	"os"
	"syscall/js"
	"testing"

	"clip4clip/internal/testenv"
	clipmodel "clip4clip/model"
	"clip4clip/model/bpe"
	"clip4clip/quant"
	"clip4clip/weights"
)

const fixtures = "../../shared/fixtures/"

func fixtureBytes(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Fixture(t, fixtures, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAtFunc serves data[:*avail] to the converter as the worker's OPFS
// file would, and fails the test on a read past what has arrived.
func readAtFunc(t *testing.T, data []byte, avail *int) js.Func {
	f := js.FuncOf(func(_ js.Value, in []js.Value) any {
		u8, off := in[0], in[1].Int()
		n := u8.Get("length").Int()
		if off+n > *avail {
			t.Errorf("readAt(%d bytes at %d) with only %d bytes there", n, off, *avail)
			return nil
		}
		js.CopyBytesToJS(u8, data[off:off+n])
		return nil
	})
	t.Cleanup(f.Release)
	return f
}

func collectFunc(t *testing.T, out *bytes.Buffer) js.Func {
	f := js.FuncOf(func(_ js.Value, in []js.Value) any {
		b := make([]byte, in[0].Get("length").Int())
		js.CopyBytesToGo(b, in[0])
		out.Write(b)
		return nil
	})
	t.Cleanup(f.Release)
	return f
}

// TestConvertStreaming converts the fixture CLIP in Hugging Face layout as
// a download delivers it, 100 kB at a time: each step reads only bytes
// that are there, and the model written is the one `clip4clip convert`
// makes (same weights, so the same ID).
func TestConvertStreaming(t *testing.T) {
	st := fixtureBytes(t, "hf/model.safetensors")
	cfg := fixtureBytes(t, "hf/config.json")
	gz := fixtureBytes(t, "bpe_simple_vocab_16e6.txt.gz")
	call := bindings(t)
	t.Cleanup(func() { conv = nil })
	for _, dtype := range []string{"f32", "int8"} {
		opts := js.ValueOf(map[string]any{"dtype": dtype, "meta": map[string]any{"source_repo": "openai/tiny"}})
		if r := call("convertBegin", opts); isErr(r) {
			t.Fatal(errText(r))
		}
		for name, b := range map[string][]byte{"config.json": cfg, "bpe_simple_vocab_16e6.txt.gz": gz} {
			if r := call("convertFile", name, uint8Array(b)); isErr(r) {
				t.Fatalf("convertFile %s: %s", name, errText(r))
			}
		}
		avail := 4
		fn := readAtFunc(t, st, &avail)
		r := call("convertWeights", "model.safetensors", len(st), fn, avail)
		if r.Get("need").Int() != 8 {
			t.Fatalf("convertWeights with 4 bytes: %v, want {need: 8}", js.Global().Get("JSON").Call("stringify", r))
		}
		for r.Get("need").Truthy() {
			avail = min(len(st), max(avail+100_000, r.Get("need").Int()))
			r = call("convertWeights", "model.safetensors", len(st), fn, avail)
		}
		if isErr(r) {
			t.Fatal(errText(r))
		}
		total, steps := r.Get("tensors").Int(), 0
		for done := 0; done < total; steps++ {
			s := call("convertStep", avail)
			if isErr(s) {
				t.Fatal(errText(s))
			}
			done = s.Get("done").Int()
			avail = min(len(st), avail+100_000)
		}
		if steps < 10 {
			t.Errorf("%d steps: the tensors did not convert as the bytes came", steps)
		}
		var file bytes.Buffer
		res := call("convertFinish", collectFunc(t, &file))
		if isErr(res) {
			t.Fatal(errText(res))
		}
		if res.Get("bytes").Int() != file.Len() {
			t.Errorf("convertFinish says %d bytes, wrote %d", res.Get("bytes").Int(), file.Len())
		}
		m, err := clipmodel.Load(file.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if m.Meta["source_repo"] != "openai/tiny" || m.Meta["probe_cosine_text_min"] == "" {
			t.Errorf("meta %v lacks the source or the probes", m.Meta)
		}
		// The native conversion of the same file.
		l, err := weights.OpenSafetensors(bytes.NewReader(st), int64(len(st)), "model.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := bpe.FromCLIPMerges(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		dt, _ := quant.ParseDType(dtype)
		want, _, err := clipmodel.ConvertLazy([]*weights.Lazy{l}, cfg, dt, 0, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.ID() != want.ID() || res.Get("id").String() != want.ID() {
			t.Errorf("%s: the page's conversion has ID %s, the native one %s", dtype, m.ID(), want.ID())
		}
		t.Logf("%s: %d bytes in %d steps, probe min %.5f", dtype, file.Len(), steps, res.Get("probes").Get("min").Float())
	}
}

// TestConvertErrors: what is not a CLIP, a cut-off file, a full quota.
func TestConvertErrors(t *testing.T) {
	st := fixtureBytes(t, "hf/model.safetensors")
	cfg := fixtureBytes(t, "hf/config.json")
	call := bindings(t)
	t.Cleanup(func() { conv = nil })
	wantError(t, "convertStep", call("convertStep", 0), "state", "convertBegin first")
	call("convertBegin", js.ValueOf(map[string]any{}))
	wantError(t, "convertFile", call("convertFile", "config.json", uint8Array([]byte(`{"architectures":["WhisperForConditionalGeneration"],"model_type":"whisper"}`))),
		"notclip", "WhisperForConditionalGeneration", "not a CLIP model")
	wantError(t, "convertFile", call("convertFile", "config.json", uint8Array([]byte(`{"architectures":["CLIPTextModel"],"model_type":"clip_text_model"}`))),
		"notclip", "CLIPTextModel")
	if r := call("convertFile", "config.json", uint8Array(cfg)); isErr(r) {
		t.Fatal(errText(r))
	}

	// A file cut short: the header says more than the file holds.
	short := st[:len(st)/2]
	avail := len(short)
	wantError(t, "convertWeights", call("convertWeights", "model.safetensors", len(short), readAtFunc(t, short, &avail), avail), "format", "truncated")

	// A safetensors file of another model.
	other := []byte(`{"model.layers.0.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`)
	for len(other)%8 != 0 {
		other = append(other, ' ')
	}
	file := append(append(le64(len(other)), other...), make([]byte, 16)...)
	avail = len(file)
	wantError(t, "convertWeights", call("convertWeights", "model.safetensors", len(file), readAtFunc(t, file, &avail), avail), "notclip", "not a CLIP ViT checkpoint")

	// The quota runs out while the model file is stored: the error says so.
	call("convertBegin", js.ValueOf(map[string]any{"dtype": "int8"}))
	call("convertFile", "config.json", uint8Array(cfg))
	call("convertFile", "bpe_simple_vocab_16e6.txt.gz", uint8Array(fixtureBytes(t, "bpe_simple_vocab_16e6.txt.gz")))
	avail = len(st)
	call("convertWeights", "model.safetensors", len(st), readAtFunc(t, st, &avail), avail)
	for s := call("convertStep", avail); s.Get("done").Int() < s.Get("total").Int(); s = call("convertStep", avail) {
	}
	// A JS function that throws, as an OPFS write past the quota does.
	full := js.Global().Get("Function").New("u8", `const e = new Error("the quota is exceeded"); e.name = "QuotaExceededError"; throw e;`)
	wantError(t, "convertFinish", call("convertFinish", full), "error", "storing the model file", "QuotaExceededError")
}

func le64(n int) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	return b
}

func isErr(v js.Value) bool { return v.Type() == js.TypeObject && v.Get("error").Truthy() }

func errText(v js.Value) string {
	if isErr(v) {
		return v.Get("error").String()
	}
	return v.String()
}
