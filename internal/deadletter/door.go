package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of the dead letters of events refused at the door (RefusedAtDoor).
const (
	// HeaderSource says where an event was refused: SourceHTTP (ingest),
	// SourceNATS (the NATS gate); absent on the projector's dead letters.
	HeaderSource = "Cds-Source"
	// HeaderSender is the agency that sent the event (its token or NATS
	// user), which may differ from the agency the event names.
	HeaderSender = "Cds-Sender"
	// HeaderTruncated, when present, is the length of an event longer than
	// MaxKeptBytes, of which only the first MaxKeptBytes are kept.
	HeaderTruncated = "Cds-Truncated"
)

// MaxKeptBytes bounds the bytes a door refusal keeps of its event (the
// largest valid event, docs/integrators.md), so that CDS_DLQ's per-subject
// limit bounds its size too.
const MaxKeptBytes = 64 << 10

// Sources of door refusals.
const (
	SourceHTTP = "http"
	SourceNATS = "nats"
)

// Door says where an event refused before the log came from.
type Door struct {
	Source  string      // SourceHTTP or SourceNATS
	Sender  string      // the sending agency: the dead letter is filed under it
	Subject string      // the event subject, "" when unknown (HTTP: the body did not decode)
	Header  nats.Header // original headers, may be nil
	At      time.Time   // when it was refused
}

// RefusedAtDoor builds the dead letter of an event refused before the event
// log stored it (so its id stays free for the corrected event): the original
// bytes on cds.dlq.<reason>.<sender>, with the headers of the package doc
// except Cds-Stream and Cds-Stream-Seq (there is no log position), plus
// Cds-Source and Cds-Sender. Cds-Received-At is when it was refused. It has
// no Nats-Msg-Id: every refusal is kept, within CDS_DLQ's limit per subject.
// Of an event above MaxKeptBytes it keeps the first MaxKeptBytes, and
// Cds-Truncated says how long it was.
func RefusedAtDoor(data []byte, from Door, why Cause) *nats.Msg {
	kept := data
	if len(data) > MaxKeptBytes {
		kept = data[:MaxKeptBytes]
	}
	out := letter(SubjectPrefix+why.Reason+"."+subjectToken(from.Sender), kept, from.Header, why)
	if len(data) > MaxKeptBytes {
		out.Header.Set(HeaderTruncated, strconv.Itoa(len(data)))
	}
	subject := from.Subject
	if subject == "" {
		subject = "cds.events." + subjectToken(from.Sender)
	}
	out.Header.Set(HeaderSubject, subject)
	out.Header.Set(HeaderSource, from.Source)
	out.Header.Set(HeaderSender, from.Sender)
	out.Header.Set(HeaderReceived, from.At.UTC().Format(time.RFC3339Nano))
	return out
}

// subjectToken returns s if it is one token of a subject, else "_".
func subjectToken(s string) string {
	if s == "" || strings.ContainsAny(s, ".*> \t\r\n") {
		return "_"
	}
	return s
}

// Filter chooses dead letters by the agency of their subject
// (cds.dlq.<reason>.<agency>) and by reason; "" does not restrict.
type Filter struct {
	Agency string
	Reason string
}

// subject is the CDS_DLQ subject filter of f.
func (f Filter) subject() string {
	if f.Agency == "" && f.Reason == "" {
		return SubjectPrefix + ">"
	}
	r, a := "*", "*"
	if f.Reason != "" {
		r = subjectToken(f.Reason)
	}
	if f.Agency != "" {
		a = subjectToken(f.Agency)
	}
	return SubjectPrefix + r + "." + a
}

// Newest returns up to limit dead letters of f stored before CDS_DLQ
// sequence before (0: up to the last), newest first. It reads backwards in
// spans that double, each span forwards with the subject filter, so it
// costs about one read per letter returned rather than one per letter of
// the stream.
func (s *Store) Newest(ctx context.Context, f Filter, before uint64, limit int) ([]*Letter, error) {
	if limit <= 0 {
		return nil, nil
	}
	info, err := s.dlq.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	first := max(info.State.FirstSeq, 1)
	hi := info.State.LastSeq + 1 // exclusive
	if before != 0 && before < hi {
		hi = before
	}
	filter := f.subject()
	var out []*Letter
	span := uint64(4 * limit)
	for hi > first && len(out) < limit {
		lo := first
		if hi-first > span {
			lo = hi - span
		}
		var chunk []*Letter
		for seq := lo; seq < hi; {
			m, err := s.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("deadletter: read %s from seq %d: %w", Stream, seq, err)
			}
			if m.Sequence >= hi {
				break
			}
			seq = m.Sequence + 1
			l, err := Parse(m)
			if errors.Is(err, ErrNotDeadLetter) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if f.Reason != "" && l.Reason != f.Reason {
				continue
			}
			chunk = append(chunk, l)
		}
		for i := len(chunk) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, chunk[i])
		}
		hi = lo
		span *= 2
	}
	return out, nil
}

// Source returns where the letter's event was refused: SourceHTTP or
// SourceNATS at the door, or "projector" for a letter of the projector.
func (l *Letter) Source() string {
	if s := l.Header.Get(HeaderSource); s != "" {
		return s
	}
	return "projector"
}

// Agency returns the agency the letter is filed under: the last token of
// its subject, the sender's for a door refusal.
func (l *Letter) Agency() string {
	if s := l.Header.Get(HeaderSender); s != "" {
		return s
	}
	_, rest, _ := strings.Cut(l.Subject, "cds.events.")
	a, _, _ := strings.Cut(rest, ".")
	return a
}
