package hubtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
	"clip4clip/model/bpe"
	"github.com/stretchr/testify/require"
)

const shared = "../../../shared"

// testHub serves owner/tiny with a small config and a 1000-byte
// "model.safetensors" (redirected to the CDN by its extension).
func testHub(t *testing.T) (*Hub, []byte) {
	h := New()
	t.Cleanup(h.Close)
	weights := make([]byte, 1000)
	for i := range weights {
		weights[i] = byte(i * 7)
	}
	h.Add("owner/tiny", "", map[string][]byte{"config.json": []byte(`{"model_type":"clip"}`), "model.safetensors": weights})
	return h, weights
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestRedirectAndHeaders(t *testing.T) {
	h, weights := testHub(t)
	sum := sha256.Sum256(weights)
	hexSum := hex.EncodeToString(sum[:])

	// The hub's answer itself, not followed.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(h.URL + "/owner/tiny/resolve/main/model.safetensors")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, `"`+hexSum+`"`, resp.Header.Get("X-Linked-Etag"))
	require.Equal(t, "1000", resp.Header.Get("X-Linked-Size"))
	require.NotEmpty(t, resp.Header.Get("ETag"))
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), h.CDNURL+"/"), resp.Header.Get("Location"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "X-Linked-Size")

	// Followed: the bytes come from the CDN, with CORS.
	resp, body := get(t, h.URL+"/owner/tiny/resolve/main/model.safetensors")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, weights, body)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
	log := h.Requests()
	require.Len(t, log, 3)
	require.Equal(t, "hub", log[1].Origin)
	require.Equal(t, http.StatusFound, log[1].Status)
	require.Equal(t, "cdn", log[2].Origin)
	require.NotEqual(t, log[1].Host, log[2].Host)
	require.EqualValues(t, 1000, log[2].Sent)

	// A small file is served by the hub itself, with an ETag.
	resp, body = get(t, h.URL+"/owner/tiny/resolve/main/config.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, `{"model_type":"clip"}`, string(body))
	require.NotEmpty(t, resp.Header.Get("ETag"))
	require.Empty(t, resp.Header.Get("X-Linked-Etag"))

	// Preflight on both origins allows Range.
	for _, base := range []string{h.URL, h.CDNURL} {
		req, _ := http.NewRequest(http.MethodOptions, base+"/owner/tiny/resolve/main/model.safetensors", nil)
		req.Header.Set("Origin", "http://example.test")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "range")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "range")
	}
}

func TestRange(t *testing.T) {
	h, weights := testHub(t)
	u := h.URL + "/owner/tiny/resolve/main/model.safetensors"

	resp, body := get(t, u, "Range", "bytes=900-")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, "bytes 900-999/1000", resp.Header.Get("Content-Range"))
	require.Equal(t, weights[900:], body)

	resp, body = get(t, u, "Range", "bytes=10-19")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, "bytes 10-19/1000", resp.Header.Get("Content-Range"))
	require.Equal(t, weights[10:20], body)

	// The Range header survived the redirect to the CDN.
	log := h.Requests()
	require.Equal(t, "cdn", log[len(log)-1].Origin)
	require.Equal(t, "bytes=10-19", log[len(log)-1].Range)

	resp, _ = get(t, u, "Range", "bytes=1000-")
	require.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)
	require.Equal(t, "bytes */1000", resp.Header.Get("Content-Range"))

	// Small files take ranges too.
	resp, body = get(t, h.URL+"/owner/tiny/resolve/main/config.json", "Range", "bytes=2-11")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, "model_type", string(body))
}

func TestDropAndCorrupt(t *testing.T) {
	h, weights := testHub(t)
	u := h.URL + "/owner/tiny/resolve/main/model.safetensors"

	h.DropAfter("owner/tiny", "model.safetensors", 300)
	resp, err := http.Get(u)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Error(t, err, "a dropped transfer must not end cleanly")
	require.True(t, errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
	require.Equal(t, weights[:300], got)

	// Once only: the resumed range comes whole.
	resp, body := get(t, u, "Range", "bytes=300-")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, weights[300:], body)

	// A dropped ranged transfer.
	h.DropAfter("owner/tiny", "model.safetensors", 50)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=100-")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Error(t, err)
	require.Equal(t, weights[100:150], got)

	// DropTimes cuts every transfer until it runs out.
	h.DropTimes("owner/tiny", "model.safetensors", 10, 2)
	for i := 0; i < 3; i++ {
		resp, err := http.Get(u)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if i < 2 {
			require.Error(t, err, "transfer %d", i)
			require.Len(t, got, 10)
		} else {
			require.NoError(t, err)
			require.Equal(t, weights, got)
		}
	}

	h.AdvertiseSize("owner/tiny", "model.safetensors", 5)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "5", resp.Header.Get("X-Linked-Size"))

	h.Corrupt("owner/tiny", "model.safetensors")
	resp, body = get(t, u)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, body, len(weights))
	require.NotEqual(t, weights, body)
	sum := sha256.Sum256(weights)
	require.Equal(t, `"`+hex.EncodeToString(sum[:])+`"`, resp.Header.Get("ETag"), "the advertised hash stays the true one")
}

func TestErrors(t *testing.T) {
	h, _ := testHub(t)

	resp, body := get(t, h.URL+"/nobody/nothing/resolve/main/config.json")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "RepoNotFound", resp.Header.Get("X-Error-Code"))
	require.Equal(t, "Repository not found", string(body))

	resp, _ = get(t, h.URL+"/owner/tiny/resolve/main/pytorch_model.bin")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "EntryNotFound", resp.Header.Get("X-Error-Code"))

	resp, _ = get(t, h.URL+"/owner/tiny/resolve/v9/config.json")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "RevisionNotFound", resp.Header.Get("X-Error-Code"))

	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		h.Gate("owner/tiny", status)
		for _, f := range []string{"config.json", "model.safetensors"} {
			resp, _ = get(t, h.URL+"/owner/tiny/resolve/main/"+f)
			require.Equal(t, status, resp.StatusCode, f)
			require.Equal(t, "GatedRepo", resp.Header.Get("X-Error-Code"))
		}
	}
	h.AllowToken("hf_secret")
	resp, _ = get(t, h.URL+"/owner/tiny/resolve/main/config.json", "Authorization", "Bearer hf_secret")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	h.Gate("owner/tiny", 0)
	resp, _ = get(t, h.URL+"/owner/tiny/resolve/main/config.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	_, err := http.Get(Unreachable() + "/owner/tiny/resolve/main/config.json")
	require.Error(t, err)
}

func TestFixtureCLIP(t *testing.T) {
	files, err := FixtureCLIP(shared)
	if errors.Is(err, os.ErrNotExist) {
		testenv.Fixtures(t, shared+"/fixtures")
		testenv.Missing(t, "the fixture CLIP is missing from ../shared/fixtures (%v)", err)
	}
	require.NoError(t, err)
	for _, name := range []string{"config.json", "model.safetensors", "vocab.json", "merges.txt"} {
		require.NotEmpty(t, files[name], name)
	}
	require.True(t, bytes.HasPrefix(files["merges.txt"], []byte("#version: 0.2\n")))

	f, err := os.Open(shared + "/fixtures/bpe_simple_vocab_16e6.txt.gz")
	require.NoError(t, err)
	defer f.Close()
	want, err := bpe.FromCLIPMerges(f)
	require.NoError(t, err)
	got, err := bpe.FromHF(files["vocab.json"], files["merges.txt"])
	require.NoError(t, err)
	require.Equal(t, want.Vocab(), got.Vocab())
	require.Equal(t, want.Merges(), got.Merges())

	bin, err := FixtureCLIPBin(shared)
	require.NoError(t, err)
	require.NotContains(t, bin, "model.safetensors")
	require.NotEmpty(t, bin["pytorch_model.bin"])
	require.Equal(t, files["vocab.json"], bin["vocab.json"])

	// The fixture's weights redirect to the CDN.
	h := New()
	defer h.Close()
	h.Add("fixture/tiny-clip", "main", files)
	resp, body := get(t, h.URL+"/fixture/tiny-clip/resolve/main/model.safetensors")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, files["model.safetensors"], body)
	require.Equal(t, "cdn", h.Requests()[1].Origin)
}

// TestTree: the API lists a revision's files with the LFS files' SHA-256,
// as the page asks for it.
func TestTree(t *testing.T) {
	h := New()
	defer h.Close()
	h.Add("o/r", "main", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": make([]byte, 100)})
	resp, err := http.Get(h.URL + "/api/models/o/r/tree/main")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum, _, _ := h.SHA256("o/r", "main", "model.safetensors")
	var list []struct {
		Path string
		Size int64
		LFS  *struct{ Oid string } `json:"lfs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Path != "model.safetensors" || list[1].LFS == nil || list[1].LFS.Oid != sum || list[0].LFS != nil {
		t.Fatalf("tree: %+v", list)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header on the tree API")
	}
	r404, err := http.Get(h.URL + "/api/models/o/none/tree/main")
	if err != nil {
		t.Fatal(err)
	}
	r404.Body.Close()
	if r404.StatusCode != 404 {
		t.Errorf("tree of a missing repo: %d", r404.StatusCode)
	}
}
