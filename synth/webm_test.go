//go:build !js

package synth

import (
	"bytes"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
	"github.com/stretchr/testify/require"
)

func TestWriteWebM(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		testenv.Command(t, tool, "apt-get install -y ffmpeg: the test writes WebM with ffmpeg and reads it back with ffprobe")
	}
	dir := t.TempDir()
	c := GenerateAt(1, 0, Options{Frames: 4, Resolution: 32})
	path := filepath.Join(dir, "clip.webm")
	require.NoError(t, WriteWebM(path, c.Frames, 1))
	v := Demo(2, 6)
	demo := filepath.Join(dir, "demo.webm")
	require.NoError(t, v.WriteWebM(demo, 4, 64))
	for _, p := range []string{path, demo} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}), "%s is not EBML/WebM", p)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", demo).Output()
	require.NoError(t, err)
	require.Equal(t, "64,64,24", strings.TrimSpace(string(out)))
	require.Error(t, WriteWebM(filepath.Join(dir, "odd.webm"), []*image.NRGBA{image.NewNRGBA(image.Rect(0, 0, 3, 3))}, 1))
}
