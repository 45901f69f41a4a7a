package natsserver

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
)

func TestAgencyPublishGetsPubAck(t *testing.T) {
	fx := newFixture(t, nil)
	c := fx.agency(t, "bg-vietyen")
	js := mustJetStream(t, c)
	ctx := testContext(t)

	ack, err := js.Publish(ctx, "cds.events.bg-vietyen.workfile.processed", []byte(`{"id":"a"}`), jetstream.WithMsgID("a"))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if ack.Stream != EventsStream || ack.Sequence == 0 || ack.Duplicate {
		t.Errorf("PubAck = %+v", ack)
	}
	c.noErrors(t)

	// Asynchronous publishing uses the same inbox prefix.
	var futures []jetstream.PubAckFuture
	for _, id := range []string{"b", "c", "d"} {
		f, err := js.PublishAsync("cds.events.bg-vietyen.workfile.processed", []byte(`{}`), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Stream != EventsStream {
				t.Errorf("async PubAck = %+v", ack)
			}
		case err := <-f.Err():
			t.Fatalf("PublishAsync: %v", err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}

	// A plain request carrying Nats-Msg-Id, as a client without the jetstream package would send it.
	msg := nats.NewMsg("cds.events.bg-vietyen.workfile.processed")
	msg.Header.Set(jetstream.MsgIDHeader, "e")
	msg.Data = []byte(`{}`)
	resp, err := c.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if got := string(resp.Data); !strings.Contains(got, `"stream":"CDS_EVENTS"`) || strings.Contains(got, "error") {
		t.Errorf("request reply = %s", got)
	}
}

func TestAgencyDenied(t *testing.T) {
	fx := newFixture(t, nil)
	admin := mustJetStream(t, fx.admin(t))
	ctx := testContext(t)
	// A message and a consumer that a rogue agency might try to read or delete.
	if _, err := admin.Publish(ctx, "cds.events.bg-ctk.dti.published", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	publish := []struct{ name, subject string }{
		{"another agency's events", "cds.events.bg-ctk.dti.published"},
		{"events without agency", "cds.events"},
		{"dead letters", "cds.dlq.bg-vietyen"},
		{"account info", "$JS.API.INFO"},
		{"stream info", "$JS.API.STREAM.INFO." + EventsStream},
		{"stream names", "$JS.API.STREAM.NAMES"},
		{"stream delete", "$JS.API.STREAM.DELETE." + EventsStream},
		{"stream purge", "$JS.API.STREAM.PURGE." + EventsStream},
		{"stream create", "$JS.API.STREAM.CREATE.MINE"},
		{"message get", "$JS.API.STREAM.MSG.GET." + EventsStream},
		{"message delete", "$JS.API.STREAM.MSG.DELETE." + EventsStream},
		{"direct get", "$JS.API.DIRECT.GET." + EventsStream},
		{"consumer create", "$JS.API.CONSUMER.CREATE." + EventsStream + ".spy"},
		{"durable create", "$JS.API.CONSUMER.DURABLE.CREATE." + EventsStream + ".spy"},
		{"ack", "$JS.ACK." + EventsStream + ".projector.1.1.1.1.1"},
		{"system", "$SYS.REQ.SERVER.PING"},
	}
	for _, tt := range publish {
		t.Run("publish "+tt.name, func(t *testing.T) {
			c := fx.agency(t, "bg-vietyen")
			if err := c.PublishRequest(tt.subject, c.NewRespInbox(), []byte(`{"name":"spy"}`)); err != nil {
				t.Fatal(err)
			}
			c.waitViolation(t, tt.subject)
		})
	}

	subscribe := []string{"_INBOX.>", "_INBOX.bg-ctk.>", "_INBOX.bg-vietyenx.>", "cds.events.>",
		"cds.events.bg-vietyen.>", "cds.events.bg-ctk.>", "cds.dlq.>", "$JS.>", ">"}
	for _, subject := range subscribe {
		t.Run("subscribe "+subject, func(t *testing.T) {
			c := fx.agency(t, "bg-vietyen")
			if _, err := c.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			c.waitViolation(t, subject)
		})
	}

	// The jetstream package calls fail too, and change nothing.
	c := fx.agency(t, "bg-vietyen")
	js := mustJetStream(t, c)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := js.Stream(short, EventsStream); err == nil {
		t.Error("agency read stream info")
	}
	if err := js.DeleteStream(short, EventsStream); err == nil {
		t.Error("agency deleted the stream")
	}
	if _, err := js.Publish(short, "cds.events.bg-ctk.dti.published", []byte(`{}`)); err == nil {
		t.Error("agency published for another agency")
	}
	s, err := admin.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatalf("stream after attack: %v", err)
	}
	if s.CachedInfo().State.Msgs != 1 || s.CachedInfo().State.Consumers != 0 {
		t.Errorf("stream state after attack = %+v", s.CachedInfo().State)
	}
}

func TestReportsFor(t *testing.T) {
	fx := newFixture(t, map[string][]string{"bg-ctk": {"bg-yenthe"}})
	tests := []struct {
		name    string
		agency  string
		subject string
		wantErr bool
	}{
		{"own", "bg-ctk", "cds.events.bg-ctk.economy.grdp_reported", false},
		{"declared unit", "bg-ctk", "cds.events.bg-yenthe.workfile.processed", false},
		{"undeclared unit", "bg-ctk", "cds.events.bg-tanyen.workfile.processed", true},
		{"not symmetric", "bg-yenthe", "cds.events.bg-ctk.economy.grdp_reported", true},
		{"others unaffected", "bg-vietyen", "cds.events.bg-yenthe.workfile.processed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fx.agency(t, tt.agency)
			if tt.wantErr {
				if err := c.PublishRequest(tt.subject, c.NewRespInbox(), []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				c.waitViolation(t, tt.subject)
				return
			}
			if _, err := mustJetStream(t, c).Publish(testContext(t), tt.subject, []byte(`{}`)); err != nil {
				t.Fatalf("publish: %v", err)
			}
		})
	}
	st, err := mustJetStream(t, fx.admin(t)).Stream(testContext(t), EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("stream holds %d events, want the 2 allowed ones", n)
	}
}

func TestServiceUsers(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := testContext(t)

	// The API publishes for any agency and reads stream info.
	api := fx.service(t, credentials.ServiceAPI)
	apiJS := mustJetStream(t, api)
	for _, subject := range []string{"cds.events.bg-vietyen.workfile.processed", "cds.events.bg-ctk.dti.published"} {
		if _, err := apiJS.Publish(ctx, subject, []byte(`{}`)); err != nil {
			t.Fatalf("api publish %s: %v", subject, err)
		}
	}
	if _, err := apiJS.Stream(ctx, EventsStream); err != nil {
		t.Errorf("api stream info: %v", err)
	}
	if _, err := apiJS.AccountInfo(ctx); err != nil {
		t.Errorf("api account info: %v", err)
	}
	// It dead-letters the events it refuses and reads CDS_DLQ (GET /v1/dlq).
	if err := api.Publish("cds.dlq.malformed.bg-vietyen", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if dlq, err := apiJS.Stream(ctx, DeadLetterStream); err != nil {
		t.Errorf("api dead-letter stream info: %v", err)
	} else if _, err := dlq.GetMsg(ctx, 1); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("api reads CDS_DLQ: %v", err)
	}
	api.noErrors(t)
	for _, subject := range []string{
		"$JS.API.CONSUMER.CREATE." + EventsStream + ".x",
		"$JS.API.STREAM.DELETE." + EventsStream,
		"$JS.API.STREAM.DELETE." + DeadLetterStream,
		"$JS.API.STREAM.MSG.DELETE." + DeadLetterStream,
		"$JS.API.CONSUMER.CREATE." + DeadLetterStream,
	} {
		if err := api.PublishRequest(subject, api.NewRespInbox(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		api.waitViolation(t, subject)
	}

	// The projector ensures the streams, consumes, acks and dead-letters.
	proj := fx.service(t, credentials.ServiceProjector)
	projJS := mustJetStream(t, proj)
	if err := EnsureStreams(ctx, projJS, StreamConfig{}); err != nil {
		t.Fatalf("projector EnsureStreams: %v", err)
	}
	if _, err := projJS.AccountInfo(ctx); err != nil {
		t.Errorf("projector account info: %v", err)
	}
	cons, err := projJS.CreateOrUpdateConsumer(ctx, EventsStream, jetstream.ConsumerConfig{
		Durable: "projector", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("projector consumer: %v", err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("ack: %v", err)
		}
		n++
	}
	if batch.Error() != nil || n != 2 {
		t.Fatalf("fetched %d messages, error %v", n, batch.Error())
	}
	if _, err := projJS.Publish(ctx, "cds.dlq.bg-vietyen", []byte(`{"reason":"x"}`)); err != nil {
		t.Errorf("projector dead-letter: %v", err)
	}
	ordered, err := projJS.OrderedConsumer(ctx, DeadLetterStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("projector ordered consumer: %v", err)
	}
	if _, err := ordered.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Errorf("projector read dead letters: %v", err)
	}
	if _, err := projJS.Stream(ctx, DeadLetterStream); err != nil {
		t.Errorf("projector dlq info: %v", err)
	}
	if err := projJS.DeleteConsumer(ctx, EventsStream, "projector"); err != nil {
		t.Errorf("projector delete own consumer: %v", err)
	}
	proj.noErrors(t)
	for _, subject := range []string{
		"$JS.API.STREAM.DELETE." + EventsStream,
		"$JS.API.STREAM.PURGE." + DeadLetterStream,
		"$JS.API.STREAM.CREATE.OTHER",
		"cds.events.bg-vietyen.workfile.processed",
	} {
		if err := proj.PublishRequest(subject, proj.NewRespInbox(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		proj.waitViolation(t, subject)
	}
}

func TestUsersTable(t *testing.T) {
	h := mustHashes(t)
	h.Revoked = []string{"bg-tanyen"}
	us, accounts, err := users(h, map[string][]string{"bg-ctk": {"bg-yenthe", "bg-vietyen"}}, local{gatePassword: "made at start", node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*struct{ pub, sub []string }, len(us))
	for _, u := range us {
		if (u.Password == "" || u.Password[0] != '$') && u.Username != gateUser {
			t.Errorf("%s: password is not a bcrypt hash", u.Username)
		}
		agency := strings.HasPrefix(u.Username, "bg")
		if agency != (u.Account != nil) || agency && u.Account.Name != "AGENCY_"+u.Username {
			t.Errorf("%s: account %v; want an account of its own for an agency, the cds account for the others", u.Username, u.Account)
		}
		e := &struct{ pub, sub []string }{}
		if u.Permissions != nil {
			e.pub, e.sub = u.Permissions.Publish.Allow, u.Permissions.Subscribe.Allow
		} else if u.Username != credentials.AdminUser {
			t.Errorf("%s has no permission list", u.Username)
		}
		byName[u.Username] = e
	}
	tests := []struct {
		user     string
		wantPub  []string
		wantSub  []string
		wantUser bool
	}{
		{"admin", nil, nil, true},
		{"bg-vietyen", []string{"cds.events.bg-vietyen.>"}, []string{"_INBOX.bg-vietyen.>"}, true},
		{"bg-ctk", []string{"cds.events.bg-ctk.>", "cds.events.bg-yenthe.>", "cds.events.bg-vietyen.>"}, []string{"_INBOX.bg-ctk.>"}, true},
		{"bg-tanyen", nil, nil, false},
		{"cds-api", serviceGrants["api"].publish, []string{"_INBOX.>"}, true},
		{"cds-projector", serviceGrants["projector"].publish, []string{"_INBOX.>"}, true},
		{gateUser, gateGrant.publish, gateGrant.subscribe, true},
	}
	for _, tt := range tests {
		got, ok := byName[tt.user]
		if ok != tt.wantUser {
			t.Errorf("user %s present = %v, want %v", tt.user, ok, tt.wantUser)
			continue
		}
		if ok && (!slices.Equal(got.pub, tt.wantPub) || !slices.Equal(got.sub, tt.wantSub)) {
			t.Errorf("%s: pub %v sub %v; want pub %v sub %v", tt.user, got.pub, got.sub, tt.wantPub, tt.wantSub)
		}
	}
	if len(us) != 7 {
		t.Errorf("%d users, want 7", len(us))
	}
	if len(accounts) != 4 || accounts[0].Name != "$G" {
		t.Errorf("%d accounts, first %s; want $G and one per agency that is not revoked", len(accounts), accounts[0].Name)
	}

	if _, _, err := users(h, map[string][]string{"bg-ctk": {"bg-*"}}, local{gatePassword: "x", node: "n"}); !errors.Is(err, credentials.ErrInvalidAgency) {
		t.Errorf("wildcard reports-for: error = %v", err)
	}
	h.Services["simulator"] = h.Services["api"]
	if _, _, err := users(h, nil, local{gatePassword: "x", node: "n"}); err == nil {
		t.Error("a service without a grant was accepted")
	}
}
