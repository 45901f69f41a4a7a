// Package chdb opens ClickHouse connections for cds and owns its schema: the
// numbered migrations that create database cds, the raw events and the rollups.
//
// The SQL runs on ClickHouse 18.16 (Debian's package) and on current releases:
// native protocol only, no LowCardinality, no DateTime64, no TTL.
package chdb

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database of the contract (docs/design.md, "Names, ports and commands").
const DefaultDatabase = "cds"

// Config says how to reach ClickHouse.
type Config struct {
	Addr        string // native protocol host:port, default 127.0.0.1:9000
	Database    string // default cds
	User        string // default "default"
	Password    string
	DialTimeout time.Duration // default 5s
	ReadTimeout time.Duration // default 5m: the longest insert or mutation wait
	MaxConns    int           // default 8
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9000"
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.User == "" {
		c.User = "default"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.MaxConns == 0 {
		c.MaxConns = 8
	}
	return c
}

// DB is a ClickHouse connection bound to the cds database.
type DB struct {
	driver.Conn
	// Name is the database name, to qualify tables in SQL.
	Name string
}

// Open connects over the native protocol and pings. It does not require the
// database to exist yet (Migrate creates it).
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg = cfg.withDefaults()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:        clickhouse.Native,
		Addr:            []string{cfg.Addr},
		Auth:            clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     cfg.ReadTimeout,
		MaxOpenConns:    cfg.MaxConns,
		MaxIdleConns:    cfg.MaxConns,
		ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", cfg.Addr, err)
	}
	return &DB{Conn: conn, Name: cfg.Database}, nil
}

// Table returns the qualified name of a table of the cds database.
func (db *DB) Table(name string) string { return "`" + db.Name + "`." + name }
