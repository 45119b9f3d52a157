// Command clip4clip fetches CLIP models from the Hugging Face hub, converts
// CLIP and CLIP4Clip checkpoints into model files, tokenizes captions and
// embeds images and texts, and pre-indexes videos for static sites (index,
// search, merge).
//
//	clip4clip fetch [-hub URL] [-revision REV] [-dtype f32|f16|int8] [-block N] [-o MODEL] OWNER/NAME
//	clip4clip convert -in SRC [-in SRC2 ...] -out MODEL [-dtype f32|f16|int8] [-vocab VOCAB] [-text-only]
//	clip4clip tokenize -model MODEL [-context N] TEXT...
//	clip4clip embed -model MODEL [-pixels X.npy] [-images A.png ...] [-texts T.json] [-text "..."]
//	clip4clip score -model MODEL [-head H] -frames V.npy -video-mask M.npy -texts T.json [-max-words N]
//	clip4clip eval (-model MODEL -data DIR [-head H] | -sim S.npy | -text-features T.npy -video-features V.npy) [-json]
//	clip4clip index -model MODEL -o INDEX [-fps 1] [-window 4s] [-shard i/n] [-base-url URL] VIDEO|DIR ...
//	clip4clip search -model MODEL -index INDEX [-k 10] [-json] QUERY
//	clip4clip merge -o OUT INDEX ...
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type command struct {
	name, usage string
	run         func(args []string) error
}

var commands = []command{
	{"convert", "convert a CLIP / CLIP4Clip checkpoint into a model file", runConvert},
	{"fetch", "download a CLIP ViT from the Hugging Face hub and convert it into a model file", runFetch},
	{"tokenize", "print the token ids of captions", runTokenize},
	{"embed", "print CLIP image and text features", runEmbed},
	{"score", "print CLIP4Clip's caption x video logits and loss for a batch of clips", runScore},
	{"eval", "print retrieval metrics (R@1, R@5, R@10, MdR, MnR) in both directions", runEval},
	{"train", "train a CLIP4Clip model (meanP or seqTransf) on a dataset directory", runTrain},
	{"synth", "write a synthetic dataset of captioned clips (and WebM videos, demo videos)", runSynth},
	{"vocab", "learn a BPE vocabulary (merges file) from a dataset's captions", runVocab},
	{"index", "pre-index video files for a static site (a site index file)", runIndex},
	{"search", "search a site index with a text query", runSearch},
	{"merge", "join site indexes (the shards of index -shard) into one", runMerge},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return // -h: the usage was asked for
				}
				fmt.Fprintf(os.Stderr, "clip4clip %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	if os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		return
	}
	fmt.Fprintf(os.Stderr, "clip4clip: unknown command %q\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: clip4clip COMMAND [flags]\n\ncommands:")
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(os.Stderr, "\nrun `clip4clip COMMAND -h` for a command's flags")
}

// setUsage makes fs's -h print synopsis and about (one paragraph, wrapped
// by the caller) before the flags.
func setUsage(fs *flag.FlagSet, synopsis, about string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: clip4clip %s\n\n%s\n\nflags:\n", synopsis, about)
		fs.PrintDefaults()
	}
}

// multi is a flag that may be given several times.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// parse parses a command's flags, allowing flags after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
