package projector

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/fold"
)

// rawRows holds the cds.events columns of a batch, appended column-wise.
type rawRows struct {
	id, typ, agency, supersedes, data []string
	v, retraction                     []uint8
	occurredAt, receivedAt            []time.Time
	seq                               []uint64
}

func (r *rawRows) add(e *events.Event, seq uint64, received time.Time) {
	r.id = append(r.id, e.ID)
	r.typ = append(r.typ, e.Type)
	r.v = append(r.v, uint8(e.V))
	r.agency = append(r.agency, e.Agency)
	r.occurredAt = append(r.occurredAt, e.OccurredAt)
	r.supersedes = append(r.supersedes, e.Supersedes)
	var retraction uint8
	if e.Retraction() {
		retraction = 1
	}
	r.retraction = append(r.retraction, retraction)
	r.data = append(r.data, string(e.Data))
	r.seq = append(r.seq, seq)
	r.receivedAt = append(r.receivedAt, received)
}

// commit folds, writes and acks one batch. On error nothing is acked and the
// in-memory state is unchanged; the caller recovers from the watermark.
func (p *Projector) commit(ctx context.Context, batch []jetstream.Msg) error {
	mark := p.Watermark()
	txn := p.state.Begin()
	var (
		raw                  rawRows
		dlq                  []jetstream.PubAckFuture
		last                 uint64
		redelivered, deadLtr int
	)
	for _, msg := range batch {
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq <= mark || seq <= last {
			redelivered++
			continue
		}
		last = seq
		e, err := p.check(msg, meta)
		if err != nil && p.cfg.NoDeadLetter {
			deadLtr++
			continue
		}
		if err != nil {
			f, perr := p.deadLetter(ctx, msg, meta, err)
			if perr != nil {
				return perr
			}
			dlq = append(dlq, f)
			deadLtr++
			continue
		}
		if txn.Apply(e) == fold.Applied {
			raw.add(e, seq, meta.Timestamp)
		}
	}
	if last == 0 {
		// Only redeliveries of committed messages: ack them again.
		return batch[len(batch)-1].Ack()
	}
	start := time.Now()
	for _, f := range dlq {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("dead-letter publish: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := p.insertRaw(ctx, &raw); err != nil {
		return err
	}
	if err := p.insertCells(ctx, txn.Rows(), last-mark); err != nil {
		return err
	}
	p.m.writeTime.Observe(time.Since(start).Seconds())
	applied, dups := txn.Applied(), txn.Duplicates()
	txn.Commit()
	p.setMark(last)
	p.m.stateEvents.Set(float64(p.state.Len()))
	p.m.batches.Inc()
	p.m.batchSize.Observe(float64(len(batch)))
	p.m.events.WithLabelValues("applied").Add(float64(applied))
	p.m.events.WithLabelValues("duplicate").Add(float64(dups))
	p.m.events.WithLabelValues("dead_letter").Add(float64(deadLtr))
	p.m.events.WithLabelValues("redelivered").Add(float64(redelivered))
	p.log.Debug("batch committed", "batch", len(batch), "seq", last, "applied", applied, "duplicates", dups, "dead_letter", deadLtr)
	// AckAll: acking the last message acks the batch. A lost ack only causes
	// a redelivery, which is skipped because it is at or below the watermark.
	if err := batch[len(batch)-1].Ack(); err != nil {
		p.log.Warn("ack after commit failed; the batch will be redelivered and skipped", "err", err, "seq", last)
	}
	return nil
}

// check decodes and validates one message. The time reference for "far in
// the future" is when the stream stored the message, so a replay decides the
// same way.
func (p *Projector) check(msg jetstream.Msg, meta *jetstream.MsgMetadata) (*events.Event, error) {
	e, err := events.Decode(msg.Data())
	if err != nil {
		return nil, err
	}
	if err := events.CheckSubject(msg.Subject(), e); err != nil {
		return nil, err
	}
	rules := events.Rules{Now: func() time.Time { return meta.Timestamp }, MaxFuture: p.cfg.MaxFuture, KnownAgency: p.known}
	if err := rules.Check(e); err != nil {
		return nil, err
	}
	return e, nil
}

// Dead-letter headers.
const (
	HeaderReason    = "Cds-Reason"
	HeaderError     = "Cds-Error"
	HeaderField     = "Cds-Field"
	HeaderSubject   = "Cds-Subject"
	HeaderStreamSeq = "Cds-Stream-Seq"
	HeaderReceived  = "Cds-Received-At"
	// HeaderOrigPrefix prefixes original Nats-* headers, which would
	// otherwise act again in the dead-letter stream (Nats-Msg-Id would
	// deduplicate there).
	HeaderOrigPrefix = "Cds-Orig-"
)

func (p *Projector) deadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, cause error) (jetstream.PubAckFuture, error) {
	reason := events.ReasonOf(cause)
	if reason == "" {
		reason = events.ReasonMalformed
	}
	out := nats.NewMsg(p.cfg.DeadLetterPref + string(reason))
	out.Data = msg.Data()
	for k, vs := range msg.Headers() {
		if len(k) >= 5 && k[:5] == "Nats-" {
			k = HeaderOrigPrefix + k
		}
		for _, v := range vs {
			out.Header.Add(k, v)
		}
	}
	out.Header.Set(HeaderReason, string(reason))
	out.Header.Set(HeaderError, cause.Error())
	if ee, ok := cause.(*events.Error); ok && ee.Field != "" {
		out.Header.Set(HeaderField, ee.Field)
	}
	out.Header.Set(HeaderSubject, msg.Subject())
	out.Header.Set(HeaderStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	out.Header.Set(HeaderReceived, meta.Timestamp.UTC().Format(time.RFC3339Nano))
	out.Header.Set(jetstream.MsgIDHeader, p.cfg.Stream+"-"+strconv.FormatUint(meta.Sequence.Stream, 10))
	f, err := p.js.PublishMsgAsync(out)
	if err != nil {
		return nil, fmt.Errorf("dead-letter seq %d: %w", meta.Sequence.Stream, err)
	}
	p.log.Info("event dead-lettered", "seq", meta.Sequence.Stream, "subject", msg.Subject(), "reason", reason, "err", cause)
	return f, nil
}

func (p *Projector) insertRaw(ctx context.Context, r *rawRows) error {
	if len(r.id) == 0 {
		return nil
	}
	b, err := p.db.PrepareBatch(ctx, "INSERT INTO "+p.db.Table("events")+" (id, type, v, agency, occurred_at, supersedes, retraction, data, seq, received_at)")
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	cols := []any{r.id, r.typ, r.v, r.agency, r.occurredAt, r.supersedes, r.retraction, r.data, r.seq, r.receivedAt}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			b.Abort()
			return fmt.Errorf("insert events: column %d: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// insertCells writes the cell deltas and the watermark marker in one INSERT.
func (p *Projector) insertCells(ctx context.Context, rows []fold.Row, advance uint64) error {
	n := len(rows) + 1
	var (
		indicator, unit, dim = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		period               = make([]uint16, 0, n)
		day                  = make([]time.Time, 0, n)
		num, den             = make([]float64, 0, n), make([]float64, 0, n)
		cnt                  = make([]int64, 0, n)
	)
	for _, r := range rows {
		indicator, unit, dim = append(indicator, r.Indicator), append(unit, r.Unit), append(dim, r.Dim)
		period, day = append(period, r.Period), append(day, fold.DayTime(r.Day))
		num, den, cnt = append(num, r.Num), append(den, r.Den), append(cnt, r.N)
	}
	indicator, unit, dim = append(indicator, watermarkIndicator), append(unit, p.cfg.Stream), append(dim, "")
	period, day = append(period, 0), append(day, fold.DayTime(0))
	num, den, cnt = append(num, 0), append(den, 0), append(cnt, int64(advance))

	b, err := p.db.PrepareBatch(ctx, "INSERT INTO "+p.db.Table("rollup")+" (indicator, unit, period, dim, day, num, den, n)")
	if err != nil {
		return fmt.Errorf("insert rollup: %w", err)
	}
	for i, c := range []any{indicator, unit, period, dim, day, num, den, cnt} {
		if err := b.Column(i).Append(c); err != nil {
			b.Abort()
			return fmt.Errorf("insert rollup: column %d: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert rollup: %w", err)
	}
	return nil
}
