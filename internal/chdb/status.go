package chdb

import (
	"context"
	"fmt"
	"time"
)

// The statements of `cds cluster status` (package cluster): what one
// replica holds of cds.events and how its replication stands.

// CountEvents counts the rows of cds.events and the distinct event ids
// among them.
func (db *DB) CountEvents(ctx context.Context) (rows, distinct uint64, err error) {
	if err := db.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM "+db.Table("events")).Scan(&rows, &distinct); err != nil {
		return 0, 0, fmt.Errorf("count events: %w", err)
	}
	return rows, distinct, nil
}

// EventsReplication is the replication state of cds.events on one server
// (system.replicas).
type EventsReplication struct {
	Queue    uint64        // replication tasks waiting (queue_size)
	Delay    time.Duration // how far the replica is behind (absolute_delay)
	Readonly bool          // lost its ZooKeeper session: refuses inserts
}

// ReadEventsReplication reads the replication state of cds.events on the
// server db is connected to; ok is false when cds.events is not a
// replicated table there.
func (db *DB) ReadEventsReplication(ctx context.Context) (st EventsReplication, ok bool, err error) {
	rows, err := db.Query(ctx, "SELECT queue_size, absolute_delay, is_readonly FROM system.replicas WHERE database = ? AND table = 'events'", db.Name)
	if err != nil {
		return st, false, fmt.Errorf("system.replicas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			queue    uint32
			delay    uint64
			readonly uint8
		)
		if err := rows.Scan(&queue, &delay, &readonly); err != nil {
			return st, false, fmt.Errorf("system.replicas: %w", err)
		}
		st, ok = EventsReplication{Queue: uint64(queue), Delay: time.Duration(delay) * time.Second, Readonly: readonly != 0}, true
	}
	if err := rows.Err(); err != nil {
		return st, false, fmt.Errorf("system.replicas: %w", err)
	}
	return st, ok, nil
}
