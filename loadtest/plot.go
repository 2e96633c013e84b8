package loadtest

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The size of WritePlot's image, in pixels.
const (
	PlotWidth  = 1200
	PlotHeight = 1400
)

var (
	mainColor   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	secondColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// panel is one of WritePlot's graphs: a quantity over time.
type panel struct {
	title, unit string
	lines       []series
}

type series struct {
	name  string // shown in a legend when a panel has several lines
	color color.Color
	value func(Second) float64
}

// WritePlot draws samples as a PNG of PlotWidth × PlotHeight pixels at
// path: four panels stacked over a shared time axis, showing the bitrate
// subscribers received, the loss, the latency p99 and the CPU the server
// (and, where measured, the harness) used.
func WritePlot(path string, samples []Second, title string) error {
	panels := []panel{
		{"received bitrate, mean per subscriber", "kbit/s", []series{{"", mainColor, func(s Second) float64 { return s.BitrateKbps }}}},
		{"packet loss", "%", []series{{"", mainColor, func(s Second) float64 { return s.LossPct }}}},
		{"latency, 99th percentile", "ms", []series{{"", mainColor, func(s Second) float64 { return s.LatencyP99MS }}}},
		{"CPU", "cores", []series{{"server", mainColor, func(s Second) float64 { return s.ServerCPU }}}},
	}
	for _, s := range samples {
		if s.HarnessCPU != 0 {
			cpu := &panels[len(panels)-1]
			cpu.lines = append(cpu.lines, series{"harness", secondColor, func(s Second) float64 { return s.HarnessCPU }})
			break
		}
	}

	end := 1.0
	if len(samples) > 0 {
		end = max(samples[len(samples)-1].T, end)
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p, err := pn.plot(samples, end, i == len(panels)-1)
		if err != nil {
			return fmt.Errorf("loadtest: plot %s: %w", pn.title, err)
		}
		plots[i] = []*plot.Plot{p}
	}

	// gg draws on its own copy of the image it is given: the picture is
	// canvas.Image(), not the image passed in.
	canvas := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, PlotWidth, PlotHeight))))
	dc := draw.New(canvas)
	heading := plots[0][0].Title.TextStyle // aligned by its top edge
	heading.Font = font.From(heading.Font, 18)
	margin := vg.Points(8)
	dc.FillText(heading, vg.Point{X: dc.Center().X, Y: dc.Max.Y - margin}, title)

	tiles := draw.Tiles{
		Rows: len(plots), Cols: 1,
		PadY:    vg.Points(16),
		PadTop:  heading.Rectangle(title).Size().Y + 3*margin,
		PadLeft: margin, PadRight: 2 * margin, PadBottom: margin,
	}
	for i, c := range plot.Align(plots, tiles, dc) {
		plots[i][0].Draw(c[0])
	}

	if err := writePNG(path, canvas.Image()); err != nil {
		return fmt.Errorf("loadtest: plot: %w", err)
	}
	return nil
}

// writePNG favours speed over size: flat colours and thin lines compress
// well anyway, and the default level takes several times longer.
func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	b := bufio.NewWriter(f)
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	err = enc.Encode(b, img)
	if err == nil {
		err = b.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// plot builds pn's graph over seconds 0 to end, from a zero baseline; only
// the bottom panel labels the time axis, which all panels share.
func (pn panel) plot(samples []Second, end float64, bottom bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.TextStyle.Font.Size = vg.Points(13)
	p.Y.Label.TextStyle.Font.Size = vg.Points(13)
	p.X.Tick.Label.Font.Size = vg.Points(12)
	p.Y.Tick.Label.Font.Size = vg.Points(12)
	p.Legend.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.Text = pn.unit
	if bottom {
		p.X.Label.Text = "seconds since start"
	}
	p.X.Min, p.X.Max = 0, end
	p.X.Tick.Marker = plot.TickerFunc(secondTicks)
	p.Add(plotter.NewGrid())

	top := 0.0
	for _, sr := range pn.lines {
		pts := make(plotter.XYs, 0, len(samples))
		for _, s := range samples {
			v := sr.value(s)
			if math.IsNaN(v) || math.IsInf(v, 0) || math.IsNaN(s.T) || math.IsInf(s.T, 0) {
				continue // a second nothing was measured in
			}
			pts = append(pts, plotter.XY{X: s.T, Y: v})
			top = max(top, v)
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = sr.color
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(pn.lines) > 1 {
			p.Legend.Add(sr.name, l)
		}
	}
	p.Legend.Top, p.Legend.Left = true, true // load, and so the lines, rise to the right
	p.Legend.XOffs = vg.Points(8)
	// Headroom above the highest point, and a visible axis when all is 0.
	p.Y.Min, p.Y.Max = 0, max(top*1.1, 1)
	return p, nil
}

// secondTicks labels a time axis every 1, 2 or 5 × 10ⁿ seconds, whichever
// gives at most a dozen labels: finer than plot's default of about three,
// so that a moment in the run can be read off.
func secondTicks(lo, hi float64) []plot.Tick {
	step := 1.0
	for _, f := range []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000} {
		step = f
		if (hi-lo)/f <= 12 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}
