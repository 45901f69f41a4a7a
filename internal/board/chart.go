package board

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/bacgiang/cds/internal/catalog"
)

// chart is what a trend chart draws.
type chart struct {
	ID      string // unique in the page: the ids of <title> and <desc> derive from it
	Title   string
	Desc    string
	Lang    string
	Measure catalog.Measure
	Lower   bool // lower is better (a rank): the axis runs downwards
	Points  []TrendPoint
}

// Geometry of the chart's viewBox; the SVG scales to its container's width.
const (
	chartW, chartH = 640.0, 220.0
	padL, padR     = 64.0, 84.0
	padT, padB     = 14.0, 30.0
)

// svg draws the chart as inline SVG: the value as a solid line, the
// trajectory as a dotted line, the target as a dashed line, each labelled
// in words at its end, with a <title> and a <desc> for screen readers (the
// page also carries the same figures as a table).
func (c chart) svg() template.HTML {
	if len(c.Points) == 0 {
		return ""
	}
	lo, hi := c.bounds()
	n := len(c.Points)
	x := func(i int) float64 {
		if n == 1 {
			return padL + (chartW-padL-padR)/2
		}
		return padL + float64(i)*(chartW-padL-padR)/float64(n-1)
	}
	y := func(v float64) float64 {
		f := (v - lo) / (hi - lo)
		if c.Lower {
			f = 1 - f
		}
		return chartH - padB - f*(chartH-padT-padB)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, c.ID, c.ID)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, c.ID, html.EscapeString(c.Title), c.ID, html.EscapeString(c.Desc))
	// Axis: four gridlines with labels.
	for k := 0; k <= 4; k++ {
		v := lo + (hi-lo)*float64(k)/4
		yy := y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, yy, yy)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-6, yy+4, html.EscapeString(c.axisLabel(v)))
	}
	// Dates: the first, the last, and each January in between.
	for i, p := range c.Points {
		if i == 0 || i == n-1 || (p.AsOf.Month() == 1 && i > 4 && i < n-6) {
			label := p.AsOf.String()[:7]
			if i == n-1 {
				label = p.AsOf.String()
			}
			anchor := "middle"
			if i == 0 {
				anchor = "start"
			} else if i == n-1 {
				anchor = "end"
			}
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x(i), chartH-8, anchor, label)
		}
	}
	// Target: dashed, at the level of the last point's target. Its label
	// moves aside when the value's label would sit on it.
	targetY := math.NaN()
	if tg := c.Points[n-1].Target; tg != nil {
		targetY = y(*tg)
		fmt.Fprintf(&b, `<line class="target" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, targetY, targetY)
	}
	// Trajectory: dotted, where the engine gives an expected value.
	c.line(&b, "expected", x, y, func(p TrendPoint) *float64 { return p.Expected })
	// Value: solid, broken where there is no data.
	c.line(&b, "value", x, y, func(p TrendPoint) *float64 { return p.Value })
	valueY := math.NaN()
	if v := c.Points[n-1].Value; v != nil {
		valueY = y(*v)
		fmt.Fprintf(&b, `<circle class="dot s-%s" cx="%.1f" cy="%.1f" r="5"/>`, c.Points[n-1].Status, x(n-1), valueY)
		fmt.Fprintf(&b, `<text class="lbl value-lbl" x="%.1f" y="%.1f">%s</text>`, chartW-padR+8, valueY+4, html.EscapeString(measureValue(c.Lang, c.Measure, *v)))
	}
	if !math.IsNaN(targetY) {
		ly := targetY + 4
		if !math.IsNaN(valueY) && math.Abs(valueY-targetY) < 14 {
			ly = valueY + 18 // below the value's label
			if valueY > targetY {
				ly = valueY - 12
			}
		}
		fmt.Fprintf(&b, `<text class="lbl target-lbl" x="%.1f" y="%.1f">%s</text>`, chartW-padR+8, ly, html.EscapeString(t(c.Lang, "trend.target")))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// line draws one series as polylines, broken where get returns nil.
func (c chart) line(b *strings.Builder, class string, x func(int) float64, y func(float64) float64, get func(TrendPoint) *float64) {
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline class="%s" points="%s"/>`, class, strings.Join(pts, " "))
		}
		pts = pts[:0]
	}
	for i, p := range c.Points {
		v := get(p)
		if v == nil {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(*v)))
	}
	flush()
}

// bounds returns the value axis: ratios 0–100 %, others from the data and
// the target with a margin; a rank from 1.
func (c chart) bounds() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	see := func(p *float64) {
		if p != nil {
			lo, hi = math.Min(lo, *p), math.Max(hi, *p)
		}
	}
	for _, p := range c.Points {
		see(p.Value)
		see(p.Target)
		see(p.Expected)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	switch c.Measure {
	case catalog.MeasureRatio:
		return 0, math.Max(1, hi)
	case catalog.MeasureRank:
		return 1, math.Max(hi+2, 5)
	case catalog.MeasureCount:
		return 0, niceCeil(hi * 1.1)
	}
	span := math.Max(hi-lo, 0.01)
	return math.Min(0, lo-span*0.1), hi + span*0.1
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func (c chart) axisLabel(v float64) string {
	switch c.Measure {
	case catalog.MeasureRatio, catalog.MeasureGrowth:
		return num(c.Lang, v*100, 0) + " %"
	}
	return num(c.Lang, v, 0)
}

// statusBar draws counts per status as one stacked bar with the counts
// written on it; the table next to it carries the same numbers.
func statusBar(counts []int, label string) template.HTML {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return ""
	}
	const w, h = 240.0, 22.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bar" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(label))
	x := 0.0
	for i, n := range counts {
		if n == 0 {
			continue
		}
		bw := w * float64(n) / float64(total)
		fmt.Fprintf(&b, `<rect class="s-%s" x="%.1f" y="0" width="%.1f" height="%.0f"/>`, statuses[i], x, bw, h)
		if bw >= 14 {
			fmt.Fprintf(&b, `<text class="barn s-%s-t" x="%.1f" y="15" text-anchor="middle">%d</text>`, statuses[i], x+bw/2, n)
		}
		x += bw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// meter draws a 0–1 share as a small horizontal bar (composite scores).
func meter(v float64) template.HTML {
	v = math.Max(0, math.Min(1, v))
	return template.HTML(fmt.Sprintf(`<svg class="meter" viewBox="0 0 100 8" aria-hidden="true" xmlns="http://www.w3.org/2000/svg"><rect class="meter-bg" width="100" height="8"/><rect class="meter-fg" width="%.1f" height="8"/></svg>`, v*100))
}
