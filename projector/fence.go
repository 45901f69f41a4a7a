package projector

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
)

// ErrDiverged is returned (wrapped) by Run when the event log no longer
// holds what ClickHouse folded: the JetStream store was lost, replaced or
// restored from an older copy. The projector deletes nothing then; the
// operator chooses (docs/projector.md, "The log and ClickHouse diverged").
var ErrDiverged = errors.New("projector: the event log and ClickHouse diverged")

// ErrPermanent is returned (wrapped) by Run for a failure that retrying
// cannot cure: the NATS connection closed for good, the stream deleted,
// ClickHouse refusing the credentials or missing the schema.
var ErrPermanent = errors.New("projector: cannot go on")

// errRecover makes the active projector run recovery again: a fenced-out
// projector's late commit, or a NATS reconnect after which the log must be
// verified again.
var errRecover = errors.New("projector: recovery needed")

// hashBits keeps msgHash exact in the Float64 marker column, and the
// difference of two hashes too.
const hashBits = 48

// msgHash identifies a message of the log by its subject and bytes; never 0.
func msgHash(subject string, data []byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(data)
	v := h.Sum64() & (1<<hashBits - 1)
	if v == 0 {
		v = 1
	}
	return v
}

// fence returns ErrLeaseLost unless this projector holds the lease with
// margin: it precedes every write to ClickHouse.
func (p *Projector) fence(what string) error {
	if p.lease == nil {
		return fmt.Errorf("%w: not writing %s: no lease taken", ErrLeaseLost, what)
	}
	return p.lease.fence(what)
}

// tokenSums returns the commits counted by the marker rows of each lease
// token, for the tokens whose count is not zero.
func (p *Projector) tokenSums(ctx context.Context) (map[string]float64, error) {
	return p.db.LeaseSums(ctx, p.cfg.Stream)
}

// seal makes the commit count of every earlier lease holder zero, once per
// lease taken: the markers of the holders this one took over from (the
// lease value lists them) are history, and one insert cancels their
// counts. From then on, a count of another token that is not zero is a
// batch that a projector which had lost the lease committed late; seal
// returns that token (and checkFenced finds it while running).
func (p *Projector) seal(ctx context.Context) (late string, err error) {
	sums, err := p.tokenSums(ctx)
	if err != nil {
		return "", err
	}
	mine := p.lease.token()
	var unsealed []string
	if !p.sealedOnce.Load() {
		unsealed = p.lease.unsealed()
	}
	cols := newCellColumns(len(sums))
	for tok, n := range sums {
		switch {
		case tok == mine:
		case slices.Contains(unsealed, tok) || (!p.sealedOnce.Load() && p.lease.unknownHistory()):
			cols.add(fold.Row{Cell: fold.Cell{Indicator: chdb.MarkerIndicator, Unit: p.cfg.Stream + chdb.MarkerLeaseSuffix, Dim: tok}, Amount: events.Amount{Num: -n}})
		default:
			return tok, nil
		}
	}
	if cols.Len() > 0 {
		if err := p.fence("the seal of earlier lease holders"); err != nil {
			return "", err
		}
		if err := p.sendCells(ctx, cols, p.Watermark()); err != nil {
			return "", fmt.Errorf("seal earlier lease holders: %w", err)
		}
	}
	p.sealedOnce.Store(true)
	p.lease.sealed()
	return "", nil
}

// checkFenced runs after each lease renewal: it asks for a recovery when a
// fenced-out projector's commit landed, or when the NATS connection
// reconnected (the server may have come back with another store).
func (p *Projector) checkFenced(ctx context.Context) error {
	if nc := p.js.Conn(); nc != nil {
		if r := nc.Stats().Reconnects; r != p.reconnects.Load() {
			p.reconnects.Store(r)
			return fmt.Errorf("%w: NATS reconnected", errRecover)
		}
	}
	if !p.sealedOnce.Load() {
		return nil
	}
	sums, err := p.tokenSums(ctx)
	if err != nil {
		return nil // ClickHouse trouble shows in the writer
	}
	mine := p.lease.token()
	for tok := range sums {
		if tok != mine {
			return fmt.Errorf("%w: a late commit of lease token %s", errRecover, tok)
		}
	}
	return nil
}

// verifyLog checks that the stream still holds what ClickHouse folded up to
// pos: a log at least as long, starting at or before pos.seq+1, whose
// message at pos.seq is the one folded (same subject and bytes). Anything
// else is ErrDiverged: the projector stops and deletes nothing.
func (p *Projector) verifyLog(ctx context.Context, pos position) error {
	if pos.seq == 0 {
		return nil
	}
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return p.diverged(pos, "stream %s does not exist", p.cfg.Stream)
		}
		return fmt.Errorf("stream %s: %w", p.cfg.Stream, err)
	}
	st := s.CachedInfo().State
	if st.LastSeq < pos.seq {
		if err := p.confirmBehind(ctx, pos.seq); err != nil {
			return err
		}
		return p.diverged(pos, "the log ends at seq %d (%d messages, created %s)", st.LastSeq, st.Msgs, s.CachedInfo().Created.Format("2006-01-02T15:04:05Z07:00"))
	}
	if st.FirstSeq > pos.seq+1 {
		return p.diverged(pos, "the log starts at seq %d: seqs %d to %d, not yet folded, are gone", st.FirstSeq, pos.seq+1, st.FirstSeq-1)
	}
	if pos.hash == 0 || pos.hashSeq != pos.seq {
		return nil // the last batch was committed by a cds that did not record it
	}
	m, err := s.GetMsg(ctx, pos.seq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return p.diverged(pos, "the log has no message at seq %d", pos.seq)
	case err != nil:
		return fmt.Errorf("stream %s: seq %d: %w", p.cfg.Stream, pos.seq, err)
	}
	if got := msgHash(m.Subject, m.Data); got != pos.hash {
		return p.diverged(pos, "the message at seq %d (%s) is not the one folded (hash %x, folded %x): the log was replaced", pos.seq, m.Subject, got, pos.hash)
	}
	return nil
}

// diverged sets the metric and returns ErrDiverged with what differs and
// the operator's choices, for the one ERROR line the process exits with.
func (p *Projector) diverged(pos position, format string, args ...any) error {
	p.m.diverged.Set(1)
	return fmt.Errorf("%w: %s; ClickHouse folded stream %s up to seq %d (%d raw events). Nothing was deleted. "+
		"Either restore the JetStream store that holds those events and start again, "+
		"or publish ClickHouse's events into the new log with cds republish, then cds rebuild, "+
		"or accept the log as it is with cds rebuild (ClickHouse's events missing from it are then lost): see docs/projector.md",
		ErrDiverged, fmt.Sprintf(format, args...), p.cfg.Stream, pos.seq, pos.rows)
}

// permanentCodes are ClickHouse error codes that retrying cannot cure:
// missing schema, unknown user, wrong password, access denied, read only.
var permanentCodes = []int32{16, 47, 60, 81, 164, 192, 193, 497, 516}

// permanent returns err wrapped in ErrPermanent when retrying cannot cure it.
func (p *Projector) permanent(err error) error {
	if nc := p.js.Conn(); nc != nil && nc.IsClosed() {
		return fmt.Errorf("%w: the NATS connection is closed: %v", ErrPermanent, err)
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && slices.Contains(permanentCodes, ex.Code) {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) && p.Watermark() > 0 {
		// With something folded, recovery's log check calls a missing
		// stream ErrDiverged first; before anything is folded, the stream
		// may not be placed yet (a NATS cluster forming): retried.
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return nil
}
