package projector

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestDrillTableKeptAndRefilled: the drill rows every batch writes (small
// batches, so that keys change across many commits: corrections,
// retractions, events out of order, equal timestamps) list what cds.events
// does at the watermark (projtest.Check's DrillDiffs); rows of a batch that
// failed after its drill rows landed (above the watermark) are taken back
// by a read at the watermark meanwhile, and they, and a table emptied as
// by the upgrade that adds it, make the next recovery refill it, after
// which it lists the same again and the projector goes on keeping it.
func TestDrillTableKeptAndRefilled(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	load := projtest.Generate(15, 4000, registry.Sample().Codes())
	half := len(load.Msgs) / 2
	mid, err := projtest.Publish(ctx, h.js, load.Msgs[:half])
	if err != nil {
		t.Fatal(err)
	}
	r := h.start(t, Config{BatchMax: 97})
	waitFor(t, time.Minute, "the first half folded", func() bool { return r.p.Watermark() >= mid })
	r.stop()
	if diffs, err := projtest.DrillDiffs(ctx, h.db, 10); err != nil || len(diffs) > 0 {
		t.Fatalf("cds.drill_list kept by the batches: %v %v", diffs, err)
	}

	// A batch that failed after its drill rows landed: rows above the
	// watermark, one of them replacing a committed row.
	var bad chdb.DrillColumns
	var entity, agency string
	var at, next time.Time
	var tie uint64
	if err := h.db.QueryRow(ctx, "SELECT entity, agency, occurred_at, tie, next_at FROM "+h.db.Table("drill_list")+" FINAL WHERE entity != '' AND next_at > occurred_at LIMIT 1").Scan(&entity, &agency, &at, &tie, &next); err != nil {
		t.Fatal(err)
	}
	bad.Add(entity, agency, uint32(at.Unix()), uint32(at.Unix()), uint32(next.Unix()), tie, false, mid+1)
	marked, _, err := h.db.DrillState(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad.AddMarker(mid+1, marked)
	if err := h.db.InsertDrill(ctx, "", &bad); err != nil {
		t.Fatal(err)
	}
	if _, above, err := h.db.DrillState(ctx, mid); err != nil || above == 0 {
		t.Fatalf("rows above the watermark: %d (%v), want some", above, err)
	}
	// Read at the watermark meanwhile, the batch's change taken back.
	if diffs, err := projtest.DrillDiffs(ctx, h.db, 10); err != nil || len(diffs) > 0 {
		t.Fatalf("cds.drill_list read at the watermark with a batch's rows above it: %v %v", diffs, err)
	}
	r = h.start(t, Config{BatchMax: 97})
	waitFor(t, time.Minute, "the recovery", func() bool { return metric(t, r.reg, "cds_projector_recoveries_total") >= 1 && r.p.Watermark() >= mid })
	r.stop()
	if marked, above, err := h.db.DrillState(ctx, r.p.Watermark()); err != nil || above != 0 || marked != r.p.Watermark() {
		t.Fatalf("after the recovery: the tables at %d, %d rows above the watermark %d (%v); want them refilled", marked, above, r.p.Watermark(), err)
	}
	if diffs, err := projtest.DrillDiffs(ctx, h.db, 10); err != nil || len(diffs) > 0 {
		t.Fatalf("cds.drill_list after the refill: %v %v", diffs, err)
	}

	// The counts emptied (cds.drill_list kept): their marker is not the
	// commit; then the rest of the load, kept by the batches after the
	// refill.
	if err := h.db.Exec(ctx, "TRUNCATE TABLE "+h.db.Table("drill_days")); err != nil {
		t.Fatal(err)
	}
	if _, err := projtest.Publish(ctx, h.js, load.Msgs[half:]); err != nil {
		t.Fatal(err)
	}
	r = h.start(t, Config{BatchMax: 97})
	waitFor(t, time.Minute, "the whole load folded", func() bool { return r.p.Watermark() >= h.lastSeq(t) })
	h.check(t, load)

	// The counts' marker is one row once merged, whatever the commits:
	// its rows sum to the commit.
	if err := h.db.Exec(ctx, "OPTIMIZE TABLE "+h.db.Table("drill_days")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	var rows, sum uint64
	if err := h.db.QueryRow(ctx, "SELECT count(), toUInt64(sum(n)) FROM "+h.db.Table("drill_days")+" WHERE entity = ''").Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || sum != r.p.Watermark() {
		t.Fatalf("cds.drill_days's marker: %d rows summing to %d, want 1 row summing to the watermark %d", rows, sum, r.p.Watermark())
	}
}

// TestDrillPinnedWhileCommitsLand: drill-downs read at commits the
// projector made earlier, once many commits (small batches: corrections,
// retractions, events out of order) have landed since, list and count what
// cds.events does at those commits: the later commits' changes are taken
// back from cds.drill_log.
func TestDrillPinnedWhileCommitsLand(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	load := projtest.Generate(16, 3000, registry.Sample().Codes())
	if _, err := projtest.Publish(ctx, h.js, load.Msgs); err != nil {
		t.Fatal(err)
	}
	r := h.start(t, Config{BatchMax: 97})
	var commits []uint64
	waitFor(t, time.Minute, "the load folded", func() bool {
		w := r.p.Watermark()
		if w > 0 && (len(commits) == 0 || commits[len(commits)-1] != w) {
			commits = append(commits, w)
		}
		return w >= h.lastSeq(t)
	})
	r.stop()
	if len(commits) < 4 {
		t.Fatalf("only %d commits seen: %v", len(commits), commits)
	}
	for _, at := range []uint64{commits[0], commits[len(commits)/3], commits[2*len(commits)/3]} {
		if diffs, err := projtest.DrillDiffsAt(ctx, h.db, at, 10); err != nil || len(diffs) > 0 {
			t.Errorf("read at commit %d of %d: %v %v", at, commits[len(commits)-1], diffs, err)
		}
	}
}
