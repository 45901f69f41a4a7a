//go:build linux

package faults

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestLostLogCommands plays the operator's night after the JetStream store
// was lost under a folded ClickHouse: cds projector exits 1 with one ERROR
// naming the divergence and deletes nothing; cds republish puts
// ClickHouse's events into the new log; cds rebuild folds it; ClickHouse
// holds the load exactly.
func TestLostLogCommands(t *testing.T) {
	e := newEnv(t)
	cdsBinary(t)
	ctx := context.Background()
	load := projtest.Generate(17, 5000, e.reg.Codes())
	if _, err := projtest.Publish(ctx, e.js, load.Msgs); err != nil {
		t.Fatal(err)
	}
	p := e.startProjector(t)
	e.waitCaughtUp(t, p, time.Minute)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.tail())
	}
	before, err := projtest.Take(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}

	// The store is lost: the stream comes back empty.
	if err := e.js.DeleteStream(ctx, natsserver.EventsStream); err != nil {
		t.Fatal(err)
	}
	if err := natsserver.EnsureStreams(ctx, e.js, natsserver.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	p = e.startProjector(t)
	code := p.wait(t, time.Minute)
	out := p.output()
	if code != 1 || strings.Count(out, "level=ERROR") != 1 || !strings.Contains(out, "diverged") {
		t.Fatalf("on an empty log: exit %d, want 1 with one ERROR naming the divergence:\n%s", code, p.tail())
	}
	after, err := projtest.Take(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(after); len(d) > 0 {
		t.Fatalf("the projector changed ClickHouse on a diverged log:\n%s", strings.Join(d, "\n"))
	}

	if code, out := e.run(t, append([]string{"republish"}, e.common()...)...); code != 0 {
		t.Fatalf("cds republish: exit %d:\n%s", code, out)
	} else {
		t.Logf("cds republish: %s", strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
	}
	if code, out := e.run(t, append([]string{"rebuild"}, e.common()...)...); code != 0 {
		t.Fatalf("cds rebuild: exit %d:\n%s", code, out)
	}
	r, err := projtest.Check(ctx, e.db, load, e.lastSeq(t))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("after republish and rebuild: %s", r)
	}
	t.Logf("after republish and rebuild: %s", r)
}
