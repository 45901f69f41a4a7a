package natsserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAgencyHasNoJetStreamAPI tries, as an agency, what a hostile
// integrator with the jetstream package or raw requests would: read the log,
// make a consumer, purge, delete, make its own streams or buckets, take the
// server's or the account's information. Every call fails and the stream is
// as it was.
func TestAgencyHasNoJetStreamAPI(t *testing.T) {
	fx := newFixture(t, nil)
	admin := mustJetStream(t, fx.admin(t))
	ctx := testContext(t)
	if _, err := admin.Publish(ctx, "cds.events.bg-ctk.dti.published", []byte(`{"id":"secret"}`)); err != nil {
		t.Fatal(err)
	}

	c := fx.agency(t, "bg-vietyen")
	js := mustJetStream(t, c)
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"account info", func(ctx context.Context) error { _, err := js.AccountInfo(ctx); return err }},
		{"stream info", func(ctx context.Context) error { _, err := js.Stream(ctx, EventsStream); return err }},
		{"stream names", func(ctx context.Context) error {
			names := js.StreamNames(ctx)
			for range names.Name() {
			}
			return names.Err()
		}},
		{"create stream", func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MINE", Subjects: []string{"cds.events.bg-vietyen.x"}})
			return err
		}},
		{"update stream", func(ctx context.Context) error {
			_, err := js.UpdateStream(ctx, EventsStreamConfig(StreamConfig{MaxAge: time.Second}))
			return err
		}},
		{"delete stream", func(ctx context.Context) error { return js.DeleteStream(ctx, EventsStream) }},
		{"create consumer", func(ctx context.Context) error {
			_, err := js.CreateOrUpdateConsumer(ctx, EventsStream, jetstream.ConsumerConfig{Durable: "spy"})
			return err
		}},
		{"ordered consumer", func(ctx context.Context) error {
			cons, err := js.OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{})
			if err != nil {
				return err
			}
			_, err = cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
			return err
		}},
		{"key-value bucket", func(ctx context.Context) error {
			_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "spy"})
			return err
		}},
		{"object store", func(ctx context.Context) error {
			_, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "spy"})
			return err
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			if err := tt.call(ctx); err == nil {
				t.Fatalf("%s succeeded for an agency", tt.name)
			}
		})
	}

	// Raw API requests, including the ones the jetstream package has no call for.
	for _, subject := range []string{
		"$JS.API.STREAM.LIST",
		"$JS.API.STREAM.PURGE." + EventsStream,
		"$JS.API.STREAM.MSG.GET." + EventsStream,
		"$JS.API.STREAM.MSG.DELETE." + EventsStream,
		"$JS.API.DIRECT.GET." + EventsStream + ".cds.events.bg-ctk.dti.published",
		"$JS.API.STREAM.SNAPSHOT." + EventsStream,
		"$JS.API.STREAM.RESTORE." + EventsStream,
		"$JS.API.STREAM.LEADER.STEPDOWN." + EventsStream,
		"$JS.API.STREAM.PEER.REMOVE." + EventsStream,
		"$JS.API.CONSUMER.LIST." + EventsStream,
		"$JS.API.CONSUMER.NAMES." + EventsStream,
		"$JS.API.CONSUMER.MSG.NEXT." + EventsStream + ".cds-projector",
		"$JS.API.CONSUMER.DELETE." + EventsStream + ".cds-projector",
		"$JS.API.ACCOUNT.PURGE.$G",
		"$JS.API.META.LEADER.STEPDOWN",
		"$JS.API.SERVER.REMOVE",
		"$KV.spy.key",
		"$O.spy.C.x",
		"$SYS.REQ.SERVER.PING.CONNZ",
		"$SYS.REQ.ACCOUNT.PING.CONNZ",
		"_INBOX.bg-ctk.reply",
		CredentialsReloadSubject,
	} {
		t.Run("request "+subject, func(t *testing.T) {
			c := fx.agency(t, "bg-vietyen")
			if err := c.PublishRequest(subject, c.NewRespInbox(), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			c.waitViolation(t, subject)
		})
	}
	for _, subject := range []string{"$JS.EVENT.>", "$JS.API.>", "$SYS.>", "$KV.>", "_INBOX.bg-vietyen"} {
		t.Run("subscribe "+subject, func(t *testing.T) {
			c := fx.agency(t, "bg-vietyen")
			if _, err := c.QueueSubscribeSync(subject, "q"); err != nil {
				t.Fatal(err)
			}
			c.waitViolation(t, subject)
		})
	}

	st, err := admin.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if info.State.Msgs != 1 || info.State.Consumers != 0 || info.Config.MaxAge != 0 || !info.Config.DenyDelete || !info.Config.DenyPurge {
		t.Errorf("stream after the attempts: state %+v, max age %s", info.State, info.Config.MaxAge)
	}
	names := admin.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if strings.Join(got, ",") != DeadLetterStream+","+EventsStream && strings.Join(got, ",") != EventsStream+","+DeadLetterStream {
		t.Errorf("streams %v", got)
	}
}

// TestAgencyHeadersCannotRewriteLog: JetStream headers that would purge
// (rollup), expire (TTL), schedule a message onto another subject, or open
// an atomic batch are all refused on the events stream; the log keeps
// everything. An agency may still use the harmless ones (expected stream,
// message id).
func TestAgencyHeadersCannotRewriteLog(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := testContext(t)
	js := mustJetStream(t, fx.agency(t, "bg-vietyen"))
	subject := "cds.events.bg-vietyen.workfile.processed"
	publish := func(headers map[string]string) error {
		m := nats.NewMsg(subject)
		m.Data = []byte(`{}`)
		for k, v := range headers {
			m.Header.Set(k, v)
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.PublishMsg(ctx, m)
		return err
	}
	if err := publish(map[string]string{"Nats-Msg-Id": "first", "Nats-Expected-Stream": EventsStream}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		headers map[string]string
	}{
		{"rollup all", map[string]string{"Nats-Rollup": "all"}},
		{"rollup subject", map[string]string{"Nats-Rollup": "sub"}},
		{"message TTL", map[string]string{"Nats-TTL": "1s"}},
		{"schedule onto another agency", map[string]string{"Nats-Schedule": "@at 2020-01-01T00:00:00Z", "Nats-Schedule-Target": "cds.events.bg-ctk.dti.published"}},
		{"counter", map[string]string{"Nats-Incr": "1"}},
		{"atomic batch", map[string]string{"Nats-Batch-Id": "b", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1"}},
		{"wrong expected stream", map[string]string{"Nats-Expected-Stream": DeadLetterStream}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := publish(tt.headers); err == nil {
				t.Errorf("%v accepted", tt.headers)
			}
		})
	}
	// A message above MaxEventMessageBytes is refused; one just below is stored.
	big := nats.NewMsg(subject)
	big.Data = make([]byte, MaxEventMessageBytes+1)
	if _, err := js.PublishMsg(ctx, big); err == nil {
		t.Error("a message above MaxEventMessageBytes was stored")
	}
	big.Data = make([]byte, 64<<10)
	big.Header.Set("Nats-Msg-Id", "largest")
	if _, err := js.PublishMsg(ctx, big); err != nil {
		t.Errorf("a 64 KiB event: %v", err)
	}
	st, err := mustJetStream(t, fx.admin(t)).Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.CachedInfo().State; s.Msgs != 2 || s.FirstSeq != 1 {
		t.Errorf("stream state %+v, want the first and the 64 KiB message", s)
	}
}

// TestOnlyAdminAsksForReload: the services may not ask the server to reload
// credentials either; the admin may.
func TestOnlyAdminAsksForReload(t *testing.T) {
	fx := newFixture(t, nil)
	for _, name := range []string{"api", "projector"} {
		c := fx.service(t, name)
		if err := c.PublishRequest(CredentialsReloadSubject, c.NewRespInbox(), nil); err != nil {
			t.Fatal(err)
		}
		c.waitViolation(t, CredentialsReloadSubject)
	}
	admin := fx.admin(t)
	if err := admin.Publish(CredentialsReloadSubject, nil); err != nil {
		t.Fatal(err)
	}
	admin.noErrors(t)
}
