package scores

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// writeBatch writes work dossiers of bg-vietyen on days (province time),
// from sequence seq on, as the projector writes a batch before its commit
// marker: raw rows, then their rows of cds.event_lasts with its marker. It
// returns the batch's last sequence.
func writeBatch(t *testing.T, db *chdb.DB, seq uint64, days ...string) uint64 {
	t.Helper()
	ctx := context.Background()
	var c chdb.EventColumns
	c.Grow(len(days))
	for _, d := range days {
		at, err := time.ParseInLocation(time.DateTime, d+" 09:00:00", events.Zone)
		if err != nil {
			t.Fatal(err)
		}
		c.ID, c.Type, c.Agency = append(c.ID, fmt.Sprintf("s-%d", seq)), append(c.Type, "workfile.processed"), append(c.Agency, "bg-vietyen")
		c.Supersedes, c.Data = append(c.Supersedes, ""), append(c.Data, fmt.Sprintf(`{"workfile_id":"S%d","online":true}`, seq))
		c.V, c.Retraction = append(c.V, 1), append(c.Retraction, 0)
		c.OccurredAt, c.ReceivedAt, c.Seq = append(c.OccurredAt, at), append(c.ReceivedAt, at), append(c.Seq, seq)
		seq++
	}
	if err := db.InsertEvents(ctx, "", &c); err != nil {
		t.Fatal(err)
	}
	var l chdb.LastsColumns
	l.Add(&c)
	l.AddMarker(seq - 1)
	if err := db.InsertLasts(ctx, "", &l); err != nil {
		t.Fatal(err)
	}
	return seq - 1
}

// silentHSCV reports whether bg-vietyen is silent for HSCV in e's silence
// at q over 30 days, and the silence as JSON.
func silentHSCV(t *testing.T, e *Engine, q Query) (bool, string) {
	t.Helper()
	s, err := e.Silence(context.Background(), q, 30, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range s.Silent {
		if x.Unit == "bg-vietyen" && x.Indicator == "HSCV" {
			return true, mustJSON(t, s)
		}
	}
	return false, mustJSON(t, s)
}

// TestSilenceAtTheCommit: silence read from cds.event_lasts is silence read
// by the scan of cds.events, at the commit read: an event of a batch whose
// commit marker has not landed does not end a unit's silence until it
// has (before cds.event_lasts, silence counted every row of cds.events);
// a copy behind the commit is not read, and that read is counted as a
// fallback.
func TestSilenceAtTheCommit(t *testing.T) {
	db := rollupDB(t)
	copies := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db)}
	scan := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreScan(db)}
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}
	same := func(when string, wantSilent bool) {
		t.Helper()
		silent, got := silentHSCV(t, copies, q)
		_, want := silentHSCV(t, scan, q)
		if got != want {
			t.Errorf("%s: from cds.event_lasts\n%s\nby the scan\n%s", when, got, want)
		}
		if silent != wantSilent {
			t.Errorf("%s: bg-vietyen silent for HSCV: %v, want %v", when, silent, wantSilent)
		}
	}

	c1 := writeBatch(t, db, 1, "2025-03-01", "2025-05-20")
	p1 := pos{n: int64(c1), num: 2, den: 3}
	commit(t, db, nil, pos{}, p1)
	same("at the first commit", true)

	// A batch with an event in the window, its commit marker not landed.
	c2 := writeBatch(t, db, c1+1, "2025-06-25")
	same("with a batch above the commit", true)
	commit(t, db, nil, p1, pos{n: int64(c2), num: 3, den: 6})
	same("once it has committed", false)
	if c, _, f := copies.Store.SilenceStats(); c == 0 || f != 0 {
		t.Errorf("%d reads from cds.event_lasts, %d fallbacks; want some and none", c, f)
	}

	// The copy emptied (as by the upgrade that adds it) is behind. (A
	// Store without a cache: the markers have not moved.)
	if err := db.Exec(context.Background(), "TRUNCATE TABLE "+db.Table("event_lasts")); err != nil {
		t.Fatal(err)
	}
	copies = &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 0)}
	same("the copy behind the commit", false)
	if _, _, f := copies.Store.SilenceStats(); f == 0 {
		t.Error("no fallback counted with the copy behind the commit")
	}
}
