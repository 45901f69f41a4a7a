// Package deadletter is the dead-letter stream CDS_DLQ: the message format the
// projector writes for an event it can never fold, and the operator's tools to
// list, show and replay dead letters.
//
// A dead letter is published on cds.dlq.<reason>.<agency> (the agency of the
// original subject, so that CDS_DLQ's per-subject limit bounds each agency's
// dead letters apart; letters of older builds are on cds.dlq.<reason>) with
// the original bytes as
// its body and these headers: Cds-Reason, Cds-Error, Cds-Field (when one field
// is at fault), Cds-Subject (the original subject), Cds-Stream and
// Cds-Stream-Seq (where the event sits in the log), Cds-Received-At (when the
// log stored it), and every original header, those named Nats-* renamed
// Cds-Orig-Nats-* so that they do not act again in CDS_DLQ (Nats-Msg-Id would
// deduplicate there).
package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead-letter headers.
const (
	HeaderReason    = "Cds-Reason"
	HeaderError     = "Cds-Error"
	HeaderField     = "Cds-Field"
	HeaderSubject   = "Cds-Subject"
	HeaderStream    = "Cds-Stream"
	HeaderStreamSeq = "Cds-Stream-Seq"
	HeaderReceived  = "Cds-Received-At"
	// HeaderOrigPrefix prefixes the original Nats-* headers.
	HeaderOrigPrefix = "Cds-Orig-"
	// HeaderReplayOf is set on an event republished by Replay: the CDS_DLQ
	// sequence of the dead letter it came from.
	HeaderReplayOf = "Cds-Replay-Of"
)

// Stream and subjects (the stream is created by package natsserver).
const (
	Stream        = "CDS_DLQ"
	SubjectPrefix = "cds.dlq."
)

// Subject returns the dead-letter subject of a reason for an event that came
// on eventSubject (cds.events.<agency>.<type>): cds.dlq.<reason>.<agency>, or
// cds.dlq.<reason>._ when the subject names no agency.
func Subject(reason, eventSubject string) string {
	agency := "_"
	if rest, ok := strings.CutPrefix(eventSubject, "cds.events."); ok {
		if a, _, _ := strings.Cut(rest, "."); a != "" && !strings.ContainsAny(a, "*>") {
			agency = a
		}
	}
	return SubjectPrefix + reason + "." + agency
}

// Origin says where a refused event came from.
type Origin struct {
	Subject  string
	Header   nats.Header // original headers, may be nil
	Stream   string      // stream of the event log
	Seq      uint64      // its stream sequence
	Received time.Time   // when the log stored it
}

// Cause says why an event was refused.
type Cause struct {
	Reason string // stable reason, e.g. unknown_agency; it names the subject
	Field  string // JSON path of the field at fault, "" for the whole event
	Err    error
}

// letter is a dead letter of data on subject: the event's own headers
// (Nats-* ones renamed, so that JetStream does not act on them) and the
// reason, error and field of why. New and RefusedAtDoor add where it came from.
func letter(subject string, data []byte, header nats.Header, why Cause) *nats.Msg {
	out := nats.NewMsg(subject)
	out.Data = data
	for k, vs := range header {
		if strings.HasPrefix(k, "Nats-") {
			k = HeaderOrigPrefix + k
		}
		for _, v := range vs {
			out.Header.Add(k, v)
		}
	}
	out.Header.Set(HeaderReason, why.Reason)
	if why.Err != nil {
		out.Header.Set(HeaderError, oneLine(why.Err.Error()))
	}
	if why.Field != "" {
		out.Header.Set(HeaderField, why.Field)
	}
	return out
}

// New builds the dead letter of an event: its original bytes, under subject
// cds.dlq.<reason>.<agency>, with the headers of the package doc. Its Nats-Msg-Id is
// <stream>-<seq>, so that publishing it twice within CDS_DLQ's duplicate
// window stores it once.
func New(data []byte, from Origin, why Cause) *nats.Msg {
	out := letter(Subject(why.Reason, from.Subject), data, from.Header, why)
	out.Header.Set(HeaderSubject, from.Subject)
	out.Header.Set(HeaderStream, from.Stream)
	out.Header.Set(HeaderStreamSeq, strconv.FormatUint(from.Seq, 10))
	out.Header.Set(HeaderReceived, from.Received.UTC().Format(time.RFC3339Nano))
	out.Header.Set(jetstream.MsgIDHeader, from.Stream+"-"+strconv.FormatUint(from.Seq, 10))
	return out
}

// oneLine keeps a header value on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Letter is one dead letter as stored in CDS_DLQ.
type Letter struct {
	Seq       uint64    // sequence in CDS_DLQ
	Time      time.Time // when CDS_DLQ stored it
	Reason    string
	Error     string
	Field     string
	Subject   string    // the original subject
	Stream    string    // the event log it came from
	StreamSeq uint64    // its sequence there
	Received  time.Time // when the event log stored it
	ID        string    // the event id, when the body has one
	Data      []byte    // the original bytes
	// Header holds every header of the dead letter as stored.
	Header nats.Header
}

// OriginalHeader returns the headers the event was published with: the Cds-*
// headers of the dead letter removed, Cds-Orig-Nats-* renamed back.
func (l *Letter) OriginalHeader() nats.Header {
	out := nats.Header{}
	for k, vs := range l.Header {
		switch {
		case strings.HasPrefix(k, HeaderOrigPrefix):
			k = strings.TrimPrefix(k, HeaderOrigPrefix)
		case strings.HasPrefix(k, "Cds-") || strings.HasPrefix(k, "Nats-"):
			continue
		}
		out[k] = append(out[k], vs...)
	}
	return out
}

// ErrNotDeadLetter is returned by Parse for a message of CDS_DLQ that lacks
// the headers of a dead letter.
var ErrNotDeadLetter = errors.New("deadletter: not a dead letter")

// Parse reads a dead letter from a message of CDS_DLQ.
func Parse(m *jetstream.RawStreamMsg) (*Letter, error) {
	h := m.Header
	l := &Letter{
		Seq:     m.Sequence,
		Time:    m.Time,
		Reason:  h.Get(HeaderReason),
		Error:   h.Get(HeaderError),
		Field:   h.Get(HeaderField),
		Subject: h.Get(HeaderSubject),
		Stream:  h.Get(HeaderStream),
		Data:    m.Data,
		Header:  h,
	}
	if l.Reason == "" || l.Subject == "" {
		return nil, fmt.Errorf("%w: CDS_DLQ seq %d has no %s or %s header", ErrNotDeadLetter, m.Sequence, HeaderReason, HeaderSubject)
	}
	if s := h.Get(HeaderStreamSeq); s != "" {
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: CDS_DLQ seq %d: %s %q", ErrNotDeadLetter, m.Sequence, HeaderStreamSeq, s)
		}
		l.StreamSeq = seq
	}
	if s := h.Get(HeaderReceived); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			l.Received = t
		}
	}
	l.ID = eventID(m.Data, h)
	return l, nil
}

// eventID returns the id of the event in data if data is a JSON object with
// a string id, else its original Nats-Msg-Id, else "".
func eventID(data []byte, h nats.Header) string {
	var env struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(data, &env) == nil {
		if s, ok := env.ID.(string); ok && s != "" {
			return s
		}
	}
	return h.Get(HeaderOrigPrefix + jetstream.MsgIDHeader)
}
