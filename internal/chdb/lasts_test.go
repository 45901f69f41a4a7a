package chdb

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
)

// lastsBatch writes rows of cds.events (agency, type, occurred_at in
// province time, seq from seq on) as the projector writes a batch: its
// raw rows, then their rows of cds.event_lasts and the table's marker at
// the batch's last sequence. It returns that sequence.
func lastsBatch(t *testing.T, db *DB, seq uint64, rows ...[3]string) uint64 {
	t.Helper()
	ctx := context.Background()
	var c EventColumns
	c.Grow(len(rows))
	for _, r := range rows {
		at, err := time.ParseInLocation(time.DateTime, r[2], events.Zone)
		if err != nil {
			t.Fatal(err)
		}
		c.ID, c.Type, c.Agency = append(c.ID, fmt.Sprintf("e%d", seq)), append(c.Type, r[1]), append(c.Agency, r[0])
		c.Supersedes, c.Data = append(c.Supersedes, ""), append(c.Data, "{}")
		c.V, c.Retraction = append(c.V, 1), append(c.Retraction, 0)
		c.OccurredAt, c.ReceivedAt, c.Seq = append(c.OccurredAt, at), append(c.ReceivedAt, at), append(c.Seq, seq)
		seq++
	}
	if err := db.InsertEvents(ctx, "", &c); err != nil {
		t.Fatal(err)
	}
	var l LastsColumns
	l.Add(&c)
	l.AddMarker(seq - 1)
	if err := db.InsertLasts(ctx, "", &l); err != nil {
		t.Fatal(err)
	}
	return seq - 1
}

// lastsDays are the days the tests read silence at: before every event,
// a day before the last event (the same month, an earlier month and an
// earlier year), the last event's day and long after.
var lastsDays = []string{"2019-12-31", "2023-03-01", "2024-01-31", "2024-02-01", "2024-02-29", "2024-03-14", "2024-03-15", "2024-03-20", "2100-01-01"}

// sameAsScan fails t unless LastEventsAt reads what the scan of cds.events
// reads at every day of lastsDays and commit seq; it returns how many
// reads took some agencies and types from cds.events.
func sameAsScan(t *testing.T, db *DB, seq uint64) (patched int) {
	t.Helper()
	ctx := context.Background()
	for _, day := range lastsDays {
		got, p, err := db.LastEventsAt(ctx, day, seq)
		if err != nil {
			t.Fatalf("at %s, seq %d: %v", day, seq, err)
		}
		want, err := db.LastEvents(ctx, day, seq)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("at %s, seq %d: copy\n%v\nscan\n%v", day, seq, got, want)
		}
		if p > 0 {
			patched++
		}
	}
	return patched
}

// TestLastEventsAt: the latest events read from cds.event_lasts are those
// the scan of cds.events reads, at every commit and day (before the last
// event, across years and months, for an agency with no event of a type):
// with a later batch's rows in the copy (not committed yet, or at a commit
// read by a reader pinned before it), left out while their part is not
// merged, and read around once a merge has let them replace committed
// rows; after the recovery deleted such a batch's raw
// rows and before and after it refilled the copy; and the copy is not
// trusted behind the commit, nor once emptied with cds.events.
func TestLastEventsAt(t *testing.T) {
	db := migratedDB(t, "cds_lasts")
	ctx := context.Background()
	c1 := lastsBatch(t, db, 1,
		[3]string{"bg-a", "workfile.processed", "2023-02-27 23:59:59"},
		[3]string{"bg-a", "workfile.processed", "2023-03-01 00:00:00"},
		[3]string{"bg-b", "workfile.processed", "2020-06-01 12:00:00"},
		[3]string{"bg-b", "service.published", "2024-03-15 08:00:00"})
	c2 := lastsBatch(t, db, c1+1,
		[3]string{"bg-a", "workfile.processed", "2024-02-01 06:00:00"}, // 2024-01-31 in UTC
		[3]string{"bg-a", "workfile.processed", "2024-03-14 23:59:59"},
		[3]string{"bg-b", "service.published", "2024-03-15 07:00:00"}, // late, earlier than the latest
		[3]string{"bg-c", "enterprise.registered", "2024-02-29 10:00:00"})
	for _, c := range []uint64{c1, c2} {
		if p := sameAsScan(t, db, c); c == c2 && p > 0 {
			t.Errorf("at the copy's commit %d, %d reads took rows from cds.events", c, p)
		}
	}
	if got, _, err := db.LastEventsAt(ctx, "2024-03-20", c2); err != nil || len(got["bg-c"]) != 1 || got["bg-c"]["workfile.processed"] != (time.Time{}) {
		t.Errorf("bg-c at 2024-03-20: %v %v; want only enterprise.registered", got["bg-c"], err)
	}

	// A batch whose commit marker has not landed: later events of the same
	// agencies and types, in the copy above the commit.
	c3 := lastsBatch(t, db, c2+1,
		[3]string{"bg-a", "workfile.processed", "2024-03-16 09:00:00"},
		[3]string{"bg-a", "workfile.processed", "2023-03-01 00:00:01"},
		[3]string{"bg-b", "workfile.processed", "2024-03-14 09:00:00"})
	if p := sameAsScan(t, db, c2); p > 0 {
		t.Errorf("the batch's part not merged: %d reads at the commit before it took rows from cds.events", p)
	}
	// Merged: the batch's rows replaced committed ones.
	if err := db.Exec(ctx, "OPTIMIZE TABLE "+db.Table("event_lasts")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	if sameAsScan(t, db, c2) == 0 {
		t.Error("the batch's part merged: no read at the commit before it took rows from cds.events")
	}
	for _, c := range []uint64{c1, c3} {
		sameAsScan(t, db, c)
	}

	// The recovery deletes the unfinished batch's raw rows; the copy
	// still has them until it is refilled.
	if mark, above, err := db.LastsState(ctx, c2); err != nil || mark != c3 || above == 0 {
		t.Fatalf("state at %d: marker %d, %d rows above (%v); want %d and some", c2, mark, above, err, c3)
	}
	if err := db.DeleteAbove(ctx, "events", c2); err != nil {
		t.Fatal(err)
	}
	waitMutations(t, db)
	sameAsScan(t, db, c2)
	if err := db.RefillLasts(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if mark, above, err := db.LastsState(ctx, c2); err != nil || mark != c2 || above != 0 {
		t.Fatalf("refilled at %d: marker %d, %d rows above (%v)", c2, mark, above, err)
	}
	if p := sameAsScan(t, db, c2); p > 0 {
		t.Errorf("refilled at %d: %d reads took rows from cds.events", c2, p)
	}
	sameAsScan(t, db, c1) // pinned before the refill's commit
	// The next batch takes the deleted one's sequences, with other events.
	c3 = lastsBatch(t, db, c2+1, [3]string{"bg-a", "workfile.processed", "2024-03-15 06:00:00"})
	if p := sameAsScan(t, db, c3); p > 0 {
		t.Errorf("at %d: %d reads took rows from cds.events", c3, p)
	}

	// Behind the commit: the copy is not read.
	if _, _, err := db.LastEventsAt(ctx, "2024-03-20", c3+1); !errors.Is(err, ErrLastsBehind) {
		t.Errorf("behind the commit: %v, want ErrLastsBehind", err)
	}
	// Emptied with cds.events (cds rebuild, a repair).
	if err := db.Truncate(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if mark, _, err := db.LastsState(ctx, 0); err != nil || mark != 0 {
		t.Errorf("after the truncation: marker %d (%v)", mark, err)
	}
	c1 = lastsBatch(t, db, 1, [3]string{"bg-d", "workfile.processed", "2024-03-01 01:00:00"})
	sameAsScan(t, db, c1)
}

// waitMutations waits until the mutations of cds.events are done.
func waitMutations(t *testing.T, db *DB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := db.PendingDeletes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the deletion did not finish in a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
