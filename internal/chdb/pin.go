package chdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Pin returns a DB for the projector on a cluster: it talks to one replica
// at a time, the one Repin chose, and only until the next Repin; its
// batches (inserts) are not deduplicated and those into cds.rollup are
// quorum writes (WriteContext), and its queries read with sequential
// consistency (ConsistentContext).
// Until the first Repin every call fails. Close closes the replica's
// connection, not db. For one server (no Cluster) Pin returns db itself.
// Docs: projector/doc.go, "Replicated ClickHouse".
func (db *DB) Pin() *DB {
	if db.Cluster == "" {
		return db
	}
	p := *db
	p.Conn = &pinnedConn{db: db}
	p.Addr = ""
	return &p
}

// Repin chooses the replica a pinned DB (Pin) talks to: the one it talks
// to now if it still answers and usable accepts it, else the first of
// Hosts that does. usable sees a connection to the candidate (for example,
// to refuse one with unfinished mutations). Repin returns the replica's
// address; it fails when none is usable. On a DB that Pin returned as is,
// it does nothing.
func (db *DB) Repin(ctx context.Context, usable func(r *DB) error) (string, error) {
	pc, ok := db.Conn.(*pinnedConn)
	if !ok {
		return db.Addr, nil
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.cur != nil {
		if err := pc.check(ctx, pc.cur, usable); err == nil {
			return pc.cur.Addr, nil
		}
	}
	var errs []error
	for _, h := range db.Hosts() {
		if pc.cur != nil && h == pc.cur.Addr {
			continue // just refused
		}
		r, err := pc.db.OpenHost(ctx, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := pc.check(ctx, r, usable); err != nil {
			r.Close()
			errs = append(errs, fmt.Errorf("replica %s: %w", h, err))
			continue
		}
		if pc.cur != nil {
			pc.cur.Close()
		}
		pc.cur = r
		return h, nil
	}
	return "", fmt.Errorf("no usable replica of cluster %s: %w", db.Cluster, errors.Join(errs...))
}

func (pc *pinnedConn) check(ctx context.Context, r *DB, usable func(*DB) error) error {
	if err := r.Ping(ctx); err != nil {
		return err
	}
	if usable == nil {
		return nil
	}
	return usable(r)
}

// Replica returns the address of the replica a pinned DB talks to, "" for
// none yet, or db's address for a DB Pin returned as is.
func (db *DB) Replica() string {
	pc, ok := db.Conn.(*pinnedConn)
	if !ok {
		return db.Addr
	}
	pc.mu.RLock()
	defer pc.mu.RUnlock()
	if pc.cur == nil {
		return ""
	}
	return pc.cur.Addr
}

// errNotPinned is returned by a pinned DB before its first Repin.
var errNotPinned = errors.New("chdb: no replica chosen yet (Repin)")

// pinnedConn is the driver.Conn of a pinned DB: every call goes to the
// chosen replica's connection, with the projector's settings.
type pinnedConn struct {
	db *DB // the cluster: Hosts, OpenHost, settings

	mu  sync.RWMutex
	cur *DB
}

func (pc *pinnedConn) conn() (*DB, error) {
	pc.mu.RLock()
	defer pc.mu.RUnlock()
	if pc.cur == nil {
		return nil, errNotPinned
	}
	return pc.cur, nil
}

func (pc *pinnedConn) read(ctx context.Context) context.Context { return pc.db.ConsistentContext(ctx) }

func (pc *pinnedConn) Contributors() []string { return nil }

func (pc *pinnedConn) ServerVersion() (*driver.ServerVersion, error) {
	c, err := pc.conn()
	if err != nil {
		return nil, err
	}
	return c.Conn.ServerVersion()
}

func (pc *pinnedConn) Select(ctx context.Context, dest any, query string, args ...any) error {
	c, err := pc.conn()
	if err != nil {
		return err
	}
	return c.Conn.Select(pc.read(ctx), dest, query, args...)
}

func (pc *pinnedConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	c, err := pc.conn()
	if err != nil {
		return nil, err
	}
	return c.Conn.Query(pc.read(ctx), query, args...)
}

func (pc *pinnedConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	c, err := pc.conn()
	if err != nil {
		return errRow{err}
	}
	return c.Conn.QueryRow(pc.read(ctx), query, args...)
}

func (pc *pinnedConn) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	c, err := pc.conn()
	if err != nil {
		return nil, err
	}
	// The commit point is the insert into cds.rollup (projector/doc.go).
	commit := strings.HasPrefix(query, "INSERT INTO "+pc.db.Table("rollup")+" ")
	return c.Conn.PrepareBatch(pc.db.WriteContext(ctx, commit), query, opts...)
}

func (pc *pinnedConn) Exec(ctx context.Context, query string, args ...any) error {
	c, err := pc.conn()
	if err != nil {
		return err
	}
	return c.Conn.Exec(ctx, query, args...)
}

func (pc *pinnedConn) QueryFormat(ctx context.Context, format, query string, args ...any) (io.ReadCloser, error) {
	return nil, clickhouse.ErrFormatNativeUnsupported
}

func (pc *pinnedConn) InsertFormat(ctx context.Context, format, query string, data io.Reader) error {
	return clickhouse.ErrFormatNativeUnsupported
}

func (pc *pinnedConn) AsyncInsert(ctx context.Context, query string, wait bool, args ...any) error {
	return errors.New("chdb: a pinned DB does not insert asynchronously")
}

func (pc *pinnedConn) Ping(ctx context.Context) error {
	c, err := pc.conn()
	if err != nil {
		return err
	}
	return c.Conn.Ping(ctx)
}

func (pc *pinnedConn) Stats() driver.Stats {
	c, err := pc.conn()
	if err != nil {
		return driver.Stats{}
	}
	return c.Conn.Stats()
}

// Close closes the chosen replica's connection; the pinned DB can be
// repinned afterwards.
func (pc *pinnedConn) Close() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.cur == nil {
		return nil
	}
	err := pc.cur.Close()
	pc.cur = nil
	return err
}

// errRow is the driver.Row of a query that could not be sent.
type errRow struct{ err error }

func (r errRow) Err() error           { return r.err }
func (r errRow) Scan(...any) error    { return r.err }
func (r errRow) ScanStruct(any) error { return r.err }
