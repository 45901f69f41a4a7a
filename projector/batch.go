package projector

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
)

// rawRows holds the cds.events columns of a batch, appended column-wise, and
// their fingerprint.
type rawRows struct {
	chdb.EventColumns
	sum uint64 // of seq mod seqModulus
}

// grow empties r and gives each column room for n rows, keeping the
// columns of a batch written before (recycle) when they have it.
func (r *rawRows) grow(n int) {
	r.sum = 0
	if cap(r.ID) < n {
		r.Grow(n)
		return
	}
	r.Reset()
}

func (r *rawRows) add(e *events.Event, seq uint64, received time.Time) {
	r.ID = append(r.ID, e.ID)
	r.Type = append(r.Type, e.Type)
	r.V = append(r.V, uint8(e.V))
	r.Agency = append(r.Agency, e.Agency)
	r.OccurredAt = append(r.OccurredAt, e.OccurredAt)
	r.Supersedes = append(r.Supersedes, e.Supersedes)
	var retraction uint8
	if e.Retraction() {
		retraction = 1
	}
	r.Retraction = append(r.Retraction, retraction)
	// The string shares e.Data's bytes, which Decode copied for the event
	// and nothing writes after: no copy per row.
	r.Data = append(r.Data, unsafe.String(unsafe.SliceData(e.Data), len(e.Data)))
	r.Seq = append(r.Seq, seq)
	r.ReceivedAt = append(r.ReceivedAt, received)
	r.sum += seq % seqModulus
}

// prepared is a batch cut, checked and folded by the reader, ready for the
// writer: its dead letters in flight, its raw rows, and its cells with the
// commit marker that moves the position from prev to next.
type prepared struct {
	msgs        int           // messages taken from the consumer
	ack         jetstream.Msg // the last message taken: acked (AckAll) after the commit
	last        uint64        // last stream sequence folded; 0: only redeliveries, nothing to write
	dlq         []jetstream.PubAckFuture
	raw         rawRows
	index       *indexColumns
	drill       *chdb.DrillColumns
	cells       cellColumns
	prev, next  position
	applied     int
	duplicates  int
	redelivered int
	refused     map[events.Reason]int
}

// The columns of a batch are megabytes, made for every batch of 5,000
// events: the writer hands a written batch back (recycle) and the reader
// fills its columns again, emptied, instead of making new ones (docs/
// performance.md, "The projector's heap, third pass"). At most spareBatches
// wait; the others are left to the garbage collector.
const spareBatches = 2

// newPrepared returns an empty batch that continues at pos, with the
// columns of a written batch when one was handed back.
func (p *Projector) newPrepared(pos position) *prepared {
	select {
	case b := <-p.spares:
		*b = prepared{prev: pos, raw: b.raw, index: b.index, drill: b.drill, cells: b.cells}
		return b
	default:
		return &prepared{prev: pos}
	}
}

// recycle hands a written batch's columns back for a later batch, once
// nothing reads them any more: the inserts and the store's write copied
// them. Their strings are dropped (they hold the events' bytes).
func (p *Projector) recycle(b *prepared) {
	b.raw.Reset()
	if b.index != nil {
		b.index.clear()
	}
	if b.drill != nil {
		b.drill.Reset()
	}
	if b.cells.RollupColumns != nil {
		b.cells.Reset()
	}
	b.ack, b.dlq, b.refused = nil, nil, nil
	select {
	case p.spares <- b:
	default:
	}
}

// prepare checks and folds one batch that continues at pos (its messages
// before checkedTo were checked by checkFrom while it was cut), and commits its
// fold transaction in memory at once: the writer writes it, or the state is
// reloaded (see consume). It returns a nil batch with the error when nothing
// can be written; a batch and errGap when a message was not delivered (the
// batch stops before it).
func (p *Projector) prepare(ctx context.Context, batch []jetstream.Msg, checkedTo int, pos position) (*prepared, error) {
	b := p.newPrepared(pos)
	b.raw.grow(len(batch))
	var gap error
	var lastMsg jetstream.Msg // the message at b.last
	want := pos.seq + 1       // the sequence the batch must continue with
	checked := p.checkFrom(batch, checkedTo)
	defer clear(checked) // the reader's, for the next batch: let the events go
	valid := p.valid[:0]
	for i := range checked {
		if checked[i].e != nil {
			valid = append(valid, checked[i].e)
		}
	}
	p.valid = valid
	defer clear(valid)
	if err := p.provide(valid); err != nil {
		return nil, err
	}
	txn := p.state.Begin()
	for i, msg := range batch {
		meta, err := checked[i].meta, checked[i].metaErr
		if err != nil {
			return nil, fmt.Errorf("message metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq < want {
			b.redelivered++
			continue
		}
		if seq > want {
			missed, err := p.lost(ctx, want, seq)
			if err != nil {
				return nil, err
			}
			if missed != 0 {
				p.log.Info("message not delivered; committing up to it, then refetching", "seq", missed, "got", seq)
				gap = fmt.Errorf("%w: seq %d not delivered, got %d", errGap, missed, seq)
				batch = batch[:i]
				break
			}
		}
		b.last, want, lastMsg = seq, seq+1, msg
		e, err := checked[i].e, checked[i].err
		if err != nil {
			if err := p.refuse(b, msg, meta, err); err != nil {
				return nil, err
			}
			continue
		}
		if txn.ApplyAt(e, seq) == fold.Applied {
			b.raw.add(e, seq, meta.Timestamp)
		}
	}
	if len(batch) == 0 {
		return nil, gap
	}
	b.msgs, b.ack = len(batch), batch[len(batch)-1]
	if b.last == 0 {
		if gap != nil {
			return nil, gap
		}
		return b, nil // only redeliveries of committed messages: ack them again
	}
	p.complete(b, txn, lastMsg)
	return b, gap
}

// refuse counts a refused message of b and dead-letters it, unless it was
// dead-lettered before (a redelivery after a failed write) or dead letters
// are off.
func (p *Projector) refuse(b *prepared, msg jetstream.Msg, meta *jetstream.MsgMetadata, why error) error {
	reason := reasonOf(why)
	if b.refused == nil {
		b.refused = map[events.Reason]int{}
	}
	b.refused[reason]++
	if _, done := p.lettered[meta.Sequence.Stream]; done || p.cfg.NoDeadLetter {
		return nil
	}
	f, err := p.deadLetter(msg, meta, why, reason)
	if err != nil {
		return err
	}
	b.dlq = append(b.dlq, f)
	return nil
}

// complete gives b the rows txn wrote (index rows, cells) and the commit
// marker that moves the position from b.prev to b.next (lastMsg is the
// message at b.last), then commits txn in memory.
func (p *Projector) complete(b *prepared, txn *fold.Txn, lastMsg jetstream.Msg) {
	pos := b.prev
	b.index = fillIndexColumns(b.index, txn.Index())
	b.next = position{
		seq: b.last, rows: pos.rows + uint64(b.raw.Len()), sum: pos.sum + b.raw.sum,
		idxRows: pos.idxRows + uint64(b.index.rows()), idxSum: pos.idxSum + b.index.sum,
		indexed: pos.indexed + uint64(b.raw.Len()),
		hash:    msgHash(lastMsg.Subject(), lastMsg.Data()), hashSeq: b.last,
	}
	rows := txn.Rows()
	b.cells = b.cells.reuse(len(rows) + markerRows)
	for _, r := range rows {
		b.cells.add(r)
	}
	b.cells.marker(p.cfg.Stream, p.lease.token(), b.prev, b.next)
	b.drill = fillDrillColumns(b.drill, txn.Links(), b.last, b.prev.seq)
	b.applied, b.duplicates = txn.Applied(), txn.Duplicates()
	txn.Commit()
	p.stateMetrics()
	for s := range p.lettered {
		if s <= b.last {
			delete(p.lettered, s)
		}
	}
}

// checked is a message's metadata and its event, or why it is invalid.
type checked struct {
	meta    *jetstream.MsgMetadata
	metaErr error
	e       *events.Event
	err     error
}

// checkFrom reads the metadata of the messages of a batch from index from
// on and decodes and checks their events, on GOMAXPROCS goroutines: this
// is most of the reader's work, and the messages are independent. Then it
// lets go of the messages that prepare will not read again (release).
// The reader calls it on every checkChunk messages while it cuts the
// batch, and prepare on the rest. Messages after a gap are checked for
// nothing, which is rare.
// The slice is the reader's, reused by the next batch.
func (p *Projector) checkFrom(batch []jetstream.Msg, from int) []checked {
	if cap(p.checked) < len(batch) {
		grown := make([]checked, len(batch), max(len(batch), p.cfg.BatchMax))
		copy(grown, p.checked[:from])
		p.checked = grown
	}
	out := p.checked[:len(batch)]
	work := func(from, to int) {
		for i := from; i < to; i++ {
			c := &out[i]
			if c.meta, c.metaErr = batch[i].Metadata(); c.metaErr == nil {
				c.e, c.err = p.check(batch[i], c.meta)
			}
		}
	}
	n := len(batch) - from
	if workers := min(runtime.GOMAXPROCS(0), n/minPerWorker); workers <= 1 {
		work(from, len(batch))
	} else {
		var wg sync.WaitGroup
		per := (n + workers - 1) / workers
		for lo := from; lo < len(batch); lo += per {
			hi := min(lo+per, len(batch))
			wg.Go(func() { work(lo, hi) })
		}
		wg.Wait()
	}
	release(batch, out, max(from-1, 0))
	return out
}

// checkChunk is how many messages the reader takes before it checks them
// and lets most of them go, while it cuts the rest of the batch: a batch's
// messages, each with its copy of the data and its map of headers, were
// about a sixth of the projector's live heap when they were held until
// the whole batch was cut and checked (docs/performance.md, "The
// projector's live heap").
const checkChunk = 1000

// release lets go of the checked messages of batch from index from on,
// but the last checked one, that prepare will not read again. It keeps a
// refused message (its dead letter copies it) and every message not
// followed by the next sequence: prepare acks the last message of the
// batch, or the one before a gap (it cuts the batch there), and hashes
// the message at the batch's last sequence into the commit marker, which
// is followed by a redelivery, a gap or nothing. The decision for a
// message needs the next one checked: the last checked one waits for the
// next call.
func release(batch []jetstream.Msg, checked []checked, from int) {
	for i := from; i < len(checked)-1; i++ {
		c, next := &checked[i], &checked[i+1]
		if c.metaErr != nil || next.metaErr != nil || c.err != nil || next.meta.Sequence.Stream != c.meta.Sequence.Stream+1 {
			continue
		}
		batch[i] = nil
	}
}

// minPerWorker is the fewest messages worth a goroutine in checkFrom.
const minPerWorker = 500

// write commits one prepared batch to ClickHouse (dead letters first, then
// raw rows, index rows, drill rows, latest events, then cells and marker
// in one insert)
// and acks it. On error nothing is acked.
func (p *Projector) write(ctx context.Context, b *prepared) error {
	if b.last != 0 {
		if err := p.fence(fmt.Sprintf("batch up to seq %d", b.last)); err != nil {
			return err
		}
		start := time.Now()
		for _, f := range b.dlq {
			if err := p.awaitPubAck(ctx, f); err != nil {
				return err
			}
		}
		// The rows of cds.event_lasts are made here from the raw rows,
		// in the writer's one set of them (lasts.go), then the raw rows
		// are let go once sent, not when the batch ends.
		fillLasts(&p.lasts, &b.raw.EventColumns, b.last)
		if err := p.insertRaw(ctx, &b.raw, b.last); err != nil {
			return err
		}
		b.raw.Reset()
		if err := p.insertIndex(ctx, b.index, b.last); err != nil {
			return err
		}
		if err := p.insertDrill(ctx, b.drill, b.last); err != nil {
			return err
		}
		if err := p.insertLasts(ctx, &p.lasts, b.last); err != nil {
			return err
		}
		p.lasts.Reset()
		// The commit: fenced again, the raw rows may have taken a while.
		if err := p.fence(fmt.Sprintf("the commit of seq %d", b.last)); err != nil {
			return err
		}
		if err := p.sendCells(ctx, b.cells, b.last); err != nil {
			return err
		}
		p.m.writeTime.Observe(time.Since(start).Seconds())
		p.setPos(b.next)
		// The local store follows the commit, never precedes it: if this
		// write fails, the store is behind and recovery adds the batch
		// from cds.fold_index (syncStore).
		if err := p.store.Write(storeMark(b.prev), storeMark(b.next), b.index.lookup, b.index.val); err != nil {
			return err
		}
		p.balanceHeap()
		if err := p.db.PruneDrillLog(ctx, b.drill); err != nil {
			p.log.Warn("cds.drill_log's old ranges not dropped: the next commit that enters a range drops them", "err", err, "seq", b.last)
		}
		deadLtr := 0
		for r, n := range b.refused {
			p.m.deadLetters.WithLabelValues(string(r)).Add(float64(n))
			deadLtr += n
		}
		p.m.batches.Inc()
		p.m.batchSize.Observe(float64(b.msgs))
		p.m.lastCommit.SetToCurrentTime()
		p.m.events.WithLabelValues("applied").Add(float64(b.applied))
		p.m.events.WithLabelValues("duplicate").Add(float64(b.duplicates))
		p.m.events.WithLabelValues("dead_letter").Add(float64(deadLtr))
		p.log.Debug("batch committed", "batch", b.msgs, "seq", b.last, "applied", b.applied, "duplicates", b.duplicates, "dead_letter", deadLtr)
	}
	p.m.events.WithLabelValues("redelivered").Add(float64(b.redelivered))
	// AckAll: acking the last message acks the batch. The server confirms
	// it, so that a shutdown right after has acked what it wrote. A lost ack
	// only causes a redelivery, which is skipped because it is at or below
	// the watermark.
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.ack.DoubleAck(actx); err != nil {
		p.log.Warn("ack after commit failed; the batch will be redelivered and skipped", "err", err, "seq", b.last)
	}
	return nil
}

// errGap is returned by commit when a message of the stream was not
// delivered (lost in a reconnect, or dropped by a slow subscription): the
// batch was committed up to the gap, and the consumer must be recreated just
// after the watermark. Acking past the gap (AckAll) would lose the message.
var errGap = errors.New("gap in the delivered sequence")

// lost returns the first sequence from next on, below got, of an event
// message that the stream holds but the consumer did not deliver, or 0 when
// there is none (a hole without a message: none is ever deleted from
// CDS_EVENTS, but a stream with limits could lose its oldest).
func (p *Projector) lost(ctx context.Context, next, got uint64) (uint64, error) {
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("check delivery gap: %w", err)
	}
	m, err := s.GetMsg(ctx, next, jetstream.WithGetMsgSubject(events.SubjectPrefix+">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("check delivery gap: %w", err)
	}
	if m.Sequence >= got {
		return 0, nil
	}
	return m.Sequence, nil
}

// check decodes and validates one message. The time reference for "far in
// the future" is when the stream stored the message, so a replay decides the
// same way.
func (p *Projector) check(msg jetstream.Msg, meta *jetstream.MsgMetadata) (*events.Event, error) {
	rules := events.Rules{Now: func() time.Time { return meta.Timestamp }, MaxFuture: p.cfg.MaxFuture, Units: p.units}
	return rules.CheckMessage(msg.Subject(), msg.Data())
}

// insertRaw writes the raw rows of a batch. The insert may span partitions
// and half-succeed: recovery deletes rows above the watermark.
func (p *Projector) insertRaw(ctx context.Context, r *rawRows, last uint64) error {
	if r.Len() == 0 {
		return nil
	}
	if err := p.db.InsertEvents(ctx, p.qid.next("events", last), &r.EventColumns); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// cellColumns holds cds.rollup columns, appended column-wise.
type cellColumns struct{ *chdb.RollupColumns }

func newCellColumns(n int) cellColumns { return cellColumns{chdb.NewRollupColumns(n)} }

// reuse returns c emptied when it has room for n rows, else new columns.
func (c cellColumns) reuse(n int) cellColumns {
	r := c.RollupColumns
	if r == nil || cap(r.Indicator) < n {
		return newCellColumns(n + n/4)
	}
	r.Reset()
	return c
}

func (c cellColumns) add(r fold.Row) {
	c.Add(r.Indicator, r.Unit, r.Period, r.Dim, fold.DayTime(r.Day), r.Amount)
}

// marker appends the commit-marker rows that move the position from prev
// to next: they add the differences, since SummingMergeTree sums the rows.
// The row of unit stream holds the sequence (n) and the fingerprint of
// cds.events; the row of unit stream + chdb.MarkerIndexSuffix the fingerprint of
// cds.fold_index, with n = 0 so that sum(n) over all marker rows stays the
// sequence; the row of stream + chdb.MarkerLastSuffix the hash of the message at
// the sequence (num) and that sequence (den); the row of stream + chdb.MarkerLeaseSuffix counts one commit of
// the lease token tok (see seal).
func (c cellColumns) marker(stream, tok string, prev, next position) {
	c.add(fold.Row{
		Cell: fold.Cell{Indicator: chdb.MarkerIndicator, Unit: stream},
		Amount: events.Amount{
			N:   int64(next.seq) - int64(prev.seq),
			Num: float64(next.rows) - float64(prev.rows),
			Den: float64(next.sum) - float64(prev.sum),
		},
	})
	c.add(fold.Row{
		Cell: fold.Cell{Indicator: chdb.MarkerIndicator, Unit: stream + chdb.MarkerIndexSuffix},
		Amount: events.Amount{
			Num: float64(next.idxRows) - float64(prev.idxRows),
			Den: float64(next.idxSum) - float64(prev.idxSum),
		},
	})
	// The raw rows again, counted only by binaries that write the index: a
	// batch committed by an older cds (no index rows) leaves this sum below
	// the raw-row count.
	c.add(fold.Row{
		Cell:   fold.Cell{Indicator: chdb.MarkerIndicator, Unit: stream + chdb.MarkerIndexSuffix, Dim: chdb.MarkerIndexedEventsDim},
		Amount: events.Amount{Num: float64(next.rows) - float64(prev.rows)},
	})
	c.add(fold.Row{
		Cell:   fold.Cell{Indicator: chdb.MarkerIndicator, Unit: stream + chdb.MarkerLastSuffix},
		Amount: events.Amount{Num: float64(next.hash) - float64(prev.hash), Den: float64(next.hashSeq) - float64(prev.hashSeq)},
	})
	c.add(fold.Row{
		Cell:   fold.Cell{Indicator: chdb.MarkerIndicator, Unit: stream + chdb.MarkerLeaseSuffix, Dim: tok},
		Amount: events.Amount{Num: 1},
	})
}

// markerRows is the number of rows marker appends.
const markerRows = 5

func (p *Projector) sendCells(ctx context.Context, c cellColumns, seq uint64) error {
	if err := p.db.InsertRollup(ctx, p.qid.next("rollup", seq), c.RollupColumns); err != nil {
		return fmt.Errorf("insert rollup: %w", err)
	}
	return nil
}
