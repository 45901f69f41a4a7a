package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chdb/chdbtest"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestRepublishAfterLostLog: ClickHouse has folded a load, then the
// JetStream store is lost (the stream comes back empty). The projector
// refuses to go on; Republish puts ClickHouse's events into the new
// stream, and a rebuild from it gives back exactly the load.
func TestRepublishAfterLostLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registry.Sample()
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	js := natstest.JetStream(t, ns.ClientURL())
	if err := natsserver.EnsureStreams(ctx, js, natsserver.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	db := chdbtest.Migrated(t, "")
	load := projtest.Generate(21, 6000, reg.Codes())
	last, err := projtest.Publish(ctx, js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	drain := func(p *projector.Projector, target uint64) {
		t.Helper()
		if _, err := Drain(ctx, p, target, nil); err != nil {
			t.Fatal(err)
		}
	}
	p, err := projector.New(projector.Config{BatchWait: 20 * time.Millisecond}, projector.Deps{JetStream: js, DB: db, Units: reg})
	if err != nil {
		t.Fatal(err)
	}
	drain(p, last)

	// The store is lost: an empty stream.
	if err := js.DeleteStream(ctx, natsserver.EventsStream); err != nil {
		t.Fatal(err)
	}
	if err := natsserver.EnsureStreams(ctx, js, natsserver.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	p2, err := projector.New(projector.Config{BatchWait: 20 * time.Millisecond}, projector.Deps{JetStream: js, DB: db, Units: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Run(ctx); !errors.Is(err, projector.ErrDiverged) {
		t.Fatalf("Run on the empty log: %v, want ErrDiverged", err)
	}
	n, err := Republish(ctx, db, js, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(load.IDs()); n != want {
		t.Errorf("republished %d events, want the %d valid ids", n, want)
	}
	st, err := js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	newLast := st.CachedInfo().State.LastSeq
	if _, err := p2.Rewind(ctx, 1); err != nil {
		t.Fatal(err)
	}
	drain(p2, newLast)
	r, err := projtest.Check(ctx, db, load, newLast)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("after republish and rebuild: %s", r)
	}
	t.Logf("republished %d events; rebuilt: %s", n, r)
}
