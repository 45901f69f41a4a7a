package natsserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
)

// testAgencies are the agencies of the test credentials.
var testAgencies = []string{"bg-vietyen", "bg-ctk", "bg-yenthe", "bg-tanyen"}

// fixture is a running server with credentials for testAgencies and the streams in place.
type fixture struct {
	srv   *Server
	dir   string // credentials data directory
	creds *credentials.File
}

func newFixture(tb testing.TB, reportsFor map[string][]string) *fixture {
	tb.Helper()
	dir := tb.TempDir()
	f, h, err := credentials.Ensure(dir, testAgencies)
	if err != nil {
		tb.Fatal(err)
	}
	srv := mustStart(tb, Config{Hashes: h, ReportsFor: reportsFor})
	fx := &fixture{srv: srv, dir: dir, creds: f}
	js := mustJetStream(tb, fx.admin(tb))
	if err := EnsureStreams(testContext(tb), js, StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	return fx
}

// mustStart starts a server on a free port with a temporary store, closed at the end of the test.
func mustStart(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:-1"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = tb.TempDir()
	}
	s, err := Start(testContext(tb), cfg)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// conn is a client connection that records the asynchronous errors the server sends it.
type conn struct {
	*nats.Conn
	errs   chan error
	closed chan struct{}
}

func connect(tb testing.TB, url string, opts ...nats.Option) (*conn, error) {
	tb.Helper()
	c := &conn{errs: make(chan error, 64), closed: make(chan struct{})}
	opts = append([]nats.Option{
		nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	c.Conn = nc
	tb.Cleanup(nc.Close)
	return c, nil
}

func mustConnect(tb testing.TB, url string, opts ...nats.Option) *conn {
	tb.Helper()
	c, err := connect(tb, url, opts...)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	return c
}

func (fx *fixture) admin(tb testing.TB) *conn {
	tb.Helper()
	return mustConnect(tb, fx.srv.ClientURL(), nats.UserInfo(fx.creds.Admin.User, fx.creds.Admin.Password))
}

func (fx *fixture) service(tb testing.TB, name string) *conn {
	tb.Helper()
	u := fx.creds.Services[name]
	return mustConnect(tb, fx.srv.ClientURL(), nats.UserInfo(u.User, u.Password))
}

// agency connects as an agency system should: its own user and its own inbox prefix.
func (fx *fixture) agency(tb testing.TB, code string) *conn {
	tb.Helper()
	return mustConnect(tb, fx.srv.ClientURL(), agencyOptions(code, fx.creds.Agencies[code].NATSPassword)...)
}

func agencyOptions(code, password string) []nats.Option {
	return []nats.Option{nats.UserInfo(code, password), nats.CustomInboxPrefix("_INBOX." + code)}
}

func mustJetStream(tb testing.TB, c *conn) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(c.Conn)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// waitViolation waits until the server has reported a permissions violation on subject.
func (c *conn) waitViolation(tb testing.TB, subject string) {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
		case <-deadline:
			tb.Fatalf("no permissions violation reported for %q", subject)
		}
	}
}

// noErrors fails if the server has reported any error to the connection so far.
func (c *conn) noErrors(tb testing.TB) {
	tb.Helper()
	if err := c.Flush(); err != nil {
		tb.Fatal(err)
	}
	for {
		select {
		case err := <-c.errs:
			tb.Errorf("server reported: %v", err)
		default:
			return
		}
	}
}

// waitClosed waits until the server has closed the connection.
func (c *conn) waitClosed(tb testing.TB) {
	tb.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		tb.Fatal("connection was not closed")
	}
}

func TestStartFreePort(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:-1", "127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			s := mustStart(t, Config{Addr: addr})
			u, err := url.Parse(s.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(u.Port())
			if u.Hostname() != "127.0.0.1" || port <= 0 || port == 4222 {
				t.Fatalf("ClientURL = %q, want 127.0.0.1 and a picked port", s.ClientURL())
			}
			c := mustConnect(t, s.ClientURL()) // no auth without Hashes
			if !c.Conn.IsConnected() {
				t.Fatal("not connected")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			c.waitClosed(t)
		})
	}
}

func TestStartSyncPolicy(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		wantInterval time.Duration
		wantAlways   bool
	}{
		{"default", Config{}, DefaultSyncInterval, false},
		{"interval", Config{SyncInterval: 2 * time.Minute}, 2 * time.Minute, false},
		{"always", Config{SyncAlways: true}, DefaultSyncInterval, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustStart(t, tt.cfg).Inner().JetStreamConfig()
			if got.SyncInterval != tt.wantInterval || got.SyncAlways != tt.wantAlways {
				t.Errorf("sync_interval = %s, always = %v; want %s, %v", got.SyncInterval, got.SyncAlways, tt.wantInterval, tt.wantAlways)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil)).With("component", "nats")
	s := mustStart(t, Config{Logger: logger})
	s.Close()
	for _, want := range []string{"component=nats", "Listening for client connections", "nats server ready"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

// syncBuffer is a bytes.Buffer that the server's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"port in use", Config{Addr: busy.Addr().String(), StoreDir: t.TempDir()}, "listen"},
		{"no store", Config{Addr: "127.0.0.1:-1"}, "StoreDir"},
		{"bad address", Config{Addr: "127.0.0.1", StoreDir: t.TempDir()}, "address"},
		{"bad port", Config{Addr: "127.0.0.1:99999", StoreDir: t.TempDir()}, "bad port"},
		{"bad reports-for", Config{Addr: "127.0.0.1:-1", StoreDir: t.TempDir(), Hashes: mustHashes(t),
			ReportsFor: map[string][]string{"bg-ctk": {">"}}}, "invalid agency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := Start(testContext(t), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start error = %v, want it to mention %q", err, tt.wantErr)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Start took %s to fail", d)
			}
		})
	}
}

func mustHashes(tb testing.TB) *credentials.Hashes {
	tb.Helper()
	_, h, err := credentials.Ensure(tb.TempDir(), testAgencies)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestAuthentication(t *testing.T) {
	fx := newFixture(t, nil)
	vietyen := fx.creds.Agencies["bg-vietyen"].NATSPassword
	tests := []struct {
		name    string
		opts    []nats.Option
		wantErr bool
	}{
		{"agency", agencyOptions("bg-vietyen", vietyen), false},
		{"admin", []nats.Option{nats.UserInfo("admin", fx.creds.Admin.Password)}, false},
		{"projector", []nats.Option{nats.UserInfo("cds-projector", fx.creds.Services["projector"].Password)}, false},
		{"api", []nats.Option{nats.UserInfo("cds-api", fx.creds.Services["api"].Password)}, false},
		{"wrong password", agencyOptions("bg-vietyen", vietyen+"x"), true},
		{"another agency's password", agencyOptions("bg-ctk", vietyen), true},
		{"password as hash", agencyOptions("bg-vietyen", mustHashesOf(t, fx).Agencies["bg-vietyen"].NATSPasswordBcrypt), true},
		{"unknown user", agencyOptions("bg-nowhere", vietyen), true},
		{"no credentials", nil, true},
		{"http token as password", agencyOptions("bg-vietyen", fx.creds.Agencies["bg-vietyen"].HTTPToken), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect(t, fx.srv.ClientURL(), tt.opts...)
			if tt.wantErr {
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Errorf("connect error = %v, want %v", err, nats.ErrAuthorization)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustHashesOf(tb testing.TB, fx *fixture) *credentials.Hashes {
	tb.Helper()
	h, err := credentials.LoadHashes(fx.dir)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestReloadUsersRevokes(t *testing.T) {
	fx := newFixture(t, nil)
	revoked := fx.agency(t, "bg-vietyen")
	other := fx.agency(t, "bg-ctk")
	jsOther := mustJetStream(t, other)

	if err := credentials.Revoke(fx.dir, "bg-vietyen"); err != nil {
		t.Fatal(err)
	}
	if err := fx.srv.ReloadUsers(mustHashesOf(t, fx)); err != nil {
		t.Fatal(err)
	}

	revoked.waitClosed(t)
	_, err := connect(t, fx.srv.ClientURL(), agencyOptions("bg-vietyen", fx.creds.Agencies["bg-vietyen"].NATSPassword)...)
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("revoked agency connect error = %v, want %v", err, nats.ErrAuthorization)
	}
	// Others keep their connections and permissions.
	if _, err := jsOther.Publish(testContext(t), "cds.events.bg-ctk.dti.published", []byte(`{}`)); err != nil {
		t.Errorf("other agency after reload: %v", err)
	}
	fx.admin(t)

	// Rotating a password closes connections that used the old one; the new one works.
	before := fx.agency(t, "bg-ctk")
	secret, err := credentials.Rotate(fx.dir, "bg-ctk")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.srv.ReloadUsers(mustHashesOf(t, fx)); err != nil {
		t.Fatal(err)
	}
	before.waitClosed(t)
	after := mustConnect(t, fx.srv.ClientURL(), agencyOptions("bg-ctk", secret.NATSPassword)...)
	if _, err := mustJetStream(t, after).Publish(testContext(t), "cds.events.bg-ctk.dti.published", []byte(`{}`)); err != nil {
		t.Errorf("publish with rotated password: %v", err)
	}

	// Rotate reinstates the revoked agency.
	back, err := credentials.Rotate(fx.dir, "bg-vietyen")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.srv.ReloadUsers(mustHashesOf(t, fx)); err != nil {
		t.Fatal(err)
	}
	reinstated := mustConnect(t, fx.srv.ClientURL(), agencyOptions("bg-vietyen", back.NATSPassword)...)
	if _, err := mustJetStream(t, reinstated).Publish(testContext(t), "cds.events.bg-vietyen.workfile.processed", []byte(`{}`)); err != nil {
		t.Errorf("publish after reinstatement: %v", err)
	}

	// An agency added while the server runs publishes at once.
	added, err := credentials.Add(fx.dir, "bg-new")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.srv.ReloadUsers(mustHashesOf(t, fx)); err != nil {
		t.Fatal(err)
	}
	newcomer := mustConnect(t, fx.srv.ClientURL(), agencyOptions("bg-new", added.NATSPassword)...)
	if _, err := mustJetStream(t, newcomer).Publish(testContext(t), "cds.events.bg-new.workfile.processed", []byte(`{}`)); err != nil {
		t.Errorf("publish by an agency added while the server runs: %v", err)
	}

	if err := fx.srv.ReloadUsers(nil); err == nil {
		t.Error("ReloadUsers(nil) succeeded")
	}
}

// TestWaitGone: WaitGone returns once the server has dropped a connection
// its client closed, and waits while it is open.
func TestWaitGone(t *testing.T) {
	fx := newFixture(t, nil)
	c := fx.admin(t)
	cid, err := c.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	if err := fx.srv.WaitGone(short, cid); err == nil {
		t.Fatal("WaitGone returned while the connection is open")
	}
	c.Close()
	if err := fx.srv.WaitGone(testContext(t), cid); err != nil {
		t.Fatal(err)
	}
	if fx.srv.Inner().GetClient(cid) != nil {
		t.Error("the server still lists the connection")
	}
}
