package loadgen

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW      = 900
	chartPanelH = 220
	chartLeft   = 70
	chartRight  = 20
	chartTop    = 50
	chartGap    = 60
	chartTicks  = 5
)

// ChartSVG draws the run's series as a plain SVG: throughput (API ops/s,
// completed escrows/s and errors/s) over time above, the p99 latency of each
// second below.
func ChartSVG(series []Point, title string) []byte {
	var b bytes.Buffer
	h := chartTop + 2*chartPanelH + chartGap + 50
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, h, chartW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", chartLeft, esc(title))
	xMax := 1.0
	for _, p := range series {
		xMax = math.Max(xMax, float64(p.Second))
	}
	ops := make([]float64, len(series))
	done := make([]float64, len(series))
	errs := make([]float64, len(series))
	p99 := make([]float64, len(series))
	xs := make([]float64, len(series))
	for i, p := range series {
		xs[i], ops[i], done[i], errs[i], p99[i] = float64(p.Second), float64(p.Ops), float64(p.Completed), float64(p.Errors), p.P99Ms
	}
	panel(&b, chartTop, "throughput per second", xs, xMax, []line{{"API ops/s", "#1f77b4", ops}, {"escrows completed/s", "#2ca02c", done}, {"errors/s", "#ff7f0e", errs}}, false)
	panel(&b, chartTop+chartPanelH+chartGap, "p99 latency of each second (ms)", xs, xMax, []line{{"p99 ms", "#d62728", p99}}, true)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds since start</text>`+"\n", chartLeft+(chartW-chartLeft-chartRight)/2, h-12)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

type line struct {
	label, color string
	ys           []float64
}

// panel draws one chart panel with its axes, grid, lines and legend at y0.
func panel(b *bytes.Buffer, y0 int, title string, xs []float64, xMax float64, lines []line, xLabels bool) {
	w := float64(chartW - chartLeft - chartRight)
	hgt := float64(chartPanelH)
	yMax := 0.0
	for _, l := range lines {
		for _, y := range l.ys {
			yMax = math.Max(yMax, y)
		}
	}
	yStep := niceStep(yMax / chartTicks)
	yTop := yStep * math.Ceil(math.Max(yMax, yStep)/yStep)
	xStep := niceStep(xMax / 10)
	px := func(x float64) float64 { return float64(chartLeft) + x/xMax*w }
	py := func(y float64) float64 { return float64(y0) + hgt - y/yTop*hgt }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", chartLeft, y0-8, esc(title))
	for y := 0.0; y <= yTop+yStep/2; y += yStep {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", chartLeft, py(y), chartW-chartRight, py(y))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", chartLeft-6, py(y)+4, fmtTick(y))
	}
	for x := 0.0; x <= xMax+xStep/2; x += xStep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px(x), y0, px(x), y0+chartPanelH)
		if xLabels {
			fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), y0+chartPanelH+16, fmtTick(x))
		}
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", chartLeft, y0, w, hgt)
	for i, l := range lines {
		if len(xs) > 0 {
			pts := make([]string, len(xs))
			for j := range xs {
				pts[j] = fmt.Sprintf("%.1f,%.1f", px(xs[j]), py(l.ys[j]))
			}
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`+"\n", l.color, strings.Join(pts, " "))
		}
		lx := chartW - chartRight - 190
		ly := y0 + 16 + 16*i
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+20, ly-4, l.color)
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", lx+26, ly, esc(l.label))
	}
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// WriteChart writes the SVG chart of r to path.
func WriteChart(path string, r Result) error {
	title := fmt.Sprintf("escrowd bench: %d clients, %.0f API ops/s, %.1f escrows/s, p99 %.1f ms", r.Clients, r.OpsPerSec, r.EscrowsPerSec, r.Total.P99Ms)
	return os.WriteFile(path, ChartSVG(r.Series, title), 0o644)
}
