package scores

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// insertRaw writes raw rows of workfile.processed events of bg-vietyen into
// cds.events, as the projector does before it commits.
func insertRaw(tb testing.TB, db *chdb.DB, seq uint64, id, workfile, day string) {
	tb.Helper()
	data := fmt.Sprintf(`{"workfile_id":%q,"online":true}`, workfile)
	at, _ := time.Parse(time.RFC3339, day+"T09:00:00+07:00")
	err := db.Exec(context.Background(), "INSERT INTO "+db.Table("events")+
		" (id, type, v, agency, occurred_at, supersedes, retraction, data, seq, received_at) SELECT ?, 'workfile.processed', 1, 'bg-vietyen', toDateTime(?, 'Asia/Ho_Chi_Minh'), '', 0, ?, ?, now()",
		id, at.Unix(), data, seq)
	if err != nil {
		tb.Fatal(err)
	}
}

// TestDrillOneCommit: the page lists only the events of the committed
// snapshot its score comes from (raw rows of a batch not yet committed are
// left out); id= and key= find one event; a limit above the maximum is an
// error naming it; the SQL shown runs as it is. It holds with the
// drill-down cache (whose entries the commit leaves behind) and without.
func TestDrillOneCommit(t *testing.T) {
	t.Run("uncached", func(t *testing.T) { testDrillOneCommit(t, nil) })
	t.Run("cached", func(t *testing.T) {
		c := NewDrillCache(3) // smaller than the requests: entries are evicted
		testDrillOneCommit(t, c)
		if _, hits, misses := c.Stats(); hits == 0 || misses == 0 {
			t.Errorf("drill cache: %d hits, %d misses; want both", hits, misses)
		}
	})
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func testDrillOneCommit(t *testing.T, drills *DrillCache) {
	db := rollupDB(t)
	ctx := context.Background()
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db), Drills: drills}
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}

	insertRaw(t, db, 1, "w-1", "W1", "2025-03-01")
	insertRaw(t, db, 2, "w-2", "W2", "2025-03-02")
	commit(t, db, []testCell{
		cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 1, 1, 1),
		cell("HSCV", "bg-vietyen", 2025, "", "2025-03-02", 1, 1, 1),
	}, pos{}, pos{n: 2, num: 2, den: 3})
	// The raw row of the next batch, whose cells are not committed yet.
	insertRaw(t, db, 3, "w-3", "W3", "2025-03-03")

	d, err := e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 0); err != nil || mustJSON(t, again) != mustJSON(t, d) {
		t.Fatalf("the same request again: %s, %v; want %s", mustJSON(t, again), err, mustJSON(t, d))
	}
	if d.Score.Denominator == nil || *d.Score.Denominator != 2 || d.Total != 2 || len(d.Events) != 2 || d.Limit != DefaultDrillLimit {
		t.Fatalf("drill %+v (score %+v): want 2 events, total 2, score of 2, limit %d", d, d.Score, DefaultDrillLimit)
	}
	var n int
	rows, err := db.Query(ctx, d.SQL)
	if err != nil {
		t.Fatalf("the SQL shown: %v\n%s", err, d.SQL)
	}
	for rows.Next() {
		n++
	}
	rows.Close()
	if n != 3 {
		t.Errorf("the SQL shown lists %d events, want the 3 of cds.events\n%s", n, d.SQL)
	}

	for _, tt := range []struct {
		name    string
		find    Find
		wantIDs []string
	}{
		{"by id", Find{ID: "w-2"}, []string{"w-2"}},
		{"by key", Find{Key: "bg-vietyen/W1"}, []string{"w-1"}},
		{"id not committed", Find{ID: "w-3"}, nil},
		{"unknown id", Find{ID: "nope"}, nil},
		{"id and key of another", Find{ID: "w-1", Key: "bg-vietyen/W2"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.FindEvents(ctx, "bg-vietyen", "HSCV", q, tt.find, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, ev := range d.Events {
				ids = append(ids, ev.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.wantIDs) || d.Total != uint64(len(tt.wantIDs)) {
				t.Errorf("events %v, total %d; want %v", ids, d.Total, tt.wantIDs)
			}
		})
	}

	if _, err := e.Events(ctx, "bg-vietyen", "HSCV", q, 0, MaxDrillLimit+1); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "1000") {
		t.Errorf("limit above the maximum: %v, want ErrInvalidQuery naming 1000", err)
	}

	// Once the batch commits, its event is listed with the score.
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-03-03", 1, 1, 1)}, pos{n: 2, num: 2, den: 3}, pos{n: 3, num: 3, den: 6})
	if d, err = e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 10); err != nil || d.Total != 3 || *d.Score.Denominator != 3 {
		t.Errorf("after the commit: %+v, %v; want 3 events and a score of 3", d, err)
	}
}
