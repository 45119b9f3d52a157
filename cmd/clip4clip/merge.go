package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"clip4clip/siteindex"
)

func runMerge(args []string) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	out := fs.String("o", "", "index file to write (a folder with -chunked)")
	chunked := fs.Bool("chunked", false, "write a chunked index folder (as index -chunked); the inputs may be files or chunked folders either way")
	ins, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(ins) == 0 {
		return errors.New("need -o OUT and the indexes to merge (see -h)")
	}
	checkOut := checkOutput
	if *chunked {
		checkOut = checkChunkedOutput
	}
	if err := checkOut(*out); err != nil {
		return err
	}
	var parts []*siteindex.Index
	for _, in := range ins {
		x, err := readAnyIndex(in)
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		parts = append(parts, x)
	}
	x, err := siteindex.Merge(parts...)
	if err != nil {
		return err
	}
	// Sorted by path, as `clip4clip index` writes them: merged shards give
	// the file one run over all the videos would.
	slices.SortStableFunc(x.Videos, func(a, b siteindex.Video) int { return strings.Compare(a.Path, b.Path) })
	if *chunked {
		w, err := writeChunked(*out, x)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s; from %s\n", describeChunked(*out, x, w), count(len(ins), "index"))
		return nil
	}
	if err := writeIndex(*out, x); err != nil {
		return err
	}
	moments := 0
	for _, v := range x.Videos {
		moments += len(v.Moments)
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(os.Stderr, "wrote %s: %s, %s from %s, %s\n", *out, count(len(x.Videos), "video"), count(moments, "moment"), count(len(ins), "index"), byteSize(st.Size()))
	return nil
}
