package projector

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestLastsKeptAndRefilled: the rows of cds.event_lasts every batch writes
// give silence's latest events as the scan of cds.events does at the
// watermark (projtest.LastsDiffs, also in every projtest.Check); a batch
// that failed after its raw rows and its rows of the copy landed (above
// the watermark, later than every committed event, merged into the
// committed rows) is read around meanwhile, and makes the next recovery,
// which deletes its raw rows, refill the copy: without the refill the
// batches after it, which take its sequences, would make its maximum
// look committed. An emptied copy (an upgrade) is refilled too.
func TestLastsKeptAndRefilled(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	load := projtest.Generate(19, 3000, registry.Sample().Codes())
	half := len(load.Msgs) / 2
	mid, err := projtest.Publish(ctx, h.js, load.Msgs[:half])
	if err != nil {
		t.Fatal(err)
	}
	r := h.start(t, Config{BatchMax: 97})
	waitFor(t, time.Minute, "the first half folded", func() bool { return r.p.Watermark() >= mid })
	r.stop()
	if diffs, err := projtest.LastsDiffs(ctx, h.db, 10); err != nil || len(diffs) > 0 {
		t.Fatalf("cds.event_lasts kept by the batches: %v %v", diffs, err)
	}

	// The failed batch: an event of an agency and type that has some,
	// later than all, at the next sequence.
	var agency, typ string
	if err := h.db.QueryRow(ctx, "SELECT agency, type FROM "+h.db.Table("events")+" LIMIT 1").Scan(&agency, &typ); err != nil {
		t.Fatal(err)
	}
	var bad chdb.EventColumns
	bad.Grow(1)
	at := time.Date(2029, 1, 1, 12, 0, 0, 0, events.Zone)
	bad.ID, bad.Type, bad.Agency, bad.Supersedes, bad.Data = append(bad.ID, "lasts-bad"), append(bad.Type, typ), append(bad.Agency, agency), append(bad.Supersedes, ""), append(bad.Data, "{}")
	bad.V, bad.Retraction = append(bad.V, 1), append(bad.Retraction, 0)
	bad.OccurredAt, bad.ReceivedAt, bad.Seq = append(bad.OccurredAt, at), append(bad.ReceivedAt, at), append(bad.Seq, mid+1)
	if err := h.db.InsertEvents(ctx, "", &bad); err != nil {
		t.Fatal(err)
	}
	var l chdb.LastsColumns
	l.Add(&bad)
	l.AddMarker(mid + 1)
	if err := h.db.InsertLasts(ctx, "", &l); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Exec(ctx, "OPTIMIZE TABLE "+h.db.Table("event_lasts")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	if diffs, err := projtest.LastsDiffs(ctx, h.db, 10); err != nil || len(diffs) > 0 {
		t.Fatalf("cds.event_lasts read at the watermark with a batch's rows above it: %v %v", diffs, err)
	}

	// The rest of the load: the recovery deletes the batch's raw rows and
	// refills the copy; the batches after it take its sequences.
	if _, err := projtest.Publish(ctx, h.js, load.Msgs[half:]); err != nil {
		t.Fatal(err)
	}
	r = h.start(t, Config{BatchMax: 97})
	waitFor(t, time.Minute, "the whole load folded", func() bool { return r.p.Watermark() >= h.lastSeq(t) })
	r.stop()
	h.check(t, load)

	// Emptied, as by the upgrade that adds it: refilled by the next
	// recovery, until which silence reads cds.events.
	if err := h.db.Exec(ctx, "TRUNCATE TABLE "+h.db.Table("event_lasts")); err != nil {
		t.Fatal(err)
	}
	if _, err := projtest.LastsDiffs(ctx, h.db, 10); err == nil {
		t.Fatal("an empty cds.event_lasts read at the watermark")
	}
	r = h.start(t, Config{BatchMax: 97})
	w := h.lastSeq(t)
	waitFor(t, time.Minute, "the refill", func() bool {
		mark, above, err := h.db.LastsState(ctx, w)
		return err == nil && mark == w && above == 0
	})
	r.stop()
	h.check(t, load)
}
