package eventtest

import (
	_ "embed"
	"strings"
)

//go:embed testdata/province.ndjson
var province string

// Province returns the events of a small province, one JSON event a line:
// every indicator, a correction, a retraction, events in another year and
// after 2025-06-30, a withdrawal, a closure, reported figures with a
// corrected report. The app's and the score history's end-to-end tests
// load it.
func Province() []string {
	return strings.Split(strings.TrimRight(province, "\n"), "\n")
}
