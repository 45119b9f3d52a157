//go:build !js

package synth

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// WriteWebM encodes frames (all the same even size) shown at fps frames
// per second into a WebM file at path with ffmpeg (VP9, or VP8 where
// ffmpeg lacks libvpx-vp9), small and at a high CRF. ffmpeg must be on
// PATH.
func WriteWebM(path string, frames []*image.NRGBA, fps float64) error {
	if len(frames) == 0 {
		return errors.New("synth: no frames to encode")
	}
	b := frames[0].Bounds()
	return encodeWebM(path, b.Dx(), b.Dy(), len(frames), fps, func(i int) *image.NRGBA { return frames[i] })
}

// WriteWebM renders the video at fps frames per second as size x size
// frames into a WebM file at path, one frame at a time, with ffmpeg (see
// the function WriteWebM).
func (v *Video) WriteWebM(path string, fps float64, size int) error {
	return encodeWebM(path, size, size, v.FrameCount(fps), fps, v.frameFunc(fps, size))
}

// FFmpegAvailable reports whether ffmpeg is on PATH, as WriteWebM needs.
func FFmpegAvailable() bool {
	_, err := exec.LookPath("ffmpeg")
	return err == nil
}

func encodeWebM(path string, w, h, n int, fps float64, frame func(int) *image.NRGBA) error {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return fmt.Errorf("synth: writing WebM needs ffmpeg on PATH (e.g. apt-get install ffmpeg): %w", err)
	}
	if n == 0 {
		return errors.New("synth: no frames to encode")
	}
	if w%2 != 0 || h%2 != 0 {
		return fmt.Errorf("synth: WebM frames must have even sides, not %dx%d", w, h)
	}
	err := runFFmpeg(path, w, h, n, fps, frame, "libvpx-vp9")
	if err != nil && strings.Contains(err.Error(), "Unknown encoder") {
		err = runFFmpeg(path, w, h, n, fps, frame, "libvpx")
	}
	return err
}

func runFFmpeg(path string, w, h, n int, fps float64, frame func(int) *image.NRGBA, codec string) error {
	rate := strconv.FormatFloat(fps, 'f', -1, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "-r", rate, "-i", "-",
		"-an", "-c:v", codec, "-b:v", "0", "-crf", "40", "-pix_fmt", "yuv420p"}
	if codec == "libvpx-vp9" {
		args = append(args, "-deadline", "good", "-cpu-used", "4", "-row-mt", "1")
	} else {
		args = append(args, "-b:v", "400k") // VP8 needs a bitrate cap with CRF
	}
	cmd := exec.Command("ffmpeg", append(args, "-f", "webm", path)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("synth: starting ffmpeg: %w", err)
	}
	rgb := make([]byte, 3*w*h)
	var werr error
	for i := 0; i < n && werr == nil; i++ {
		img := frame(i)
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			werr = fmt.Errorf("synth: frame %d is %dx%d, not %dx%d", i, b.Dx(), b.Dy(), w, h)
			break
		}
		for y := 0; y < h; y++ {
			row := img.Pix[y*img.Stride:]
			for x := 0; x < w; x++ {
				copy(rgb[3*(y*w+x):3*(y*w+x)+3], row[4*x:4*x+3])
			}
		}
		_, werr = in.Write(rgb)
	}
	in.Close()
	err = cmd.Wait()
	if err != nil {
		return fmt.Errorf("synth: ffmpeg (%s) writing %s: %v: %s", codec, path, err, strings.TrimSpace(stderr.String()))
	}
	if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return werr
	}
	return nil
}
