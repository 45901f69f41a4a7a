package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Store reads and replays the dead letters of CDS_DLQ.
type Store struct {
	js  jetstream.JetStream
	dlq jetstream.Stream
}

// Open returns the Store of the CDS_DLQ stream reachable through js.
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	s, err := js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("deadletter: stream %s: %w", Stream, err)
	}
	return &Store{js: js, dlq: s}, nil
}

// Selection chooses dead letters. Zero fields do not restrict: the zero
// Selection is every dead letter.
type Selection struct {
	From, To uint64 // CDS_DLQ sequences, inclusive; To 0 = up to the last
	Reason   string // one reason, e.g. unknown_agency
}

// Seq selects the one dead letter at CDS_DLQ sequence seq.
func Seq(seq uint64) Selection { return Selection{From: seq, To: seq} }

// Each calls f with every selected dead letter in CDS_DLQ order, up to the
// last one stored when Each began, until f returns false or an error. A
// message of CDS_DLQ that is not a dead letter is skipped.
func (s *Store) Each(ctx context.Context, sel Selection, f func(*Letter) (bool, error)) error {
	info, err := s.dlq.Info(ctx)
	if err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	last := info.State.LastSeq
	if sel.To != 0 && sel.To < last {
		last = sel.To
	}
	seq := max(sel.From, info.State.FirstSeq, 1)
	for seq <= last {
		// Every reason's subjects: a reason is on cds.dlq.<reason>.<agency>
		// and, from older builds, on cds.dlq.<reason>; it is checked below.
		m, err := s.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(SubjectPrefix+">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deadletter: read %s from seq %d: %w", Stream, seq, err)
		}
		if m.Sequence > last {
			return nil
		}
		seq = m.Sequence + 1
		l, err := Parse(m)
		if errors.Is(err, ErrNotDeadLetter) {
			continue
		}
		if err != nil {
			return err
		}
		if sel.Reason != "" && l.Reason != sel.Reason {
			continue
		}
		more, err := f(l)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// List returns the selected dead letters, at most limit of them (0: all).
func (s *Store) List(ctx context.Context, sel Selection, limit int) ([]*Letter, error) {
	var out []*Letter
	err := s.Each(ctx, sel, func(l *Letter) (bool, error) {
		out = append(out, l)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// ErrNotFound is returned by Get when CDS_DLQ holds no dead letter at a sequence.
var ErrNotFound = errors.New("deadletter: no dead letter at that sequence")

// Get returns the dead letter at CDS_DLQ sequence seq.
func (s *Store) Get(ctx context.Context, seq uint64) (*Letter, error) {
	m, err := s.dlq.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("deadletter: get %d: %w", seq, err)
	}
	l, err := Parse(m)
	if errors.Is(err, ErrNotDeadLetter) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, seq)
	}
	return l, err
}

// Outcome is what Replay did with one dead letter.
type Outcome string

// Outcomes of a replay.
const (
	// Published: the event is in the log again, at Result.StreamSeq; the
	// projector folds it (or dead-letters it again).
	Published Outcome = "published"
	// Duplicate: the log already holds an event with this id inside its
	// duplicate window, at Result.StreamSeq; nothing was published. Once
	// folded, an id is never counted twice, so there is nothing to do.
	Duplicate Outcome = "duplicate"
	// Held: the log still remembers this id from the refused original
	// itself (the duplicate window has not passed): nothing was published;
	// replay again after Result.RetryAfter.
	Held Outcome = "held"
	// StillInvalid: checked against the current registry the event is still
	// refused (Result.Detail); nothing was published. ReplayOptions.Force
	// publishes it anyway.
	StillInvalid Outcome = "still_invalid"
	// WouldPublish: a dry run found the event valid now.
	WouldPublish Outcome = "would_publish"
	// Failed: publishing failed (Result.Detail).
	Failed Outcome = "failed"
)

// Result reports the replay of one dead letter.
type Result struct {
	Letter     *Letter
	Outcome    Outcome
	StreamSeq  uint64    // Published: the new sequence; Duplicate/Held: the one already there
	RetryAfter time.Time // Held: when the duplicate window has passed
	Detail     string
}

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// Check validates an event as the projector would now (registry, clock);
	// nil skips the check. A dead letter that fails it is not published
	// unless Force is set.
	Check func(subject string, data []byte) error
	Force bool
	// DryRun checks and reports without publishing.
	DryRun bool
	// DuplicateWindow of the event log, to report when a Held event can be
	// replayed; 0 leaves Result.RetryAfter zero.
	DuplicateWindow time.Duration
}

// Replay republishes the selected dead letters, in CDS_DLQ order, to their
// original subject with their original bytes and headers, Nats-Msg-Id set to
// the event id (so that a replay repeated, or racing the agency's own resend,
// stores the event once) and Cds-Replay-Of set to the dead letter's sequence.
// Dead letters stay in CDS_DLQ. The publisher must be allowed to publish on
// cds.events.> (the admin user). Replay stops at the first error that is not
// about one event, with the results so far.
func (s *Store) Replay(ctx context.Context, sel Selection, opts ReplayOptions) ([]Result, error) {
	var out []Result
	err := s.Each(ctx, sel, func(l *Letter) (bool, error) {
		r, err := s.replayOne(ctx, l, opts)
		if err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

func (s *Store) replayOne(ctx context.Context, l *Letter, opts ReplayOptions) (Result, error) {
	r := Result{Letter: l}
	if opts.Check != nil {
		if err := opts.Check(l.Subject, l.Data); err != nil && !opts.Force {
			r.Outcome, r.Detail = StillInvalid, err.Error()
			return r, nil
		}
	}
	if opts.DryRun {
		r.Outcome = WouldPublish
		return r, nil
	}
	m := nats.NewMsg(l.Subject)
	m.Data = l.Data
	for k, vs := range l.OriginalHeader() {
		m.Header[k] = vs
	}
	if l.ID != "" {
		m.Header.Set(jetstream.MsgIDHeader, l.ID)
	}
	m.Header.Set(HeaderReplayOf, strconv.FormatUint(l.Seq, 10))
	ack, err := s.js.PublishMsg(ctx, m)
	switch {
	case ctx.Err() != nil:
		return r, ctx.Err()
	case err != nil:
		r.Outcome, r.Detail = Failed, err.Error()
		return r, nil
	case ack.Duplicate && ack.Sequence == l.StreamSeq:
		r.Outcome, r.StreamSeq = Held, ack.Sequence
		if opts.DuplicateWindow > 0 && !l.Received.IsZero() {
			r.RetryAfter = l.Received.Add(opts.DuplicateWindow)
		}
	case ack.Duplicate:
		r.Outcome, r.StreamSeq = Duplicate, ack.Sequence
	default:
		r.Outcome, r.StreamSeq = Published, ack.Sequence
	}
	return r, nil
}
