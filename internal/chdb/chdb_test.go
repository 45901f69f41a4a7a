package chdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver/chtest"
)

func TestMigrationsAreNumbered(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d: versions must be 1, 2, 3, … without gaps", i, m.Version)
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	srv := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, Config{Addr: srv.Addr(), Database: "cds_test"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	ms, _ := Migrations()
	if len(applied) != len(ms) {
		t.Fatalf("first migrate applied %v, want all %d", applied, len(ms))
	}
	again, err := db.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v; want nothing", again, err)
	}
	// A crash after a statement but before its record: every statement must
	// be harmless when it runs again.
	for _, m := range ms {
		if err := db.Exec(ctx, replaceDB(m.SQL, db.Name)); err != nil {
			t.Errorf("migration %d run twice: %v", m.Version, err)
		}
	}
	for _, table := range []string{"events", "rollup", "cells"} {
		var n uint64
		if err := db.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.Name, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: count %d, %v", table, n, err)
		}
	}
}

func replaceDB(sql, name string) string { return strings.ReplaceAll(sql, "{db}", "`"+name+"`") }
