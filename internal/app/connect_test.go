package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bacgiang/cds/internal/credentials"
)

// lockedBuffer is a bytes.Buffer that a logger and a test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServiceConnectionLogsDroppedMessages overflows a subscription of a
// service connection on a real NATS server (a handler that blocks, a
// buffer of one message) and checks that the drop reaches the process's
// logger with the connection and the subject, not nats.go's bare line on
// stderr (docs/projector.md, "A lost pull request").
func TestServiceConnectionLogsDroppedMessages(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	reg, _, err := cfg.Domain()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := StartNATS(ctx, cfg, reg)
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	defer srv.Close()

	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	nc, err := ConnectService(srv.ClientURL(), cfg.DataDir, credentials.ServiceProjector, "cds-projector", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const subject = "_INBOX.overflow"
	release := make(chan struct{})
	sub, err := nc.Subscribe(subject, func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	creds, err := credentials.LoadFile(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := nats.Connect(srv.ClientURL(), nats.UserInfo(creds.Admin.User, creds.Admin.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for range 10 {
		if err := admin.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `msg="nats: subscription buffer full, messages dropped" connection=cds-projector subject=_INBOX.overflow`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("no log line %s; logged:\n%s", want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if n, err := sub.Dropped(); err != nil || n == 0 {
		t.Errorf("dropped %d (%v), want some", n, err)
	}
}
