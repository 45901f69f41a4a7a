package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/scores"
)

// mustSystem runs NATS, projector and API against a fresh clickhouse-server;
// opts change the test's configuration before the start.
func mustSystem(tb testing.TB, opts ...func(*Config)) *System {
	tb.Helper()
	ch := chtest.Start(tb)
	cfg := Defaults()
	cfg.DataDir = tb.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ClickHouseAddr = ch.Addr()
	cfg.HistoryInterval = -1 // the score history is tested in internal/history
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := Start(ctx, cfg, Parts{NATS: true, Projector: true, API: true})
	if err != nil {
		tb.Fatalf("start system: %v", err)
	}
	tb.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			tb.Errorf("close system: %v", err)
		}
	})
	return sys
}

// testWriter sends logs to the test's log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// agencyJS connects as an agency, the way an agency system does.
func agencyJS(tb testing.TB, sys *System, agency string) jetstream.JetStream {
	tb.Helper()
	f, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	return natstest.JetStream(tb, sys.NATSURL(), nats.UserInfo(agency, f.Agencies[agency].NATSPassword), nats.CustomInboxPrefix("_INBOX."+agency))
}

func publish(tb testing.TB, js jetstream.JetStream, subject, body string) {
	tb.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = []byte(body)
	var env struct{ ID string }
	_ = json.Unmarshal(msg.Data, &env)
	if env.ID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, env.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		tb.Fatalf("publish %s: %v", subject, err)
	}
}

func getJSON(tb testing.TB, url string, v any) int {
	tb.Helper()
	status, _, body := getStatus(tb, url)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		tb.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return status
}

// projectorJetStream connects to urls as the projector service, with the
// credentials in dataDir, and returns the connection's JetStream context;
// the connection is closed when tb ends.
func projectorJetStream(tb testing.TB, urls, dataDir string) jetstream.JetStream {
	tb.Helper()
	nc, err := ConnectService(urls, dataDir, credentials.ServiceProjector, "test", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

func waitCaughtUp(tb testing.TB, sys *System) {
	tb.Helper()
	js := projectorJetStream(tb, sys.NATSURL(), sys.Config.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sys.WaitCaughtUp(ctx, js); err != nil {
		tb.Fatalf("projector did not catch up: %v (watermark %d)", err, sys.Proj.Watermark())
	}
}

func hscv(tb testing.TB, s *scores.UnitScore) scores.IndicatorScore {
	tb.Helper()
	for _, ind := range s.Indicators {
		if ind.Code == "HSCV" {
			return ind
		}
	}
	tb.Fatalf("no HSCV in %+v", s)
	return scores.IndicatorScore{}
}

// TestEndToEnd drives the spine: agency NATS publishes and HTTP posts, through
// JetStream and the projector, into ClickHouse and out of the score API.
func TestEndToEnd(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	js := agencyJS(t, sys, "bg-hiephoa")
	subj := "cds.events.bg-hiephoa.workfile.processed"

	publish(t, js, subj, eventtest.Workfile("hp-1", "bg-hiephoa", "2025-01-10T09:00:00+07:00", "HP-1", true))
	publish(t, js, subj, eventtest.Workfile("hp-2", "bg-hiephoa", "2025-02-10T09:00:00+07:00", "HP-2", true))
	publish(t, js, subj, eventtest.Workfile("hp-3", "bg-hiephoa", "2025-03-10T09:00:00+07:00", "HP-3", false))
	publish(t, js, subj, eventtest.Workfile("hp-4", "bg-hiephoa", "2024-03-10T09:00:00+07:00", "HP-4", true))         // another year
	publishRefused(t, js, subj, eventtest.Workfile("hp-5", "bg-hiephoa", "2025-07-10T09:00:00+07:00", "HP-5", false)) // after the district was merged: refused at the gate
	publish(t, js, subj, eventtest.Workfile("hp-1", "bg-hiephoa", "2025-01-10T09:00:00+07:00", "HP-1", true))         // JetStream drops it (Nats-Msg-Id)
	// The same id again without Nats-Msg-Id, as after the duplicate window: the projector drops it.
	if _, err := js.Publish(context.Background(), subj, []byte(eventtest.Workfile("hp-1", "bg-hiephoa", "2025-01-10T09:00:00+07:00", "HP-1", true))); err != nil {
		t.Fatal(err)
	}
	// A correction: HP-3 was in fact processed online.
	publish(t, js, subj, strings.TrimSuffix(eventtest.Workfile("hp-6", "bg-hiephoa", "2025-03-10T09:00:00+07:00", "HP-3", true), "}")+`,"supersedes":"hp-3"}`)
	// Its subject names bg-hiephoa but the body another agency: refused by
	// the gate and dead-lettered.
	publishRefused(t, js, subj, eventtest.Workfile("hp-7", "bg-vietyen", "2025-03-10T09:00:00+07:00", "X", true))
	// Not JSON at all.
	publishRefused(t, js, subj, `not json`)

	// Over HTTP, as bg-vietyen, an NDJSON batch.
	creds, _ := credentials.LoadFile(sys.Config.DataDir)
	body := eventtest.Workfile("vy-1", "bg-vietyen", "2025-05-01T08:00:00+07:00", "VY-1", true) + "\n" + eventtest.Workfile("vy-2", "bg-vietyen", "2025-05-02T08:00:00+07:00", "VY-2", false) + "\n"
	req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+creds.Agencies["bg-vietyen"].HTTPToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/events = %d %s", resp.StatusCode, rb)
	}

	waitCaughtUp(t, sys)

	var hp scores.UnitScore
	if code := getJSON(t, base+"/v1/scores/bg-hiephoa?milestone=2025&as_of=2025-06-30", &hp); code != 200 {
		t.Fatalf("status %d: %+v", code, hp)
	}
	got := hscv(t, &hp)
	if *got.Numerator != 3 || *got.Denominator != 3 || *got.Value != 1 || *got.Target != 0.85 || got.Status != scores.StatusMet {
		t.Errorf("bg-hiephoa HSCV = %+v, want 3/3 met against 0.85", got)
	}
	var vy scores.UnitScore
	getJSON(t, base+"/v1/scores/bg-vietyen?milestone=2025&as_of=2025-06-30", &vy)
	if got := hscv(t, &vy); *got.Numerator != 1 || *got.Denominator != 2 {
		t.Errorf("bg-vietyen HSCV = %v/%v, want 1/2", *got.Numerator, *got.Denominator)
	}
	var lv scores.LevelScores
	getJSON(t, base+"/v1/scores?milestone=2025&level=district&as_of=2025-06-30", &lv)
	if len(lv.Units) != 10 {
		t.Fatalf("%d districts, want 10", len(lv.Units))
	}
	if lv.Units[0].Unit != "bg-hiephoa" || lv.Units[0].Rank != 1 {
		t.Errorf("first district = %s rank %d, want bg-hiephoa 1", lv.Units[0].Unit, lv.Units[0].Rank)
	}

	// Raw events: 5 distinct valid ids over NATS (hp-1..hp-6 but hp-5) + 2 over HTTP.
	var n uint64
	if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count() FROM "+sys.CH.DB.Table("events")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Errorf("cds.events holds %d rows, want 7", n)
	}

	// The three bad messages are in the dead-letter stream with their reasons.
	pjs := projectorJetStream(t, sys.NATSURL(), sys.Config.DataDir)
	ctx := context.Background()
	dlq, err := pjs.Stream(ctx, natsserver.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("dead letter %d: %v", seq, err)
		}
		reasons = append(reasons, m.Header.Get("Cds-Reason"))
	}
	if strings.Join(reasons, ",") != "unit_not_in_force,subject_mismatch,malformed" {
		t.Errorf("dead-letter reasons = %v", reasons)
	}

	var h map[string]string
	if code := getJSON(t, base+"/healthz", &h); code != 200 {
		t.Errorf("healthz = %d %v", code, h)
	}
	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`cds_projector_events_total{outcome="applied"} 7`, `cds_projector_events_total{outcome="duplicate"} 1`, "cds_projector_lag_events", "cds_projector_batch_size_events_bucket", "cds_scores_cache_hits_total", "cds_scores_snapshot_reads_total", "cds_scores_snapshot_copy_reads_total", "cds_scores_snapshot_fallbacks_total"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
