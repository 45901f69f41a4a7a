package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
)

func mustJetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	js := natstest.JetStream(tb, ns.ClientURL())
	if err := natsserver.EnsureStreams(ctx, js, natsserver.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	return js
}

func event(id, agency string) string {
	return fmt.Sprintf(`{"id":%q,"type":"workfile.processed","v":1,"agency":%q,"occurred_at":"2025-03-01T10:00:00+07:00","data":{"workfile_id":"W-%s","online":true}}`, id, agency, id)
}

// refuse publishes body to the log (with Nats-Msg-Id when msgID), then its
// dead letter as the projector would, and returns the dead letter's
// CDS_DLQ sequence.
func refuse(tb testing.TB, js jetstream.JetStream, subject, body, reason string, msgID bool) uint64 {
	tb.Helper()
	ctx := context.Background()
	m := nats.NewMsg(subject)
	m.Data = []byte(body)
	m.Header.Set("X-Trace", "abc")
	if e, err := events.Decode(m.Data); msgID && err == nil {
		m.Header.Set(jetstream.MsgIDHeader, e.ID)
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		tb.Fatal(err)
	}
	stored, err := js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := stored.GetMsg(ctx, ack.Sequence)
	if err != nil {
		tb.Fatal(err)
	}
	dl := deadletter.New(raw.Data, deadletter.Origin{Subject: raw.Subject, Header: raw.Header, Stream: natsserver.EventsStream, Seq: raw.Sequence, Received: raw.Time},
		deadletter.Cause{Reason: reason, Field: "agency", Err: errors.New("agency: unknown_agency:\n not in the registry")})
	dack, err := js.PublishMsg(ctx, dl)
	if err != nil {
		tb.Fatal(err)
	}
	return dack.Sequence
}

func TestListGetParse(t *testing.T) {
	js := mustJetStream(t)
	ctx := context.Background()
	a := refuse(t, js, "cds.events.bg-new.workfile.processed", event("a1", "bg-new"), "unknown_agency", true)
	b := refuse(t, js, "cds.events.bg-vietyen.workfile.processed", `{"id":`, "malformed", false)
	c := refuse(t, js, "cds.events.bg-new.workfile.processed", event("a2", "bg-new"), "unknown_agency", false)
	// Something in CDS_DLQ that is not a dead letter is skipped.
	if _, err := js.Publish(ctx, "cds.dlq.other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s, err := deadletter.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		sel   deadletter.Selection
		limit int
		want  []uint64
	}{
		{"all", deadletter.Selection{}, 0, []uint64{a, b, c}},
		{"reason", deadletter.Selection{Reason: "unknown_agency"}, 0, []uint64{a, c}},
		{"range", deadletter.Selection{From: b, To: c}, 0, []uint64{b, c}},
		{"one", deadletter.Seq(b), 0, []uint64{b}},
		{"limit", deadletter.Selection{}, 2, []uint64{a, b}},
		{"reason in range", deadletter.Selection{From: b, Reason: "unknown_agency"}, 0, []uint64{c}},
		{"none", deadletter.Selection{Reason: "future"}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.sel, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, l := range got {
				seqs = append(seqs, l.Seq)
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", seqs, tt.want)
			}
		})
	}
	l, err := s.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if l.Reason != "unknown_agency" || l.Field != "agency" || l.ID != "a1" || l.StreamSeq != 1 || l.Stream != natsserver.EventsStream ||
		l.Subject != "cds.events.bg-new.workfile.processed" || string(l.Data) != event("a1", "bg-new") || strings.Contains(l.Error, "\n") || l.Received.IsZero() {
		t.Errorf("dead letter: %+v", l)
	}
	if h := l.OriginalHeader(); h.Get(jetstream.MsgIDHeader) != "a1" || h.Get("X-Trace") != "abc" || h.Get(deadletter.HeaderReason) != "" {
		t.Errorf("original headers: %v", h)
	}
	if _, err := s.Get(ctx, 99); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Get(99): %v, want ErrNotFound", err)
	}
}

func TestReplay(t *testing.T) {
	js := mustJetStream(t)
	ctx := context.Background()
	newAgency := "cds.events.bg-new.workfile.processed"
	published := refuse(t, js, newAgency, event("p1", "bg-new"), "unknown_agency", false) // sent without Nats-Msg-Id
	held := refuse(t, js, newAgency, event("h1", "bg-new"), "unknown_agency", true)       // JetStream still remembers h1
	invalid := refuse(t, js, "cds.events.bg-gone.workfile.processed", event("i1", "bg-gone"), "unknown_agency", false)
	malformed := refuse(t, js, newAgency, `{"id":`, "malformed", false)
	s, err := deadletter.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	// The operator added bg-new to the registry; bg-gone is still unknown.
	check := func(subject string, data []byte) error {
		e, err := events.Decode(data)
		if err != nil {
			return err
		}
		if err := events.CheckSubject(subject, e); err != nil {
			return err
		}
		return events.Rules{Units: allBut("bg-gone")}.Check(e)
	}
	opts := deadletter.ReplayOptions{Check: check, DuplicateWindow: 10 * time.Minute}

	dry, err := s.Replay(ctx, deadletter.Selection{}, deadletter.ReplayOptions{Check: check, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(dry); got != "would_publish would_publish still_invalid still_invalid" {
		t.Errorf("dry run: %s", got)
	}
	before := lastSeq(t, js)
	if before != 4 {
		t.Fatalf("the log holds %d messages, want 4", before)
	}

	results, err := s.Replay(ctx, deadletter.Selection{Reason: "unknown_agency"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(results); got != "published held still_invalid" {
		t.Fatalf("replay: %s", got)
	}
	if r := results[0]; r.Letter.Seq != published || r.StreamSeq != 5 {
		t.Errorf("published: %+v", r)
	}
	if r := results[1]; r.Letter.Seq != held || r.StreamSeq != 2 || !r.RetryAfter.Equal(r.Letter.Received.Add(10*time.Minute)) {
		t.Errorf("held: %+v", r)
	}
	if r := results[2]; r.Letter.Seq != invalid || !strings.Contains(r.Detail, "unknown_agency") {
		t.Errorf("still invalid: %+v", r)
	}
	st, err := js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != newAgency || string(m.Data) != event("p1", "bg-new") || m.Header.Get(jetstream.MsgIDHeader) != "p1" ||
		m.Header.Get(deadletter.HeaderReplayOf) != fmt.Sprint(published) || m.Header.Get("X-Trace") != "abc" {
		t.Errorf("replayed message: %s %s %v", m.Subject, m.Data, m.Header)
	}

	// Replaying again stores nothing: the id is in the log's window.
	again, err := s.Replay(ctx, deadletter.Seq(published), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(again); got != "duplicate" || again[0].StreamSeq != 5 {
		t.Errorf("second replay: %s %+v", got, again)
	}
	// Force publishes what is still invalid (it is dead-lettered again);
	// an event without an id goes without Nats-Msg-Id.
	forced, err := s.Replay(ctx, deadletter.Selection{From: invalid, To: malformed}, deadletter.ReplayOptions{Check: check, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(forced); got != "published published" {
		t.Errorf("forced: %s", got)
	}
	if m, err := st.GetMsg(ctx, forced[1].StreamSeq); err != nil || m.Header.Get(jetstream.MsgIDHeader) != "" {
		t.Errorf("replayed malformed event: %v %v", m, err)
	}
}

func outcomes(rs []deadletter.Result) string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Outcome))
	}
	return strings.Join(out, " ")
}

func lastSeq(tb testing.TB, js jetstream.JetStream) uint64 {
	tb.Helper()
	s, err := js.Stream(context.Background(), natsserver.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// allBut is a registry that knows every agency but one, and lets each send
// every type.
type allBut string

func (a allBut) Known(code string) bool             { return code != string(a) }
func (a allBut) SpeaksForProvince(code string) bool { return code != string(a) }

func TestSubject(t *testing.T) {
	tests := []struct{ reason, subject, want string }{
		{"malformed", "cds.events.bg-vietyen.workfile.processed", "cds.dlq.malformed.bg-vietyen"},
		{"unknown_type", "cds.events.bg-ctk", "cds.dlq.unknown_type.bg-ctk"},
		{"malformed", "cds.events.", "cds.dlq.malformed._"},
		{"malformed", "elsewhere", "cds.dlq.malformed._"},
	}
	for _, tt := range tests {
		if got := deadletter.Subject(tt.reason, tt.subject); got != tt.want {
			t.Errorf("Subject(%s, %s) = %s, want %s", tt.reason, tt.subject, got, tt.want)
		}
	}
}
