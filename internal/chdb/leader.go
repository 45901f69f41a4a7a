package chdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// leadershipChanged is ClickHouse's LEADERSHIP_CHANGED (code 292). A
// replicated table sends TRUNCATE and DROP PARTITION to its leader replica; in the moments
// after the table is created (or its server restarts), ZooKeeper may
// already name this replica the leader while the server has not yet taken
// the role, and 18.16 then refuses the statement with this code. It passes
// once the election settles (docs/projector.md, "Replicated ClickHouse").
const leadershipChanged = 292

// leaderWait bounds how long execSettled retries a statement refused with
// LEADERSHIP_CHANGED; leaderRetry is the pause between tries.
const (
	leaderWait  = 30 * time.Second
	leaderRetry = 200 * time.Millisecond
)

// execSettled runs q, and again while ClickHouse refuses it with
// LEADERSHIP_CHANGED, for up to leaderWait. Any other error returns at once.
func (db *DB) execSettled(ctx context.Context, q string) error {
	deadline := time.Now().Add(leaderWait)
	for {
		err := db.Exec(ctx, q)
		var ex *clickhouse.Exception
		if err == nil || !errors.As(err, &ex) || ex.Code != leadershipChanged || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for a replica's leader election)", err)
		case <-time.After(leaderRetry):
		}
	}
}

// truncate empties table (a name in db), waiting out a leader election.
func (db *DB) truncate(ctx context.Context, table string) error {
	if err := db.execSettled(ctx, "TRUNCATE TABLE "+db.Table(table)); err != nil {
		return fmt.Errorf("truncate %s: %w", table, err)
	}
	return nil
}
