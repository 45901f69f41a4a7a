package projector

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/deadletter"
)

// deadLetter publishes the dead letter of msg. It returns the future of the
// publish; the batch commits only once it is acknowledged.
func (p *Projector) deadLetter(msg jetstream.Msg, meta *jetstream.MsgMetadata, cause error, reason events.Reason) (jetstream.PubAckFuture, error) {
	why := deadletter.Cause{Reason: string(reason), Err: cause}
	var ee *events.Error
	if errors.As(cause, &ee) {
		why.Field = ee.Field
	}
	out := deadletter.New(msg.Data(), deadletter.Origin{
		Subject:  msg.Subject(),
		Header:   msg.Headers(),
		Stream:   p.cfg.Stream,
		Seq:      meta.Sequence.Stream,
		Received: meta.Timestamp,
	}, why)
	f, err := p.js.PublishMsgAsync(out)
	if err != nil {
		return nil, fmt.Errorf("dead-letter seq %d: %w", meta.Sequence.Stream, err)
	}
	p.log.Info("event dead-lettered", "seq", meta.Sequence.Stream, "subject", msg.Subject(), "reason", reason, "err", cause)
	return f, nil
}

// reasonOf classifies why check refused an event.
func reasonOf(err error) events.Reason {
	if r := events.ReasonOf(err); r != "" {
		return r
	}
	return events.ReasonMalformed
}

// loadLettered finds the stream sequences above seq that CDS_DLQ already
// holds a dead letter for, so that a batch redone after a crash, or refolded
// by a rebuild, does not dead-letter an event twice whatever the duplicate
// window of CDS_DLQ. The projector dead-letters in stream order, so CDS_DLQ
// is read backwards from its end until a dead letter at or below seq.
func (p *Projector) loadLettered(ctx context.Context, seq uint64) error {
	p.lettered = make(map[uint64]struct{})
	if p.cfg.NoDeadLetter {
		return nil
	}
	dlq, err := p.js.Stream(ctx, deadletter.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	state := dlq.CachedInfo().State
	if state.Msgs == 0 {
		return nil
	}
	for s := state.LastSeq; s >= state.FirstSeq && s > 0; s-- {
		m, err := dlq.GetMsg(ctx, s)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted by an operator
		}
		if err != nil {
			return fmt.Errorf("dead-letter stream: seq %d: %w", s, err)
		}
		if src := m.Header.Get(deadletter.HeaderStream); src != "" && src != p.cfg.Stream {
			continue
		}
		at, err := strconv.ParseUint(m.Header.Get(deadletter.HeaderStreamSeq), 10, 64)
		if err != nil {
			continue
		}
		if at <= seq {
			break
		}
		p.lettered[at] = struct{}{}
	}
	if len(p.lettered) > 0 {
		p.log.Info("dead letters above the watermark already published", "count", len(p.lettered), "seq", seq)
	}
	return nil
}
