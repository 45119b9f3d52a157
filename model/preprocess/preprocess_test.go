package preprocess

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"clip4clip/internal/testenv"
)

// fixtureDir is the repository root's sibling shared/fixtures.
var fixtureDir = filepath.Join("..", "..", "..", "shared", "fixtures", "preprocess")

type fixtureInfo struct {
	NPx    int       `json:"n_px"`
	Mean   []float64 `json:"mean"`
	Std    []float64 `json:"std"`
	Images []struct {
		File       string `json:"file"`
		OriginalWH [2]int `json:"original_wh"`
		ResizedWH  [2]int `json:"resized_wh"`
		CropTL     [2]int `json:"crop_top_left"`
	} `json:"images"`
}

func loadInfo(t testing.TB) *fixtureInfo {
	t.Helper()
	b, err := os.ReadFile(testenv.FixturePath(t, filepath.Join(fixtureDir, "info.json")))
	if err != nil {
		t.Fatal(err)
	}
	var info fixtureInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	return &info
}

func loadPNG(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func loadNpy(t testing.TB, name string) *npyArray {
	t.Helper()
	a, err := readNpy(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFixtureSizes(t *testing.T) {
	info := loadInfo(t)
	for _, im := range info.Images {
		w, h := im.OriginalWH[0], im.OriginalWH[1]
		rw, rh := resizedSize(w, h, info.NPx)
		if rw != im.ResizedWH[0] || rh != im.ResizedWH[1] {
			t.Errorf("%s: resized to %dx%d, want %v", im.File, rw, rh, im.ResizedWH)
		}
		top, left := cropOffset(rh, info.NPx), cropOffset(rw, info.NPx)
		if top != im.CropTL[0] || left != im.CropTL[1] {
			t.Errorf("%s: crop at (%d, %d), want %v", im.File, top, left, im.CropTL)
		}
	}
}

func TestCropOffsetRoundsHalfToEven(t *testing.T) {
	for d := 0; d < 1000; d++ {
		want := int(math.RoundToEven(float64(d) / 2.0))
		if got := cropOffset(224+d, 224); got != want {
			t.Fatalf("cropOffset(%d) = %d, want %d", 224+d, got, want)
		}
	}
}

func TestMeanStdMatchTorchFloat32(t *testing.T) {
	info := loadInfo(t)
	for c := 0; c < 3; c++ {
		// torch.as_tensor rounds the Python float (float64) to float32.
		if m := float32(info.Mean[c]); Mean[c] != m {
			t.Errorf("Mean[%d] = %v, want %v", c, Mean[c], m)
		}
		if s := float32(info.Std[c]); Std[c] != s {
			t.Errorf("Std[%d] = %v, want %v", c, Std[c], s)
		}
	}
}

func TestFixtures(t *testing.T) {
	info := loadInfo(t)
	wantU8 := loadNpy(t, "resized_cropped_uint8.npy")
	wantPV := loadNpy(t, "pixel_values.npy")
	n := info.NPx
	if len(wantU8.shape) != 4 || wantU8.shape[1] != n || wantU8.shape[3] != 3 || wantU8.u8 == nil {
		t.Fatalf("resized_cropped_uint8: shape %v dtype %s", wantU8.shape, wantU8.descr)
	}
	if len(wantPV.shape) != 4 || wantPV.shape[1] != 3 || wantPV.shape[2] != n || wantPV.f32 == nil {
		t.Fatalf("pixel_values: shape %v dtype %s", wantPV.shape, wantPV.descr)
	}
	for i, im := range info.Images {
		img := loadPNG(t, im.File)
		t.Logf("%s decodes to %T", im.File, img)
		got, err := ResizeCrop(img, n)
		if err != nil {
			t.Fatal(err)
		}
		want := wantU8.u8[i*n*n*3 : (i+1)*n*n*3]
		mismatch, maxd := 0, 0
		for p := 0; p < n*n; p++ {
			for c := 0; c < 3; c++ {
				g, w := int(got.Pix[p*4+c]), int(want[p*3+c])
				if g != w {
					mismatch++
					maxd = max(maxd, abs(g-w))
				}
			}
			if got.Pix[p*4+3] != 255 {
				t.Fatalf("%s: alpha %d at pixel %d", im.File, got.Pix[p*4+3], p)
			}
		}
		if mismatch > 0 {
			t.Errorf("%s: %d uint8 values differ (max %d)", im.File, mismatch, maxd)
		}

		pv, err := Image(img, n)
		if err != nil {
			t.Fatal(err)
		}
		wpv := wantPV.f32[i*3*n*n : (i+1)*3*n*n]
		d := maxAbsDiff(pv, wpv)
		t.Logf("%s: uint8 mismatches %d, pixel_values max |diff| %g", im.File, mismatch, d)
		if d > 1e-6 {
			t.Errorf("%s: pixel_values max |diff| %g > 1e-6", im.File, d)
		}
	}
}

// TestFixtureInputTypes feeds the fixture images as other image types that
// hold the same pixels: the fast paths must agree with the generic one.
func TestFixtureInputTypes(t *testing.T) {
	info := loadInfo(t)
	n := info.NPx
	for _, im := range info.Images {
		img := loadPNG(t, im.File)
		want, err := ResizeCrop(img, n)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		nrgba := image.NewNRGBA(b)
		rgba := image.NewRGBA(b)
		gray := image.NewGray(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := img.At(x, y)
				nrgba.Set(x, y, c)
				rgba.Set(x, y, c)
				gray.Set(x, y, c)
			}
		}
		for name, m := range map[string]image.Image{
			"NRGBA":   nrgba,
			"RGBA":    rgba,
			"generic": hidden{img},
		} {
			got, err := ResizeCrop(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if !sameRGB(got, want) {
				t.Errorf("%s as %s: differs from the %T result", im.File, name, img)
			}
		}
		g1, _ := ResizeCrop(gray, n)
		g2, _ := ResizeCrop(hidden{gray}, n)
		if !sameRGB(g1, g2) {
			t.Errorf("%s: Gray fast path differs from At", im.File)
		}
		for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422} {
			yc := toYCbCr(img, ratio)
			y1, _ := ResizeCrop(yc, n)
			y2, _ := ResizeCrop(hidden{yc}, n)
			if !sameRGB(y1, y2) {
				t.Errorf("%s: YCbCr %v fast path differs from At", im.File, ratio)
			}
		}
	}
}

// hidden hides an image's concrete type, forcing the At path.
type hidden struct{ image.Image }

func toYCbCr(img image.Image, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	b := img.Bounds()
	m := image.NewYCbCr(b, ratio)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			yy, cb, cr := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			m.Y[m.YOffset(x, y)] = yy
			m.Cb[m.COffset(x, y)] = cb
			m.Cr[m.COffset(x, y)] = cr
		}
	}
	return m
}

func sameRGB(a, b *image.RGBA) bool {
	if a.Rect != b.Rect {
		return false
	}
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			return false
		}
	}
	return true
}

func randomNRGBA(rng *rand.Rand, w, h int, alpha bool) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(rng.Intn(256))
		if i%4 == 3 {
			switch {
			case !alpha:
				m.Pix[i] = 255
			case rng.Intn(4) == 0:
				m.Pix[i] = 0
			case rng.Intn(4) == 0:
				m.Pix[i] = 255
			}
		}
	}
	// Some smooth areas too, where rounding ties are likelier.
	for y := 0; y < h/2; y++ {
		for x := 0; x < w; x++ {
			o := m.PixOffset(x, y)
			m.Pix[o] = uint8(x * 255 / max(w-1, 1))
		}
	}
	return m
}

func toRef(m *image.NRGBA) *refImage {
	b := m.Bounds()
	r := newRefImage(b.Dx(), b.Dy())
	for y := 0; y < r.h; y++ {
		for x := 0; x < r.w; x++ {
			o := m.PixOffset(b.Min.X+x, b.Min.Y+y)
			r.pix[y][x] = [4]int{int(m.Pix[o]), int(m.Pix[o+1]), int(m.Pix[o+2]), int(m.Pix[o+3])}
		}
	}
	return r
}

// TestAgainstReference compares with the slow whole-image transcription of
// Pillow on ragged sizes: upscaling, downscaling, 1-pixel sides, n = 1,
// short side already n, alpha.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	type tc struct{ w, h, n int }
	cases := []tc{
		{1, 1, 1}, {1, 1, 5}, {1, 7, 3}, {9, 1, 4}, {2, 3, 7}, {5, 5, 5}, {5, 9, 5}, {9, 5, 5},
		{13, 11, 7}, {100, 80, 32}, {80, 100, 33}, {64, 32, 16}, {37, 91, 16}, {300, 422, 24},
		{17, 240, 6}, {31, 29, 64}, {3, 200, 9}, {50, 49, 49}, {49, 50, 50}, {40, 41, 20},
	}
	for i := 0; i < 20; i++ {
		cases = append(cases, tc{1 + rng.Intn(70), 1 + rng.Intn(70), 1 + rng.Intn(40)})
	}
	for _, c := range cases {
		for _, alpha := range []bool{false, true} {
			m := randomNRGBA(rng, c.w, c.h, alpha)
			want := refTransform(toRef(m), c.n)
			got, err := ResizeCrop(m, c.n)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for p, w := range want {
				for ch := 0; ch < 3; ch++ {
					if int(got.Pix[p*4+ch]) != w[ch] {
						bad++
					}
				}
			}
			if bad > 0 {
				t.Errorf("%dx%d -> %d (alpha %v): %d values differ from the reference", c.w, c.h, c.n, alpha, bad)
			}
		}
	}
}

// TestCloseToFloatFilter checks the fixed-point result against the same
// filter in float64 without intermediate rounding: each pass truncates to 8
// bits after adding a half, so about one level of difference is all there
// may be.
func TestCloseToFloatFilter(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range [][3]int{{40, 30, 12}, {12, 10, 31}, {64, 64, 20}, {7, 50, 25}} {
		m := randomNRGBA(rng, c[0], c[1], false)
		ref := toRef(m)
		rw, rh := resizedSize(c[0], c[1], c[2])
		fl := refResampleFloat(ref, rw, rh)
		got, _ := ResizeCrop(m, c[2])
		top, left := cropOffset(rh, c[2]), cropOffset(rw, c[2])
		worst := 0.0
		for y := 0; y < c[2]; y++ {
			for x := 0; x < c[2]; x++ {
				for ch := 0; ch < 3; ch++ {
					f := math.Min(math.Max(fl[top+y][left+x][ch], 0), 255)
					worst = math.Max(worst, math.Abs(f-float64(got.Pix[(y*c[2]+x)*4+ch])))
				}
			}
		}
		t.Logf("%dx%d -> %d: max |fixed - float| = %.3f", c[0], c[1], c[2], worst)
		if worst > 1.5 {
			t.Errorf("%dx%d -> %d: max |fixed - float| = %.3f", c[0], c[1], c[2], worst)
		}
	}
}

func TestSubImage(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	big := randomNRGBA(rng, 90, 70, false)
	sub := big.SubImage(image.Rect(13, 7, 71, 60)).(*image.NRGBA)
	cp := image.NewNRGBA(image.Rect(0, 0, 58, 53))
	for y := 0; y < 53; y++ {
		for x := 0; x < 58; x++ {
			cp.Set(x, y, sub.At(13+x, 7+y))
		}
	}
	a, _ := ResizeCrop(sub, 24)
	b, _ := ResizeCrop(cp, 24)
	if !sameRGB(a, b) {
		t.Error("sub-image result differs from a copy's")
	}
	rgba := image.NewRGBA(big.Rect)
	copy(rgba.Pix, big.Pix)
	c, _ := ResizeCrop(rgba.SubImage(image.Rect(13, 7, 71, 60)), 24)
	if !sameRGB(a, c) {
		t.Error("RGBA sub-image result differs")
	}
}

func TestAlpha(t *testing.T) {
	// Fully transparent: premultiplied zeros stay zero, the colour is lost
	// (Pillow gives black too).
	m := image.NewNRGBA(image.Rect(0, 0, 20, 10))
	for i := range m.Pix {
		if i%4 != 3 {
			m.Pix[i] = 200
		}
	}
	got, _ := ResizeCrop(m, 5)
	for i, v := range got.Pix {
		if want := map[bool]uint8{true: 255, false: 0}[i%4 == 3]; v != want {
			t.Fatalf("transparent image: byte %d = %d, want %d", i, v, want)
		}
	}
	// Not resized (short side already n): the colour is kept untouched.
	m = image.NewNRGBA(image.Rect(0, 0, 6, 5))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	got, _ = ResizeCrop(m, 5)
	for y := 0; y < 5; y++ {
		for x := 0; x < 5; x++ {
			c := m.NRGBAAt(x, y) // left offset int(round(0.5)) = 0
			if g := got.RGBAAt(x, y); g.R != c.R || g.G != c.G || g.B != c.B || g.A != 255 {
				t.Fatalf("(%d,%d) = %v, want colour of %v", x, y, g, c)
			}
		}
	}
	// Pillow's integer premultiply: MULDIV255.
	for _, tc := range [][3]uint32{{255, 77, 77}, {0, 200, 0}, {128, 128, 64}, {200, 100, 78}, {1, 255, 1}} {
		if g := muldiv255(tc[0], tc[1]); uint32(g) != tc[2] {
			t.Errorf("muldiv255(%d, %d) = %d, want %d", tc[0], tc[1], g, tc[2])
		}
	}
}

func TestPaletted(t *testing.T) {
	pal := color.Palette{}
	for i := 0; i < 16; i++ {
		pal = append(pal, color.RGBA{uint8(i * 10), uint8(i), 255 - uint8(i), 255})
	}
	mk := func(w, h int) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for i := range p.Pix {
			p.Pix[i] = uint8(i % 16)
		}
		return p
	}
	check := func(p *image.Paletted, n int, want func(x, y int) (int, int)) {
		t.Helper()
		got, err := ResizeCrop(p, n)
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				sx, sy := want(x, y)
				c := pal[p.ColorIndexAt(sx, sy)].(color.RGBA)
				if g := got.RGBAAt(x, y); g != c {
					t.Fatalf("%v -> %d: (%d,%d) = %v, want source (%d,%d) %v", p.Rect.Size(), n, x, y, g, sx, sy, c)
				}
			}
		}
	}
	// Halving: centres at 1, 3, ...
	check(mk(8, 8), 4, func(x, y int) (int, int) { return 2*x + 1, 2*y + 1 })
	// Doubling: each source pixel twice.
	check(mk(3, 3), 6, func(x, y int) (int, int) { return x / 2, y / 2 })
	// Short side already n: crop only, left offset round(3/2) = 2.
	check(mk(7, 4), 4, func(x, y int) (int, int) { return x + 2, y })
}

func TestErrors(t *testing.T) {
	ok := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for _, tc := range []struct {
		img  image.Image
		n    int
		want string
	}{
		{nil, 4, "nil image"},
		{image.NewRGBA(image.Rect(0, 0, 0, 5)), 4, "empty image"},
		{image.NewRGBA(image.Rect(3, 3, 3, 3)), 4, "empty image"},
		{ok, 0, "out of range"},
		{ok, -3, "out of range"},
		{ok, MaxSize + 1, "out of range"},
		{image.NewGray(image.Rect(0, 0, 1, 1<<20)), 64, "aspect ratio"},
	} {
		if _, err := ResizeCrop(tc.img, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ResizeCrop(n=%d): error %v, want one containing %q", tc.n, err, tc.want)
		}
		if _, err := Image(tc.img, tc.n); err == nil {
			t.Errorf("Image(n=%d): no error", tc.n)
		}
	}
}

func TestNormalize(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	const w, h = 7, 5
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rgb := make([]uint8, w*h*3)
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
		if i%4 < 3 {
			rgb[i/4*3+i%4] = img.Pix[i]
		}
	}
	want := make([]float32, 3*w*h)
	for c := 0; c < 3; c++ {
		for p := 0; p < w*h; p++ {
			// torch: img.float().div(255), then sub_(mean).div_(std), all float32.
			x := float32(img.Pix[p*4+c])
			x = x / 255
			x = x - Mean[c]
			want[c*w*h+p] = x / Std[c]
		}
	}
	got := make([]float32, 3*w*h)
	Normalize(got, img)
	if d := maxAbsDiff(got, want); d != 0 {
		t.Errorf("Normalize: max |diff| %g", d)
	}
	got3 := make([]float32, 3*w*h)
	NormalizeHWC(got3, rgb, w, h, 3)
	got4 := make([]float32, 3*w*h)
	NormalizeHWC(got4, img.Pix, w, h, 4)
	if maxAbsDiff(got3, want) != 0 || maxAbsDiff(got4, want) != 0 {
		t.Error("NormalizeHWC differs from Normalize")
	}
	for name, f := range map[string]func(){
		"channels":  func() { NormalizeHWC(got, img.Pix, w, h, 2) },
		"short pix": func() { NormalizeHWC(got, rgb[:10], w, h, 3) },
		"short dst": func() { NormalizeHWC(got[:5], rgb, w, h, 3) },
		"Normalize": func() { Normalize(got[:5], img) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// BenchmarkImage is a 640x360 video frame to CLIP's 224 input.
func BenchmarkImage(b *testing.B) {
	rng := rand.New(rand.NewSource(5))
	img := image.NewRGBA(image.Rect(0, 0, 640, 360))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Image(img, 224); err != nil {
			b.Fatal(err)
		}
	}
}
