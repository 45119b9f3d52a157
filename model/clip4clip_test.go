package model

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"clip4clip/internal/npy"
	"clip4clip/model/preprocess"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

// clip4clipModel merges the fixture CLIP (keys prefixed "clip.", as
// CLIP4Clip saves them) with a head checkpoint, as `clip4clip convert`
// does with two -in.
func clip4clipModel(t *testing.T, dir string) *CLIP {
	t.Helper()
	base, err := weights.ReadTorchFile(fixture(t, "clip/clip_tiny_openai.pt"))
	require.NoError(t, err)
	sd := &weights.StateDict{}
	for _, n := range base.Order {
		tt := *base.Tensors[n]
		tt.Name = "clip." + n
		sd.Add(&tt)
	}
	if dir != "meanP" {
		head, err := weights.ReadTorchFile(fixture(t, "clip4clip/"+dir+"/pytorch_model.bin"))
		require.NoError(t, err)
		for _, n := range head.Order {
			sd.Add(head.Tensors[n])
		}
	}
	cfg, csd, err := Canonical(sd, nil)
	require.NoError(t, err)
	m, err := New(cfg, csd)
	require.NoError(t, err)
	return m
}

// videoInput builds the model input as CLIP4Clip's dataloader does: valid
// slots normalised from uint8, masked slots all-zero floats.
func videoInput(t *testing.T, res int) (frames []float32, mask []bool, nv, nf int) {
	a, err := npy.ReadFile(fixture(t, "clip4clip/video_frames_uint8.npy"))
	require.NoError(t, err)
	pix, err := a.Uint8()
	require.NoError(t, err)
	_, m := loadInts(t, "clip4clip/video_mask.npy")
	nv, nf = a.Shape[0], a.Shape[1]
	require.Equal(t, res, a.Shape[2])
	size := 3 * res * res
	frames = make([]float32, nv*nf*size)
	mask = make([]bool, nv*nf)
	for i := range mask {
		mask[i] = m[i] != 0
		if mask[i] {
			preprocess.NormalizeHWC(frames[i*size:(i+1)*size], pix[i*size:(i+1)*size], res, res, 3)
		}
	}
	return
}

// visualOutput encodes every slot of every clip: (nv, nf, embed).
func visualOutput(t *testing.T, m *CLIP, frames []float32, nv, nf int) []float32 {
	e := m.NewEncoder()
	d, size := m.Config.EmbedDim, 3*m.Config.Vision.Resolution*m.Config.Vision.Resolution
	out := make([]float32, nv*nf*d)
	for v := 0; v < nv; v++ {
		require.NoError(t, e.EncodeFrames(out[v*nf*d:(v+1)*nf*d], frames[v*nf*size:(v+1)*nf*size], nf))
	}
	return out
}

// sequenceOutput encodes CLIP4Clip's max_words-long input_ids: (nt, embed).
func sequenceOutput(t *testing.T, m *CLIP) ([]float32, int) {
	a, ids := loadInts(t, "clip4clip/input_ids.npy")
	nt, L := a.Shape[0], a.Shape[1]
	e := m.NewEncoder()
	d := m.Config.EmbedDim
	out := make([]float32, nt*d)
	for i := 0; i < nt; i++ {
		require.NoError(t, e.EncodeText(out[i*d:(i+1)*d], ids[i*L:(i+1)*L]))
	}
	return out, nt
}

type resultJSON struct {
	Loss            float64 `json:"loss"`
	LossTextToVideo float64 `json:"loss_text_to_video"`
	LossVideoToText float64 `json:"loss_video_to_text"`
}

func TestCLIP4ClipInputs(t *testing.T) {
	m := tinyCLIP(t)
	frames, _, _, _ := videoInput(t, m.Config.Vision.Resolution)
	_, want := loadNpy(t, "clip4clip/video_input_check.npy")
	size := len(want)
	requireClose(t, "video 1 slot 0 input", want, frames[6*size:7*size], 0, 0)
}

func TestCLIP4ClipHeads(t *testing.T) {
	for _, tc := range []struct {
		dir, head string
		atol      float64
	}{
		{"meanP", MeanP, 1e-4},
		{"seqLSTM", SeqLSTM, 1e-4},
		{"seqTransf", SeqTransf, 1e-4},
		{"tightTransf", TightTransf, 1e-6},
		{"meanP_3d", MeanP, 1e-4},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			m := clip4clipModel(t, tc.dir)
			if tc.dir != "meanP_3d" {
				require.Equal(t, tc.head, m.Config.Head.Type)
			} else {
				require.Equal(t, "3d", m.Config.Vision.Patch)
			}
			seq, nt := sequenceOutput(t, m)
			_, wantSeq := loadNpy(t, "clip4clip/sequence_output.npy")
			requireClose(t, "sequence_output", wantSeq, seq, 1e-4, 1e-4)

			frames, mask, nv, nf := videoInput(t, m.Config.Vision.Resolution)
			vis := visualOutput(t, m, frames, nv, nf)
			visFile := "clip4clip/visual_output.npy"
			if tc.dir == "meanP_3d" {
				visFile = "clip4clip/meanP_3d/visual_output.npy"
			}
			_, wantVis := loadNpy(t, visFile)
			requireClose(t, "visual_output", wantVis, vis, 1e-4, 1e-4)

			e := m.NewEncoder()
			traced := map[string][]float32{}
			e.Trace = func(s string, d []float32) { traced[s] = append(traced[s], d...) }
			logits, err := e.Logits(tc.head, seq, nt, vis, mask, nv, nf)
			require.NoError(t, err)
			_, want := loadNpy(t, "clip4clip/"+tc.dir+"/retrieve_logits.npy")
			requireClose(t, "retrieve_logits", want, logits, tc.atol, 1e-4)

			switch tc.dir {
			case "seqTransf":
				_, w := loadNpy(t, "clip4clip/seqTransf/transformerClip_out.npy")
				requireClose(t, "transformerClip_out", w, traced["transformerClip_out"], 1e-4, 1e-4)
			case "tightTransf":
				_, w := loadNpy(t, "clip4clip/tightTransf/cross_pooled_output.npy")
				requireClose(t, "cross_pooled_output", w, traced["cross_pooled_output"], 1e-4, 1e-4)
			}

			var res resultJSON
			b, err := os.ReadFile(fixture(t, "clip4clip/"+tc.dir+"/result.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &res))
			loss, t2v, v2t, err := SymmetricLoss(logits, nt)
			require.NoError(t, err)
			for _, c := range []struct {
				name      string
				want, got float64
			}{{"loss", res.Loss, loss}, {"loss_text_to_video", res.LossTextToVideo, t2v}, {"loss_video_to_text", res.LossVideoToText, v2t}} {
				require.InDelta(t, c.want, c.got, 1e-5+1e-4*c.want, c.name)
				t.Logf("%s: want %.7f got %.7f", c.name, c.want, c.got)
			}
		})
	}
}

// TestHeadOnlyValidFramesMatter: loose heads give the same video feature
// from the valid frames alone as from the padded clip, which is what lets
// an index store clips of any length.
func TestHeadOnlyValidFramesMatter(t *testing.T) {
	for _, dir := range []string{"meanP", "seqLSTM", "seqTransf"} {
		m := clip4clipModel(t, dir)
		head := m.Config.Head.Type
		frames, mask, nv, nf := videoInput(t, m.Config.Vision.Resolution)
		vis := visualOutput(t, m, frames, nv, nf)
		d := m.Config.EmbedDim
		e := m.NewEncoder()
		v := 1 // 4 valid frames of 6
		padded, short := make([]float32, d), make([]float32, d)
		require.NoError(t, e.VideoFeature(padded, vis[v*nf*d:(v+1)*nf*d], mask[v*nf:(v+1)*nf], nf, head))
		require.NoError(t, e.VideoFeature(short, vis[v*nf*d:(v*nf+4)*d], mask[v*nf:v*nf+4], 4, head))
		requireClose(t, dir+" valid frames only", padded, short, 1e-6, 1e-5)
	}
}

func TestHeadErrors(t *testing.T) {
	m := tinyCLIP(t)
	e := m.NewEncoder()
	d := m.Config.EmbedDim
	_, err := e.Logits(SeqTransf, make([]float32, d), 1, make([]float32, 2*d), []bool{true, true}, 1, 2)
	require.ErrorContains(t, err, "carries meanP")
	_, err = e.Logits("bogus", make([]float32, d), 1, make([]float32, 2*d), []bool{true, true}, 1, 2)
	require.ErrorContains(t, err, "unknown head")
	_, err = e.Logits(MeanP, make([]float32, d), 1, make([]float32, 2*d), []bool{true}, 1, 2)
	require.ErrorContains(t, err, "mask entries")
	st := clip4clipModel(t, "seqTransf")
	n := st.Config.Head.MaxFrames + 1
	_, err = st.NewEncoder().Logits(SeqTransf, make([]float32, d), 1, make([]float32, n*d), make([]bool, n), 1, n)
	require.ErrorContains(t, err, fmt.Sprintf("at most %d", n-1))
}
