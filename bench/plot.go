package bench

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// percentileTicks label the x axis, which is 1/(1−p) on a log scale:
// each decade is one more nine.
var percentileTicks = plot.ConstantTicks{
	{Value: 1, Label: "0%"}, {Value: 10, Label: "90%"}, {Value: 100, Label: "99%"},
	{Value: 1000, Label: "99.9%"}, {Value: 1e4, Label: "99.99%"}, {Value: 1e5, Label: "99.999%"},
}

// WritePlot draws every target's latency percentile curve on one chart
// and saves it to path; the format follows the extension (.svg, .png…).
func (r *Report) WritePlot(path string) error {
	p := plot.New()
	p.Title.Text = plotTitle(r)
	p.X.Label.Text = "percentile"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks
	p.X.Min, p.X.Max = 1, 1e5
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	for i, t := range r.Targets {
		pts := make(plotter.XYs, 0, len(t.Percentiles))
		for _, pc := range t.Percentiles {
			if pc.LatencyUS <= 0 || pc.Percentile >= 100 {
				continue
			}
			pts = append(pts, plotter.XY{X: 1 / (1 - pc.Percentile/100), Y: pc.LatencyUS / 1000})
		}
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("bench: plot %s: %w", t.Name, err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(t.Name, line)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

func plotTitle(r *Report) string {
	s := r.Settings
	var b strings.Builder
	fmt.Fprintf(&b, "ddbcache bench: %d keys %s", s.Keys, s.Dist)
	if s.Dist == string(Zipf) {
		fmt.Fprintf(&b, "(%g)", s.ZipfS)
	}
	fmt.Fprintf(&b, ", %d B items", s.ItemSize)
	if r.RedisRTT.RequestedUS > 0 {
		fmt.Fprintf(&b, ", Redis RTT %.0f µs", math.Round(r.RedisRTT.RelayedUS))
	}
	if s.Front == FrontFCGI {
		b.WriteString(", nginx → FastCGI")
	}
	return b.String()
}
