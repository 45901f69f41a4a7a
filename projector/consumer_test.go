package projector

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestTwoDatabasesOneStream: projectors of two databases fold the same
// stream at the same time, each through its own durable consumer, and both
// databases end exact. With one shared consumer, each recovery deleted the
// other's consumer and one of them received nothing.
func TestTwoDatabasesOneStream(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	other, err := chdb.Open(ctx, chdb.Config{Addr: h.ch.Addr(), Database: "cds_b", ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, err := other.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	load := projtest.Generate(4, 3000, registry.Sample().Codes())
	last, err := projtest.Publish(ctx, h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	a := h.start(t, Config{})
	hb := *h
	hb.db = other
	b := hb.start(t, Config{})
	waitFor(t, time.Minute, "both databases folded", func() bool {
		return a.p.Watermark() >= last && b.p.Watermark() >= last
	})
	for _, name := range []string{"cds-projector", "cds-projector-cds_b"} {
		if _, err := h.js.Consumer(ctx, natsserver.EventsStream, name); err != nil {
			t.Errorf("consumer %s: %v", name, err)
		}
	}
	h.check(t, load)
	hb.check(t, load)
}
