package bench

import (
	"fmt"
	"io"
)

// Printer writes a benchmark's figures, one "name: value unit" line each on
// Out (the format docs/performance.md's tables are read from), and its
// progress lines, prefixed with Name, on Progress (nil = none).
type Printer struct {
	Name     string
	Out      io.Writer
	Progress io.Writer
}

// Progressf writes one progress line.
func (p Printer) Progressf(format string, args ...any) {
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, p.Name+": "+format+"\n", args...)
	}
}

// Figure writes one figure: v with two decimals when unit is "" (a ratio),
// else rounded and followed by unit.
func (p Printer) Figure(name string, v float64, unit string) {
	if unit == "" {
		fmt.Fprintf(p.Out, "%s: %.2f\n", name, v)
		return
	}
	fmt.Fprintf(p.Out, "%s: %.0f %s\n", name, v, unit)
}
