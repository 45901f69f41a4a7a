package chdb

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// QuorumTimeout is how long, in milliseconds, a write on a cluster waits
// for its quorum of replicas (insert_quorum_timeout) before it fails.
const QuorumTimeout = 60_000

// Quorum returns the number of replicas a write on a cluster must reach
// before it is acknowledged: a majority of Hosts (2 of 2, 2 of 3, 3 of 5),
// and 0 (no quorum) for one server. A majority, because then any replica
// set that can still write overlaps every acknowledged write: the
// projector never sees an older watermark after a failover
// (docs/projector.md, "Replicated ClickHouse").
func (db *DB) Quorum() int { return db.quorum }

// WriteContext returns ctx with the settings of a projector write on a
// cluster: never block deduplication (insert_deduplicate = 0: the projector
// deletes and writes again the same rows on recovery, which a replicated
// table would otherwise drop as a duplicate block); and, for a commit (the
// one-part insert into cds.rollup), a quorum write (insert_quorum = Quorum,
// insert_quorum_timeout = QuorumTimeout, and insert_quorum_parallel = 0 on
// a server that has it, so that quorum writes are ordered and
// select_sequential_consistency holds; 18.16 has neither the setting nor
// parallel quorum writes). cds.events and cds.fold_index are not written
// with a quorum: on 18.16 an ALTER DELETE issued after a quorum write that
// timed out stays unfinished until the next quorum write into the table,
// so the deletion of an unfinished batch could wait for ever
// (projector/doc.go, "Replicated ClickHouse"). For one server ctx is
// returned as it is. Query options already in ctx (a query id) are kept.
func (db *DB) WriteContext(ctx context.Context, commit bool) context.Context {
	if db.Cluster == "" {
		return ctx
	}
	s := clickhouse.Settings{"insert_deduplicate": 0}
	if commit {
		s["insert_quorum"] = db.Quorum()
		s["insert_quorum_timeout"] = QuorumTimeout
		if db.quorumParallel {
			s["insert_quorum_parallel"] = 0
		}
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(s))
}

// ConsistentContext returns ctx with select_sequential_consistency = 1 on a
// cluster: the read sees every quorum write acknowledged so far, or fails
// on a replica that has not fetched them all yet; it never returns an older
// state. The projector reads its watermark and fingerprints so. For one
// server ctx is returned as it is.
func (db *DB) ConsistentContext(ctx context.Context) context.Context {
	if db.Cluster == "" {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"select_sequential_consistency": 1}))
}

// detectQuorumParallel records whether the server knows
// insert_quorum_parallel (ClickHouse 20.10 and later; 18.16 refuses it as
// unknown).
func (db *DB) detectQuorumParallel(ctx context.Context) error {
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM system.settings WHERE name = 'insert_quorum_parallel'").Scan(&n); err != nil {
		return fmt.Errorf("clickhouse %s: read system.settings: %w", db.Addr, err)
	}
	db.quorumParallel = n > 0
	return nil
}
