package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"clip4clip/model"
	"clip4clip/siteindex"
	"clip4clip/wasm/engine"
)

func runSearch(args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	modelPath := fs.String("model", "", "the model the index was built with, or its text-only file (\"default\" for the built-in model)")
	indexPath := fs.String("index", "", "site index `file` made by clip4clip index")
	k := fs.Int("k", 10, "moments (and videos, in the text listing) to show")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	videoFilter := fs.String("video", "", "only videos whose path or title contains this text (case does not matter)")
	minDur := fs.Duration("min-duration", 0, "only videos at least this long (e.g. 30s, 5m)")
	maxDur := fs.Duration("max-duration", 0, "only videos at most this long (0: no limit)")
	like := fs.String("like", "", "more like this: the moment of VIDEO at SECONDS (VIDEO@SECONDS, VIDEO a path or title in the index) is the query, left out of the results; no words then")
	setUsage(fs, "search -model MODEL -index INDEX [-k N] [-json] [filters] WORDS...", `Searches a site index (made by clip4clip index) with one text query:
the words together are the query, quoted or not
(search -model default -index site.idx a red star searches "a red star").
tokenize, by contrast, takes each argument as its own caption.
Terms: a word starting with - subtracts the words from it on, + adds
another term, and N: weights one (the query vector is the weighted sum of
the terms' unit features): "red car -night", "beach + sunset - rain",
"2:beach sunset". A hyphen inside a word (t-shirt) and 10:30 are text.
Results below the model's calibrated threshold (where its matches begin)
follow a "weaker matches" line, and when the best is below it a first line
says nothing matches well (with -json: "weak" on each result, "match" the
verdict).`)
	words, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *modelPath == "" || *indexPath == "" {
		return errors.New("need -model MODEL -index INDEX and a query (see -h)")
	}
	if *k < 1 {
		return fmt.Errorf("-k %d: want at least 1", *k)
	}
	query := strings.Join(words, " ")
	if *like != "" && strings.TrimSpace(query) != "" {
		return errors.New("-like searches with a moment: give it without words")
	}
	if *like == "" && strings.TrimSpace(query) == "" {
		return errors.New("the query is empty: give a few words that describe a scene, e.g. `clip4clip search -model M -index I a dog catches a ball`")
	}
	if *minDur < 0 || *maxDur < 0 || *maxDur > 0 && *maxDur < *minDur {
		return fmt.Errorf("-min-duration %v -max-duration %v: want 0 <= min <= max", *minDur, *maxDur)
	}
	data, err := os.ReadFile(*indexPath)
	if err != nil {
		return err
	}
	x, err := siteindex.Read(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *indexPath, err)
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	if err := x.Check(m.ID()); err != nil {
		var mm *siteindex.ModelMismatchError
		if errors.As(err, &mm) {
			mm.Model = siteindex.Describe(modelName(*modelPath), m.ID())
		}
		return err
	}
	if x.EmbedDim != m.Config.EmbedDim {
		return fmt.Errorf("%s holds features of %d values, the model makes %d: corrupt", *indexPath, x.EmbedDim, m.Config.EmbedDim)
	}
	keep := func(v *siteindex.Video) bool {
		if f := strings.ToLower(*videoFilter); f != "" && !strings.Contains(strings.ToLower(v.Path), f) && !strings.Contains(strings.ToLower(v.Title), f) {
			return false
		}
		d := time.Duration(v.Duration * float64(time.Second))
		return d >= *minDur && (*maxDur == 0 || d <= *maxDur)
	}
	var q []float32
	likeV, likeJ := -1, -1
	if *like != "" {
		if likeV, likeJ, err = likeMoment(x, *like); err != nil {
			return err
		}
		q = x.MomentFeature(likeV, likeJ)
		query = "like " + *like
	} else {
		e, err := engine.FromModel(m)
		if err != nil {
			return err
		}
		tq, err := e.EmbedTerms(query)
		if err != nil {
			return err
		}
		if tq.Truncated {
			ctx := m.Config.Text.Context
			return fmt.Errorf("the query (or one of its terms) is more than %d tokens, the most this model reads (its context of %d includes the start and end tokens); shorten it", ctx-2, ctx)
		}
		q = tq.Feature
	}
	r := x.SearchVideos(q, *k+1, keep)
	if likeV >= 0 { // the moment itself is not like itself
		for i, h := range r.Moments {
			if h.Video == likeV && h.Moment == likeJ {
				r.Moments = append(r.Moments[:i], r.Moments[i+1:]...)
				break
			}
		}
	}
	r.Moments = r.Moments[:min(len(r.Moments), *k)]
	if len(r.Videos) == 0 {
		return errors.New("no video in the index passes -video, -min-duration and -max-duration")
	}
	// The verdict on the best result (videos rank by the better of their
	// own and their best moment's cosine), for the head the index pooled with.
	var match *model.Verdict
	if c := searchCalibration(m); c != nil && len(r.Videos) > 0 {
		if v, ok := c.Judge(x.Head, float64(r.Videos[0].Score)); ok {
			match = &v
		}
	}
	weak := func(score float32) bool { return match != nil && float64(score) < match.Threshold }

	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if *asJSON {
		type video struct {
			siteindex.VideoHit
			Path  string `json:"path"`
			Title string `json:"title"`
			Weak  bool   `json:"weak"` // below the calibration's threshold
		}
		type moment struct {
			siteindex.MomentHit
			Path  string `json:"path"`
			Title string `json:"title"`
			Weak  bool   `json:"weak"`
		}
		out := struct {
			Query   string         `json:"query"`
			Match   *model.Verdict `json:"match"` // the calibration's verdict on the best result; null without one
			Videos  []video        `json:"videos"`
			Moments []moment       `json:"moments"`
		}{Query: query, Match: match, Videos: []video{}, Moments: []moment{}}
		for _, h := range r.Videos {
			v := x.Videos[h.Video]
			out.Videos = append(out.Videos, video{h, v.Path, v.Title, weak(h.Score)})
		}
		for _, h := range r.Moments {
			v := x.Videos[h.Video]
			out.Moments = append(out.Moments, moment{h, v.Path, v.Title, weak(h.Score)})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	}
	if match != nil && match.Weak {
		fmt.Fprintln(w, noMatchLine(*match, query, *modelPath))
	}
	// Results are best first: the weak ones follow a line, as the page
	// folds them under "Weaker matches".
	fold := func(first *bool, score float32) {
		if *first && weak(score) {
			fmt.Fprintf(w, "     -- weaker matches (cosine below %.3f) --\n", match.Threshold)
			*first = false
		}
	}
	fmt.Fprintf(w, "videos (%d, cosine with the query):\n", len(r.Videos))
	first := true
	for i, h := range r.Videos[:min(*k, len(r.Videos))] {
		v := x.Videos[h.Video]
		fold(&first, h.Score)
		fmt.Fprintf(w, "%3d. %6.3f  %s  [%s]  %s\n", i+1, h.Score, v.Title, clock(v.Duration), v.Path)
	}
	if len(r.Videos) > *k {
		fmt.Fprintf(w, "     ... %d more\n", len(r.Videos)-*k)
	}
	fmt.Fprintf(w, "moments (best %d of all videos):\n", len(r.Moments))
	first = true
	for i, h := range r.Moments {
		v := x.Videos[h.Video]
		fold(&first, h.Score)
		fmt.Fprintf(w, "%3d. %6.3f  %s-%s  %s  %s\n", i+1, h.Score, clock(h.Start), clock(h.End), v.Title, v.Path)
	}
	return nil
}

// likeMoment finds VIDEO@SECONDS in x: the video whose path or title is
// VIDEO, and its moment holding that time.
func likeMoment(x *siteindex.Index, spec string) (v, j int, err error) {
	at := strings.LastIndexByte(spec, '@')
	if at < 0 {
		return 0, 0, fmt.Errorf("-like %s: want VIDEO@SECONDS, e.g. -like demo1.webm@12", spec)
	}
	name, secs := spec[:at], spec[at+1:]
	t, perr := strconv.ParseFloat(secs, 64)
	if perr != nil || t < 0 || math.IsInf(t, 0) || math.IsNaN(t) {
		return 0, 0, fmt.Errorf("-like %s: %q is not a time in seconds", spec, secs)
	}
	v = -1
	for i, vid := range x.Videos {
		if vid.Path == name || vid.Title == name {
			v = i
			break
		}
	}
	if v < 0 {
		return 0, 0, fmt.Errorf("-like %s: the index has no video with path or title %q", spec, name)
	}
	vid := x.Videos[v]
	if t >= vid.Duration {
		return 0, 0, fmt.Errorf("-like %s: %s is %s long", spec, name, clock(vid.Duration))
	}
	j = min(int(t/x.Window), len(vid.Moments)-1)
	if j < 0 {
		return 0, 0, fmt.Errorf("-like %s: %s has no moments", spec, name)
	}
	return v, j, nil
}

// clock formats seconds as m:ss, or h:mm:ss from an hour on (rounded down).
func clock(sec float64) string {
	s := int(math.Floor(sec + 1e-9))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
