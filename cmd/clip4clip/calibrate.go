package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"clip4clip/internal/atomicfile"
	"clip4clip/model"
	"clip4clip/wasm/engine"
)

// storeCalibration measures m's calibration (engine.Engine.Calibrate: what
// a weak match is) unless its meta holds a usable one, and records it
// there, so that the written file, and a text-only file cut from it, need
// not measure it at load. A text-only model cannot be measured and keeps
// what it has.
func storeCalibration(m *model.CLIP) error {
	if _, err := m.StoredCalibration(); err == nil || m.Config.TextOnly {
		return nil
	}
	e, err := engine.FromModel(m)
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := e.Calibrate()
	if err != nil {
		return fmt.Errorf("calibrating the model: %w", err)
	}
	if m.Meta == nil {
		m.Meta = map[string]string{}
	}
	m.Meta[model.CalibrationKey] = c.MarshalMeta()
	h := c.Heads[e.Info().Head]
	how := fmt.Sprintf("measured on %s in %v", c.Set, time.Since(start).Round(10*time.Millisecond))
	if h.Tells() {
		fmt.Fprintf(os.Stderr, "calibration: %s head, results below cosine %.4f are weak matches (%.1f%% of matched pairs lie below it, of unmatched above; %s)\n", e.Info().Head, h.Threshold, 100*h.Error, how)
	} else {
		fmt.Fprintf(os.Stderr, "calibration: the %s head cannot tell matches from mismatches (%.1f%% of either on the wrong side of any cosine), so no result will be marked weak (%s)\n", e.Info().Head, 100*h.Error, how)
	}
	return nil
}

// searchCalibration returns the calibration search judges results with:
// the model file's, else one measured earlier and kept in the cache
// directory (calibration/ID.json), else measured now and kept there (the
// default model's file has none: about a second). nil for a text-only
// file without one.
func searchCalibration(m *model.CLIP) *model.Calibration {
	e, err := engine.FromModel(m)
	if err != nil {
		return nil
	}
	if c := e.Calibration(); c != nil {
		return c
	}
	if m.Config.TextOnly {
		return nil
	}
	path := ""
	if root, err := cacheRoot(); err == nil {
		path = filepath.Join(root, "calibration", m.ID()+".json")
		if b, err := os.ReadFile(path); err == nil {
			if c, err := model.ParseCalibration(string(b)); err == nil && c.Model == m.ID() && e.SetCalibration(c) == nil {
				return c
			}
		}
	}
	c, err := e.Calibrate()
	if err != nil {
		fmt.Fprintf(os.Stderr, "note: cannot tell weak results: %v\n", err)
		return nil
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			atomicfile.WriteFile(path, func(w io.Writer) error {
				_, err := io.WriteString(w, c.MarshalMeta())
				return err
			})
		}
	}
	return c
}

// noMatchLine is what search prints when nothing matches well: the best
// cosine is below the calibration's threshold; for a model of the
// synthetic world, when it is far below, that the query looks outside it
// and how to load a real CLIP.
func noMatchLine(v model.Verdict, query, modelPath string) string {
	if !v.Unknown {
		return fmt.Sprintf("nothing matches well: the best result scores %.3f, below %.3f, where matches begin for this model", v.Best, v.Threshold)
	}
	what := "this model"
	if modelPath == "default" {
		what = "the default model"
	}
	return fmt.Sprintf("nothing matches well: the best result scores %.3f, far below the %.3f this model's matches begin at; %q looks outside the demo world, the only one %s knows (coloured shapes that move, grow, spin and change colour). To search real scenes, index and search them with a real CLIP: -model hf:openai/clip-vit-base-patch32 (fetched on first use; clip4clip fetch openai/clip-vit-base-patch32 downloads it ahead)",
		v.Best, v.Threshold, strings.TrimSpace(query), what)
}
