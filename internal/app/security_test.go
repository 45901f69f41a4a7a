package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/scores"
)

// freeAddrs returns n loopback addresses whose ports were free a moment ago.
func freeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

func openAs(tb testing.TB, addr, user, password string) clickhouse.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Username: user, Password: password, Database: "cds"},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// TestAnalystUser: the managed ClickHouse has a read-only user "analyst"
// whose password comes from CDS_ANALYST_PASSWORD (Config.AnalystPassword)
// or <data>/clickhouse-analyst.password; it reads database cds and changes
// nothing.
func TestAnalystUser(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	addrs := freeAddrs(t, 2)
	cfg.ClickHouseTCP, cfg.ClickHouseHTTP = addrs[0], addrs[1]
	cfg.AnalystPassword = "given by the operator"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ch, err := OpenClickHouse(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Server.Managed() {
		t.Fatal("adopted a server instead of starting one")
	}
	pwFile := filepath.Join(cfg.DataDir, AnalystPasswordFile)
	if b, err := os.ReadFile(pwFile); err != nil || strings.TrimSpace(string(b)) != cfg.AnalystPassword {
		t.Errorf("password file = %q, %v", b, err)
	}
	if st, _ := os.Stat(pwFile); st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %o", st.Mode().Perm())
	}
	if err := ch.DB.Exec(ctx, "INSERT INTO "+ch.DB.Table("events")+" (id, type, agency) SELECT 'x1', 'workfile.processed', 'bg-vietyen'"); err != nil {
		t.Fatal(err)
	}

	if err := openAs(t, ch.Server.Addr(), chserver.DefaultAnalystUser, "wrong").Ping(ctx); err == nil {
		t.Error("analyst logged in with a wrong password")
	}
	analyst := openAs(t, ch.Server.Addr(), chserver.DefaultAnalystUser, cfg.AnalystPassword)
	var n uint64
	if err := analyst.QueryRow(ctx, "SELECT count() FROM cds.events").Scan(&n); err != nil || n != 1 {
		t.Fatalf("analyst SELECT: %d, %v", n, err)
	}
	if err := analyst.QueryRow(ctx, "SELECT count() FROM cds.cells WHERE day <= today()").Scan(&n); err != nil {
		t.Errorf("analyst SELECT from the cells view: %v", err)
	}
	for _, q := range []string{
		"INSERT INTO cds.events (id, type, agency) SELECT 'x2', 'workfile.processed', 'bg-vietyen'",
		"ALTER TABLE cds.events DELETE WHERE 1",
		"ALTER TABLE cds.events ADD COLUMN note String",
		"ALTER TABLE cds.events DROP PARTITION 1970",
		"DROP TABLE cds.rollup",
		"TRUNCATE TABLE cds.events",
		"CREATE TABLE cds.mine (x UInt8) ENGINE = Memory",
		"CREATE DATABASE mine",
		"DROP DATABASE cds",
		"RENAME TABLE cds.events TO cds.gone",
		"OPTIMIZE TABLE cds.events FINAL",
		"SELECT 1 SETTINGS readonly = 0",
	} {
		if err := analyst.Exec(ctx, q); err == nil {
			t.Errorf("analyst ran %s", q)
		}
	}
	batch, err := analyst.PrepareBatch(ctx, "INSERT INTO cds.events (id, type, agency)")
	if err == nil {
		if err = batch.Append("x3", "workfile.processed", "bg-vietyen"); err == nil {
			err = batch.Send()
		}
	}
	if err == nil {
		t.Error("analyst batch insert succeeded")
	}
	if err := ch.DB.QueryRow(ctx, "SELECT count() FROM "+ch.DB.Table("events")).Scan(&n); err != nil || n != 1 {
		t.Errorf("after the analyst's attempts cds.events holds %d rows (%v), want 1", n, err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}

	// Without CDS_ANALYST_PASSWORD the password in force stays the one in the file.
	cfg.AnalystPassword = ""
	ch, err = OpenClickHouse(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := openAs(t, ch.Server.Addr(), chserver.DefaultAnalystUser, "given by the operator").Ping(ctx); err != nil {
		t.Errorf("analyst after a restart without CDS_ANALYST_PASSWORD: %v", err)
	}
}

func TestAnalystPasswordGenerated(t *testing.T) {
	dir := t.TempDir()
	pw, err := analystPassword(dir, "")
	if err != nil || len(pw) != 32 {
		t.Fatalf("generated %q, %v", pw, err)
	}
	if again, _ := analystPassword(dir, ""); again != pw {
		t.Errorf("second call %q, want the stored %q", again, pw)
	}
	if given, _ := analystPassword(dir, " new one "); given != "new one" {
		t.Errorf("given password %q", given)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, AnalystPasswordFile)); strings.TrimSpace(string(b)) != "new one" {
		t.Errorf("file holds %q after CDS_ANALYST_PASSWORD", b)
	}
}

// TestRefusedNeverCounted: a hostile agency (bg-vietyen) tries, over NATS
// and HTTP, to put events into the scores of another (bg-hiephoa) and to
// slip invalid events of its own. Every attempt is refused at the door or
// dead-lettered by the projector; the scores and cds.events show only the
// valid events.
func TestRefusedNeverCounted(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	creds, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	victim := agencyJS(t, sys, "bg-hiephoa")
	hp := "cds.events.bg-hiephoa.workfile.processed"
	vy := "cds.events.bg-vietyen.workfile.processed"

	// Valid: one dossier of bg-hiephoa processed offline (HSCV 0/1), one of
	// bg-vietyen online (1/1).
	publish(t, victim, hp, eventtest.Workfile("hp-ok", "bg-hiephoa", "2025-03-01T09:00:00+07:00", "HP-OK", false))
	attacker := agencyJS(t, sys, "bg-vietyen")
	publish(t, attacker, vy, eventtest.Workfile("vy-ok", "bg-vietyen", "2025-03-01T09:00:00+07:00", "VY-OK", true))

	// NATS: a wrong password is refused.
	if _, err := nats.Connect(sys.NATSURL(), nats.UserInfo("bg-vietyen", creds.Agencies["bg-vietyen"].NATSPassword+"x")); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := nats.Connect(sys.NATSURL(), nats.UserInfo("bg-hiephoa", creds.Agencies["bg-vietyen"].NATSPassword)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("another agency's user: %v", err)
	}
	// NATS: publishing on the victim's subject is a permissions violation; nothing is stored.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, err := attacker.Publish(short, hp, []byte(eventtest.Workfile("x-1", "bg-hiephoa", "2025-03-01T09:00:00+07:00", "X-1", true))); err == nil {
		t.Error("published on another agency's subject")
	}
	cancel()
	// Refused at the gate with an error PubAck, not stored, dead-lettered:
	// the body names the victim, the subject the attacker; a type
	// mismatch; the future; an event of an agency outside the registry;
	// not JSON.
	publishRefused(t, attacker, vy, eventtest.Workfile("x-2", "bg-hiephoa", "2025-03-01T09:00:00+07:00", "X-2", true))
	publishRefused(t, attacker, "cds.events.bg-vietyen.report.submitted", eventtest.Workfile("x-3", "bg-vietyen", "2025-03-01T09:00:00+07:00", "X-3", true))
	publishRefused(t, attacker, vy, eventtest.Workfile("x-4", "bg-vietyen", time.Now().Add(72*time.Hour).Format(time.RFC3339), "X-4", true))
	publishRefused(t, attacker, vy, `{"id":"x-5","type":"workfile.processed"`)
	outsider, err := credentials.Add(sys.Config.DataDir, "bg-outsider")
	if err != nil {
		t.Fatal(err)
	}
	outsiderJS := waitAgencyJS(t, sys, "bg-outsider", outsider.NATSPassword)
	publishRefused(t, outsiderJS, "cds.events.bg-outsider.workfile.processed", eventtest.Workfile("x-6", "bg-outsider", "2025-03-01T09:00:00+07:00", "X-6", true))
	// A reply subject on the victim's events: the reply subject lives in
	// the attacker's own account, where the victim's subjects lead nowhere,
	// so the PubAck is lost and nothing lands in the log (see
	// TestReplySubjectInjection for the other targets).
	m := nats.NewMsg(vy)
	m.Reply = hp
	m.Data = []byte(eventtest.Workfile("x-7", "bg-vietyen", "2025-03-02T09:00:00+07:00", "X-7", true))
	nc := attacker.Conn()
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// HTTP: a bad token, the victim's events, an invalid and a far-future event.
	postEvents := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	for _, tt := range []struct {
		name, token, body string
		want              int
	}{
		{"bad token", "forged", eventtest.Workfile("h-1", "bg-hiephoa", "2025-03-01T09:00:00+07:00", "H-1", true), 401},
		{"NATS password as token", creds.Agencies["bg-vietyen"].NATSPassword, eventtest.Workfile("h-2", "bg-vietyen", "2025-03-01T09:00:00+07:00", "H-2", true), 401},
		{"another agency", creds.Agencies["bg-vietyen"].HTTPToken, eventtest.Workfile("h-3", "bg-hiephoa", "2025-03-01T09:00:00+07:00", "H-3", true), 403},
		{"batch hiding one", creds.Agencies["bg-vietyen"].HTTPToken, eventtest.Workfile("h-4", "bg-vietyen", "2025-03-03T09:00:00+07:00", "H-4", false) + "\n" + eventtest.Workfile("h-5", "bg-hiephoa", "2025-03-01T09:00:00+07:00", "H-5", true), 403},
		{"far future", creds.Agencies["bg-vietyen"].HTTPToken, eventtest.Workfile("h-6", "bg-vietyen", time.Now().Add(72*time.Hour).Format(time.RFC3339), "H-6", true), 400},
		{"unknown agency", creds.Agencies["bg-vietyen"].HTTPToken, eventtest.Workfile("h-7", "bg-atlantis", "2025-03-01T09:00:00+07:00", "H-7", true), 400},
	} {
		if got := postEvents(tt.token, tt.body); got != tt.want {
			t.Errorf("POST %s: %d, want %d", tt.name, got, tt.want)
		}
	}

	waitCaughtUp(t, sys)

	var hpScore, vyScore scores.UnitScore
	getJSON(t, base+"/v1/scores/bg-hiephoa?milestone=2025&as_of=2025-06-30", &hpScore)
	if got := hscv(t, &hpScore); got.Numerator == nil || *got.Numerator != 0 || *got.Denominator != 1 {
		t.Errorf("bg-hiephoa HSCV = %+v, want 0/1: a refused event was counted", got)
	}
	getJSON(t, base+"/v1/scores/bg-vietyen?milestone=2025&as_of=2025-06-30", &vyScore)
	// vy-ok and x-7 (online), h-4 (offline, the valid line of the mixed batch).
	if got := hscv(t, &vyScore); got.Numerator == nil || *got.Numerator != 2 || *got.Denominator != 3 {
		t.Errorf("bg-vietyen HSCV = %+v, want 2/3", got)
	}
	var ids []string
	rows, err := sys.CH.DB.Query(ctx, "SELECT id FROM "+sys.CH.DB.Table("events")+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if got := strings.Join(ids, ","); got != "h-4,hp-ok,vy-ok,x-7" {
		t.Errorf("cds.events holds %s, want h-4,hp-ok,vy-ok,x-7 (x-7 is a valid event of bg-vietyen)", got)
	}

	// The dead letters, with their reasons.
	pjs := projectorJetStream(t, sys.NATSURL(), sys.Config.DataDir)
	dlq, err := pjs.Stream(ctx, natsserver.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for seq := uint64(1); seq <= dlq.CachedInfo().State.LastSeq; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var id struct{ ID string }
		_ = json.Unmarshal(m.Data, &id)
		key := id.ID
		if key == "" {
			key = m.Header.Get(deadletter.HeaderSubject) + " " + string(bytes.TrimSpace(m.Data))
		}
		reasons[key] = m.Header.Get(deadletter.HeaderReason)
	}
	// The NATS refusals of the gate, and the HTTP refusals of ingest
	// (h-3, h-5, h-6, h-7; not the requests refused for their token).
	want := map[string]string{"x-2": "subject_mismatch", "x-3": "subject_mismatch", "x-4": "future", "x-6": "unknown_agency",
		"h-3": "not_allowed", "h-5": "not_allowed", "h-6": "future", "h-7": "unknown_agency"}
	for id, reason := range want {
		if reasons[id] != reason {
			t.Errorf("dead letter %s: reason %q, want %q (all: %v)", id, reasons[id], reason, reasons)
		}
	}
	if len(reasons) != len(want)+1 {
		t.Errorf("dead letters %v: want one more, the malformed x-5, and no PubAck sent to the victim's subject", reasons)
	}
}

// waitAgencyJS connects as an agency whose credentials were just added,
// once the embedded server has reloaded its users.
func waitAgencyJS(tb testing.TB, sys *System, agency, password string) jetstream.JetStream {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		nc, err := nats.Connect(sys.NATSURL(), nats.UserInfo(agency, password), nats.CustomInboxPrefix("_INBOX."+agency))
		if err == nil {
			tb.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				tb.Fatal(err)
			}
			return js
		}
		if time.Now().After(deadline) {
			tb.Fatalf("connect as %s: %v", agency, err)
		}
		<-tick.C
	}
}
