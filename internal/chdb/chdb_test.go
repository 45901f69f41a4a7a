package chdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver"
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

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:9000", "127.0.0.1:9000"},
		{"clickhouse://cds:pa:ss@w0rd@h1:9440,h2:9440/cds?secure=true", "clickhouse://cds:***@h1:9440,h2:9440/cds?secure=true"},
		{"clickhouse://cds@h1:9000/cds", "clickhouse://cds@h1:9000/cds"},
		{"clickhouse://h1:9000?username=u&password=secret&secure=true", "clickhouse://h1:9000?username=u&password=***&secure=true"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestOpenWithPassword reaches a real server whose user has a password
// through a DSN, with the password in the DSN or given apart (as
// CDS_CLICKHOUSE_PASSWORD does), and is refused with a wrong one: the error
// says authentication failed for which user, and never shows a password.
func TestOpenWithPassword(t *testing.T) {
	const pw = "s3cret-Pw"
	srv := chtest.StartConfig(t, chserver.Config{AnalystPassword: pw})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := Open(ctx, Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	user := chserver.DefaultAnalystUser
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"password in the DSN", Config{Addr: "clickhouse://" + user + ":" + pw + "@" + srv.Addr() + "/cds"}},
		{"password apart", Config{Addr: "clickhouse://" + user + "@" + srv.Addr() + "/cds", Password: pw}},
		{"password apart wins", Config{Addr: "clickhouse://" + user + ":wrong@" + srv.Addr() + "/cds", Password: pw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n uint64
			if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table("events")).Scan(&n); err != nil {
				t.Fatalf("query as %s: %v", user, err)
			}
			if db.Name != "cds" || db.User != user || strings.Contains(db.Addr, pw) {
				t.Errorf("db %q as %q at %q", db.Name, db.User, db.Addr)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"wrong password in the DSN", Config{Addr: "clickhouse://" + user + ":Wr0ng-pw@" + srv.Addr() + "/cds"}},
		{"wrong password apart", Config{Addr: "clickhouse://" + user + "@" + srv.Addr() + "/cds", Password: "Wr0ng-pw"}},
		{"no password", Config{Addr: "clickhouse://" + user + "@" + srv.Addr() + "/cds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			db, err := Open(ctx, tc.cfg)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded with a wrong password")
			}
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), `user "`+user+`"`) {
				t.Errorf("error %q: want authentication failed for user %q", err, user)
			}
			if strings.Contains(err.Error(), "Wr0ng-pw") || strings.Contains(err.Error(), pw) {
				t.Errorf("error %q shows a password", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("refused after %s", d)
			}
			t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}

func TestValidDatabase(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"cds", true},
		{"cds_bench_1x2y", true},
		{"Cds2", true},
		{"_x", true},
		{"", false},
		{"1cds", false},
		{"cds-test", false},
		{"cds`; DROP DATABASE system; --", false},
		{"cds.events", false},
		{strings.Repeat("a", 65), false},
	} {
		if got := ValidDatabase(tt.name); got != tt.want {
			t.Errorf("ValidDatabase(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := Open(context.Background(), Config{Addr: "127.0.0.1:1", Database: "cds`x"}); err == nil || !strings.Contains(err.Error(), "database") {
		t.Errorf("Open with a database name holding a backtick: %v, want a refusal naming the database", err)
	}
}
