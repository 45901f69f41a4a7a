//go:build linux

package faults

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestProjectorSIGTERM stops the cds projector process with SIGTERM while it
// writes: it finishes the batch in hand, acks it, and exits 0, leaving
// nothing above the watermark.
func TestProjectorSIGTERM(t *testing.T) {
	e := newEnv(t)
	cdsBinary(t)
	load := projtest.Generate(11, 30000, e.reg.Codes())
	last, err := projtest.Publish(context.Background(), e.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	p := e.startProjector(t)
	deadline := time.Now().Add(time.Minute)
	for e.runningInsert(t) == "" {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no insert seen:\n%s", p.tail())
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, p.tail())
	}
	w := e.watermark(t)
	var above uint64
	if err := e.db.QueryRow(context.Background(), "SELECT count() FROM cds.events WHERE seq > ?", w).Scan(&above); err != nil {
		t.Fatal(err)
	}
	c, err := e.js.Consumer(context.Background(), natsserver.EventsStream, "cds-projector")
	if err != nil {
		t.Fatal(err)
	}
	acked := c.CachedInfo().AckFloor.Stream
	t.Logf("SIGTERM during an insert: exited 0 at watermark %d of %d, acked %d, raw rows above the watermark %d", w, last, acked, above)
	if w == 0 || above != 0 || acked != w {
		t.Fatalf("after SIGTERM: watermark %d, acked %d, %d raw rows above the watermark; want the batch in hand written and acked", w, acked, above)
	}
	if !strings.Contains(p.output(), "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", p.tail())
	}

	p = e.startProjector(t)
	// The shutdown above may have written everything: waitCaughtUp also
	// waits for this process to have loaded its state (and so to handle
	// signals).
	e.waitCaughtUp(t, p, 2*time.Minute)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("idle projector: exit code %d after SIGTERM:\n%s", code, p.tail())
	}
	r, err := projtest.Check(context.Background(), e.db, load, e.lastSeq(t))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatal(r)
	}
}

// TestDLQCommands is the operator's story: events from an agency missing in
// the registry are dead-lettered; cds dlq list and show describe them; the
// registry is fixed; cds dlq replay republishes them and the projector folds
// them.
func TestDLQCommands(t *testing.T) {
	e := newEnv(t)
	cdsBinary(t)
	ctx := context.Background()
	good := projtest.Generate(12, 200, e.reg.Codes())
	if _, err := projtest.Publish(ctx, e.js, good.Msgs); err != nil {
		t.Fatal(err)
	}
	body := func(id string) []byte {
		return []byte(`{"id":"` + id + `","type":"workfile.processed","v":1,"agency":"bg-newunit","occurred_at":"2025-03-01T10:00:00+07:00","data":{"workfile_id":"N-` + id + `","online":true}}`)
	}
	// n1 was sent without Nats-Msg-Id, n2 with it (JetStream remembers it
	// for the duplicate window).
	for i, id := range []string{"n1", "n2"} {
		m := nats.NewMsg("cds.events.bg-newunit.workfile.processed")
		m.Data = body(id)
		if i == 1 {
			m.Header.Set(jetstream.MsgIDHeader, id)
		}
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	p := e.startProjector(t)
	e.waitCaughtUp(t, p, time.Minute)
	p.signal(t, syscall.SIGTERM)
	p.wait(t, time.Minute)

	common := append([]string{"--log", "warn"}, e.common()...)
	code, out := e.run(t, append([]string{"dlq", "list", "--reason", "unknown_agency"}, common...)...)
	if code != 0 || !strings.Contains(out, "n1") || !strings.Contains(out, "n2") || !strings.Contains(out, "cds.events.bg-newunit.workfile.processed") {
		t.Fatalf("dlq list: exit %d:\n%s", code, out)
	}
	t.Logf("cds dlq list:\n%s", out)
	var n1 string // the CDS_DLQ sequence of n1
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[5] == "n1" {
			n1 = f[0]
		}
	}
	code, out = e.run(t, append([]string{"dlq", "show", n1}, common...)...)
	if code != 0 || !strings.Contains(out, "Cds-Reason: unknown_agency") || !strings.Contains(out, string(body("n1"))) {
		t.Fatalf("dlq show %s: exit %d:\n%s", n1, code, out)
	}
	// Replay before the fix: still invalid, nothing published.
	code, out = e.run(t, append([]string{"dlq", "replay", "--all"}, common...)...)
	if code == 0 || !strings.Contains(out, "still invalid") {
		t.Fatalf("dlq replay before the fix: exit %d:\n%s", code, out)
	}

	// The operator adds the unit to the registry.
	units := filepath.Join(t.TempDir(), "units.json")
	fixed := strings.Replace(string(registry.SampleJSON()), `"units": [`, `"units": [
  {"code": "bg-newunit", "name": "Ban mới", "name_en": "New unit", "level": "department", "parent": "bg", "valid_from": "2021-01-01", "valid_to": "", "successor": "", "reports_for": []},`, 1)
	if err := os.WriteFile(units, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	withUnits := append(common, "--units", units)
	code, out = e.run(t, append([]string{"dlq", "replay", "--reason", "unknown_agency"}, withUnits...)...)
	t.Logf("cds dlq replay:\n%s", out)
	if code == 0 || !strings.Contains(out, "published again") || !strings.Contains(out, "held") {
		t.Fatalf("dlq replay: exit %d, want n1 published and n2 held (so exit 1):\n%s", code, out)
	}
	p = e.startProjector(t, "--units", units)
	e.waitCaughtUp(t, p, time.Minute)
	var n uint64
	if err := e.db.QueryRow(ctx, "SELECT count() FROM cds.events WHERE agency = 'bg-newunit'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d events of bg-newunit folded, want 1 (n1)", n)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.tail())
	}
}
