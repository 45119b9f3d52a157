package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"clip4clip/internal/atomicfile"
	"clip4clip/model"
	"clip4clip/quant"
	"clip4clip/siteindex"
	"clip4clip/wasm/engine"
)

// videoExts are the extensions a directory walk takes as videos.
var videoExts = []string{".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v", ".ogv"}

func runIndex(args []string) error {
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	modelPath := fs.String("model", "", "the full model file the site's text-only model is cut from (\"default\" for the built-in demo-world model)")
	out := fs.String("o", "", "index file to write; an existing one is updated: videos whose path, size and mtime are unchanged are kept without embedding them again")
	fps := fs.Float64("fps", siteindex.DefaultFPS, "frames sampled per second")
	window := fs.Duration("window", time.Duration(siteindex.DefaultWindow*float64(time.Second)), "length of a moment: consecutive, non-overlapping windows")
	shard := fs.String("shard", "", "i/n: index only this share of the inputs (sorted, input k goes to shard k mod n, i from 0); join the shards with clip4clip merge")
	baseURL := fs.String("base-url", "", "URL the video paths are under (default: paths relative to the index file's directory)")
	thumbEvery := fs.Duration("thumb-every", time.Duration(siteindex.ThumbEvery*float64(time.Second)), "one thumbnail per this much video (at least one per video)")
	chunked := fs.Bool("chunked", false, "write the index as a folder (-o DIR) that a visitor's browser loads only a few megabytes of, however many videos: a meta file, content-hashed chunks of moments grouped by k-means and per-video fragments (see siteindex/chunked.go)")
	jobs := fs.Int("j", runtime.GOMAXPROCS(0), "frames embedded at once (one encoder each)")
	inputs, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *modelPath == "" || *out == "" || len(inputs) == 0 {
		return errors.New("need -model MODEL -o INDEX and videos or directories (see -h)")
	}
	win := window.Seconds()
	if !(*fps > 0) || math.IsInf(*fps, 0) || !(win > 0) || win**fps < 1-1e-9 {
		return fmt.Errorf("-fps %v and -window %v: both must be positive, with at least one frame per window", *fps, *window)
	}
	if *thumbEvery <= 0 || *jobs < 1 {
		return fmt.Errorf("-thumb-every %v and -j %d must be positive", *thumbEvery, *jobs)
	}
	si, sn, err := parseShard(*shard)
	if err != nil {
		return err
	}
	// Before any video is embedded, which takes minutes: a bad -o would
	// only fail at the end.
	checkOut := checkOutput
	if *chunked {
		checkOut = checkChunkedOutput
	}
	if err := checkOut(*out); err != nil {
		return err
	}
	if err := needFFmpeg(); err != nil {
		return err
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	if m.Config.TextOnly {
		return fmt.Errorf("%s is a text-only model: indexing embeds frames, which needs the full model file it was cut from", *modelPath)
	}
	head := headName(m.Config.Head.Type)
	if err := siteindex.CheckHead(head); err != nil {
		return err
	}

	files, err := findVideos(inputs)
	if err != nil {
		return err
	}
	absOut, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	var todo []*indexJob
	for k, f := range files {
		if k%sn != si {
			continue
		}
		indexDir := filepath.Dir(absOut)
		if *chunked {
			indexDir = absOut // the page resolves video paths against the folder's meta file
		}
		p, err := videoURL(f, indexDir, *baseURL)
		if err != nil {
			return err
		}
		todo = append(todo, &indexJob{file: f, path: p})
	}

	x := &siteindex.Index{ModelID: m.ID(), ModelName: modelName(*modelPath), Head: head, EmbedDim: m.Config.EmbedDim, FPS: *fps, Window: win}
	old, err := readOld(*out, x)
	if err != nil {
		return err
	}
	kept, stale := 0, 0
	var embed []*indexJob
	for _, j := range todo {
		st, err := os.Stat(j.file)
		if err != nil {
			return err
		}
		j.size, j.mtime = st.Size(), st.ModTime().UnixMilli()
		if v, ok := old[j.path]; ok {
			delete(old, j.path)
			if v.Size == j.size && v.ModTime == j.mtime {
				x.Videos = append(x.Videos, v)
				kept++
				continue
			}
			stale++
		}
		embed = append(embed, j)
	}
	removed := len(old)
	fmt.Fprintf(os.Stderr, "index %s: %s; kept %d unchanged, embedding %d (%d changed, %d new), dropping %d removed\n",
		*out, count(len(todo), "video"), kept, len(embed), stale, len(embed)-stale, removed)

	ix := &indexer{m: m, head: head, fps: *fps, window: win, thumbEvery: thumbEvery.Seconds(), workers: *jobs}
	videos, failed := ix.run(embed)
	x.Videos = append(x.Videos, videos...)
	slices.SortFunc(x.Videos, func(a, b siteindex.Video) int { return strings.Compare(a.Path, b.Path) })
	if *chunked {
		w, err := writeChunked(*out, x)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s; kept %d videos, embedded %d, dropped %d, failed %d\n", describeChunked(*out, x, w), kept, len(videos), removed, failed)
		if failed > 0 {
			return fmt.Errorf("%d of %d videos could not be indexed (see above); the index holds the others", failed, len(embed))
		}
		return nil
	}
	if err := writeIndex(*out, x); err != nil {
		return err
	}
	moments := 0
	for _, v := range x.Videos {
		moments += len(v.Moments)
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	size := byteSize(st.Size())
	if moments > 0 {
		size += fmt.Sprintf(" (%.0f bytes per moment)", float64(st.Size())/float64(moments))
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s, %s, %s; kept %d, embedded %d, dropped %d, failed %d\n",
		*out, count(len(x.Videos), "video"), count(moments, "moment"), size, kept, len(videos), removed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d videos could not be indexed (see above); the index holds the others", failed, len(embed))
	}
	return nil
}

// parseShard reads -shard i/n; "" is 0/1.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("-shard %q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return i, n, nil
}

// needFFmpeg checks that ffmpeg and ffprobe are on PATH.
func needFFmpeg() error {
	var missing []string
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found on PATH: indexing decodes videos with ffprobe and ffmpeg; install them (apt-get install ffmpeg, brew install ffmpeg, or https://ffmpeg.org/download.html)", strings.Join(missing, " and "))
	}
	return nil
}

// findVideos expands directories into the video files under them (by
// extension) and returns every input's absolute path once, sorted.
func findVideos(inputs []string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	add := func(p string) error {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if !seen[abs] {
			seen[abs] = true
			files = append(files, abs)
		}
		return nil
	}
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			if err := add(in); err != nil {
				return nil, err
			}
			continue
		}
		n := len(files)
		err = filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && slices.Contains(videoExts, strings.ToLower(filepath.Ext(p))) {
				return add(p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			fmt.Fprintf(os.Stderr, "note: no videos in %s (looked for %s)\n", in, strings.Join(videoExts, " "))
		}
	}
	slices.Sort(files)
	return files, nil
}

// videoURL is the path the page loads a video by: its path relative to the
// index file's directory, each element URL-escaped, under base if given.
func videoURL(file, indexDir, base string) (string, error) {
	rel, err := filepath.Rel(indexDir, file)
	if err != nil {
		return "", fmt.Errorf("%s: no path relative to the index's directory %s: %w", file, indexDir, err)
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	p := strings.Join(parts, "/")
	if base != "" {
		p = strings.TrimSuffix(base, "/") + "/" + p
	}
	return p, nil
}

// modelName names the model for messages: its file's name, or the
// -model value as given for "default" and hf:REPO.
func modelName(path string) string {
	if path == "default" || strings.HasPrefix(path, "hf:") {
		return path
	}
	return filepath.Base(path)
}

// readOld reads an existing index at path to update it, by video path. It
// refuses one that another model, sampling or window made, rather than mix
// features.
func readOld(path string, x *siteindex.Index) (map[string]siteindex.Video, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && st.IsDir() && !isChunked(path)) {
		return map[string]siteindex.Video{}, nil // new, or an empty folder checkChunkedOutput let through
	}
	if err != nil {
		return nil, err
	}
	old, err := readAnyIndex(path)
	if err != nil {
		return nil, fmt.Errorf("%s exists and cannot be updated: %w; remove it or choose another -o", path, err)
	}
	if err := old.Check(x.ModelID); err != nil {
		return nil, fmt.Errorf("%s exists and was built with model %s, not %s: remove it to rebuild the index with this model, or choose another -o", path, siteindex.Describe(old.ModelName, old.ModelID), siteindex.Describe(x.ModelName, x.ModelID))
	}
	if old.FPS != x.FPS || old.Window != x.Window || old.Head != x.Head || old.EmbedDim != x.EmbedDim {
		return nil, fmt.Errorf("%s exists with %v frames/s and %v s moments, not %v and %v: remove it to rebuild, or give the same -fps and -window", path, old.FPS, old.Window, x.FPS, x.Window)
	}
	byPath := map[string]siteindex.Video{}
	for _, v := range old.Videos {
		byPath[v.Path] = v
	}
	return byPath, nil
}

// checkOutput reports why -o path cannot be written, naming the path and
// what to do: its directory must exist and take a new file, and path must
// not be a directory.
func checkOutput(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("-o %s is a directory: give the file to write, e.g. -o %s", path, filepath.Join(path, "site.c4s"))
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("-o %s: the directory %s does not exist: create it (mkdir -p %s) or give another -o", path, dir, dir)
	case err != nil:
		return fmt.Errorf("-o %s: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("-o %s: %s is not a directory: give another -o", path, dir)
	}
	f, err := os.CreateTemp(dir, ".clip4clip-check-*")
	if err != nil {
		return fmt.Errorf("-o %s: cannot write in %s (%v): give -o in a directory you can write to", path, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeIndex writes x to path, replacing it only once the whole file is
// written and synced.
func writeIndex(path string, x *siteindex.Index) error {
	data, err := x.MarshalBinary()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// indexJob is one video file to embed.
type indexJob struct {
	file, path  string // on disk; in the index
	size, mtime int64

	probe        probeInfo
	n            int            // frames sampled
	w, h         int            // decoded frame size
	feats        []float32      // (n, embed) frame features
	thumbs       map[int][]byte // frames thumbnails are made from, by index
	wg           sync.WaitGroup // frames still being embedded
	err          error          // why the video cannot be indexed
	embedErr     error
	embedErrOnce sync.Once
}

// probeInfo is what ffprobe says about a video.
type probeInfo struct {
	duration      float64
	width, height int // as displayed (rotation applied)
}

// indexer embeds videos: one goroutine decodes with ffmpeg, `workers`
// goroutines embed frames (an engine each, sharing the model), and the
// caller's goroutine pools each video in order as its frames are done.
type indexer struct {
	m          *model.CLIP
	head       string
	fps        float64
	window     float64
	thumbEvery float64
	workers    int

	frames atomic.Int64 // frames embedded so far
}

// frameJob is one decoded frame for a worker.
type frameJob struct {
	v    *indexJob
	i    int
	rgba []byte
}

// run indexes the videos and returns those that succeeded, in order, and
// how many failed (each reported on stderr).
func (ix *indexer) run(videos []*indexJob) ([]siteindex.Video, int) {
	if len(videos) == 0 {
		return nil, 0
	}
	// The kernels' own threads would compete with the workers.
	defer quant.SetThreads(quant.Threads())
	quant.SetThreads(1)

	ix.probeAll(videos)
	total := 0
	for _, v := range videos {
		total += v.n
	}
	prog := newProgress(total, len(videos))
	defer prog.stop()

	frames := make(chan frameJob, 2*ix.workers)
	ready := make(chan *indexJob, 4)
	var workers sync.WaitGroup
	for range ix.workers {
		e, err := engine.FromModel(ix.m)
		if err != nil {
			panic(err) // loadModel checked the tokenizer
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			d := ix.m.Config.EmbedDim
			for f := range frames {
				v := f.v
				if err := e.EmbedFrame(v.feats[f.i*d:(f.i+1)*d], f.rgba, v.w, v.h); err != nil {
					v.embedErrOnce.Do(func() { v.embedErr = err })
				}
				prog.frames.Add(1)
				v.wg.Done()
			}
		}()
	}
	go func() {
		for _, v := range videos {
			if v.err == nil {
				v.err = ix.decode(v, frames)
			}
			ready <- v
		}
		close(ready)
		close(frames)
	}()

	pool, err := engine.FromModel(ix.m)
	if err != nil {
		panic(err)
	}
	var out []siteindex.Video
	failed := 0
	for v := range ready {
		v.wg.Wait()
		if v.err == nil {
			v.err = v.embedErr
		}
		var vid siteindex.Video
		if v.err == nil {
			vid, v.err = ix.finish(pool, v)
		}
		if v.err != nil {
			failed++
			prog.printf("%s: %v\n", v.file, v.err)
		} else {
			out = append(out, vid)
		}
		prog.videos.Add(1)
		v.feats, v.thumbs = nil, nil
	}
	workers.Wait()
	prog.stop()
	el := time.Since(prog.start)
	fmt.Fprintf(os.Stderr, "embedded %d frames in %v: %.1f frames/s with %d workers\n",
		prog.frames.Load(), el.Round(100*time.Millisecond), float64(prog.frames.Load())/el.Seconds(), ix.workers)
	return out, failed
}

// probeAll runs ffprobe over the videos, a few at a time, and sizes their
// frame buffers; a video that cannot be probed gets its error.
func (ix *indexer) probeAll(videos []*indexJob) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, ix.workers))
	for _, v := range videos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if v.size == 0 {
				v.err = errors.New("the file is empty (0 bytes): not a video")
				return
			}
			p, err := probe(v.file)
			if err != nil {
				v.err = err
				return
			}
			v.probe = p
			// Frames at i/fps for i/fps < duration, as the page samples them.
			v.n = max(1, int(math.Ceil(p.duration*ix.fps-1e-6)))
			v.w, v.h = frameSize(p.width, p.height, ix.m.Config.Vision.Resolution)
		}()
	}
	wg.Wait()
}

// frameSize is the size frames are decoded at: the video's, or scaled down
// so the short side is twice the model's resolution where it is larger
// (the preprocessing resizes to the resolution anyway), even sides.
func frameSize(w, h, res int) (int, int) {
	short := min(w, h)
	if short > 2*res {
		f := float64(2*res) / float64(short)
		w, h = int(math.Round(float64(w)*f)), int(math.Round(float64(h)*f))
	}
	return max(2, w&^1), max(2, h&^1)
}

// probe asks ffprobe for the duration and displayed size of a video.
func probe(file string) (probeInfo, error) {
	cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "format=duration:stream=width,height,duration:stream_side_data=rotation:stream_tags=rotate", "-of", "json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return probeInfo{}, fmt.Errorf("ffprobe cannot read it as a video: %s", lastLine(stderr.String(), err))
	}
	var r struct {
		Streams []struct {
			Width, Height int
			Duration      string
			SideData      []struct {
				Rotation float64 `json:"rotation"`
			} `json:"side_data_list"`
			Tags struct {
				Rotate string `json:"rotate"`
			} `json:"tags"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return probeInfo{}, fmt.Errorf("ffprobe's answer: %v", err)
	}
	if len(r.Streams) == 0 || r.Streams[0].Width <= 0 || r.Streams[0].Height <= 0 {
		return probeInfo{}, errors.New("ffprobe finds no video stream in it")
	}
	s := r.Streams[0]
	d, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil || !(d > 0) {
		if d, err = strconv.ParseFloat(s.Duration, 64); err != nil || !(d > 0) {
			return probeInfo{}, errors.New("ffprobe reports no duration: is it a still image or a live stream?")
		}
	}
	p := probeInfo{duration: d, width: s.Width, height: s.Height}
	rot, _ := strconv.ParseFloat(s.Tags.Rotate, 64)
	for _, sd := range s.SideData {
		rot = sd.Rotation
	}
	if r := math.Mod(math.Abs(rot), 180); r == 90 { // ffmpeg turns the frames upright
		p.width, p.height = p.height, p.width
	}
	return p, nil
}

// lastLine is the last line of a tool's error output (where ffmpeg says
// what stopped it), or err where there is none.
func lastLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// decode streams v's frames at the sampling rate (the last frame at or
// before each i/fps, as a <video> seeked there shows) to the workers, and
// keeps the frames thumbnails are made from.
func (ix *indexer) decode(v *indexJob, frames chan<- frameJob) error {
	d := ix.m.Config.EmbedDim
	v.feats = make([]float32, v.n*d)
	v.thumbs = map[int][]byte{}
	for _, i := range thumbFrames(v.probe.duration, ix.fps, ix.thumbEvery, v.n) {
		v.thumbs[i] = nil
	}
	vf := fmt.Sprintf("fps=fps=%s:round=up,scale=%d:%d:flags=area", strconv.FormatFloat(ix.fps, 'g', -1, 64), v.w, v.h)
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", v.file, "-an", "-sn", "-vf", vf,
		"-frames:v", strconv.Itoa(v.n), "-f", "rawvideo", "-pix_fmt", "rgba", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting ffmpeg: %w", err)
	}
	r := bufio.NewReaderSize(pipe, 1<<20)
	size := 4 * v.w * v.h
	var last []byte
	i := 0
	for ; i < v.n; i++ {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		ix.send(frames, v, i, buf)
		last = buf
	}
	io.Copy(io.Discard, r)
	werr := cmd.Wait()
	got := i
	if got == 0 {
		return fmt.Errorf("ffmpeg decoded no frames: %s", lastLine(stderr.String(), errOr(werr, "no video frames")))
	}
	if got < v.n && (werr != nil || strings.TrimSpace(stderr.String()) != "") {
		return fmt.Errorf("ffmpeg decoded only %d of the %d frames its %.1f s should give (truncated or corrupt?): %s", got, v.n, v.probe.duration, lastLine(stderr.String(), errOr(werr, "")))
	}
	// A container that claims more duration than its video has (a longer
	// audio track): the last frame stays on screen, as in a player.
	for ; i < v.n; i++ {
		ix.send(frames, v, i, last)
	}
	return nil
}

func errOr(err error, s string) error {
	if err != nil {
		return err
	}
	return errors.New(s)
}

// send hands frame i of v to the workers, keeping it if a thumbnail needs it.
func (ix *indexer) send(frames chan<- frameJob, v *indexJob, i int, rgba []byte) {
	if _, ok := v.thumbs[i]; ok {
		v.thumbs[i] = rgba
	}
	v.wg.Add(1)
	frames <- frameJob{v, i, rgba}
}

// thumbFrames is the frames thumbnails are made from: the middle of each
// span of `every` seconds (of the last, shorter one too).
func thumbFrames(duration, fps, every float64, n int) []int {
	var out []int
	for t0 := 0.0; t0 < duration || len(out) == 0; t0 += every {
		mid := (t0 + min(t0+every, duration)) / 2
		i := min(n-1, int(math.Floor(mid*fps+1e-9)))
		if len(out) == 0 || out[len(out)-1] != i {
			out = append(out, i)
		}
	}
	return out
}

// finish pools v's frame features into its whole-video and moment features
// (engine.VideoFeature: the model's loose head, as the page pools) and
// makes its thumbnails.
func (ix *indexer) finish(e *engine.Engine, v *indexJob) (siteindex.Video, error) {
	d := ix.m.Config.EmbedDim
	vid := siteindex.Video{
		Path: v.path, Title: strings.TrimSuffix(filepath.Base(v.file), filepath.Ext(v.file)),
		Duration: v.probe.duration, Width: v.probe.width, Height: v.probe.height, Size: v.size, ModTime: v.mtime,
		Feature: make([]float32, d),
	}
	if err := e.VideoFeature(vid.Feature, v.feats, v.n); err != nil {
		return vid, err
	}
	for lo := 0; lo < v.n; {
		j := momentOf(lo, ix.fps, ix.window)
		hi := lo + 1
		for hi < v.n && momentOf(hi, ix.fps, ix.window) == j {
			hi++
		}
		if j != len(vid.Moments) { // every window holds a frame when window*fps >= 1
			return vid, fmt.Errorf("moment %d has no frames (-fps %v, -window %vs)", len(vid.Moments), ix.fps, ix.window)
		}
		f := make([]float32, d)
		if err := e.VideoFeature(f, v.feats[lo*d:hi*d], hi-lo); err != nil {
			return vid, err
		}
		vid.Moments = append(vid.Moments, f)
		lo = hi
	}
	for _, i := range slices.Sorted(maps.Keys(v.thumbs)) {
		rgba := v.thumbs[i]
		if rgba == nil {
			continue
		}
		jpg, err := thumbnail(rgba, v.w, v.h)
		if err != nil {
			return vid, err
		}
		vid.Thumbs = append(vid.Thumbs, siteindex.Thumb{Time: float64(i) / ix.fps, JPEG: jpg})
	}
	return vid, nil
}

// momentOf is the window frame i (at i/fps seconds) falls in.
func momentOf(i int, fps, window float64) int {
	return int(math.Floor(float64(i)/fps/window + 1e-9))
}

// thumbnail scales an RGBA frame to siteindex.ThumbSize pixels on its
// longer side (box filter) and encodes it as a JPEG of at most
// siteindex.MaxThumbBytes, lowering the quality, then the size, until it
// fits.
func thumbnail(rgba []byte, w, h int) ([]byte, error) {
	var buf bytes.Buffer
	for size := siteindex.ThumbSize; size >= 16; size = size * 3 / 4 {
		f := min(1, float64(size)/float64(max(w, h)))
		img := boxScale(rgba, w, h, max(1, int(math.Round(float64(w)*f))), max(1, int(math.Round(float64(h)*f))))
		for _, q := range []int{70, 55, 40, 25} {
			buf.Reset()
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
				return nil, err
			}
			if buf.Len() <= siteindex.MaxThumbBytes {
				return slices.Clone(buf.Bytes()), nil
			}
		}
	}
	return nil, fmt.Errorf("no thumbnail of the %dx%d frames fits in %d bytes", w, h, siteindex.MaxThumbBytes)
}

// boxScale averages the RGBA frame (w, h) down to (tw, th), opaque.
func boxScale(rgba []byte, w, h, tw, th int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := 0; y < th; y++ {
		y0, y1 := y*h/th, max(y*h/th+1, (y+1)*h/th)
		for x := 0; x < tw; x++ {
			x0, x1 := x*w/tw, max(x*w/tw+1, (x+1)*w/tw)
			var s [3]int
			for yy := y0; yy < y1; yy++ {
				row := rgba[4*(yy*w+x0) : 4*(yy*w+x1)]
				for k := 0; k < len(row); k += 4 {
					s[0] += int(row[k])
					s[1] += int(row[k+1])
					s[2] += int(row[k+2])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			o := dst.PixOffset(x, y)
			dst.Pix[o], dst.Pix[o+1], dst.Pix[o+2], dst.Pix[o+3] = uint8((s[0]+n/2)/n), uint8((s[1]+n/2)/n), uint8((s[2]+n/2)/n), 255
		}
	}
	return dst
}

// progress prints how far indexing is: a line rewritten in place on a
// terminal, a plain line every 10 s otherwise.
type progress struct {
	total, nvideos int
	start          time.Time
	frames, videos atomic.Int64
	tty            bool
	mu             sync.Mutex
	done           chan struct{}
	once           sync.Once
}

func newProgress(total, nvideos int) *progress {
	p := &progress{total: total, nvideos: nvideos, start: time.Now(), done: make(chan struct{})}
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
	}
	every := 10 * time.Second
	if p.tty {
		every = time.Second
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return p
}

func (p *progress) line() string {
	n := p.frames.Load()
	el := time.Since(p.start).Seconds()
	rate := float64(n) / max(el, 1e-9)
	left := "?"
	if n > 0 {
		left = (time.Duration(float64(int64(p.total)-n)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("indexing: %d/%d frames, %d/%d videos, %.1f frames/s, %s left", n, p.total, p.videos.Load(), p.nvideos, rate, left)
}

func (p *progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", p.line())
	} else {
		fmt.Fprintln(os.Stderr, p.line())
	}
}

// printf prints a message on its own line, above the progress line.
func (p *progress) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	fmt.Fprintf(os.Stderr, format, a...)
}

func (p *progress) stop() {
	p.once.Do(func() {
		close(p.done)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.tty {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
	})
}
