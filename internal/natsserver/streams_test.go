package natsserver

import (
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestEnsureStreamsIdempotent(t *testing.T) {
	s := mustStart(t, Config{})
	js := mustJetStream(t, mustConnect(t, s.ClientURL()))
	ctx := testContext(t)

	if err := EnsureStreams(ctx, js, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	before := map[string]*jetstream.StreamInfo{}
	for _, name := range []string{EventsStream, DeadLetterStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = st.CachedInfo()
	}
	if _, err := js.Publish(ctx, "cds.events.bg-vietyen.workfile.processed", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	if err := EnsureStreams(ctx, js, StreamConfig{}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	for name, b := range before {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		a := st.CachedInfo()
		if !a.Created.Equal(b.Created) {
			t.Errorf("%s was recreated", name)
		}
		if !reflect.DeepEqual(a.Config, b.Config) {
			t.Errorf("%s config changed:\n%+v\n%+v", name, b.Config, a.Config)
		}
	}
	ev := before[EventsStream].Config
	if ev.Storage != jetstream.FileStorage || ev.Retention != jetstream.LimitsPolicy || ev.MaxAge != 0 ||
		ev.MaxMsgs != -1 || ev.MaxBytes != -1 || ev.Duplicates != DefaultDuplicateWindow ||
		!ev.DenyDelete || !ev.DenyPurge || ev.Subjects[0] != EventsSubjects || ev.Replicas != 1 {
		t.Errorf("events stream config = %+v", ev)
	}
	if dl := before[DeadLetterStream].Config; dl.MaxAge != 0 || dl.Subjects[0] != DeadLetterSubjects || dl.Storage != jetstream.FileStorage {
		t.Errorf("dead-letter stream config = %+v", dl)
	}
	st, _ := js.Stream(ctx, EventsStream)
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("events after second EnsureStreams = %d, want 1", n)
	}

	// A changed configuration is applied in place.
	if err := EnsureStreams(ctx, js, StreamConfig{DuplicateWindow: time.Hour}); err != nil {
		t.Fatal(err)
	}
	st, _ = js.Stream(ctx, EventsStream)
	if got := st.CachedInfo().Config.Duplicates; got != time.Hour {
		t.Errorf("duplicate window after update = %s", got)
	}
	if err := st.Purge(ctx); err == nil {
		t.Error("events stream was purged")
	}
	if err := st.DeleteMsg(ctx, 1); err == nil {
		t.Error("an event was deleted")
	}
}

func TestDeduplicationByMsgID(t *testing.T) {
	fx := newFixture(t, nil)
	js := mustJetStream(t, fx.agency(t, "bg-vietyen"))
	ctx := testContext(t)
	const subject = "cds.events.bg-vietyen.workfile.processed"

	tests := []struct {
		name          string
		id            string
		wantDuplicate bool
		wantSeq       uint64
	}{
		{"first", "0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f60", false, 1},
		{"retry", "0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f60", true, 1},
		{"other id", "0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f61", false, 2},
		{"retry again", "0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f60", true, 1},
	}
	for _, tt := range tests {
		ack, err := js.Publish(ctx, subject, []byte(`{}`), jetstream.WithMsgID(tt.id))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ack.Duplicate != tt.wantDuplicate || ack.Sequence != tt.wantSeq {
			t.Errorf("%s: PubAck = %+v, want duplicate=%v seq=%d", tt.name, ack, tt.wantDuplicate, tt.wantSeq)
		}
	}
	st, err := mustJetStream(t, fx.admin(t)).Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

// TestDeadLettersBoundedPerAgency: an agency whose junk fills its dead-letter
// subject replaces only its own oldest dead letters; another agency's stay.
func TestDeadLettersBoundedPerAgency(t *testing.T) {
	fx := newFixture(t, nil)
	js := mustJetStream(t, fx.admin(t))
	ctx := testContext(t)
	for i := range 3 {
		if _, err := js.Publish(ctx, "cds.dlq.malformed.bg-ctk", []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	const flood = DeadLettersPerSubject + 500
	for i := range flood {
		if _, err := js.PublishAsync("cds.dlq.malformed.bg-vietyen", []byte("junk")); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	dlq, err := js.Stream(ctx, DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter("cds.dlq.>"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects["cds.dlq.malformed.bg-vietyen"]; got != DeadLettersPerSubject {
		t.Errorf("flooding agency keeps %d dead letters, want %d", got, DeadLettersPerSubject)
	}
	if got := info.State.Subjects["cds.dlq.malformed.bg-ctk"]; got != 3 {
		t.Errorf("other agency keeps %d dead letters, want its 3", got)
	}
}
