package natsserver

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/deadletter"
)

// TestGateRefusesInvalid: an event the check refuses gets an error PubAck
// naming reason and field, is not stored in CDS_EVENTS (so its id stays
// free within the duplicate window), and is dead-lettered under its sender;
// the corrected event with the same id is then stored.
func TestGateRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	f, h, err := credentials.Ensure(dir, testAgencies)
	if err != nil {
		t.Fatal(err)
	}
	check := func(subject string, data []byte) error {
		e, err := events.Decode(data)
		if err != nil {
			return err
		}
		return events.CheckSubject(subject, e)
	}
	srv := mustStart(t, Config{Hashes: h, Check: check})
	fx := &fixture{srv: srv, dir: dir, creds: f}
	ctx := testContext(t)
	admin := mustJetStream(t, fx.admin(t))
	if err := EnsureStreams(ctx, admin, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	js := mustJetStream(t, fx.agency(t, "bg-vietyen"))
	const subject = "cds.events.bg-vietyen.workfile.processed"
	good := `{"id":"e-1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-01T09:00:00+07:00","data":{"workfile_id":"W1","online":true}}`
	bad := strings.Replace(good, `"online":true`, `"online":"yes"`, 1)

	_, err = js.Publish(ctx, subject, []byte(bad), jetstream.WithMsgID("e-1"))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 || !strings.Contains(apiErr.Description, "data.online: malformed") {
		t.Fatalf("invalid event: %v, want an error PubAck 400 naming data.online and malformed", err)
	}
	ack, err := js.Publish(ctx, subject, []byte(good), jetstream.WithMsgID("e-1"))
	if err != nil || ack.Duplicate || ack.Sequence != 1 {
		t.Fatalf("corrected event: %+v, %v; want stored at seq 1, not a duplicate", ack, err)
	}

	eventLog, err := admin.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := eventLog.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("CDS_EVENTS holds %d messages, want only the corrected event", n)
	}
	store, err := deadletter.Open(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	var letters []*deadletter.Letter
	for deadline := time.Now().Add(5 * time.Second); len(letters) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if letters, err = store.Newest(ctx, deadletter.Filter{Agency: "bg-vietyen"}, 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(letters) != 1 {
		t.Fatalf("dead letters of bg-vietyen: %d, want 1", len(letters))
	}
	l := letters[0]
	if l.ID != "e-1" || l.Reason != "malformed" || l.Field != "data.online" || string(l.Data) != bad ||
		l.Source() != deadletter.SourceNATS || l.Agency() != "bg-vietyen" || l.Subject != subject || l.StreamSeq != 0 {
		t.Errorf("dead letter %+v: want e-1, malformed data.online, the original bytes, from nats, filed under bg-vietyen", l)
	}
	// Without a reply subject the event is refused all the same.
	if err := js.Conn().PublishMsg(&nats.Msg{Subject: subject, Data: []byte(`{"id":`)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(letters) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if letters, err = store.Newest(ctx, deadletter.Filter{Agency: "bg-vietyen", Reason: "malformed"}, 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(letters) != 2 || string(letters[0].Data) != `{"id":` {
		t.Errorf("dead letters after a publish without reply: %d, want the malformed one first", len(letters))
	}
	if _, err := eventLog.Info(ctx); err != nil || eventLog.CachedInfo().State.Msgs != 1 {
		t.Errorf("CDS_EVENTS holds %d messages after a malformed publish, want 1 (%v)", eventLog.CachedInfo().State.Msgs, err)
	}
}
