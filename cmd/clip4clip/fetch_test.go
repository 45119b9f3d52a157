package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"clip4clip/internal/hubtest"
	"clip4clip/internal/testenv"
	"clip4clip/model"
	"github.com/stretchr/testify/require"
)

const fixtureRepo = "fixture/tiny-clip"

// fixtureHub serves the fixture tiny CLIP (from files, FixtureCLIP's by
// default) as fixtureRepo on a mock hub, with the cache in a temp dir and
// no token or endpoint from the environment.
func fixtureHub(t *testing.T, files func(string) (map[string][]byte, error)) (*hubtest.Hub, string) {
	t.Helper()
	if files == nil {
		files = hubtest.FixtureCLIP
	}
	repo, err := files(filepath.Dir(fixtures))
	if errors.Is(err, os.ErrNotExist) {
		testenv.Fixtures(t, fixtures)
		testenv.Missing(t, "the fixture CLIP is missing from ../shared/fixtures (%v)", err)
	}
	require.NoError(t, err)
	h := hubtest.New()
	t.Cleanup(h.Close)
	h.Add(fixtureRepo, "main", repo)
	cache := t.TempDir()
	t.Setenv("CLIP4CLIP_CACHE", cache)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_ENDPOINT", "")
	return h, cache
}

// embedFixture embeds the fixture's pixels and captions with model m.
func embedFixture(t *testing.T, m string) (img, txt [][]float64) {
	t.Helper()
	out := mustRun(t, "embed", "-model", m, "-pixels", fixture(t, "preprocess/pixel_values.npy"), "-texts", fixture(t, "clip/captions.json"))
	var res struct {
		Image [][]float64 `json:"image_features"`
		Text  [][]float64 `json:"text_features"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	return res.Image, res.Text
}

// requireCosine checks each row of got against want's at least min cosine.
func requireCosine(t *testing.T, name string, want []float32, got [][]float64, minCos float64) {
	t.Helper()
	require.NotEmpty(t, got, name)
	d := len(got[0])
	require.Len(t, want, len(got)*d, name)
	worst := 1.0
	for i, row := range got {
		var dot, a, b float64
		for j, v := range row {
			w := float64(want[i*d+j])
			dot, a, b = dot+v*w, a+v*v, b+w*w
		}
		worst = math.Min(worst, dot/math.Sqrt(a*b))
	}
	require.GreaterOrEqual(t, worst, minCos, "%s: first values %v, want %v; min cosine %.6f", name, got[0][:4], want[:4], worst)
	t.Logf("%s: min cosine %.6f", name, worst)
}

// requireFixtureFeatures checks model m against the PyTorch features.
func requireFixtureFeatures(t *testing.T, m, dtype string) {
	t.Helper()
	img, txt := embedFixture(t, m)
	wantImg, wantTxt := readNpy(t, "clip/image_features.npy"), readNpy(t, "clip/text_features.npy")
	switch dtype {
	case "f32":
		requireMatrix(t, dtype+" image_features", wantImg, img, 1e-4)
		requireMatrix(t, dtype+" text_features", wantTxt, txt, 1e-4)
	case "f16":
		requireCosine(t, dtype+" image_features", wantImg, img, 0.9999)
		requireCosine(t, dtype+" text_features", wantTxt, txt, 0.9999)
	default:
		requireCosine(t, dtype+" image_features", wantImg, img, 0.995)
		requireCosine(t, dtype+" text_features", wantTxt, txt, 0.995)
	}
}

// fetchErr runs clip4clip fetch expecting exit status 1 and a one-line
// error last, and returns its stderr.
func fetchErr(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, append([]string{"fetch"}, args...)...)
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "clip4clip fetch %v should fail: %v\n%s", args, err, out)
	require.Equal(t, 1, exit.ExitCode(), out)
	t.Logf("clip4clip fetch %s:\n%s", strings.Join(args, " "), out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "clip4clip fetch: "), "the error is the last line, one line: %s", out)
	return out
}

func TestFetchDTypes(t *testing.T) {
	h, cache := fixtureHub(t, nil)
	dir := t.TempDir()
	for i, dtype := range []string{"f32", "f16", "int8"} {
		out := filepath.Join(dir, dtype+".c4c")
		path := strings.TrimSpace(mustRun(t, "fetch", "-hub", h.URL, "-dtype", dtype, "-o", out, fixtureRepo))
		require.Equal(t, out, path)
		requireFixtureFeatures(t, out, dtype)
		log := h.Requests()
		if i == 0 {
			// The weights came by the hub's redirect to the CDN.
			var redirected, fromCDN bool
			for _, r := range log {
				redirected = redirected || r.Origin == "hub" && strings.HasSuffix(r.Path, "/model.safetensors") && r.Status == 302
				fromCDN = fromCDN || r.Origin == "cdn" && r.Status == 200 && strings.Contains(r.Path, "/"+fixtureRepo+"/")
			}
			require.True(t, redirected && fromCDN, "want a 302 to the CDN: %+v", log)
			require.FileExists(t, filepath.Join(cache, "hf", "fixture", "tiny-clip", "main", "model.safetensors"))
		} else {
			require.Empty(t, log, "the rerun should use the cache")
		}
		h.ResetRequests()

		m, err := model.LoadFile(out)
		require.NoError(t, err)
		sum, _, _ := h.SHA256(fixtureRepo, "main", "model.safetensors")
		require.Equal(t, fixtureRepo, m.Meta["source_repo"])
		require.Equal(t, "main", m.Meta["source_revision"])
		require.Equal(t, h.URL, m.Meta["source_hub"])
		require.Contains(t, m.Meta["source_sha256"], "model.safetensors="+sum)
		require.Equal(t, dtype, m.Meta["dtype"])
	}
}

// TestFetchCache fetches into the cache's models directory, then again with
// the hub gone.
func TestFetchCache(t *testing.T) {
	h, cache := fixtureHub(t, nil)
	want := filepath.Join(cache, "models", "fixture--tiny-clip--main--int8.c4c")
	require.Equal(t, want, strings.TrimSpace(mustRun(t, "fetch", "-hub", h.URL, fixtureRepo)))
	requireFixtureFeatures(t, want, "int8")
	h.Close()
	require.NoError(t, os.Remove(want))
	require.Equal(t, want, strings.TrimSpace(mustRun(t, "fetch", "-hub", h.URL, fixtureRepo)))
	requireFixtureFeatures(t, want, "int8")
}

func TestFetchResume(t *testing.T) {
	h, _ := fixtureHub(t, nil)
	_, size, _ := h.SHA256(fixtureRepo, "main", "model.safetensors")
	cut := size / 3
	h.DropAfter(fixtureRepo, "model.safetensors", cut)
	out := filepath.Join(t.TempDir(), "m.c4c")
	cmd := exec.Command(binary, "fetch", "-hub", h.URL, "-dtype", "f32", "-o", out, fixtureRepo)
	stderr, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", stderr)
	t.Logf("stderr:\n%s", stderr)
	require.Contains(t, string(stderr), "resuming "+fixtureRepo+"/model.safetensors")
	require.Contains(t, string(stderr), "(100%)", "a progress line")
	requireFixtureFeatures(t, out, "f32")

	var sent int64
	var ranged bool
	for _, r := range h.Requests() {
		if r.Origin == "cdn" {
			sent += r.Sent
			ranged = ranged || r.Range == "bytes="+strconv.FormatInt(cut, 10)+"-" && r.Status == 206
		}
	}
	require.True(t, ranged, "want a Range request from %d: %+v", cut, h.Requests())
	require.Less(t, sent, 2*size)
	t.Logf("%d bytes sent for a %d-byte file cut at %d", sent, size, cut)
}

// TestFetchCutOff gives up after the retries, keeps the part file and
// resumes from it on a rerun.
func TestFetchCutOff(t *testing.T) {
	h, cache := fixtureHub(t, nil)
	h.DropTimes(fixtureRepo, "model.safetensors", 1<<20, 100)
	out := fetchErr(t, "-hub", h.URL, fixtureRepo)
	require.Contains(t, out, "cut off")
	require.Contains(t, out, "run the command again to resume")
	part := filepath.Join(cache, "hf", "fixture", "tiny-clip", "main", "model.safetensors.part")
	st, err := os.Stat(part)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(1<<20))

	h.DropTimes(fixtureRepo, "model.safetensors", 0, 0)
	h.ResetRequests()
	path := strings.TrimSpace(mustRun(t, "fetch", "-hub", h.URL, fixtureRepo))
	requireFixtureFeatures(t, path, "int8")
	var ranges []string
	for _, r := range h.Requests() {
		if r.Origin == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	require.Equal(t, []string{"bytes=" + strconv.FormatInt(st.Size(), 10) + "-"}, ranges)
	require.NoFileExists(t, part)
}

// TestFetchWholePart finishes a download whose part file is already
// whole (the hub answers its range with 416), and restarts one that is
// longer than the file.
func TestFetchWholePart(t *testing.T) {
	h, cache := fixtureHub(t, nil)
	files, err := hubtest.FixtureCLIP(filepath.Dir(fixtures))
	require.NoError(t, err)
	dir := filepath.Join(cache, "hf", "fixture", "tiny-clip", "main")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	part := filepath.Join(dir, "model.safetensors.part")
	require.NoError(t, os.WriteFile(part, files["model.safetensors"], 0o644))
	mustRun(t, "fetch", "-hub", h.URL, "-o", filepath.Join(t.TempDir(), "a.c4c"), fixtureRepo)
	var statuses []int
	for _, r := range h.Requests() {
		if r.Origin == "cdn" {
			statuses = append(statuses, r.Status)
		}
	}
	require.Equal(t, []int{416}, statuses)

	require.NoError(t, os.Remove(filepath.Join(dir, "model.safetensors")))
	require.NoError(t, os.WriteFile(part, append(files["model.safetensors"], 1, 2, 3), 0o644))
	out := filepath.Join(t.TempDir(), "b.c4c")
	stderr, err := exec.Command(binary, "fetch", "-hub", h.URL, "-dtype", "f32", "-o", out, fixtureRepo).CombinedOutput()
	require.NoError(t, err, "%s", stderr)
	require.Contains(t, string(stderr), "starting over")
	requireFixtureFeatures(t, out, "f32")
}

func TestFetchBinFallback(t *testing.T) {
	h, _ := fixtureHub(t, hubtest.FixtureCLIPBin)
	out := filepath.Join(t.TempDir(), "m.c4c")
	cmd := exec.Command(binary, "fetch", "-hub", h.URL, "-dtype", "f32", "-o", out, fixtureRepo)
	stderr, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", stderr)
	require.Contains(t, string(stderr), "no model.safetensors; downloading pytorch_model.bin")
	requireFixtureFeatures(t, out, "f32")

	// The rerun takes the cached .bin without asking for safetensors again.
	h.ResetRequests()
	mustRun(t, "fetch", "-hub", h.URL, "-dtype", "f32", "-o", out, fixtureRepo)
	require.Empty(t, h.Requests())
}

func TestFetchModelFlag(t *testing.T) {
	h, cache := fixtureHub(t, nil)
	t.Setenv("HF_ENDPOINT", h.URL)
	cmd := exec.Command(binary, "embed", "-model", "hf:"+fixtureRepo, "-text", "a photo of a cat")
	stderr, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", stderr)
	require.Contains(t, string(stderr), "not in the cache: fetching it from "+h.URL)
	require.FileExists(t, filepath.Join(cache, "models", "fixture--tiny-clip--main--int8.c4c"))

	h.Close() // the second use needs no network
	requireFixtureFeatures(t, "hf:"+fixtureRepo, "int8")
	requireFixtureFeatures(t, "hf:"+fixtureRepo+"@main", "int8")
	cmd = exec.Command(binary, "embed", "-model", "hf:"+fixtureRepo, "-text", "a photo of a cat")
	stderr, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", stderr)
	require.Contains(t, string(stderr), "is the cached")

	// Without the hub, a model not cached says so.
	out, err := run(t, "embed", "-model", "hf:"+fixtureRepo+"@v2", "-text", "x")
	require.Error(t, err)
	require.Contains(t, out, "cannot reach "+h.URL)
	require.Contains(t, out, "set $HF_ENDPOINT to a mirror")
}

func TestFetchErrors(t *testing.T) {
	h, cache := fixtureHub(t, nil)
	h.Add("openai/whisper-tiny", "main", map[string][]byte{
		"config.json":       []byte(`{"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}`),
		"model.safetensors": make([]byte, 100),
	})
	fixtureFiles, err := hubtest.FixtureCLIP(filepath.Dir(fixtures))
	require.NoError(t, err)
	h.Add("owner/gated", "main", fixtureFiles)
	h.Add("owner/corrupt", "main", fixtureFiles)
	h.Corrupt("owner/corrupt", "model.safetensors")
	h.Add("owner/badsize", "main", fixtureFiles)
	h.AdvertiseSize("owner/badsize", "model.safetensors", 1000)

	out := fetchErr(t, "-hub", hubtest.Unreachable(), fixtureRepo)
	require.Contains(t, out, "cannot reach http://127.0.0.1:")
	require.Contains(t, out, "(offline? set -hub to a mirror)")

	out = fetchErr(t, "-hub", h.URL, "nobody/nothing")
	require.Contains(t, out, "no repository nobody/nothing on "+h.URL+": check the name")

	for _, status := range []int{401, 403} {
		h.Gate("owner/gated", status)
		out = fetchErr(t, "-hub", h.URL, "owner/gated")
		require.Contains(t, out, "owner/gated is gated or private ("+strconv.Itoa(status)+"): accept its licence on "+h.URL+"/owner/gated")
		require.Contains(t, out, "this tool sends no token")
	}
	t.Setenv("HF_TOKEN", "hf_wrong")
	out = fetchErr(t, "-hub", h.URL, "owner/gated")
	require.Contains(t, out, "refused $HF_TOKEN")
	h.AllowToken("hf_right")
	t.Setenv("HF_TOKEN", "hf_right")
	mustRun(t, "fetch", "-hub", h.URL, "-o", filepath.Join(t.TempDir(), "g.c4c"), "owner/gated")
	t.Setenv("HF_TOKEN", "")

	h.ResetRequests()
	out = fetchErr(t, "-hub", h.URL, "openai/whisper-tiny")
	require.Contains(t, out, "openai/whisper-tiny: config.json describes WhisperForConditionalGeneration, not a CLIP model")
	for _, r := range h.Requests() {
		require.True(t, strings.HasSuffix(r.Path, "/config.json"), "only config.json before refusing: %+v", r)
	}

	out = fetchErr(t, "-hub", h.URL, "owner/corrupt")
	require.Contains(t, out, "owner/corrupt/model.safetensors: the downloaded bytes have sha256")
	require.Contains(t, out, "deleted the download (it is not loaded)")
	corruptDir := filepath.Join(cache, "hf", "owner", "corrupt", "main")
	require.NoFileExists(t, filepath.Join(corruptDir, "model.safetensors"))
	require.NoFileExists(t, filepath.Join(corruptDir, "model.safetensors.part"))

	out = fetchErr(t, "-hub", h.URL, "owner/badsize")
	require.Contains(t, out, "owner/badsize/model.safetensors: the hub gives its size as 1000 bytes but sent more: deleted the download")
	require.NoFileExists(t, filepath.Join(cache, "hf", "owner", "badsize", "main", "model.safetensors"))

	out = fetchErr(t, "-hub", h.URL, "not-a-repo")
	require.Contains(t, out, `"not-a-repo" is not a repo name`)

	out = fetchErr(t, "-hub", h.URL, "-revision", "v9", fixtureRepo)
	require.Contains(t, out, `has no revision "v9"`)

	// A second fetch of a repo being fetched: this test process holds the lock.
	lockDir := filepath.Join(cache, "hf", "fixture", "tiny-clip", "main")
	require.NoError(t, os.MkdirAll(lockDir, 0o755))
	lock := filepath.Join(lockDir, ".lock")
	require.NoError(t, os.WriteFile(lock, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))
	out = fetchErr(t, "-hub", h.URL, fixtureRepo)
	require.Contains(t, out, "another clip4clip fetch is downloading "+fixtureRepo+" (pid "+strconv.Itoa(os.Getpid())+")")

	// A lock left by a process that has ended is taken over.
	ended := exec.Command("true")
	require.NoError(t, ended.Run())
	require.NoError(t, os.WriteFile(lock, []byte(strconv.Itoa(ended.Process.Pid)+"\n"), 0o644))
	mustRun(t, "fetch", "-hub", h.URL, "-o", filepath.Join(t.TempDir(), "m.c4c"), fixtureRepo)
	require.NoFileExists(t, lock)
}
