package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// searchRun runs search -json and decodes what the features here need.
type searchOut struct {
	Videos []struct {
		Video int
		Score float64
		Path  string
	}
	Moments []struct {
		Video, Moment int
		Start         float64
		Score         float64
		Path          string
	}
}

func searchRun(t *testing.T, args ...string) searchOut {
	t.Helper()
	var r searchOut
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, append([]string{"search", "-json"}, args...)...)), &r))
	return r
}

// TestSearchTermsFiltersLike: minus and weighted terms change the query
// as the sum of unit features would (a term minus itself finds what the
// rest finds), -video and the duration filters keep only what they name,
// and -like finds more like a moment without the moment itself.
func TestSearchTermsFiltersLike(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	idx := filepath.Join(dir, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, filepath.Join(dir, "videos"))
	base := []string{"-model", "default", "-index", idx, "-k", "5"}

	plain := searchRun(t, append(base, "a small black ring appears")...)
	// 2x a query is the query; adding and removing a term cancels out.
	require.Equal(t, plain.Moments, searchRun(t, append(base, "2:a small black ring appears")...).Moments)
	cancel := searchRun(t, append(base, "a small black ring appears + a big red square - a big red square")...)
	require.Equal(t, len(plain.Moments), len(cancel.Moments))
	for i := range plain.Moments {
		require.Equal(t, plain.Moments[i].Video, cancel.Moments[i].Video)
		require.Equal(t, plain.Moments[i].Moment, cancel.Moments[i].Moment)
	}
	minus := searchRun(t, append(base, "a small black ring appears -a small black ring")...)
	require.NotEqual(t, plain.Moments, minus.Moments, "subtracting most of the query changes the results")

	only := searchRun(t, append(base, "-video", "DEMO1", "a small black ring appears")...)
	require.Len(t, only.Videos, 1)
	require.Equal(t, "videos/demo1.webm", only.Videos[0].Path)
	for _, m := range only.Moments {
		require.Equal(t, "videos/demo1.webm", m.Path)
	}
	out, err := run(t, append([]string{"search"}, append(base, "-min-duration", "2m", "a ring")...)...)
	require.Error(t, err)
	require.Contains(t, out, "no video in the index passes")
	require.Len(t, searchRun(t, append(base, "-min-duration", "59s", "-max-duration", "61s", "a ring")...).Videos, 3)

	like := searchRun(t, append(base, "-like", "videos/demo0.webm@10")...)
	require.NotEmpty(t, like.Moments)
	for _, m := range like.Moments {
		require.False(t, m.Path == "videos/demo0.webm" && m.Start == 8, "the moment itself (8-12 s) is in its own results")
	}
	for _, bad := range [][]string{{"-like", "nope.webm@3"}, {"-like", "videos/demo0.webm@999"}, {"-like", "videos/demo0.webm"}, {"-like", "videos/demo0.webm@3", "a", "ring"}} {
		out, err := run(t, append([]string{"search"}, append(base, bad...)...)...)
		require.Error(t, err, "%v", bad)
		require.Contains(t, out, "-like", "%v: %s", bad, out)
	}
}
