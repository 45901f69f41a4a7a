package projector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
)

// seqModulus bounds each term of the raw-row fingerprint, so that the sum
// stays an exact integer in the Float64 column of the marker rows up to
// 2^33 raw rows.
const seqModulus = 1 << 20

// position is what the commit markers of cds.rollup say: the last stream
// sequence folded, and fingerprints of the rows of cds.events and of
// cds.fold_index that it covers (their number, and the sum of seq mod
// seqModulus).
type position struct {
	seq     uint64
	rows    uint64
	sum     uint64
	idxRows uint64
	idxSum  uint64
	indexed uint64 // raw rows of the batches that wrote index rows
	hash    uint64 // msgHash of the message at hashSeq
	hashSeq uint64 // the seq hash is of: not seq when a cds that did not record it committed since
}

// recover brings ClickHouse and the fold state back to the committed
// position and creates a fresh consumer just after it.
func (p *Projector) recover(ctx context.Context) (jetstream.Consumer, error) {
	p.m.recoveries.Inc()
	pos, err := p.settle(ctx, true)
	if err != nil {
		return nil, err
	}
	if err := p.syncCopies(ctx); err != nil {
		return nil, err
	}
	if err := p.syncDrill(ctx, pos); err != nil {
		return nil, err
	}
	if err := p.syncLasts(ctx, pos); err != nil {
		return nil, err
	}
	if p.loaded && pos != p.pos {
		p.unload() // an insert reported as failed did land, or another writer ran: reload
	}
	if !p.loaded {
		if err := p.reload(ctx, pos); err != nil {
			return nil, err
		}
	}
	p.setPos(pos)
	if err := p.loadLettered(ctx, pos.seq); err != nil {
		return nil, err
	}

	if err := p.js.DeleteConsumer(ctx, p.cfg.Stream, p.cfg.Consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s: %w", p.cfg.Consumer, err)
	}
	cons, err := p.js.CreateConsumer(ctx, p.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       p.cfg.Consumer,
		Description:   "cds projector: folds events into ClickHouse; position kept in cds.rollup",
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   pos.seq + 1,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       p.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * p.cfg.BatchMax,
		FilterSubject: events.SubjectPrefix + ">",
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s at seq %d: %w", p.cfg.Consumer, pos.seq+1, err)
	}
	return cons, nil
}

// reload makes the fold state of the committed position: its local store
// brought to pos (syncStore), nothing in memory.
func (p *Projector) reload(ctx context.Context, pos position) error {
	start := time.Now()
	p.dropState()
	// The store fills before any batch sets the soft limit again: what
	// the last batch lent of the store's share is not free any more.
	p.resetHeap()
	if err := p.openStore(); err != nil {
		return err
	}
	if err := p.syncStore(ctx, pos); err != nil {
		return err
	}
	st := fold.NewIndexed(int(pos.rows), p.cfg.FoldCache)
	st.TrackLinks()
	p.setState(st)
	p.m.storeBytes.Set(float64(p.store.DiskBytes()))
	p.log.Info("fold state loaded", "events", st.Len(), "index_rows", pos.idxRows, "seq", pos.seq, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// dropState forgets the fold state in memory (the next recovery makes
// another); the local store stays, at the commit it reflects.
func (p *Projector) dropState() {
	p.state = nil
	p.unload()
}

// unload marks the fold state as not the committed position's: the next
// recovery reloads it.
func (p *Projector) unload() {
	p.loaded = false
	p.m.stateLoaded.Set(0)
}

func (p *Projector) setState(st *fold.State) {
	p.state, p.loaded = st, true
	p.m.stateLoaded.Set(1)
	p.stateMetrics()
}

// stateMetrics updates the fold state's gauges.
func (p *Projector) stateMetrics() {
	st := p.state
	p.m.stateEvents.Set(float64(st.Len()))
	p.m.stateItems.Set(float64(st.InMemory()))
}

// settle waits until no INSERT of a projector of this database is running
// anywhere, reads the commit markers, seals the markers of earlier lease
// holders, checks that the log still holds what ClickHouse folded
// (verifyLog, unless !verify) and makes cds.events agree with the markers:
// it deletes the raw rows of an unfinished batch, and refolds from the log
// when the projections disagree with their markers.
func (p *Projector) settle(ctx context.Context, verify bool) (position, error) {
	if err := p.replicas(ctx); err != nil {
		return position{}, err
	}
	if err := p.quiesce(ctx); err != nil {
		return position{}, err
	}
	pos, err := p.readPosition(ctx)
	if err != nil {
		return position{}, err
	}
	late, err := p.seal(ctx)
	if err != nil {
		return position{}, err
	}
	if late != "" {
		// A fenced-out projector's batch landed after this one took the
		// lease: its cells are in cds.rollup on top of ours. The log is
		// the truth; refold from it.
		// The markers now include the late batch: the log is verified
		// against the last position this process committed or read.
		p.m.fencedCommits.Inc()
		p.posMu.RLock()
		known := p.pos
		p.posMu.RUnlock()
		if err := p.verifyLog(ctx, known); err != nil {
			return position{}, err
		}
		p.log.Error("a projector that had lost its lease committed a batch late: refolding from the log", "token", late, "seq", pos.seq)
		return p.repair(ctx, "fenced_commit")
	}
	if verify {
		if err := p.verifyLog(ctx, pos); err != nil {
			return position{}, err
		}
	}
	if pos.seq == 0 {
		// Nothing committed: rows without a marker are the remains of an
		// interrupted rebuild or repair.
		return position{}, p.clear(ctx)
	}
	if err := p.deleteAbove(ctx, pos.seq); err != nil {
		return position{}, err
	}
	rows, sum, err := p.fingerprint(ctx, "events")
	if err != nil {
		return position{}, err
	}
	if rows != pos.rows || sum != pos.sum {
		p.log.Error("cds.events disagrees with the commit markers (lost or extra parts, e.g. after a power cut): refolding from the log",
			"seq", pos.seq, "rows", rows, "marked_rows", pos.rows, "sum", sum, "marked_sum", pos.sum)
		return p.repair(ctx, "raw_rows_mismatch")
	}
	idxRows, idxSum, err := p.fingerprint(ctx, "fold_index")
	if err != nil {
		return position{}, err
	}
	if pos.indexed != pos.rows {
		// Batches committed by a cds older than cds.fold_index (before an
		// upgrade, or after a downgrade) wrote raw rows without index rows.
		p.log.Warn("some batches have no fold index rows (committed by an older cds): refolding from the log",
			"seq", pos.seq, "rows", pos.rows, "indexed_rows", pos.indexed)
		return p.repair(ctx, "fold_index_missing")
	}
	if idxRows != pos.idxRows || idxSum != pos.idxSum {
		p.log.Error("cds.fold_index disagrees with the commit markers (lost or extra parts, e.g. after a power cut): refolding from the log",
			"seq", pos.seq, "rows", idxRows, "marked_rows", pos.idxRows, "sum", idxSum, "marked_sum", pos.idxSum)
		return p.repair(ctx, "fold_index_mismatch")
	}
	return pos, nil
}

// quiesce waits until system.processes shows no INSERT of a projector of
// this database. An INSERT appears there from the moment its query is
// received, before its data is sent (the client waits for the table
// structure), and stays until it has been written or has failed; so once
// none is left, no insert of a killed process, or of a failed attempt of
// this one, can still land after the markers are read.
func (p *Projector) quiesce(ctx context.Context) error {
	prefix := insertPrefix(p.db.Name)
	start := time.Now()
	first := true
	err := p.await(ctx, "inserts of an earlier attempt to leave system.processes", quiesceLimit, func() (bool, error) {
		n, err := p.db.RunningQueries(ctx, prefix)
		if err != nil {
			return false, err
		}
		if n != 0 && first {
			p.log.Info("waiting for the inserts of an earlier attempt to finish", "running", n)
		}
		if n == 0 && !first {
			p.log.Info("the inserts of an earlier attempt have finished", "took", time.Since(start).Round(time.Millisecond))
		}
		first = false
		return n == 0, nil
	})
	if err != nil {
		return fmt.Errorf("quiesce: %w", err)
	}
	return nil
}

func (p *Projector) readPosition(ctx context.Context) (position, error) {
	m, err := p.db.ReadStreamMarks(ctx, p.cfg.Stream)
	if err != nil {
		return position{}, err
	}
	if m.Seq < 0 || m.IdxN != 0 || !whole(m.Rows) || !whole(m.Sum) || !whole(m.IdxRows) || !whole(m.IdxSum) || !whole(m.Indexed) || !whole(m.Hash) || !whole(m.HashSeq) {
		return position{}, fmt.Errorf("read watermark: markers in cds.rollup sum to seq %d, rows %v, fingerprint %v, index seq %d, rows %v, fingerprint %v, indexed rows %v, last message %v at %v",
			m.Seq, m.Rows, m.Sum, m.IdxN, m.IdxRows, m.IdxSum, m.Indexed, m.Hash, m.HashSeq)
	}
	return position{seq: uint64(m.Seq), rows: uint64(m.Rows), sum: uint64(m.Sum), idxRows: uint64(m.IdxRows), idxSum: uint64(m.IdxSum),
		indexed: uint64(m.Indexed), hash: uint64(m.Hash), hashSeq: uint64(m.HashSeq)}, nil
}

func whole(f float64) bool { return f >= 0 && f == math.Trunc(f) && f < 1<<53 }

// fingerprint counts the rows of a table written by batches (events or
// fold_index) and sums their seq mod seqModulus.
func (p *Projector) fingerprint(ctx context.Context, table string) (rows, sum uint64, err error) {
	return p.db.Fingerprint(ctx, table, seqModulus)
}

// confirmBehind makes sure the log does not hold sequence seq before the
// projections are refolded because of it: stream info that is stale for a
// moment must not empty them.
func (p *Projector) confirmBehind(ctx context.Context, seq uint64) error {
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", p.cfg.Stream, err)
	}
	_, err = s.GetMsg(ctx, seq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("stream %s: seq %d: %w", p.cfg.Stream, seq, err)
	}
	return fmt.Errorf("stream %s reported last seq %d but holds seq %d; retrying", p.cfg.Stream, s.CachedInfo().State.LastSeq, seq)
}

// repair empties the projections so that they are refolded from the log.
func (p *Projector) repair(ctx context.Context, reason string) (position, error) {
	if err := p.fence("a repair"); err != nil {
		return position{}, err
	}
	p.m.repairs.WithLabelValues(reason).Inc()
	if err := p.truncate(ctx); err != nil {
		return position{}, err
	}
	return position{}, nil
}

// clear empties the projections when either holds rows although no batch
// is committed.
func (p *Projector) clear(ctx context.Context) error {
	n, err := p.db.CountProjections(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := p.fence("the remains of an interrupted rebuild"); err != nil {
		return err
	}
	p.log.Info("no batch committed: emptying the projections", "rows", n)
	return p.truncate(ctx)
}

// truncate empties the local fold store, then cds.rollup, cds.events and
// cds.fold_index. Whenever it stops, the markers are gone first, which the
// next recovery reads as "nothing committed".
func (p *Projector) truncate(ctx context.Context) error {
	p.dropState()
	if err := p.openStore(); err != nil {
		return err
	}
	if err := p.store.Reset(); err != nil {
		return err
	}
	for _, t := range []string{"rollup", "events", "fold_index"} {
		if err := p.db.Truncate(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// deleteAbove removes the raw and index rows of an unfinished batch (seq
// above mark) and waits until the mutations have finished.
func (p *Projector) deleteAbove(ctx context.Context, mark uint64) error {
	for _, table := range chdb.BatchTables() {
		n, err := p.db.CountAbove(ctx, table, mark)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if err := p.fence("the deletion of an unfinished batch"); err != nil {
			return err
		}
		p.log.Info("deleting rows of an unfinished batch", "table", table, "rows", n, "seq", mark)
		if err := p.db.DeleteAbove(ctx, table, mark); err != nil {
			return err
		}
	}
	return p.await(ctx, "the deletion of an unfinished batch (a mutation)", mutationLimit, func() (bool, error) {
		left, err := p.db.PendingDeletes(ctx)
		if err != nil {
			return false, err
		}
		return left == 0, nil
	})
}
