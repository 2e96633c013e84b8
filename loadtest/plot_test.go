package loadtest

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// rampSamples is a minute of a ramp from 0 to 60 subscribers, where loss,
// latency and CPU climb with the load.
func rampSamples(withHarness bool) []Second {
	var s []Second
	for i := range 60 {
		x := Second{
			T:            float64(i + 1),
			Subscribers:  i,
			BitrateKbps:  1500 - 8*float64(i) + 50*math.Sin(float64(i)/3),
			LossPct:      math.Max(0, float64(i-40)) * 0.2,
			LatencyP99MS: 20 + float64(i*i)/30,
			ServerCPU:    0.05 * float64(i),
			ForwardedPPS: 300 * float64(i),
		}
		if withHarness {
			x.HarnessCPU = 0.03 * float64(i)
		}
		s = append(s, x)
	}
	return s
}

func TestWritePlot(t *testing.T) {
	gaps := rampSamples(false)
	gaps[10].LatencyP99MS = math.NaN()
	gaps[20].BitrateKbps = math.Inf(1)
	tests := []struct {
		name    string
		samples []Second
	}{
		{"ramp with harness", rampSamples(true)},
		{"unmeasured seconds, no harness", gaps},
		{"one sample", []Second{{T: 1, BitrateKbps: 100}}},
		{"no samples", nil},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".png")
			if err := WritePlot(path, tt.samples, "loadtest: "+tt.name); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if b.Dx() != PlotWidth || b.Dy() != PlotHeight {
				t.Fatalf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), PlotWidth, PlotHeight)
			}
			// Something is drawn on white: axes and text at least, and
			// the data's lines in their colour.
			rgba, ok := img.(*image.RGBA)
			if !ok {
				t.Fatalf("decoded a %T, want an opaque *image.RGBA", img)
			}
			ink, lines := 0, 0
			for i := 0; i < len(rgba.Pix); i += 4 {
				r, g, bl := rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2]
				if r < 0xf0 || g < 0xf0 || bl < 0xf0 {
					ink++
				}
				if r < 0x40 && g > 0x60 && g < 0x90 && bl > 0xa0 {
					lines++ // mainColor, or close to it at an antialiased edge
				}
			}
			if ink < PlotWidth*PlotHeight/100 {
				t.Errorf("%d pixels drawn, too few to be four panels", ink)
			}
			if wantLines := len(tt.samples) > 1; (lines > 500) != wantLines {
				t.Errorf("%d pixels in the line colour; want lines: %v", lines, wantLines)
			}
		})
	}
	if err := WritePlot(filepath.Join(dir, "no-such-dir", "x.png"), nil, ""); err == nil {
		t.Error("WritePlot into a missing directory succeeded")
	}
}
