package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/fold"
)

// rewindChunk is the most cell rows Rewind sends in one INSERT, and about
// the most index rows it reads at once.
var rewindChunk = 200000 // a variable for the tests

// replayIndex computes every cell from the timelines in cds.fold_index and
// hands them to send in chunks of at most rewindChunk rows (the same cell
// may come in several chunks: cds.rollup sums them). It reads the index in
// ranges of its sort key h, each holding about rewindChunk rows, so that
// memory stays bounded; the rows of a key are all in one range. It returns
// the number of cell rows sent.
func (p *Projector) replayIndex(ctx context.Context, send func([]fold.Row) error) (int, error) {
	total, err := p.db.Count(ctx, "fold_index")
	if err != nil {
		return 0, err
	}
	ranges := total/uint64(rewindChunk) + 1
	step := ^uint64(0)/ranges + 1
	rp := fold.NewReplay()
	sent := 0
	flush := func(limit int) error {
		if rp.Len() < limit {
			return nil
		}
		rows := rp.Flush()
		sent += len(rows)
		for i := 0; i < len(rows); i += rewindChunk {
			if err := send(rows[i:min(i+rewindChunk, len(rows))]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := uint64(0); i < ranges; i++ {
		lo, hi := i*step, i*step+step-1
		if i == ranges-1 {
			hi = ^uint64(0)
		}
		keys := map[string][]fold.IndexRow{}
		err := p.db.ScanFoldIndexKeys(ctx, lo, hi, func(lookup, v string) error {
			r, err := fold.ParseRow(lookup, v)
			if err != nil {
				return err
			}
			keys[lookup] = append(keys[lookup], r)
			return nil
		})
		if err != nil {
			return sent, err
		}
		for _, tl := range keys {
			if err := rp.Timeline(tl); err != nil {
				return sent, err
			}
		}
		if err := flush(rewindChunk); err != nil {
			return sent, err
		}
	}
	return sent, flush(1)
}

// Rewind moves the projections back to just before stream sequence from, so
// that Run then folds the log again from there. from <= 1 empties cds.events
// and cds.rollup. A later from keeps the raw rows below it, deletes the
// others, and recomputes every cell from the rows kept; from is lowered to
// the watermark + 1 if it is above. Rewind returns the sequence Run will
// continue from.
//
// Rewind first takes the lease (it waits up to twice Config.LeaseTTL for
// it, then fails: a projector is running), so it never writes while
// another projector does; Run then keeps the lease. It is crash-safe: it
// first removes every commit marker, and only its last INSERT writes one, so an interrupted Rewind leaves "nothing
// committed", which the next recovery empties and refolds from the log.
func (p *Projector) Rewind(ctx context.Context, from uint64) (next uint64, err error) {
	defer func() {
		if err != nil && p.lease != nil {
			p.lease.release(context.WithoutCancel(ctx))
		}
		if err != nil {
			_ = p.Close()
		}
	}()
	stopKeeping, err := p.rewindLease(ctx)
	if err != nil {
		return 0, err
	}
	defer stopKeeping()
	// The log is not verified: refolding from it is what an operator
	// chooses when it diverged from ClickHouse.
	pos, err := p.settle(ctx, false)
	if err != nil {
		return 0, err
	}
	if from > pos.seq+1 {
		from = pos.seq + 1
	}
	if err := p.fence("a rewind"); err != nil {
		return 0, err
	}
	if from <= 1 {
		if err := p.truncate(ctx); err != nil {
			return 0, err
		}
		p.setPos(position{})
		return 1, nil
	}
	start := time.Now()
	if err := p.db.Truncate(ctx, "rollup"); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	p.dropState() // before the replay, which needs memory of its own
	if err := p.deleteAbove(ctx, from-1); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	if pos, err = p.keptPosition(ctx, from-1); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	cells, err := p.replayIndex(ctx, func(c []fold.Row) error {
		cols := newCellColumns(len(c))
		for _, r := range c {
			cols.add(r)
		}
		return p.sendCells(ctx, cols, pos.seq)
	})
	if err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	// The marker last, alone: the commit.
	marker := newCellColumns(markerRows)
	marker.marker(p.cfg.Stream, p.lease.token(), position{}, pos)
	if err := p.fence("the marker of a rewind"); err != nil {
		return 0, err
	}
	if err := p.sendCells(ctx, marker, pos.seq); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	if err := p.syncDrill(ctx, pos); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	if err := p.syncLasts(ctx, pos); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	if err := p.reload(ctx, pos); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	p.setPos(pos)
	p.log.Info("projections rewound", "seq", pos.seq, "events", pos.rows, "cells", cells, "took", time.Since(start).Round(time.Millisecond))
	return from, nil
}

// rewindLease takes the lease for Rewind, waiting up to twice
// Config.LeaseTTL, and keeps renewing it until stop is called (deleting
// rows and replaying the index take minutes at scale); Run then keeps it.
func (p *Projector) rewindLease(ctx context.Context) (stop func(), err error) {
	lctx, cancel := context.WithTimeout(ctx, 2*p.cfg.LeaseTTL+time.Second)
	err = p.acquire(lctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("rewind: another projector holds the lease %s (held by %s): stop it first", p.lease.key, p.lease.lastHolder())
		}
		return nil, fmt.Errorf("rewind: %w", err)
	}
	kctx, stopKeeping := context.WithCancel(ctx)
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		if err := p.lease.keep(kctx, nil); err != nil {
			p.log.Warn("rewind: lease lost", "err", err)
		}
	}()
	return func() { stopKeeping(); <-kept }, nil
}

// keptPosition is the position of the rows kept up to seq: their
// fingerprints, and the hash of the message at seq if the log holds it.
func (p *Projector) keptPosition(ctx context.Context, seq uint64) (position, error) {
	rows, sum, err := p.fingerprint(ctx, "events")
	if err != nil {
		return position{}, err
	}
	idxRows, idxSum, err := p.fingerprint(ctx, "fold_index")
	if err != nil {
		return position{}, err
	}
	hash, err := p.hashAt(ctx, seq)
	if err != nil {
		return position{}, err
	}
	var hashSeq uint64
	if hash != 0 {
		hashSeq = seq
	}
	return position{seq: seq, rows: rows, sum: sum, idxRows: idxRows, idxSum: idxSum, indexed: rows, hash: hash, hashSeq: hashSeq}, nil
}

// hashAt returns msgHash of the message at seq, 0 if the log has none.
func (p *Projector) hashAt(ctx context.Context, seq uint64) (uint64, error) {
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", p.cfg.Stream, err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: seq %d: %w", p.cfg.Stream, seq, err)
	}
	return msgHash(m.Subject, m.Data), nil
}
