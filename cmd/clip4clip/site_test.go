package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"clip4clip/internal/testenv"
	"clip4clip/model"
	"clip4clip/siteindex"
	"clip4clip/weights"
	"github.com/stretchr/testify/require"
)

const demoDir = "../../web/demos"

// needFFmpegT reports ffmpeg or ffprobe missing (testenv.Missing) to a
// test that decodes videos.
func needFFmpegT(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		testenv.Command(t, tool, "apt-get install -y ffmpeg: the index tests decode real videos")
	}
}

// siteDir makes DIR/videos with copies of the demo videos (read-only in
// the repository) and returns DIR.
func siteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "videos"), 0o755))
	for _, name := range []string{"demo0.webm", "demo1.webm", "demo2.webm"} {
		b, err := os.ReadFile(filepath.Join(demoDir, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "videos", name), b, 0o644))
	}
	return dir
}

// makeVideo writes a test-pattern video of 10 frames/s with ffmpeg.
func makeVideo(t *testing.T, path string, seconds float64, size string) {
	t.Helper()
	src := "testsrc2=duration=" + strconv.FormatFloat(seconds, 'g', -1, 64) + ":size=" + size + ":rate=10"
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", src, "-pix_fmt", "yuv420p", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func readIndex(t *testing.T, path string) *siteindex.Index {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	x, err := siteindex.Read(b)
	require.NoError(t, err)
	return x
}

func defaultModel(t *testing.T) *model.CLIP {
	m, err := model.Load(weights.Default())
	require.NoError(t, err)
	return m
}

func TestIndexDemos(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	idx := filepath.Join(dir, "site.c4s")
	log := mustRunErr(t, "index", "-model", "default", "-o", idx, filepath.Join(dir, "videos"))
	t.Log(log)
	require.Contains(t, log, "kept 0 unchanged, embedding 3 (0 changed, 3 new)")
	require.Contains(t, log, "frames/s")

	x := readIndex(t, idx)
	m := defaultModel(t)
	require.NoError(t, x.Check(m.ID()))
	require.Equal(t, "default", x.ModelName)
	require.Equal(t, model.SeqTransf, x.Head)
	require.Equal(t, [2]float64{1, 4}, [2]float64{x.FPS, x.Window})
	require.Len(t, x.Videos, 3)
	for i, v := range x.Videos {
		name := []string{"demo0", "demo1", "demo2"}[i]
		require.Equal(t, "videos/"+name+".webm", v.Path)
		require.Equal(t, name, v.Title)
		require.InDelta(t, 60, v.Duration, 0.01)
		require.Equal(t, [2]int{256, 256}, [2]int{v.Width, v.Height})
		require.Len(t, v.Moments, 15)
		require.Len(t, v.Thumbs, 1, "one thumbnail per 2 minutes, at least one")
		require.Equal(t, 30.0, v.Thumbs[0].Time)
		require.LessOrEqual(t, len(v.Thumbs[0].JPEG), siteindex.MaxThumbBytes)
		img, err := jpeg.Decode(bytes.NewReader(v.Thumbs[0].JPEG))
		require.NoError(t, err)
		require.Equal(t, siteindex.ThumbSize, img.Bounds().Dx())
	}

	out := mustRun(t, "search", "-model", "default", "-index", idx, "-k", "3", "a", "small", "black", "ring", "appears")
	t.Log(out)
	require.Contains(t, out, "videos (3, cosine with the query):")
	require.Contains(t, out, "moments (best 3 of all videos):")
	require.Regexp(t, `  1\.  +[-0-9.]+  0:00-0:04  demo0  videos/demo0\.webm`, out)

	js := mustRun(t, "search", "-model", "default", "-index", idx, "-json", "-k", "2", "a small black ring appears")
	var r struct {
		Query  string
		Videos []struct {
			Video int
			Score float64
			Path  string
		}
		Moments []struct {
			Video, Moment int
			Start, End    float64
			Path, Title   string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(js), &r))
	require.Equal(t, "a small black ring appears", r.Query)
	require.Len(t, r.Videos, 3)
	require.Len(t, r.Moments, 2)
	require.Equal(t, "videos/demo0.webm", r.Moments[0].Path)
	require.Equal(t, [2]float64{0, 4}, [2]float64{r.Moments[0].Start, r.Moments[0].End})
}

// mustRunErr runs the CLI and returns its stderr, failing on an error.
func mustRunErr(t *testing.T, args ...string) string {
	t.Helper()
	stderr, err := runErr(t, args...)
	require.NoError(t, err, "clip4clip %s: %s", strings.Join(args, " "), stderr)
	return stderr
}

// runErr runs the CLI and returns its stderr and exit error.
func runErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// TestDemoIndexRanking searches the demo index for every event caption of
// the demo videos and counts how often the video the event happens in
// ranks first (chance: one in three). Videos rank by the better of their
// whole-video score and their best moment's: the default model puts the
// right video first for 40 of the 56 captions so, for 27 by the whole
// video's score alone.
func TestDemoIndexRanking(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	idx := filepath.Join(dir, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, filepath.Join(dir, "videos"))
	x := readIndex(t, idx)
	m := defaultModel(t)
	e := m.NewEncoder()
	q := make([]float32, m.Config.EmbedDim)
	var n, first, momentVideo, momentIn int
	for i := range 3 {
		b, err := os.ReadFile(filepath.Join(demoDir, "demo"+string(rune('0'+i))+".json"))
		require.NoError(t, err)
		var demo struct {
			Events []struct {
				Caption    string
				Start, End float64
			}
		}
		require.NoError(t, json.Unmarshal(b, &demo))
		for _, ev := range demo.Events {
			ids, _, err := m.Tokenizer.Tokenize(ev.Caption, m.Config.Text.Context)
			require.NoError(t, err)
			require.NoError(t, e.EncodeText(q, ids))
			r := x.Search(q, 1)
			n++
			if r.Videos[0].Video == i {
				first++
			}
			if mh := r.Moments[0]; mh.Video == i {
				momentVideo++
				if mh.Start < ev.End && ev.Start < mh.End {
					momentIn++
				}
			}
		}
	}
	rate := float64(first) / float64(n)
	t.Logf("demo index (default model): the event's own video ranks first for %d of %d event captions (%.1f%%, chance 33.3%%); the best moment is in that video for %d (%.1f%%) and overlaps the event for %d (%.1f%%)",
		first, n, 100*rate, momentVideo, 100*float64(momentVideo)/float64(n), momentIn, 100*float64(momentIn)/float64(n))
	require.GreaterOrEqual(t, rate, 0.65, "the right video first for about two events in three or more, twice chance")
}

func TestIndexUpdateFailuresShards(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	vids := filepath.Join(dir, "videos")
	makeVideo(t, filepath.Join(vids, "pattern wide #1.mp4"), 9.5, "320x180")
	idx := filepath.Join(dir, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, vids)
	before, err := os.ReadFile(idx)
	require.NoError(t, err)
	x := readIndex(t, idx)
	require.Len(t, x.Videos, 4)
	p := x.Videos[3]
	require.Equal(t, "videos/pattern%20wide%20%231.mp4", p.Path, "paths are URLs relative to the index")
	require.Equal(t, "pattern wide #1", p.Title)
	require.Len(t, p.Moments, 3) // 10 frames: 0-3, 4-7, 8-9
	s, e := x.MomentSpan(3, 2)
	require.Equal(t, [2]float64{8, 9.5}, [2]float64{s, e})

	// Shards merged give the same file as one run.
	var shards []string
	for i, sh := range []string{"0/3", "1/3", "2/3"} {
		out := filepath.Join(dir, "shard"+string(rune('0'+i))+".c4s")
		mustRunErr(t, "index", "-model", "default", "-o", out, "-shard", sh, vids)
		require.Len(t, readIndex(t, out).Videos, []int{2, 1, 1}[i])
		// Shard indexes live beside the merged one, so their paths agree.
		shards = append(shards, out)
	}
	merged := filepath.Join(dir, "merged.c4s")
	mustRunErr(t, append([]string{"merge", "-o", merged}, shards...)...)
	mb, err := os.ReadFile(merged)
	require.NoError(t, err)
	require.Equal(t, before, mb, "merged shards differ from one run")

	// A run with nothing changed keeps everything and writes the same bytes.
	log := mustRunErr(t, "index", "-model", "default", "-o", idx, vids)
	require.Contains(t, log, "kept 4 unchanged, embedding 0")
	again, err := os.ReadFile(idx)
	require.NoError(t, err)
	require.Equal(t, before, again)

	// A changed file is embedded again, a removed one dropped; broken files
	// are reported while the rest goes on, and the exit status says so.
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(vids, "demo1.webm"), later, later))
	require.NoError(t, os.Remove(filepath.Join(vids, "demo2.webm")))
	demo0, err := os.ReadFile(filepath.Join(vids, "demo0.webm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(vids, "truncated.webm"), demo0[:5000], 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(vids, "empty.mp4"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(vids, "notes.mkv"), []byte("not a video at all\n"), 0o644))
	log, err = runErr(t, "index", "-model", "default", "-o", idx, vids)
	t.Log(log)
	require.Error(t, err)
	require.Contains(t, log, "kept 2 unchanged, embedding 4 (1 changed, 3 new), dropping 1 removed")
	require.Regexp(t, `truncated\.webm: ffmpeg decoded only \d+ of the 60 frames`, log)
	require.Contains(t, log, "empty.mp4: the file is empty (0 bytes)")
	require.Contains(t, log, "notes.mkv: ffprobe cannot read it as a video")
	require.Contains(t, log, "3 of 4 videos could not be indexed")
	x = readIndex(t, idx)
	var paths []string
	for _, v := range x.Videos {
		paths = append(paths, v.Path)
	}
	require.Equal(t, []string{"videos/demo0.webm", "videos/demo1.webm", "videos/pattern%20wide%20%231.mp4"}, paths)

	// -base-url puts the paths under a URL.
	based := filepath.Join(dir, "based.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", based, "-base-url", "https://cdn.example/site/", filepath.Join(vids, "demo0.webm"))
	require.Equal(t, "https://cdn.example/site/videos/demo0.webm", readIndex(t, based).Videos[0].Path)
}

func TestSiteErrors(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	vids := filepath.Join(dir, "videos")
	idx := filepath.Join(dir, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, filepath.Join(vids, "demo0.webm"))

	// An index of another model: the int8 copy of the default model.
	other := filepath.Join(dir, "int8.c4c")
	mustRunErr(t, "convert", "-in", "../../weights/default.c4c", "-out", other, "-dtype", "int8")
	otherIdx := filepath.Join(dir, "other.c4s")
	mustRunErr(t, "index", "-model", other, "-o", otherIdx, filepath.Join(vids, "demo0.webm"))
	out, err := run(t, "search", "-model", "default", "-index", otherIdx, "a ring")
	require.Error(t, err)
	require.Contains(t, out, "the index was built with model int8.c4c (")
	require.Contains(t, out, "but the query model is default (")
	require.Contains(t, out, "rebuild the index or load the model it was built with")
	// ... nor is it updated with another model.
	out, err = runErr(t, "index", "-model", "default", "-o", otherIdx, vids)
	require.Error(t, err)
	require.Contains(t, out, "was built with model int8.c4c")
	_, err = runErr(t, "merge", "-o", filepath.Join(dir, "m.c4s"), idx, otherIdx)
	require.Error(t, err)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"search", "-model", "default", "-index", idx, "  "}, "the query is empty"},
		{[]string{"search", "-model", "default", "-index", idx, strings.Repeat("ring ", 80)}, "the query (or one of its terms) is more than 30 tokens, the most this model reads"},
		{[]string{"search", "-model", "default", "-index", "../../weights/default.c4c", "a ring"}, "model file (C4CMODEL), not a clip4clip site index"},
		{[]string{"index", "-model", "default", "-o", idx, "-shard", "2/2", vids}, "-shard \"2/2\""},
		{[]string{"index", "-model", "default", "-o", idx, "-fps", "1", "-window", "500ms", vids}, "at least one frame per window"},
		{[]string{"index", "-model", "default", "-o", idx, filepath.Join(dir, "missing.mp4")}, "no such file"},
		{[]string{"index", "-model", "default", "-o", filepath.Join(vids, "demo1.webm"), vids}, "exists and cannot be updated"},
	} {
		out, err := runErr(t, tc.args...)
		require.Error(t, err, "%v", tc.args)
		require.Contains(t, out, tc.want, "%v", tc.args)
	}
	app := filepath.Join(dir, "app.idx")
	require.NoError(t, os.WriteFile(app, []byte("C4CINDEX\x01\x00\x00\x00\x02\x00\x00\x00{}"), 0o644))
	out, err = runErr(t, "search", "-model", "default", "-index", app, "a ring")
	require.Error(t, err)
	require.Contains(t, out, "the app's own index file")

	// Without ffmpeg on PATH: say which tools and how to install them.
	cmd := exec.Command(binary, "index", "-model", "default", "-o", idx, vids)
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	b, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "ffprobe and ffmpeg not found on PATH")
	require.Contains(t, string(b), "apt-get install ffmpeg")
}

// TestTextOnlySearch cuts the text-only file from the default model and
// searches the index built with the full one: same results, and the
// text-only file cannot index.
func TestTextOnlySearch(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	vids := filepath.Join(dir, "videos")
	idx := filepath.Join(dir, "site.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", idx, vids)
	text := filepath.Join(dir, "text.c4c")
	log := mustRunErr(t, "convert", "-in", "../../weights/default.c4c", "-out", text, "-text-only")
	require.Contains(t, log, "text-only (query side of model ")
	st, err := os.Stat(text)
	require.NoError(t, err)
	require.Less(t, st.Size(), int64(len(weights.Default()))/2)

	full := mustRun(t, "search", "-model", "default", "-index", idx, "-json", "a big white cross spins")
	cut := mustRun(t, "search", "-model", text, "-index", idx, "-json", "a big white cross spins")
	require.Equal(t, full, cut)

	out, err := runErr(t, "index", "-model", text, "-o", filepath.Join(dir, "x.c4s"), vids)
	require.Error(t, err)
	require.Contains(t, out, "is a text-only model")

	// A text-only file converted again stays what it is.
	again := filepath.Join(dir, "again.c4c")
	mustRunErr(t, "convert", "-in", text, "-out", again, "-text-only")
	require.Equal(t, full, mustRun(t, "search", "-model", again, "-index", idx, "-json", "a big white cross spins"))
}

// TestConvertTextOnlyCheckpoint converts a checkpoint straight to its
// text-only file: it names the model the same checkpoint converts to with
// the same -dtype, and gives the same text features.
func TestConvertTextOnlyCheckpoint(t *testing.T) {
	pt := fixture(t, "clip/clip_tiny_openai.pt")
	vocab := fixture(t, "bpe_simple_vocab_16e6.txt.gz")
	dir := t.TempDir()
	full, text := filepath.Join(dir, "full.c4c"), filepath.Join(dir, "text.c4c")
	mustRun(t, "convert", "-in", pt, "-vocab", vocab, "-dtype", "int8", "-out", full)
	mustRun(t, "convert", "-in", pt, "-vocab", vocab, "-dtype", "int8", "-out", text, "-text-only")
	fm, err := model.LoadFile(full)
	require.NoError(t, err)
	tm, err := model.LoadFile(text)
	require.NoError(t, err)
	require.True(t, tm.Config.TextOnly)
	require.Equal(t, fm.ID(), tm.ID())
	ids, _, err := fm.Tokenizer.Tokenize("a photo of a cat", fm.Config.Text.Context)
	require.NoError(t, err)
	want, got := make([]float32, fm.Config.EmbedDim), make([]float32, fm.Config.EmbedDim)
	require.NoError(t, fm.NewEncoder().EncodeText(want, ids))
	require.NoError(t, tm.NewEncoder().EncodeText(got, ids))
	require.Equal(t, want, got)
}

// TestIndexRotatedVideo indexes a phone-style video stored landscape with
// a 90° display rotation: its size and thumbnail are the upright ones.
func TestIndexRotatedVideo(t *testing.T) {
	needFFmpegT(t)
	dir := t.TempDir()
	src, rot := filepath.Join(dir, "src.mp4"), filepath.Join(dir, "rot.mp4")
	makeVideo(t, src, 3, "320x180")
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", src, "-c", "copy", "-metadata:s:v:0", "rotate=90", rot).CombinedOutput()
	require.NoError(t, err, "%s", out)
	p, err := probe(rot)
	require.NoError(t, err)
	if p.width != 180 {
		t.Skipf("this ffmpeg does not set a rotation with -metadata rotate=90 (probed %dx%d)", p.width, p.height)
	}
	idx := filepath.Join(dir, "site.idx")
	log := mustRunErr(t, "index", "-model", "default", "-o", idx, rot)
	// One video of 3 s: one moment, a file of a few kB, said so.
	require.Regexp(t, `wrote .*site.idx: 1 video, 1 moment, [0-9.]+ kB \([0-9]+ bytes per moment\)`, log)
	v := readIndex(t, idx).Videos[0]
	require.Equal(t, [2]int{180, 320}, [2]int{v.Width, v.Height})
	img, err := jpeg.Decode(bytes.NewReader(v.Thumbs[0].JPEG))
	require.NoError(t, err)
	require.Equal(t, siteindex.ThumbSize, img.Bounds().Dy(), "the longer side")
	require.Equal(t, 72, img.Bounds().Dx())
}

// readDir reads every file of a chunked index folder: name -> bytes.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	}))
	return out
}

// TestIndexChunked: index -chunked writes a folder holding what the single
// file does; shards merged with merge -chunked give one run's folder; a
// re-run rewrites only the meta; a changed video rewrites its fragments
// and removes the stale files.
func TestIndexChunked(t *testing.T) {
	needFFmpegT(t)
	dir := siteDir(t)
	vids := filepath.Join(dir, "videos")
	one := filepath.Join(dir, "one")
	log := mustRunErr(t, "index", "-chunked", "-model", "default", "-o", one, vids)
	require.Contains(t, log, "3 videos")
	require.FileExists(t, filepath.Join(one, siteindex.MetaName))
	x, _, err := siteindex.ReadChunked(dirFetch(one))
	require.NoError(t, err)
	require.Len(t, x.Videos, 3)
	require.Equal(t, "../videos/demo0.webm", x.Videos[0].Path, "paths are relative to the folder")

	// The single file of the same videos, converted with merge -chunked,
	// reads back as that file.
	single := filepath.Join(dir, "single.c4s")
	mustRunErr(t, "index", "-model", "default", "-o", single, vids)
	conv := filepath.Join(dir, "conv")
	mustRunErr(t, "merge", "-chunked", "-o", conv, single)
	back, _, err := siteindex.ReadChunked(dirFetch(conv))
	require.NoError(t, err)
	sb, err := back.MarshalBinary()
	require.NoError(t, err)
	want, err := os.ReadFile(single)
	require.NoError(t, err)
	require.Equal(t, want, sb, "the chunked folder does not hold the single file's index")
	// And back: merge of a folder into one file.
	again := filepath.Join(dir, "again.c4s")
	mustRunErr(t, "merge", "-o", again, conv)
	ab, err := os.ReadFile(again)
	require.NoError(t, err)
	require.Equal(t, want, ab)

	// Shards, merged, equal one run, file for file.
	var shards []string
	for i, sh := range []string{"0/2", "1/2"} {
		out := filepath.Join(dir, "shard"+strconv.Itoa(i))
		mustRunErr(t, "index", "-chunked", "-model", "default", "-o", out, "-shard", sh, vids)
		shards = append(shards, out)
	}
	merged := filepath.Join(dir, "merged")
	mustRunErr(t, append([]string{"merge", "-chunked", "-o", merged}, shards...)...)
	require.Equal(t, readDir(t, one), readDir(t, merged), "merged shards differ from one run")

	// A re-run keeps every file but rewrites the meta.
	before := readDir(t, one)
	log = mustRunErr(t, "index", "-chunked", "-model", "default", "-o", one, vids)
	require.Contains(t, log, "kept 3 unchanged, embedding 0")
	require.Contains(t, log, fmt.Sprintf("1 files written, %d kept, 0 removed", len(before)-1))
	require.Equal(t, before, readDir(t, one))

	// A removed video: its fragments and the stale chunks go.
	require.NoError(t, os.Remove(filepath.Join(vids, "demo2.webm")))
	mustRunErr(t, "index", "-chunked", "-model", "default", "-o", one, vids)
	after := readDir(t, one)
	x, _, err = siteindex.ReadChunked(dirFetch(one))
	require.NoError(t, err)
	require.Len(t, x.Videos, 2)
	for name := range after {
		if strings.HasPrefix(name, "f/") {
			f, err := siteindex.ReadFragment(name, after[name], x.EmbedDim)
			require.NoError(t, err)
			require.NotEqual(t, "../videos/demo2.webm", f.Video.Path, "a stale fragment is left")
		}
	}

	// A file where the folder should be, and a folder of other files, are refused.
	log, err = runErr(t, "index", "-chunked", "-model", "default", "-o", single, vids)
	require.Error(t, err)
	require.Contains(t, log, "is a file: a chunked index is a folder")
	log, err = runErr(t, "merge", "-chunked", "-o", vids, single)
	require.Error(t, err)
	require.Contains(t, log, "holds other files and no index.c4m")
}
