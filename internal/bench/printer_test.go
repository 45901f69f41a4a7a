package bench

import (
	"bytes"
	"testing"
)

func TestPrinter(t *testing.T) {
	var out, progress bytes.Buffer
	p := Printer{Name: "bench", Out: &out, Progress: &progress}
	p.Figure("projector_vs_raw", 0.314, "")
	p.Figure("projector_drain", 35374.4, "events/s")
	p.Progressf("drained %d of %d", 5, 10)
	if want := "projector_vs_raw: 0.31\nprojector_drain: 35374 events/s\n"; out.String() != want {
		t.Errorf("figures %q, want %q", out.String(), want)
	}
	if want := "bench: drained 5 of 10\n"; progress.String() != want {
		t.Errorf("progress %q, want %q", progress.String(), want)
	}
	Printer{Out: &out}.Progressf("no progress writer: nothing, no panic")
}
