//go:build linux

package faults

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestProjectorExitsWhenNATSClosed: the NATS server comes back with other
// credentials (the projector's password rotated without telling it), so the
// client's reconnects are refused and it closes the connection for good.
// cds projector must not run on with no projector: it exits non-zero with
// an ERROR naming the cause.
func TestProjectorExitsWhenNATSClosed(t *testing.T) {
	e := newEnv(t)
	cdsBinary(t)
	load := projtest.Generate(13, 2000, e.reg.Codes())
	if _, err := projtest.Publish(context.Background(), e.js, load.Msgs); err != nil {
		t.Fatal(err)
	}
	p := e.startProjector(t)
	e.waitCaughtUp(t, p, time.Minute)

	addr := strings.TrimPrefix(e.natsURL, "nats://")
	e.ns.Close()
	_, hashes, err := credentials.Ensure(t.TempDir(), e.reg.Codes())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e.ns, err = natsserver.Start(ctx, natsserver.Config{Addr: addr, StoreDir: filepath.Join(e.dataDir, "nats"), Hashes: hashes}); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	code := p.wait(t, 2*time.Minute)
	out := p.output()
	t.Logf("exit %d %s after NATS came back with other credentials; last lines:\n%s", code, time.Since(stopped).Round(time.Millisecond), p.tail())
	if code == 0 || code == -1 {
		t.Fatalf("exit code %d, want a non-zero exit of its own", code)
	}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "closed") {
		t.Errorf("no ERROR naming the closed connection in the log")
	}
}

// TestWrongClickHousePassword: cds projector given a wrong ClickHouse
// password, in the DSN or in CDS_CLICKHOUSE_PASSWORD, exits non-zero within
// 30 s saying that authentication failed for which user, and never prints
// the password.
func TestWrongClickHousePassword(t *testing.T) {
	e := newEnv(t)
	cdsBinary(t)
	const wrong = "Wr0ng-pw"
	for _, tc := range []struct {
		name    string
		dsn     string
		environ []string
	}{
		{"in the DSN", "clickhouse://default:" + wrong + "@" + e.ch.Addr() + "/cds", nil},
		{"in CDS_CLICKHOUSE_PASSWORD", "clickhouse://default@" + e.ch.Addr() + "/cds", []string{"CDS_CLICKHOUSE_PASSWORD=" + wrong}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.environ = tc.environ
			defer func() { e.environ = nil }()
			start := time.Now()
			p := e.start(t, "projector", "--nats", e.natsURL, "--clickhouse", tc.dsn, "--data", e.dataDir)
			code := p.wait(t, 30*time.Second)
			out := p.output()
			t.Logf("exit %d after %s: %s", code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(out, `authentication failed for user "default"`) {
				t.Errorf("the output does not say that authentication failed for user default")
			}
			if strings.Contains(out, wrong) {
				t.Errorf("the output shows the password")
			}
		})
	}
}
