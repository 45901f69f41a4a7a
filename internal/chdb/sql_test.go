package chdb

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestLiteralQuotesByType(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{"plain", "'plain'"},
		{`it's a \ test`, `'it\'s a \\ test'`},
		{42, "42"},
		{uint64(1) << 63, "9223372036854775808"},
		{Set([]string{"a", "b'c"}), "('a', 'b\\'c')"},
		{Set(nil), "('')"},
	} {
		if got := Literal(c.v); got != c.want {
			t.Errorf("Literal(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Literal of a float did not panic")
		}
	}()
	Literal(1.5)
}

func TestInline(t *testing.T) {
	got := Inline("SELECT 1 WHERE a = ? AND b IN ? AND c = ?", []any{"x'", Set([]string{"p"}), 7})
	if want := `SELECT 1 WHERE a = 'x\'' AND b IN ('p') AND c = 7`; got != want {
		t.Errorf("Inline = %s, want %s", got, want)
	}
}

func TestMarksWatermark(t *testing.T) {
	for _, c := range []struct {
		m    Marks
		want uint64
	}{
		{Marks{}, 0},
		{Marks{"CDS_EVENTS": {N: 42, Num: 3, Den: 9}}, 42},
		{Marks{"CDS_EVENTS": {N: 42, Num: 3, Den: 9}, "CDS_EVENTS" + MarkerIndexSuffix: {Num: 6, Den: 27}}, 42},
	} {
		if got := c.m.Watermark(); got != c.want {
			t.Errorf("%v.Watermark() = %d, want %d", c.m, got, c.want)
		}
	}
}

// TestRecoveryStatements runs the projector's recovery statements on a
// real server: the fingerprint of cds.events, the deletion of the rows of
// an unfinished batch (a mutation, waited for), the truncation, and the
// refusal of a table they are not for.
func TestRecoveryStatements(t *testing.T) {
	db := migratedDB(t, "cds_recovery_test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c EventColumns
	c.Grow(5)
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for seq := uint64(1); seq <= 5; seq++ {
		c.ID, c.Type, c.Agency = append(c.ID, "e"+string(rune('0'+seq))), append(c.Type, "workfile.created"), append(c.Agency, "bg-vietyen")
		c.Supersedes, c.Data = append(c.Supersedes, ""), append(c.Data, "{}")
		c.V, c.Retraction = append(c.V, 1), append(c.Retraction, 0)
		c.OccurredAt, c.ReceivedAt, c.Seq = append(c.OccurredAt, at), append(c.ReceivedAt, at), append(c.Seq, seq)
	}
	if err := db.InsertEvents(ctx, "cds-test/recovery/1", &c); err != nil {
		t.Fatal(err)
	}
	if rows, distinct, err := db.CountEvents(ctx); err != nil || rows != 5 || distinct != 5 {
		t.Fatalf("count events: %d rows, %d distinct, %v; want 5, 5", rows, distinct, err)
	}
	if _, ok, err := db.ReadEventsReplication(ctx); err != nil || ok {
		t.Fatalf("replication of a plain table: ok %t, %v; want not replicated", ok, err)
	}
	if rows, sum, err := db.Fingerprint(ctx, "events", 4); err != nil || rows != 5 || sum != 1+2+3+0+1 {
		t.Fatalf("fingerprint: %d rows, sum %d, %v; want 5, 7", rows, sum, err)
	}
	if n, err := db.CountAbove(ctx, "events", 3); err != nil || n != 2 {
		t.Fatalf("rows above 3: %d, %v; want 2", n, err)
	}
	if err := db.DeleteAbove(ctx, "events", 3); err != nil {
		t.Fatal(err)
	}
	for {
		left, err := db.PendingDeletes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := db.Count(ctx, "events"); err != nil || n != 3 {
		t.Fatalf("after the delete: %d rows, %v; want 3", n, err)
	}
	if err := db.Truncate(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountProjections(ctx); err != nil || n != 0 {
		t.Fatalf("after the truncation: %d rows, %v; want 0", n, err)
	}
	if err := db.Truncate(ctx, "units"); err == nil || !strings.Contains(err.Error(), "units") {
		t.Errorf("truncate units: %v, want a refusal naming it", err)
	}
	if err := db.DeleteAbove(ctx, "rollup", 1); err == nil {
		t.Error("delete above in rollup: no error, want a refusal")
	}
}
