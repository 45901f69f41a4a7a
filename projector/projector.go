package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/chdb"
	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/fold"
)

// Projector folds the stream into ClickHouse. Create it with New, run it
// with Run.
type Projector struct {
	cfg     Config
	js      jetstream.JetStream
	db      *chdb.DB
	log     *slog.Logger
	known   func(string) bool
	m       *metrics
	state   *fold.State
	loaded  bool   // state matches the watermark
	mark    uint64 // watermark: last stream sequence committed
	markMu  sync.RWMutex
	lastLag time.Time
}

// New returns a projector. known reports whether an agency code is in the
// registry (nil accepts any). reg may be nil.
func New(cfg Config, js jetstream.JetStream, db *chdb.DB, known func(string) bool, logger *slog.Logger, reg prometheus.Registerer) (*Projector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Projector{cfg: cfg, js: js, db: db, known: known, log: logger, m: newMetrics(reg)}, nil
}

// Watermark returns the last stream sequence committed to ClickHouse.
func (p *Projector) Watermark() uint64 {
	p.markMu.RLock()
	defer p.markMu.RUnlock()
	return p.mark
}

func (p *Projector) setMark(seq uint64) {
	p.markMu.Lock()
	p.mark = seq
	p.markMu.Unlock()
	p.m.watermark.Set(float64(seq))
}

// Run folds until ctx is cancelled, then finishes the batch in hand and
// returns nil. Failures of NATS or ClickHouse are retried with backoff from the
// last committed position; Run returns an error only for a misconfiguration
// it cannot recover from.
func (p *Projector) Run(ctx context.Context) error {
	backoff := p.cfg.RetryMin
	for {
		if ctx.Err() != nil {
			return nil
		}
		cons, err := p.recover(ctx)
		if err == nil {
			backoff = p.cfg.RetryMin
			err = p.consume(ctx, cons)
			if err == nil || ctx.Err() != nil {
				return nil
			}
			p.m.failures.WithLabelValues("consume").Inc()
		} else {
			p.m.failures.WithLabelValues("recover").Inc()
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("projector failed; retrying from the watermark", "err", err, "backoff", backoff, "seq", p.Watermark())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.RetryMax)
	}
}

// recover brings ClickHouse and the fold state back to the committed
// watermark and positions a fresh consumer just after it.
func (p *Projector) recover(ctx context.Context) (jetstream.Consumer, error) {
	p.m.recoveries.Inc()
	mark, err := p.readWatermark(ctx)
	if err != nil {
		return nil, err
	}
	if p.loaded && mark != p.Watermark() {
		p.loaded = false // an insert reported as failed did land, or another writer ran: reload
	}
	if err := p.deleteAbove(ctx, mark); err != nil {
		return nil, err
	}
	if !p.loaded {
		start := time.Now()
		st, err := p.loadState(ctx)
		if err != nil {
			return nil, err
		}
		p.state, p.loaded = st, true
		p.log.Info("fold state loaded", "events", st.Len(), "keys", st.Keys(), "seq", mark, "took", time.Since(start).Round(time.Millisecond))
	}
	p.setMark(mark)
	p.m.stateEvents.Set(float64(p.state.Len()))

	if err := p.js.DeleteConsumer(ctx, p.cfg.Stream, p.cfg.Consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s: %w", p.cfg.Consumer, err)
	}
	cons, err := p.js.CreateConsumer(ctx, p.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       p.cfg.Consumer,
		Description:   "cds projector: folds events into ClickHouse; position kept in cds.rollup",
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   mark + 1,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       p.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * p.cfg.BatchMax,
		FilterSubject: events.SubjectPrefix + ">",
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s at seq %d: %w", p.cfg.Consumer, mark+1, err)
	}
	return cons, nil
}

const watermarkIndicator = "#watermark"

func (p *Projector) readWatermark(ctx context.Context) (uint64, error) {
	var n int64
	q := "SELECT toInt64(sum(n)) FROM " + p.db.Table("rollup") + " WHERE indicator = ? AND unit = ?"
	if err := p.db.QueryRow(ctx, q, watermarkIndicator, p.cfg.Stream).Scan(&n); err != nil {
		return 0, fmt.Errorf("read watermark: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("read watermark: negative sum %d in cds.rollup", n)
	}
	return uint64(n), nil
}

// deleteAbove removes raw rows of an unfinished batch and waits until the
// mutation has finished.
func (p *Projector) deleteAbove(ctx context.Context, mark uint64) error {
	var n uint64
	if err := p.db.QueryRow(ctx, "SELECT count() FROM "+p.db.Table("events")+" WHERE seq > ?", mark).Scan(&n); err != nil {
		return fmt.Errorf("count unfinished rows: %w", err)
	}
	if n == 0 {
		return nil
	}
	p.log.Info("deleting raw rows of an unfinished batch", "rows", n, "seq", mark)
	if err := p.db.Exec(ctx, "ALTER TABLE "+p.db.Table("events")+" DELETE WHERE seq > "+strconv.FormatUint(mark, 10)); err != nil {
		return fmt.Errorf("delete unfinished rows: %w", err)
	}
	for {
		var left uint64
		if err := p.db.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table = 'events' AND is_done = 0", p.db.Name).Scan(&left); err != nil {
			return fmt.Errorf("wait for delete: %w", err)
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// loadState folds every committed raw event. The fold does not depend on
// order, so the rows are read in storage order.
func (p *Projector) loadState(ctx context.Context) (*fold.State, error) {
	st := fold.New()
	rows, err := p.db.Query(ctx, "SELECT id, type, agency, occurred_at, supersedes, data FROM "+p.db.Table("events"))
	if err != nil {
		return nil, fmt.Errorf("load fold state: %w", err)
	}
	defer rows.Close()
	txn := st.Begin()
	var (
		id, typ, agency, sup, data string
		at                         time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&id, &typ, &agency, &at, &sup, &data); err != nil {
			return nil, fmt.Errorf("load fold state: %w", err)
		}
		e, err := events.Restore(id, typ, agency, at, sup, []byte(data))
		if err != nil {
			return nil, fmt.Errorf("load fold state: stored event %s: %w", id, err)
		}
		txn.Apply(e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load fold state: %w", err)
	}
	txn.Commit()
	return st, nil
}

// consume cuts batches from the consumer and commits them until ctx is
// cancelled (nil) or a step fails (the error).
func (p *Projector) consume(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(p.cfg.BatchMax))
	if err != nil {
		return fmt.Errorf("start consuming: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	batch := make([]jetstream.Msg, 0, p.cfg.BatchMax)
	for {
		batch = batch[:0]
		msg, err := it.Next(jetstream.NextMaxWait(5 * time.Second))
		switch {
		case errors.Is(err, nats.ErrTimeout):
			p.updateLag(ctx, true)
			continue
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return ctx.Err()
		case err != nil:
			return fmt.Errorf("next message: %w", err)
		}
		batch = append(batch, msg)
		deadline := time.Now().Add(p.cfg.BatchWait)
		for len(batch) < p.cfg.BatchMax {
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			msg, err := it.Next(jetstream.NextMaxWait(wait))
			if err != nil {
				if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					break
				}
				return fmt.Errorf("next message: %w", err)
			}
			batch = append(batch, msg)
		}
		// The batch in hand is finished even when ctx was cancelled meanwhile:
		// shutdown writes what was fetched, then acks.
		if err := p.commit(context.WithoutCancel(ctx), batch); err != nil {
			p.m.failures.WithLabelValues("write").Inc()
			return err
		}
		p.updateLag(ctx, false)
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (p *Projector) updateLag(ctx context.Context, force bool) {
	if !force && time.Since(p.lastLag) < time.Second {
		return
	}
	p.lastLag = time.Now()
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return
	}
	info, err := s.Info(ctx)
	if err != nil {
		return
	}
	if last, mark := info.State.LastSeq, p.Watermark(); last >= mark {
		p.m.lag.Set(float64(last - mark))
	}
}
