package chdb

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// migratedDB is chdbtest.Migrated for this package's own tests (which
// chdbtest, importing chdb, cannot serve): a server of tb's own, database
// opened on it and migrated, the connection closed when tb ends.
func migratedDB(tb testing.TB, database string) *DB {
	tb.Helper()
	srv := chtest.Start(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, Config{Addr: srv.Addr(), Database: database})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}
