package chdb

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// TestBusy: with the only connection of the pool held by an open result,
// the next query fails after DialTimeout with an error Busy recognises;
// other errors are not Busy.
func TestBusy(t *testing.T) {
	ch := chtest.Start(t)
	ctx := context.Background()
	db, err := Open(ctx, Config{Addr: ch.Addr(), MaxConns: 1, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	qctx, cancel := context.WithCancel(ctx)
	rows, err := db.Query(qctx, "SELECT number FROM system.numbers LIMIT 1000000000")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	err = db.QueryRow(ctx, "SELECT 1").Scan(new(uint8))
	cancel()
	rows.Close()
	if !Busy(err) {
		t.Fatalf("second query with the pool's only connection held: %v, want Busy", err)
	}
	if err := db.QueryRow(ctx, "SELECT 1").Scan(new(uint8)); err != nil {
		t.Fatalf("once released: %v", err)
	}
	if Busy(errors.New("other")) || Busy(db.QueryRow(ctx, "SELECT no_such_column").Scan(new(uint8))) {
		t.Error("Busy of an unrelated error")
	}
}
