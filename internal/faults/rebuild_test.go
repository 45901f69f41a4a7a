//go:build linux

package faults

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacgiang/cds/projector/projtest"
)

var rebuiltLine = regexp.MustCompile(`rebuilt: seq (\d+) to (\d+), (\d+) events from the log in (\S+) \((\d+) events/s\)`)

// TestFaultRebuildAtScale folds ≥ 200k events with the cds projector
// process, then runs cds rebuild (everything, then from the middle of the
// log) and compares each rebuild with the live projection row for row. It
// prints the rebuild rate of the cds rebuild command.
func TestFaultRebuildAtScale(t *testing.T) {
	if os.Getenv("CDS_FAULTS") != "1" {
		t.Skip("long: set CDS_FAULTS=1 (make test-faults)")
	}
	e := newEnv(t)
	cdsBinary(t)
	load := projtest.Generate(31, envInt(t, "CDS_FAULT_EVENTS", 210000), e.reg.Codes())
	last, err := projtest.Publish(context.Background(), e.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	p := e.startProjector(t)
	began := time.Now()
	e.waitCaughtUp(t, p, 5*time.Minute)
	t.Logf("live projector: %d messages in %s", last, time.Since(began).Round(time.Millisecond))
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.tail())
	}
	live, err := projtest.Take(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{nil, {"--from-seq", fmt.Sprint(last / 2)}} {
		cmd := append(append([]string{"rebuild"}, args...), e.common()...)
		code, out := e.run(t, cmd...)
		if code != 0 {
			t.Fatalf("cds %s: exit %d:\n%s", strings.Join(cmd, " "), code, out)
		}
		m := rebuiltLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("cds rebuild printed no result:\n%s", out)
		}
		t.Logf("cds rebuild %s: %s", strings.Join(args, " "), m[0])
		again, err := projtest.Take(context.Background(), e.db)
		if err != nil {
			t.Fatal(err)
		}
		if d := live.Diff(again); len(d) > 0 {
			t.Fatalf("rebuild %v differs from live:\n%s", args, strings.Join(d, "\n"))
		}
	}
	r, err := projtest.Check(context.Background(), e.db, load, last)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatal(r)
	}
	t.Logf("rebuilt projection exact: %s", r)
}
