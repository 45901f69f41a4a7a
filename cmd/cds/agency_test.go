package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
)

// startSystem runs the embedded NATS server, the projector and the API on
// free ports with a fresh data directory and ClickHouse server.
func startSystem(tb testing.TB, cfg app.Config, parts app.Parts) *app.System {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := app.Start(ctx, cfg, parts)
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return sys
}

func testConfig(tb testing.TB, chAddr string) app.Config {
	tb.Helper()
	cfg := app.Defaults()
	cfg.DataDir = tb.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ClickHouseAddr = chAddr
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// agency runs `cds agency args...` against dataDir and the NATS server at
// natsURL and returns its stdout.
func agency(tb testing.TB, dataDir, natsURL string, args ...string) (string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := agencyCommand(context.Background(), append(args, "--data", dataDir, "--nats", natsURL), &out, &errOut)
	tb.Logf("cds agency %s: %s%s", strings.Join(args, " "), errOut.String(), out.String())
	return out.String(), err
}

func mustAgency(tb testing.TB, dataDir, natsURL string, args ...string) credentials.AgencySecret {
	tb.Helper()
	out, err := agency(tb, dataDir, natsURL, args...)
	if err != nil {
		tb.Fatalf("cds agency %v: %v", args, err)
	}
	var s credentials.AgencySecret
	if args[0] != "revoke" {
		if err := json.Unmarshal([]byte(out), &s); err != nil || s.NATSPassword == "" || s.HTTPToken == "" {
			tb.Fatalf("cds agency %v printed %q (%v)", args, out, err)
		}
	}
	return s
}

func post(tb testing.TB, base, token, body string) int {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	tb.Logf("POST /v1/events: %d %s", res.StatusCode, bytes.TrimSpace(b))
	return res.StatusCode
}

func event(id, agency string) string {
	return eventtest.Workfile(id, agency, "2025-03-14T09:30:00+07:00", id, true)
}

// natsAgency connects as an agency system does; closed is closed when the
// server closes the connection.
func natsAgency(url, code, password string) (*nats.Conn, chan struct{}, error) {
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.UserInfo(code, password), nats.CustomInboxPrefix("_INBOX."+code),
		nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	return nc, closed, err
}

func publishOK(tb testing.TB, nc *nats.Conn, code, id string) {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, "cds.events."+code+".workfile.processed", []byte(event(id, code)), jetstream.WithMsgID(id)); err != nil {
		tb.Fatalf("publish as %s: %v", code, err)
	}
}

// TestAgencyLifecycle drives cds agency against running servers: the
// embedded NATS server and two HTTP gateways (cds up and a separate cds
// serve) sharing the data directory apply every change without a restart.
func TestAgencyLifecycle(t *testing.T) {
	ch := chtest.Start(t)
	cfg := testConfig(t, ch.Addr())
	up := startSystem(t, cfg, app.Parts{NATS: true, Projector: true, API: true})
	serveCfg := cfg
	serveCfg.NATSURL = up.NATSURL()
	serve := startSystem(t, serveCfg, app.Parts{API: true})
	gateways := []string{"http://" + up.API.Addr(), "http://" + serve.API.Addr()}
	dir, url := cfg.DataDir, up.NATSURL()
	creds, err := credentials.LoadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := creds.Agencies["bg-vietyen"]

	nc, closed, err := natsAgency(up.NATSURL(), "bg-vietyen", old.NATSPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	publishOK(t, nc, "bg-vietyen", "vy-1")
	for i, g := range gateways {
		if code := post(t, g, old.HTTPToken, event(fmt.Sprintf("vy-h%d", i), "bg-vietyen")); code != 202 {
			t.Fatalf("before revoke: %d", code)
		}
	}

	// Revoke: when the command returns, the HTTP token fails on both
	// gateways, the password is refused and the open connection is closed.
	start := time.Now()
	mustAgency(t, dir, url, "revoke", "bg-vietyen")
	t.Logf("cds agency revoke took %s", time.Since(start).Round(time.Millisecond))
	if _, _, err := natsAgency(up.NATSURL(), "bg-vietyen", old.NATSPassword); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("revoked password right after the command: %v, want %v", err, nats.ErrAuthorization)
	}
	for _, g := range gateways {
		if code := post(t, g, old.HTTPToken, event("vy-late", "bg-vietyen")); code != 401 {
			t.Errorf("revoked token: %d, want 401", code)
		}
	}
	select {
	case <-closed:
		t.Logf("NATS connection closed %s after the command started", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked agency's NATS connection is still open")
	}
	if _, err := agency(t, dir, url, "revoke", "bg-nowhere"); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("revoke of an unknown agency: %v", err)
	}

	// Rotate reinstates it with new secrets, which work as soon as the
	// command returns.
	s := mustAgency(t, dir, url, "rotate", "bg-vietyen")
	for _, g := range gateways {
		if code := post(t, g, s.HTTPToken, event("vy-2", "bg-vietyen")); code != 202 && code != 200 {
			t.Errorf("rotated token: %d", code)
		}
	}
	nc2 := mustNATSAgency(t, up.NATSURL(), "bg-vietyen", s.NATSPassword)
	publishOK(t, nc2, "bg-vietyen", "vy-3")

	// Rotating again closes the connection that uses the password of the first rotation.
	closed2 := make(chan struct{})
	nc2.SetClosedHandler(func(*nats.Conn) { close(closed2) })
	mustAgency(t, dir, url, "rotate", "bg-vietyen")
	select {
	case <-closed2:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection with the rotated-out password is still open")
	}

	// add: refused for a code outside the registry unless forced; the new
	// agency may connect as soon as the command returns.
	if _, err := agency(t, dir, url, "add", "bg-newcommune"); err == nil || !strings.Contains(err.Error(), "not an organisation unit") {
		t.Errorf("add outside the registry: %v", err)
	}
	if _, err := agency(t, dir, url, "add", "bg-hiephoa"); err == nil || !strings.Contains(err.Error(), "already has credentials") {
		t.Errorf("add of an existing agency: %v", err)
	}
	added := mustAgency(t, dir, url, "add", "bg-newcommune", "--force")
	mustNATSAgency(t, up.NATSURL(), "bg-newcommune", added.NATSPassword)
	if code := post(t, gateways[1], added.HTTPToken, event("nc-1", "bg-newcommune")); code != 400 {
		t.Errorf("event of an agency outside the registry: %d, want 400 unknown_agency", code)
	}

	out, err := agency(t, dir, url, "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []agencyState
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]agencyState{}
	for _, s := range list {
		got[s.Agency] = s
	}
	if s := got["bg-newcommune"]; s.Status != "active" || s.InRegistry {
		t.Errorf("list bg-newcommune = %+v", s)
	}
	if s := got["bg-vietyen"]; s.Status != "active" || !s.InRegistry || !s.Plaintext {
		t.Errorf("list bg-vietyen = %+v", s)
	}
}

func mustNATSAgency(tb testing.TB, url, code, password string) *nats.Conn {
	tb.Helper()
	nc, _, err := natsAgency(url, code, password)
	if err != nil {
		tb.Fatalf("connect as %s: %v", code, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// TestAgencyWithoutServer: with no NATS server running the command changes
// the files and says so; the next server start uses them.
func TestAgencyWithoutServer(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := agencyCommand(context.Background(), []string{"add", "bg-vietyen", "--data", dir, "--nats", "nats://127.0.0.1:1"}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "No NATS server at nats://127.0.0.1:1") {
		t.Errorf("stderr: %s", errOut.String())
	}
	h, err := credentials.LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s credentials.AgencySecret
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if got, ok := h.CheckHTTPToken(s.HTTPToken); !ok || got != "bg-vietyen" {
		t.Errorf("printed token not in force: %q %v", got, ok)
	}
}
