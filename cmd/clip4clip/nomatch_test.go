package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"clip4clip/model"
	"github.com/stretchr/testify/require"
)

// searchJSON is search -json's output, the parts these tests read.
type searchJSON struct {
	Match *struct {
		Best, Threshold         float64
		Weak, Unknown, OwnWorld bool
	}
	Videos []struct {
		Score float64
		Weak  bool
	}
	Moments []struct {
		Score float64
		Weak  bool
	}
}

// TestSearchNoMatch indexes one demo video with the default model and
// searches it: an out-of-world query gets one line saying nothing matches
// well, that it looks outside the demo world and how to load a real CLIP,
// and every result below the "weaker matches" line; an in-world query (an
// event of the video) gets neither the line nor a weak best result. The
// default model's file has no calibration: the first search measures it
// and keeps it in the cache directory, the second reads it there.
func TestSearchNoMatch(t *testing.T) {
	needFFmpegT(t)
	cache := t.TempDir()
	t.Setenv("CLIP4CLIP_CACHE", cache)
	dir := t.TempDir()
	videos := filepath.Join(dir, "videos")
	require.NoError(t, os.Mkdir(videos, 0o755))
	b, err := os.ReadFile(filepath.Join(demoDir, "demo0.webm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(videos, "demo0.webm"), b, 0o644))
	idx := filepath.Join(dir, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, videos)

	out := mustRun(t, "search", "-model", "default", "-index", idx, "-k", "3", "a", "dog", "catches", "a", "frisbee")
	t.Log(out)
	lines := strings.Split(out, "\n")
	require.True(t, strings.HasPrefix(lines[0], "nothing matches well: the best result scores "), "first line: %q", lines[0])
	for _, want := range []string{`"a dog catches a frisbee" looks outside the demo world`, "the default model", "-model hf:openai/clip-vit-base-patch32", "clip4clip fetch openai/clip-vit-base-patch32"} {
		require.Contains(t, lines[0], want)
	}
	require.Equal(t, "videos (1, cosine with the query):", lines[1])
	require.Contains(t, lines[2], "-- weaker matches (cosine below 0.")
	require.Equal(t, 1, strings.Count(out, "nothing matches well"))
	entries, err := os.ReadDir(filepath.Join(cache, "calibration"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "the default model's calibration is kept in the cache")
	require.Equal(t, defaultModel(t).ID()+".json", entries[0].Name())

	in := mustRun(t, "search", "-model", "default", "-index", idx, "-k", "3", "a small black ring appears")
	t.Log(in)
	require.NotContains(t, in, "nothing matches well")
	require.True(t, strings.HasPrefix(in, "videos (1, cosine with the query):\n  1. "), "the best video is not folded: %q", in)
	require.Contains(t, in, "moments (best 3 of all videos):\n  1. ")

	var r searchJSON
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "search", "-model", "default", "-index", idx, "-json", "a dog catches a frisbee")), &r))
	require.NotNil(t, r.Match)
	require.True(t, r.Match.Weak && r.Match.Unknown && r.Match.OwnWorld, "%+v", r.Match)
	require.InDelta(t, r.Videos[0].Score, r.Match.Best, 1e-6)
	for _, m := range r.Moments {
		require.True(t, m.Weak)
	}
	r = searchJSON{}
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "search", "-model", "default", "-index", idx, "-json", "a small black ring appears")), &r))
	require.False(t, r.Match.Weak || r.Match.Unknown, "%+v", r.Match)
	for _, m := range r.Moments {
		require.Equal(t, m.Score < r.Match.Threshold, m.Weak, "moment of cosine %v, threshold %v", m.Score, r.Match.Threshold)
	}

	// A broken cache entry is measured again.
	require.NoError(t, os.WriteFile(filepath.Join(cache, "calibration", entries[0].Name()), []byte(`{"v":1,"heads":`), 0o644))
	require.Contains(t, mustRun(t, "search", "-model", "default", "-index", idx, "a dog catches a frisbee"), "looks outside the demo world")
	b, err = os.ReadFile(filepath.Join(cache, "calibration", entries[0].Name()))
	require.NoError(t, err)
	_, err = model.ParseCalibration(string(b))
	require.NoError(t, err, "the cache entry is written again")
}

// TestConvertStoresCalibration: convert records the calibration in the
// model file's meta, and a text-only file cut from it carries it, so that
// search with the text-only file (which cannot measure one) still tells
// weak results; a converted real CLIP's is of the built-in probes.
func TestConvertStoresCalibration(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CLIP4CLIP_CACHE", t.TempDir())
	full := filepath.Join(dir, "default.c4c")
	text := filepath.Join(dir, "text.c4c")
	mustRun(t, "convert", "-in", "default", "-out", full)
	stderr := mustRunErr(t, "convert", "-in", full, "-out", text, "-text-only")
	require.NotContains(t, stderr, "calibration:", "a file that has one is not measured again")
	id := defaultModel(t).ID()
	for _, p := range []string{full, text} {
		m, err := model.LoadFile(p)
		require.NoError(t, err)
		c, err := m.StoredCalibration()
		require.NoError(t, err, p)
		require.Equal(t, id, c.Model)
		require.True(t, c.OwnWorld)
		require.NotNil(t, c.Heads[model.SeqTransf])
	}

	clip := convertModel(t, "f32", fixture(t, "clip/clip_tiny_openai.pt"))
	m, err := model.LoadFile(clip)
	require.NoError(t, err)
	c, err := m.StoredCalibration()
	require.NoError(t, err)
	require.False(t, c.OwnWorld)
	require.Contains(t, c.Set, "model.ProbeImages")
	require.NotNil(t, c.Heads[model.MeanP])

	needFFmpegT(t)
	site := siteDir(t)
	idx := filepath.Join(site, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, filepath.Join(site, "videos"))
	out := mustRun(t, "search", "-model", text, "-index", idx, "a dog catches a frisbee")
	require.Contains(t, out, "looks outside the demo world")
	require.NotContains(t, out, "the default model", "the text-only file is not named default")
}
