package natsserver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
)

// TestWriteConfig: a plain nats-server started from the printed block (and
// the lines an operator adds: port, JetStream store) accepts the services
// and the agencies with their secrets: the projector creates the streams,
// an agency's publish gets its PubAck (also for a unit it reports for),
// and the permissions refuse what the embedded server's refuse.
func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	f, _, err := credentials.Ensure(dir, testAgencies)
	if err != nil {
		t.Fatal(err)
	}
	if err := credentials.Revoke(dir, "bg-tanyen"); err != nil {
		t.Fatal(err)
	}
	h, err := credentials.LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	if err := WriteConfig(&block, h, map[string][]string{"bg-ctk": {"bg-yenthe"}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(block.String(), f.Agencies["bg-vietyen"].NATSPassword) || strings.Contains(block.String(), `"bg-tanyen"`) {
		t.Fatalf("the block holds a plaintext password or a revoked agency:\n%s", block.String())
	}
	conf := filepath.Join(t.TempDir(), "nats.conf")
	top := "listen: 127.0.0.1:-1\njetstream { store_dir: " + strings.ReplaceAll(t.TempDir(), `\`, `/`) + " }\n"
	if err := os.WriteFile(conf, []byte(top+block.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server refuses the block: %v\n%s", err, block.String())
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	url := ns.ClientURL()
	ctx := testContext(t)

	proj := f.Services[credentials.ServiceProjector]
	pjs := mustJetStream(t, mustConnect(t, url, nats.UserInfo(proj.User, proj.Password)))
	if err := EnsureStreams(ctx, pjs, StreamConfig{}); err != nil {
		t.Fatalf("projector creates the streams: %v", err)
	}
	agency := func(code string) *conn {
		return mustConnect(t, url, agencyOptions(code, f.Agencies[code].NATSPassword)...)
	}
	ajs := mustJetStream(t, agency("bg-vietyen"))
	if ack, err := ajs.Publish(ctx, "cds.events.bg-vietyen.workfile.processed", []byte(`{}`), jetstream.WithMsgID("v1")); err != nil || ack.Stream != EventsStream {
		t.Fatalf("agency publish: %+v, %v", ack, err)
	}
	cjs := mustJetStream(t, agency("bg-ctk"))
	if _, err := cjs.Publish(ctx, "cds.events.bg-yenthe.workfile.processed", []byte(`{}`), jetstream.WithMsgID("c1")); err != nil {
		t.Fatalf("bg-ctk publishes for bg-yenthe: %v", err)
	}
	admin := mustJetStream(t, mustConnect(t, url, nats.UserInfo(f.Admin.User, f.Admin.Password)))
	st, err := admin.Stream(ctx, EventsStream)
	if err != nil || st.CachedInfo().State.Msgs != 2 {
		t.Fatalf("admin reads CDS_EVENTS: %v, %v; want 2 events", st, err)
	}

	for _, subject := range []string{"cds.events.bg-ctk.dti.published", "cds.dlq.x", "$JS.API.STREAM.DELETE." + EventsStream} {
		c := agency("bg-vietyen")
		if err := c.PublishRequest(subject, c.NewRespInbox(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		c.waitViolation(t, subject)
	}
	for _, subject := range []string{"cds.events.>", "_INBOX.bg-ctk.>", "_INBOX.>"} {
		c := agency("bg-vietyen")
		if _, err := c.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		c.waitViolation(t, subject)
	}
	api := f.Services[credentials.ServiceAPI]
	c := mustConnect(t, url, nats.UserInfo(api.User, api.Password))
	if err := c.PublishRequest("$JS.API.STREAM.DELETE."+EventsStream, c.NewRespInbox(), nil); err != nil {
		t.Fatal(err)
	}
	c.waitViolation(t, "$JS.API.STREAM.DELETE."+EventsStream)
	if _, err := connect(t, url, agencyOptions("bg-tanyen", f.Agencies["bg-tanyen"].NATSPassword)...); err == nil {
		t.Error("a revoked agency connected")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := ajs.Stream(short, EventsStream); err == nil {
		t.Error("an agency read the stream's info")
	}
}
