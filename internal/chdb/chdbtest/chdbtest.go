// Package chdbtest gives tests a migrated cds database on a throwaway
// clickhouse-server of their own (internal/chserver/chtest).
package chdbtest

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// Migrated starts a server for tb, opens database (chdb's default when
// "") on it and migrates it; the connection is closed when tb ends.
func Migrated(tb testing.TB, database string) *chdb.DB {
	tb.Helper()
	srv := chtest.Start(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := chdb.Open(ctx, chdb.Config{Addr: srv.Addr(), Database: database})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}
