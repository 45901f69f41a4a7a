package scores

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// addDrill writes the cds.drill_list rows of workfile.processed events of
// bg-vietyen at 09:00 of their days, each the only one of its key, with
// the table's marker at seq, as a batch does before its commit marker.
func addDrill(tb testing.TB, db *chdb.DB, seq uint64, ids []string, days []string) {
	tb.Helper()
	var c chdb.DrillColumns
	for i, id := range ids {
		at, _ := time.Parse(time.RFC3339, days[i]+"T09:00:00+07:00")
		var tie uint64
		if err := db.QueryRow(context.Background(), "SELECT cityHash64(?)", id).Scan(&tie); err != nil {
			tb.Fatal(err)
		}
		c.Add("workfile", "bg-vietyen", uint32(at.Unix()), chdb.DrillNoNext, uint32(at.Unix()), tie, false, seq)
	}
	prev, _, err := db.DrillState(context.Background(), 0) // the tables' marker: this batch moves it to seq
	if err != nil {
		tb.Fatal(err)
	}
	c.AddMarker(seq, prev)
	if err := db.InsertDrill(context.Background(), "", &c); err != nil {
		tb.Fatal(err)
	}
}

// TestDrillFromTable: the page and its total come from cds.drill_list and
// cds.drill_days, in one read, when their markers are the commit of the score; while a
// batch's drill rows have landed but not its commit, from them too, pinned
// at the commit of the score (the batch's changes taken back), with the
// same answer; after the commit, with the new event; emptied, from
// cds.events at once (a fallback, counted once: the total is then read from
// cds.events without asking the tables again).
func TestDrillFromTable(t *testing.T) {
	db := rollupDB(t)
	ctx := context.Background()
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db)}
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}

	insertRaw(t, db, 1, "w-1", "W1", "2025-03-01")
	insertRaw(t, db, 2, "w-2", "W2", "2025-03-02")
	addDrill(t, db, 2, []string{"w-1", "w-2"}, []string{"2025-03-01", "2025-03-02"})
	commit(t, db, []testCell{
		cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 1, 1, 1),
		cell("HSCV", "bg-vietyen", 2025, "", "2025-03-02", 1, 1, 1),
	}, pos{}, pos{n: 2, num: 2, den: 3})
	d, err := e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 10)
	if err != nil || d.Total != 2 || len(d.Events) != 2 || d.Events[0].ID != "w-1" {
		t.Fatalf("at the commit of the table: %+v, %v; want w-1, w-2", d, err)
	}
	if table, fallbacks := e.Store.DrillStats(); table != 1 || fallbacks != 0 {
		t.Errorf("read from cds.drill_list %d times, from cds.events %d; want 1 (the page with its total) and 0", table, fallbacks)
	}

	// The next batch: its raw and drill rows, not its commit.
	insertRaw(t, db, 3, "w-3", "W3", "2025-03-03")
	addDrill(t, db, 3, []string{"w-3"}, []string{"2025-03-03"})
	d, err = e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 10)
	if err != nil || d.Total != 2 || len(d.Events) != 2 {
		t.Fatalf("with a batch's drill rows ahead of its commit: %+v, %v; want the 2 committed events", d, err)
	}
	if table, fallbacks := e.Store.DrillStats(); table != 2 || fallbacks != 0 {
		t.Errorf("read from the tables %d times, from cds.events %d; want 2 and 0", table, fallbacks)
	}

	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-03-03", 1, 1, 1)}, pos{n: 2, num: 2, den: 3}, pos{n: 3, num: 3, den: 6})
	d, err = e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 10)
	if err != nil || d.Total != 3 || len(d.Events) != 3 || d.Events[2].ID != "w-3" || string(d.Events[2].Data) != `{"workfile_id":"W3","online":true}` {
		t.Fatalf("after the commit: %+v, %v; want w-1, w-2, w-3", d, err)
	}
	if table, fallbacks := e.Store.DrillStats(); table != 3 || fallbacks != 0 {
		t.Errorf("read from the tables %d times, from cds.events %d; want 3 and 0", table, fallbacks)
	}

	// Emptied, as the upgrade that adds it leaves it: behind the commit,
	// read from cds.events at once.
	for _, table := range []string{"drill_list", "drill_days", "drill_log"} {
		if err := db.Exec(ctx, "TRUNCATE TABLE "+db.Table(table)); err != nil {
			t.Fatal(err)
		}
	}
	d, err = e.Events(ctx, "bg-vietyen", "HSCV", Query{AsOf: date("2025-06-29"), Milestone: 2025}, 0, 10)
	if err != nil || d.Total != 3 || len(d.Events) != 3 {
		t.Fatalf("with cds.drill_list emptied: %+v, %v; want the 3 events", d, err)
	}
	if table, fallbacks := e.Store.DrillStats(); table != 3 || fallbacks != 1 {
		t.Errorf("read from the tables %d times, from cds.events %d; want 3 and 1 (the page; its total from cds.events without asking the tables again)", table, fallbacks)
	}
}

// TestDrillCarriedOver: a page of the drill-down tables read at one commit
// is carried over to a later one when the commits in between added
// events after its last row (its total moved, its rows the same, the
// tables not read), an empty page past the end as long as the total does
// not reach it; read again when the page is not full and an event joins
// it, when an event comes before its last row, and when cds.drill_log no
// longer holds the commits in between; every answer is that of an Engine
// without caches.
func TestDrillCarriedOver(t *testing.T) {
	db := rollupDB(t)
	ctx := context.Background()
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db), Drills: NewDrillCache(0)}
	plain := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 0)}
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}
	var prev pos
	var seq uint64
	// add commits one event of bg-vietyen on day, as a batch does.
	add := func(day string) {
		seq++
		id := fmt.Sprintf("w-%d", seq)
		insertRaw(t, db, seq, id, fmt.Sprintf("W%d", seq), day)
		addDrill(t, db, seq, []string{id}, []string{day})
		next := pos{n: int64(seq), num: float64(seq), den: float64(2 * seq)}
		commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", day, 1, 1, 1)}, prev, next)
		prev = next
	}
	// ask reads the first page (2 events), the second and one past the
	// end (empty until 21 events), checks them against plain's and
	// returns the first page's ids and total.
	ask := func(step string) (ids []string, total uint64) {
		t.Helper()
		for _, offset := range []int{0, 2, 20} {
			d, err := e.Events(ctx, "bg-vietyen", "HSCV", q, offset, 2)
			if err != nil {
				t.Fatalf("%s, offset %d: %v", step, offset, err)
			}
			want, err := plain.Events(ctx, "bg-vietyen", "HSCV", q, offset, 2)
			if err != nil {
				t.Fatalf("%s, offset %d, without caches: %v", step, offset, err)
			}
			if got, want := mustJSON(t, d), mustJSON(t, want); got != want {
				t.Errorf("%s, offset %d: with the caches\n%s\nwithout\n%s", step, offset, got, want)
			}
			if offset == 0 {
				for _, ev := range d.Events {
					ids = append(ids, ev.ID)
				}
				total = d.Total
			}
		}
		return ids, total
	}
	check := func(step string, wantIDs string, wantTotal uint64, wantCarried uint64) {
		t.Helper()
		ids, total := ask(step)
		if fmt.Sprint(ids) != wantIDs || total != wantTotal {
			t.Errorf("%s: first page %v of %d, want %s of %d", step, ids, total, wantIDs, wantTotal)
		}
		if n := e.Drills.Carried(); n != wantCarried {
			t.Errorf("%s: %d pages carried over, want %d", step, n, wantCarried)
		}
	}
	add("2025-03-01")
	add("2025-03-02")
	add("2025-03-03")
	check("first read", "[w-1 w-2]", 3, 0)
	table, _ := e.Store.DrillStats()

	// After the page: the first page carried over (not read), the
	// second (w-3, not full) read again with w-4.
	// The first page carried over (not read), the second (w-3, not full)
	// read again with w-4, the empty one carried over.
	// The three pages were read at the same commit: one read of the log
	// serves them all.
	logReads := func() uint64 { _, _, n := e.Drills.logs.stats(); return n }
	add("2025-06-02")
	check("an event after the page", "[w-1 w-2]", 4, 2)
	if n, _ := e.Store.DrillStats(); n != table+1 {
		t.Errorf("an event after the page: %d reads of the tables, want %d (the second page only)", n-table, 1)
	}
	if n := logReads(); n != 1 {
		t.Errorf("an event after the page: %d reads of cds.drill_log for three pages, want 1", n)
	}
	// The first two pages full now: all three carried over.
	add("2025-06-03")
	check("another event after the pages", "[w-1 w-2]", 5, 5)
	if n := logReads(); n != 2 {
		t.Errorf("another event after the pages: %d reads of cds.drill_log in all, want 2", n)
	}

	// Before the full pages' last rows: both read again, the empty one
	// carried over.
	add("2025-02-28")
	check("an event before the pages' last rows", "[w-6 w-1]", 6, 6)
	add("2025-06-04")
	check("an event after the pages again", "[w-6 w-1]", 7, 9)

	// The log emptied (a refill) after a commit, before the next: it does
	// not chain back to the pages' commit, they are read again.
	add("2025-06-05")
	if err := db.Exec(ctx, "TRUNCATE TABLE "+db.Table("drill_log")); err != nil {
		t.Fatal(err)
	}
	add("2025-06-06")
	check("the log emptied", "[w-6 w-1]", 9, 9)
}
