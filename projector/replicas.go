package projector

import (
	"context"
	"fmt"

	"github.com/bacgiang/cds/internal/chdb"
)

// replicaTables are the tables the projector writes.
var replicaTables = []string{"events", "fold_index", "rollup", "rollup_sums", "rollup_marks"}

// replicas runs first in every recovery on a cluster (doc.go, "Replicated
// ClickHouse"): it chooses the replica the projector reads and writes
// through until its next failure (the current one if it still answers,
// else the first of the DSN; never one with an unfinished deletion of a
// batch), then waits until no write of a projector can still land and the
// replica holds every part written so far: no commit pending its quorum,
// no part left to fetch, no projector INSERT running on any replica that
// ZooKeeper lists as active. On one server it does nothing.
func (p *Projector) replicas(ctx context.Context) error {
	if p.db.Cluster == "" {
		return nil
	}
	addr, err := p.db.Repin(ctx, func(r *chdb.DB) error {
		n, err := r.PendingDeletes(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d unfinished deletions (mutations) of cds.events or cds.fold_index", n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("choose a replica: %w", err)
	}
	if addr != p.replica {
		p.log.Info("projector reads and writes through replica", "replica", addr, "previous", p.replica, "quorum", p.db.Quorum())
		p.replica = addr
	}
	prefix := insertPrefix(p.db.Name)
	var last string
	return p.await(ctx, "the replicas: pending commits, parts to fetch, running inserts", quiesceLimit, func() (bool, error) {
		pending, err := p.db.QuorumPending(ctx, "rollup")
		if err != nil {
			return false, err
		}
		if pending {
			p.logOnce(&last, "waiting for a commit (quorum write) to reach its quorum")
			return false, nil
		}
		synced, err := p.db.Synced(ctx, replicaTables...)
		if err != nil {
			return false, err
		}
		if !synced {
			p.logOnce(&last, "waiting for the replica to fetch every part of cds.events, cds.fold_index and cds.rollup")
			return false, nil
		}
		n, err := p.db.RunningOnReplicas(ctx, "rollup", prefix)
		switch {
		case err != nil:
			p.logOnce(&last, "waiting for an active replica to answer or its ZooKeeper session to expire", "err", err)
			return false, nil
		case n > 0:
			p.logOnce(&last, "waiting for the inserts of an earlier attempt to finish on the replicas", "running", n)
			return false, nil
		}
		return true, nil
	})
}

// logOnce logs msg at INFO unless it was the last message logged through
// last.
func (p *Projector) logOnce(last *string, msg string, args ...any) {
	if *last == msg {
		return
	}
	*last = msg
	p.log.Info(msg, args...)
}
