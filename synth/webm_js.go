//go:build js

package synth

import (
	"errors"
	"image"
)

var errNoFFmpeg = errors.New("synth: writing WebM needs ffmpeg, which js/wasm cannot run")

// WriteWebM fails under js/wasm: encoding runs ffmpeg.
func WriteWebM(path string, frames []*image.NRGBA, fps float64) error { return errNoFFmpeg }

// WriteWebM fails under js/wasm: encoding runs ffmpeg.
func (v *Video) WriteWebM(path string, fps float64, size int) error { return errNoFFmpeg }

// FFmpegAvailable is false under js/wasm.
func FFmpegAvailable() bool { return false }
