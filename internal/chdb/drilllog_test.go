package chdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chdb/chdbtest"
)

// TestDrillTablePinnedAtEarlierCommit: with cds.drill_list and
// cds.drill_days kept by commits (InsertDrill of each commit's changes,
// as the projector writes them, here the differences between refills at
// successive sequences), a drill-down read at the last commit, and at
// earlier ones while the tables are at the last (rows changed by one and
// by several commits since), lists and counts what DrillRows does at that
// commit; once cds.drill_log's range holding a commit is dropped, a read
// at it answers ErrDrillMoved, and at a commit still logged it answers.
func TestDrillTablePinnedAtEarlierCommit(t *testing.T) {
	db := chdbtest.Migrated(t, "drill_pinned")
	ctx := context.Background()
	drillFixture(t, db, 3000)
	commits := []uint64{1000, 1700, 2300, 3000}
	states := make([]map[drillKey]drillVal, len(commits))
	for i, c := range commits {
		if err := db.RefillDrill(ctx, c); err != nil {
			t.Fatal(err)
		}
		states[i] = drillListRows(t, db)
	}
	if err := db.RefillDrill(ctx, commits[0]); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i := 1; i < len(commits); i++ {
		c := drillCommit(states[i-1], states[i], commits[i])
		c.AddMarker(commits[i], commits[i-1])
		changed += c.Len() - 1
		if err := db.InsertDrill(ctx, "", c); err != nil {
			t.Fatal(err)
		}
	}
	if changed < 500 {
		t.Fatalf("the commits change only %d rows: the test does not test much", changed)
	}
	for _, at := range []uint64{commits[3], commits[2], commits[0]} {
		if checked, nonEmpty := compareDrillTable(t, db, at); nonEmpty < 20 {
			t.Errorf("at %d only %d of %d filters list events", at, nonEmpty, checked)
		}
	}

	// A commit two ranges of cds.drill_log later (no rows: the tables stay
	// as they are) drops the range of the earlier commits.
	far := 2*chdb.DrillLogRange + 5
	var c chdb.DrillColumns
	c.AddMarker(uint64(far), commits[3])
	if err := db.InsertDrill(ctx, "", &c); err != nil {
		t.Fatal(err)
	}
	if err := db.PruneDrillLog(ctx, &c); err != nil {
		t.Fatal(err)
	}
	f, _ := events.FeedingOf("HSCV")
	for _, tc := range []struct {
		at    uint64
		moved bool
	}{{commits[2], true}, {commits[3], false}} {
		at := tc.at
		filt := chdb.DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, AgencyScoped: true, AsOf: "2025-12-31", Year: 2025, UpTo: &at}
		_, err := db.DrillTableCount(ctx, filt)
		_, errRows := db.DrillTableRows(ctx, filt, false, 0, 10)
		if got := errors.Is(err, chdb.ErrDrillMoved) && errors.Is(errRows, chdb.ErrDrillMoved); got != tc.moved || (!tc.moved && (err != nil || errRows != nil)) {
			t.Errorf("read at %d after the log's range was dropped: count %v, rows %v; want ErrDrillMoved %t", at, err, errRows, tc.moved)
		}
	}
}

// drillKey and drillVal are a row of cds.drill_list.
type drillKey struct {
	entity, agency string
	at             uint32
	tie            uint64
}

type drillVal struct {
	next    uint32
	removes bool
}

// drillListRows reads cds.drill_list's rows (without its marker).
func drillListRows(t *testing.T, db *chdb.DB) map[drillKey]drillVal {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT entity, agency, occurred_at, tie, next_at, removes FROM "+db.Table("drill_list")+" FINAL WHERE entity != ''")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[drillKey]drillVal{}
	for rows.Next() {
		var k drillKey
		var at, next time.Time
		var removes uint8
		if err := rows.Scan(&k.entity, &k.agency, &at, &k.tie, &next, &removes); err != nil {
			t.Fatal(err)
		}
		k.at = uint32(at.Unix())
		out[k] = drillVal{next: uint32(next.Unix()), removes: removes == 1}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// drillCommit is the changes that take cds.drill_list from rows was to
// rows now, as a commit at seq writes them: new rows (before: their own
// occurred_at), rows whose next moved, and rows no longer in a timeline
// (next: their own occurred_at).
func drillCommit(was, now map[drillKey]drillVal, seq uint64) *chdb.DrillColumns {
	c := &chdb.DrillColumns{}
	for k, v := range now {
		before := k.at
		if o, ok := was[k]; ok {
			if o.next == v.next {
				continue
			}
			before = o.next
		}
		c.Add(k.entity, k.agency, k.at, v.next, before, k.tie, v.removes, seq)
	}
	for k, o := range was {
		if _, ok := now[k]; !ok && o.next != k.at {
			c.Add(k.entity, k.agency, k.at, k.at, o.next, k.tie, o.removes, seq)
		}
	}
	return c
}
