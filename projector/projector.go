package projector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
	"github.com/bacgiang/cds/internal/foldstore"
)

// Projector folds the stream into ClickHouse. Create it with New, run it
// with Run.
type Projector struct {
	cfg   Config
	js    jetstream.JetStream
	db    *chdb.DB
	log   *slog.Logger
	units events.Units
	m     *metrics

	state      *fold.State
	store      *foldstore.Store    // the local fold store, open from the first recovery to the end of Run
	loaded     bool                // state matches pos
	pos        position            // what the commit markers say, as last committed or read
	lettered   map[uint64]struct{} // stream sequences above pos.seq that CDS_DLQ already holds
	qid        queryIDs
	posMu      sync.RWMutex
	lastLag    atomic.Int64  // unix nanoseconds of the last lag update
	lease      *lease        // opened by the first Run or Rewind
	sealedOnce atomic.Bool   // the markers of earlier lease holders are sealed (seal)
	reconnects atomic.Uint64 // NATS reconnects seen by checkFenced
	replica    string        // on a cluster, the replica db is pinned to (replicas)

	// The reader's scratch, reused from batch to batch (prepare), and the
	// written batches whose columns it fills again (recycle).
	checked []checked
	valid   []*events.Event
	fetched []fold.IndexRow
	// contribs and values hold the contributions and the values' bytes of
	// the rows of fetched (fetchIndex).
	contribs []events.Contribution
	values   []byte
	spares   chan *prepared
	// lasts is the writer's: the rows of cds.event_lasts of the batch it
	// writes (lasts.go), one set for all batches rather than one per batch
	// in flight.
	lasts chdb.LastsColumns

	heapLimit int64     // the Go soft memory limit set last (balanceHeap, memory.go)
	trimmedAt time.Time // when the C allocator was last trimmed (trimCHeap, memory.go)
}

// Deps are what a projector works with (a Config with defaults, then Deps:
// the constructor shape of every component).
type Deps struct {
	// JetStream reads the log and keeps the lease; DB is ClickHouse.
	JetStream jetstream.JetStream
	DB        *chdb.DB
	// Units is the registry the rules ask (events.Rules); nil accepts any
	// agency and type.
	Units events.Units
	// Logger may be nil (no logs); Registerer may be nil (no metrics).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// New returns a projector; Run starts it.
func New(cfg Config, deps Deps) (*Projector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Consumer == "" {
		cfg.Consumer = ConsumerName(deps.DB.Name)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Projector{cfg: cfg, js: deps.JetStream, db: deps.DB.Pin(), units: deps.Units, log: logger, m: newMetrics(deps.Registerer), qid: newQueryIDs(deps.DB.Name),
		spares: make(chan *prepared, spareBatches)}, nil
}

// openStore opens the local fold store (Config.FoldDir) unless it is open.
func (p *Projector) openStore() error {
	if p.store != nil {
		return nil
	}
	dir := ""
	if p.cfg.FoldDir != "" {
		dir = filepath.Join(p.cfg.FoldDir, p.db.Name+"."+p.cfg.Stream)
	}
	tuneCHeap(p.log)
	opts := foldstore.Options{Dir: dir, Identity: p.db.Name + "/" + p.cfg.Stream, Logger: p.log, BeforeGrowth: p.beforeStoreGrows}
	s, err := foldstore.Open(opts)
	if errors.Is(err, foldstore.ErrInUse) {
		// Another projector of this host holds it: one that lost the
		// lease while frozen, or a second one given the same directory.
		// A store in memory, filled from cds.fold_index, serves as well.
		p.log.Warn("fold store in use by another process: using one in memory, filled from cds.fold_index", "dir", dir)
		opts.Dir = ""
		s, err = foldstore.Open(opts)
	}
	if err != nil {
		return err
	}
	if s.WasReset() {
		p.log.Warn("fold store: found unusable and emptied; it is refilled from cds.fold_index", "dir", dir)
	}
	p.store = s
	return nil
}

// Close closes the local fold store; Run calls it when it returns, and
// Rewind when it fails. It may be called more than once.
func (p *Projector) Close() error {
	if p.store == nil {
		return nil
	}
	p.dropState() // the state reads the store
	err := p.store.Close()
	p.store = nil
	return err
}

// Watermark returns the last stream sequence committed to ClickHouse.
func (p *Projector) Watermark() uint64 {
	p.posMu.RLock()
	defer p.posMu.RUnlock()
	return p.pos.seq
}

func (p *Projector) setPos(pos position) {
	p.posMu.Lock()
	p.pos = pos
	p.posMu.Unlock()
	p.m.watermark.Set(float64(pos.seq))
}

// Run folds until ctx is cancelled, then finishes the batch in hand (within
// Config.ShutdownGrace), releases the lease and returns nil. It first waits
// as a standby until it holds the lease (doc.go, "One active projector"),
// and goes back to waiting whenever it loses it. Failures of NATS or
// ClickHouse are retried with backoff from the last committed position.
// Run returns an error when it cannot go on without an operator: the log
// and ClickHouse diverged (ErrDiverged), the NATS connection is closed for
// good, or ClickHouse refuses cds's schema or credentials (ErrPermanent).
func (p *Projector) Run(ctx context.Context) error {
	if p.db.Cluster != "" {
		defer p.db.Close() // the pinned replica's connection (replicas)
	}
	p.m.failed.Set(0)
	p.resetHeap()
	err := p.run(ctx)
	if cerr := p.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		// The caller logs it: one ERROR line (cmd/cds exits with it).
		p.m.failed.Set(1)
		p.m.failures.WithLabelValues("fatal").Inc()
	}
	return err
}

func (p *Projector) run(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		if err := p.acquire(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err := p.runActive(ctx)
		if ctx.Err() != nil {
			p.lease.release(context.WithoutCancel(ctx))
			p.m.active.Set(0)
			return nil
		}
		if err == nil || errors.Is(err, errRecover) {
			p.log.Info("recovering again", "why", err)
			continue
		}
		p.m.active.Set(0)
		if !errors.Is(err, ErrLeaseLost) {
			p.lease.release(context.WithoutCancel(ctx))
			return err
		}
		p.m.leaseLost.Inc()
		p.dropState() // the next holder moves the position on
		p.log.Warn("lease lost: waiting as a standby", "err", err)
	}
}

// acquire opens the lease and waits until this projector holds it.
func (p *Projector) acquire(ctx context.Context) error {
	if p.lease == nil {
		l, err := openLease(ctx, p.js, p.cfg.Stream, leaseKey(p.db.Name, p.cfg.Stream), p.cfg.LeaseTTL, p.log)
		if err != nil {
			return err
		}
		p.lease = l
	}
	if p.lease.valid(p.lease.ttl / 3) {
		return nil
	}
	start := time.Now()
	err := p.lease.acquire(ctx, func(holder string) {
		p.log.Info("standby: another projector holds the lease", "holder", holder, "key", p.lease.key)
	})
	if err != nil {
		return err
	}
	p.sealedOnce.Store(false)
	if nc := p.js.Conn(); nc != nil {
		p.reconnects.Store(nc.Stats().Reconnects)
	}
	p.m.active.Set(1)
	p.m.takeovers.Inc()
	p.log.Info("lease taken: active projector", "token", p.lease.token(), "waited", time.Since(start).Round(time.Millisecond))
	return nil
}

// runActive folds while the lease is held: it returns ErrLeaseLost (wrapped)
// when the lease is lost, nil when ctx is cancelled, or a permanent error.
func (p *Projector) runActive(ctx context.Context) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The lease is renewed until runActive returns, not only until ctx is
	// cancelled: a shutdown finishes the batch in hand (consume, up to
	// ShutdownGrace), and every write of it is fenced on the lease.
	kctx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		if err := p.lease.keep(kctx, p.checkFenced); err != nil {
			cancel(err)
		}
	}()
	defer func() { stopKeeping(); <-kept }()
	backoff := p.cfg.RetryMin
	for {
		if actx.Err() != nil {
			return leaseCause(ctx, actx)
		}
		cons, err := p.recover(actx)
		if err == nil {
			backoff = p.cfg.RetryMin
			p.m.backoff.Set(0)
			err = p.consume(actx, cons)
			if actx.Err() != nil {
				return leaseCause(ctx, actx)
			}
			if err == nil {
				// The message iterator closed by itself (the connection
				// closed, the consumer deleted).
				err = errors.New("consuming stopped")
			}
			if errors.Is(err, errGap) {
				p.m.failures.WithLabelValues("gap").Inc()
				continue // nothing is wrong with NATS or ClickHouse: refetch at once
			}
			p.m.failures.WithLabelValues("consume").Inc()
		} else {
			p.m.failures.WithLabelValues("recover").Inc()
		}
		if actx.Err() != nil {
			return leaseCause(ctx, actx)
		}
		if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrDiverged) {
			return err
		}
		if perr := p.permanent(err); perr != nil {
			return perr
		}
		p.log.Warn("projector failed; retrying from the watermark", "err", err, "backoff", backoff, "seq", p.Watermark())
		p.m.backoff.Set(backoff.Seconds())
		p.updateLag(actx, true)
		select {
		case <-actx.Done():
			return leaseCause(ctx, actx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.RetryMax)
	}
}

// leaseCause is nil when ctx (Run's) ended, else why actx was cancelled.
func leaseCause(ctx, actx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return context.Cause(actx)
}

// consume cuts batches from the consumer and commits them until ctx is
// cancelled (nil) or a step fails (the error). It runs two stages: the
// reader (this goroutine) cuts, decodes and folds batch N+1 while the writer
// writes batch N to ClickHouse and acks it. The reader commits each batch's
// fold transaction in memory as soon as it is folded, on top of the batches
// not yet written; if any of them is not written, the fold state is marked
// not loaded and recovery makes it again (its local store is at the last
// batch written). The consumer buffers at most BatchMax/2 messages (pull
// requests are refilled at half of that): messages waiting in the client's
// buffer were a quarter of the live heap, and the reader takes them far
// faster than it folds them. At most about 3 × BatchMax
// messages are unacknowledged (the batch being written, the one folded and
// waiting, the one being filled) below the consumer's MaxAckPending of
// 4 × BatchMax.
func (p *Projector) consume(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(max(p.cfg.BatchMax/2, 1)), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return fmt.Errorf("start consuming: %w", err)
	}
	defer it.Stop()
	// The reader stops when ctx is cancelled or the writer fails.
	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	stop := context.AfterFunc(rctx, it.Stop)
	defer stop()

	// The batches in hand are finished even when ctx was cancelled
	// meanwhile: shutdown writes what was fetched, then acks, unless that
	// takes longer than ShutdownGrace.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	grace := context.AfterFunc(ctx, func() { time.AfterFunc(p.cfg.ShutdownGrace, cancel) })
	defer grace()

	work := make(chan *prepared)
	var written int // batches the writer committed, read after it returned
	werr := make(chan error, 1)
	go func() {
		n, err := p.writeAll(wctx, work, stopReading)
		written = n
		werr <- err
	}()
	folded, rerr := p.read(rctx, it, work)
	close(work)
	err = <-werr
	if written != folded {
		// The fold state holds batches that were not written.
		p.unload()
	}
	switch {
	case err != nil:
		p.m.failures.WithLabelValues("write").Inc()
		return err
	case rerr != nil && !errors.Is(rerr, context.Canceled):
		return rerr
	}
	return nil
}

// pullHeartbeat is how often the server sends an idle heartbeat for a
// pending pull request. The client notices a missing one only within one
// call of Next that waits 2 × pullHeartbeat (nats.go arms the check per
// call), so it must be well below idleWait: with the library's default (15
// s, checked after 30 s) and 5 s calls, a pull request that the server
// never received (sent while a new consumer's leader was being elected on
// a NATS cluster) left the projector waiting for ever with events queued
// (docs/projector.md, "A lost pull request").
const pullHeartbeat = 2 * time.Second

// idleWait is how long the reader waits for a first message before it
// updates the lag and waits again.
const idleWait = 5 * time.Second

// maxMissedHeartbeats is how many missing heartbeats in a row, each
// answered by a new pull request, the reader takes before it fails and
// recovery makes the consumer again.
const maxMissedHeartbeats = 3

// read cuts batches, folds them and hands them to the writer until ctx is
// cancelled or a step fails. It returns the number of batches it committed
// in the fold state.
func (p *Projector) read(ctx context.Context, it jetstream.MessagesContext, work chan<- *prepared) (int, error) {
	p.posMu.RLock()
	pos := p.pos
	p.posMu.RUnlock()
	folded, missed := 0, 0
	batch := make([]jetstream.Msg, 0, p.cfg.BatchMax)
	for {
		batch = batch[:0]
		checkedTo := 0 // the messages of batch checked (checkFrom)
		msg, err := it.Next(jetstream.NextMaxWait(idleWait))
		switch {
		case errors.Is(err, nats.ErrTimeout):
			p.updateLag(ctx, true)
			continue
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return folded, ctx.Err()
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			// The pull request in flight is taken as lost: the
			// iterator makes a new one at the next call.
			missed++
			p.m.pullsRenewed.Inc()
			if missed >= maxMissedHeartbeats {
				return folded, fmt.Errorf("next message: %d pull requests in a row had neither a message nor a heartbeat: %w", missed, err)
			}
			p.log.Warn("the consumer sent no heartbeat: pulling again", "missed", missed, "seq", pos.seq)
			p.updateLag(ctx, true)
			continue
		case err != nil:
			return folded, fmt.Errorf("next message: %w", err)
		}
		missed = 0
		batch = append(batch, msg)
		// The rest of the batch is taken until one deadline, a context's:
		// a wait of its own (NextMaxWait) made a timer per message.
		bctx, cancelBatch := context.WithTimeout(context.Background(), p.cfg.BatchWait)
		within := jetstream.NextContext(bctx)
		for len(batch) < p.cfg.BatchMax && bctx.Err() == nil {
			msg, err := it.Next(within)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrNoHeartbeat) {
					break // the next call of the outer loop sees what remains
				}
				cancelBatch()
				clear(p.checked[:checkedTo]) // let the events checked go
				return folded, fmt.Errorf("next message: %w", err)
			}
			batch = append(batch, msg)
			if len(batch)-checkedTo >= checkChunk {
				p.checkFrom(batch, checkedTo)
				checkedTo = len(batch)
			}
		}
		cancelBatch()
		// The batch in hand is folded and handed over even when ctx was
		// cancelled meanwhile (shutdown writes what was fetched).
		b, err := p.prepare(context.WithoutCancel(ctx), batch, checkedTo, pos)
		// The batch's messages are folded (b keeps the one it acks): let
		// them go now, not once the writer has taken b, which may wait for
		// a whole write while the consumer buffers the next batch.
		clear(batch)
		if b == nil {
			return folded, err
		}
		if b.last != 0 {
			folded++
			pos = b.next
		}
		// The writer takes every batch: it writes it, or drops it once a
		// write failed.
		work <- b
		if err != nil {
			return folded, err // a gap: the batch before it is handed over
		}
		if ctx.Err() != nil {
			return folded, ctx.Err()
		}
	}
}

// writeAll writes and acks the batches handed over, in order, until work
// is closed or a write fails; on failure it calls stop so that the reader
// stops, and drops the batches still handed over. It returns the number of
// batches committed.
func (p *Projector) writeAll(ctx context.Context, work <-chan *prepared, stop func()) (int, error) {
	n := 0
	for b := range work {
		if err := p.write(ctx, b); err != nil {
			stop()
			for range work {
			}
			return n, err
		}
		if b.last != 0 {
			n++
		}
		// A batch that is not full means the stream is drained: worth an
		// exact lag.
		p.updateLag(ctx, b.msgs < p.cfg.BatchMax)
		p.recycle(b)
	}
	return n, nil
}

func (p *Projector) updateLag(ctx context.Context, force bool) {
	now := time.Now().UnixNano()
	if !force && now-p.lastLag.Load() < int64(time.Second) {
		return
	}
	p.lastLag.Store(now)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return
	}
	if last, mark := s.CachedInfo().State.LastSeq, p.Watermark(); last >= mark {
		p.m.lag.Set(float64(last - mark))
	}
}

// queryIDs names the INSERTs of one Projector. Every id starts with
// "cds-projector/<database>/", which recovery looks for in
// system.processes; the rest makes it unique.
type queryIDs struct {
	prefix string
	n      uint64
}

func newQueryIDs(database string) queryIDs {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return queryIDs{prefix: "cds-projector/" + database + "/" + hex.EncodeToString(b) + "/"}
}

func (q *queryIDs) next(what string, seq uint64) string {
	q.n++
	return fmt.Sprintf("%s%d/%d/%s", q.prefix, q.n, seq, what)
}

// insertPrefix is the query-id prefix of the INSERTs of every projector of
// a database, whatever process runs it.
func insertPrefix(database string) string { return "cds-projector/" + database + "/" }
