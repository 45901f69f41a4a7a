package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/scores"
)

// Tests of issue 15: what an agency or an analyst with valid credentials can
// try (docs/security.md), against the real servers.

// mustSystemAnalyst is mustSystem on a managed ClickHouse with an analyst
// user whose password is returned.
func mustSystemAnalyst(tb testing.TB) (*System, string) {
	tb.Helper()
	const password = "analyst of the test"
	ch := chtest.StartConfig(tb, chserver.Config{AnalystPassword: password})
	cfg := Defaults()
	cfg.DataDir = tb.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ClickHouseAddr = ch.Addr()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
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
	return sys, password
}

// post sends body to POST /v1/events with token and returns the status and
// the answer.
func post(tb testing.TB, base, token, body string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// hscvSQL is the README's reproduction of HSCV from cds.events for one agency
// in 2025 up to 30 June.
const hscvSQL = `SELECT toUInt64(sum(visitParamExtractBool(ev_data, 'online'))) AS numerator, count() AS denominator
FROM (
  SELECT concat(agency, '/', visitParamExtractString(data, 'workfile_id')) AS key,
         argMax(data, (occurred_at, cityHash64(id))) AS ev_data, max(occurred_at) AS at
  FROM cds.events
  WHERE type = 'workfile.processed' AND agency = ? AND retraction = 0
    AND toDate(occurred_at) <= toDate('2025-06-30')
    AND (agency, id) NOT IN (SELECT agency, supersedes FROM cds.events WHERE supersedes != '')
  GROUP BY key)
WHERE toYear(at) = 2025`

// TestFourWorkfilesOneReading: the four work dossiers of issue 15 score the
// same in the API and in the README's SQL, over HTTP and over NATS: the
// three with two readings are refused with reason and field, the fourth
// (offline) counts, HSCV 0/1.
func TestFourWorkfilesOneReading(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	creds, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id, agency, data string) string {
		return fmt.Sprintf(`{"id":%q,"type":"workfile.processed","v":1,"agency":%q,"occurred_at":"2025-03-01T09:00:00+07:00","data":%s}`, id, agency, data)
	}
	four := []struct {
		data          string
		reason, field string
	}{
		{`{"workfile_id":"W1","online":false,"online":true}`, "malformed", "data.online"},
		{`{"workfile_id":"W2","ONLINE":true}`, "unknown_field", "data.ONLINE"},
		{`{"workfile_id":"W3","\u006fnline":true}`, "malformed", `data.\u006fnline`},
		{`{"workfile_id":"W4","online":false}`, "", ""},
	}

	// HTTP, as bg-vietyen: one request per event.
	for i, w := range four {
		status, answer := post(t, base, creds.Agencies["bg-vietyen"].HTTPToken, ev(fmt.Sprintf("vy-%d", i), "bg-vietyen", w.data))
		if w.reason == "" {
			if status != http.StatusAccepted {
				t.Errorf("HTTP %s: %d %s", w.data, status, answer)
			}
			continue
		}
		var res struct {
			Results []struct {
				Status string
				Error  struct{ Reason, Field string }
			}
		}
		if err := json.Unmarshal([]byte(answer), &res); err != nil || status != http.StatusBadRequest || len(res.Results) != 1 ||
			res.Results[0].Error.Reason != w.reason || res.Results[0].Error.Field != w.field {
			t.Errorf("HTTP %s: %d %s, want 400 %s on %s", w.data, status, answer, w.reason, w.field)
		}
	}
	// NATS, as bg-hiephoa: the gate refuses the three with an error PubAck
	// naming reason and field, and dead-letters them.
	js := agencyJS(t, sys, "bg-hiephoa")
	for i, w := range four {
		body := ev(fmt.Sprintf("hp-%d", i), "bg-hiephoa", w.data)
		if w.reason == "" {
			publish(t, js, "cds.events.bg-hiephoa.workfile.processed", body)
			continue
		}
		if r := publishRefused(t, js, "cds.events.bg-hiephoa.workfile.processed", body); !strings.HasPrefix(r.Description, w.field+": "+w.reason+": ") {
			t.Errorf("NATS %s: refused with %q, want %s: %s", w.data, r.Description, w.field, w.reason)
		}
	}
	waitCaughtUp(t, sys)
	reasons := deadLetterReasons(t, sys)
	for i, w := range four {
		if got := reasons[fmt.Sprintf("hp-%d", i)]; got != w.reason {
			t.Errorf("NATS %s: dead letter reason %q, want %q", w.data, got, w.reason)
		}
	}

	for _, agency := range []string{"bg-vietyen", "bg-hiephoa"} {
		var s scores.UnitScore
		getJSON(t, base+"/v1/scores/"+agency+"?milestone=2025&as_of=2025-06-30", &s)
		api := hscv(t, &s)
		var num, den uint64
		if err := sys.CH.DB.QueryRow(context.Background(), hscvSQL, agency).Scan(&num, &den); err != nil {
			t.Fatal(err)
		}
		if api.Numerator == nil || *api.Numerator != 0 || *api.Denominator != 1 || num != 0 || den != 1 {
			t.Errorf("%s HSCV: API %v/%v, SQL %d/%d, want 0/1 in both", agency, api.Numerator, api.Denominator, num, den)
		}
	}
}

// TestAnalystStormKeepsServices: while the analyst user hammers ClickHouse
// with queries that take its CPU, the API answers every score request
// (cold: a new as_of each time) and the projector keeps folding. The storm's
// 40 clients wait stormBackoff after a refusal, as a dashboard that retries
// would: the quota counts refused queries (docs/security.md), and clients
// retrying at once spent its 3,600 queries within the first second, after
// which no analyst query ran and the storm loaded nothing.
func TestAnalystStormKeepsServices(t *testing.T) {
	sys, password := mustSystemAnalyst(t)
	base := "http://" + sys.API.Addr()
	js := agencyJS(t, sys, "bg-vietyen")
	publish(t, js, "cds.events.bg-vietyen.workfile.processed", eventtest.Workfile("s-0", "bg-vietyen", "2025-03-01T09:00:00+07:00", "S-0", true))
	waitCaughtUp(t, sys)

	analyst, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{sys.Config.ClickHouseAddr},
		Protocol:     clickhouse.Native,
		Auth:         clickhouse.Auth{Username: chserver.DefaultAnalystUser, Password: password, Database: "cds"},
		MaxOpenConns: 40,
		ReadTimeout:  30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer analyst.Close()
	ctx, stop := context.WithCancel(context.Background())
	var ran, refused, quota atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait() // runs after stop, before analyst.Close: no query outlives the test
	defer stop()
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := analyst.Exec(ctx, stormSQL)
				switch {
				case err == nil:
					ran.Add(1)
					continue
				case strings.Contains(err.Error(), "Too many simultaneous queries"):
					refused.Add(1)
				case strings.Contains(err.Error(), "Quota for user"):
					quota.Add(1)
				case ctx.Err() == nil:
					t.Errorf("analyst query: %v", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(stormBackoff):
				}
			}
		}()
	}

	// A new as_of each request, cycling through the days bg-vietyen is in
	// force (it ends on 2025-06-30: a later as_of is a 404 by design).
	deadline := time.Now().Add(6 * time.Second)
	first, last := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	days, requests := int(last.Sub(first).Hours()/24)+1, 0
	for i := 1; time.Now().Before(deadline) || requests < 10; i++ {
		var s scores.UnitScore
		url := base + "/v1/scores/bg-vietyen?milestone=2025&as_of=" + first.AddDate(0, 0, i%days).Format("2006-01-02")
		if status := getJSON(t, url, &s); status != http.StatusOK {
			t.Fatalf("GET %s during the storm: %d", url, status)
		}
		requests++
		if i == 1 { // and an event folded during the storm
			publish(t, js, "cds.events.bg-vietyen.workfile.processed", eventtest.Workfile("s-1", "bg-vietyen", "2025-03-01T10:00:00+07:00", "S-1", false))
		}
	}
	waitCaughtUp(t, sys)
	var s scores.UnitScore
	getJSON(t, base+"/v1/scores/bg-vietyen?milestone=2025&as_of=2025-06-30", &s)
	stop()
	wg.Wait()
	if got := hscv(t, &s); got.Denominator == nil || *got.Denominator != 2 {
		t.Errorf("HSCV after the storm %+v, want the event folded during it (denominator 2)", got)
	}
	if refused.Load() == 0 {
		t.Errorf("no analyst query refused: %d ran", ran.Load())
	}
	if ran.Load() == 0 {
		t.Errorf("no analyst query ran to its end during the storm (%d refused, %d over the quota): the storm loaded nothing", refused.Load(), quota.Load())
	}
	t.Logf("storm: %d analyst queries ran, %d refused (at most %d at once), %d over the hourly quota; %d score requests answered 200",
		ran.Load(), refused.Load(), chserver.AnalystMaxConcurrentQueries, quota.Load(), requests)
}

// stormSQL is an analyst's query that keeps its two threads busy for about
// a second (readonly=1 refuses table functions such as numbers(): it reads
// system.numbers).
const stormSQL = "SELECT count() FROM (SELECT number FROM system.numbers LIMIT 100000000) WHERE cityHash64(number) % 7 = 0"

// stormBackoff is how long a client of the storm waits after a refusal.
const stormBackoff = 200 * time.Millisecond

// TestReplySubjectInjection: an agency publishes valid events with the reply
// subject pointed at another agency's events, at the dead-letter stream and
// at another agency's inbox. Its events are stored; its PubAcks reach none
// of those: the log holds only its events, CDS_DLQ stays empty, the victim's
// inbox receives nothing and its score does not move.
func TestReplySubjectInjection(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	victim := agencyJS(t, sys, "bg-hiephoa").Conn()
	var received atomic.Int64
	if _, err := victim.Subscribe("_INBOX.bg-hiephoa.>", func(*nats.Msg) { received.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := victim.Flush(); err != nil {
		t.Fatal(err)
	}

	attacker := agencyJS(t, sys, "bg-vietyen").Conn()
	targets := []string{
		"cds.events.bg-hiephoa.workfile.processed",
		"cds.dlq.malformed.bg-hiephoa",
		"cds.dlq.malformed",
		"_INBOX.bg-hiephoa.spy",
		"$JS.API.STREAM.PURGE.CDS_EVENTS",
	}
	for i, reply := range targets {
		m := nats.NewMsg("cds.events.bg-vietyen.workfile.processed")
		m.Reply = reply
		m.Data = []byte(eventtest.Workfile(fmt.Sprintf("r-%d", i), "bg-vietyen", "2025-03-02T09:00:00+07:00", fmt.Sprintf("R-%d", i), true))
		if err := attacker.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// The control: a reply subject in its own inbox gets its PubAck.
	ack, err := attacker.Request("cds.events.bg-vietyen.workfile.processed",
		[]byte(eventtest.Workfile("r-own", "bg-vietyen", "2025-03-02T09:00:00+07:00", "R-OWN", true)), 5*time.Second)
	if err != nil || !strings.Contains(string(ack.Data), `"stream":"CDS_EVENTS"`) {
		t.Fatalf("PubAck in its own inbox: %v", err)
	}
	waitCaughtUp(t, sys)
	if err := victim.Flush(); err != nil {
		t.Fatal(err)
	}

	if n := received.Load(); n != 0 {
		t.Errorf("the victim's inbox received %d messages", n)
	}
	if reasons := deadLetterReasons(t, sys); len(reasons) != 0 {
		t.Errorf("dead letters %v, want none", reasons)
	}
	var n uint64
	if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count() FROM "+sys.CH.DB.Table("events")+" WHERE agency = 'bg-vietyen'").Scan(&n); err != nil || n != uint64(len(targets)+1) {
		t.Errorf("cds.events holds %d events of bg-vietyen (%v), want %d", n, err, len(targets)+1)
	}
	if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count() FROM "+sys.CH.DB.Table("events")+" WHERE agency != 'bg-vietyen'").Scan(&n); err != nil || n != 0 {
		t.Errorf("cds.events holds %d events of other agencies (%v), want 0", n, err)
	}
	var s scores.UnitScore
	getJSON(t, base+"/v1/scores/bg-hiephoa?milestone=2025&as_of=2025-06-30", &s)
	if got := hscv(t, &s); got.Denominator != nil && *got.Denominator != 0 {
		t.Errorf("bg-hiephoa HSCV %+v, want no data", got)
	}
}

// TestNATSFlood: one agency publishes as fast as it can over NATS, valid
// events and junk, while another publishes a valid event every 20 ms. The
// flooder stores no more than its limit allows (a burst of 2,000 and 100
// events/s), its junk makes as many dead letters and no more, and every
// event of the other agency is stored and folded. The figures are logged:
//
//	CDS_FLOOD_SECONDS=10 go test -run TestNATSFlood -v ./internal/app
func TestNATSFlood(t *testing.T) {
	seconds := 5
	if s := os.Getenv("CDS_FLOOD_SECONDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			seconds = n
		}
	}
	sys := mustSystem(t)
	ctx := context.Background()
	admin := adminJS(t, sys)
	events, err := admin.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	rssBefore := rssBytes(t)

	flooder := agencyJS(t, sys, "bg-vietyen").Conn()
	victim := agencyJS(t, sys, "bg-hiephoa")
	sendVictim := func(id string, online bool) time.Duration {
		m := nats.NewMsg("cds.events.bg-hiephoa.workfile.processed")
		m.Data = []byte(eventtest.Workfile(id, "bg-hiephoa", "2025-03-03T09:00:00+07:00", "V-"+id, online))
		m.Header.Set(jetstream.MsgIDHeader, id)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t0 := time.Now()
		if _, err := victim.PublishMsg(pctx, m); err != nil {
			t.Fatalf("the other agency's event %s: %v", id, err)
		}
		return time.Since(t0)
	}
	var quiet []time.Duration
	for i := range 20 {
		quiet = append(quiet, sendVictim(fmt.Sprintf("q-%d", i), true))
		time.Sleep(20 * time.Millisecond)
	}
	// The flooder asks for a PubAck of every message, as a JetStream
	// publisher does: each reply subject costs the server a route back.
	var acked, refusedAcks atomic.Int64
	if _, err := flooder.Subscribe("_INBOX.bg-vietyen.flood", func(m *nats.Msg) {
		if strings.Contains(string(m.Data), `"code":429`) {
			refusedAcks.Add(1)
		} else {
			acked.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var sent atomic.Int64
	floodDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(floodDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := nats.NewMsg("cds.events.bg-vietyen.workfile.processed")
			m.Reply = "_INBOX.bg-vietyen.flood"
			id := fmt.Sprintf("f-%d", i)
			m.Header.Set(jetstream.MsgIDHeader, id)
			if i%2 == 0 {
				m.Data = []byte(eventtest.Workfile(id, "bg-vietyen", "2025-03-03T09:00:00+07:00", "F-"+id, true))
			} else {
				m.Data = []byte(`{"junk":` + strconv.Itoa(i) + `}`)
			}
			if err := flooder.PublishMsg(m); err != nil {
				if !errors.Is(err, nats.ErrSlowConsumer) && !errors.Is(err, nats.ErrReconnectBufExceeded) {
					return
				}
			}
			sent.Add(1)
		}
	}()

	var latencies []time.Duration
	deadline := start.Add(time.Duration(seconds) * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		latencies = append(latencies, sendVictim(fmt.Sprintf("v-%d", i), i%2 == 0))
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-floodDone
	if err := flooder.Flush(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	rssFlood := rssBytes(t)
	waitCaughtUp(t, sys)

	info, err := events.Info(ctx, jetstream.WithSubjectFilter("cds.events.>"))
	if err != nil {
		t.Fatal(err)
	}
	stored := info.State.Subjects["cds.events.bg-vietyen.workfile.processed"]
	limit := uint64(natsserver.DefaultBurst + natsserver.DefaultRate*(elapsed.Seconds()+1))
	if stored > limit {
		t.Errorf("the flooder stored %d events in %s, above its limit (%d)", stored, elapsed.Round(time.Millisecond), limit)
	}
	victimEvents := len(quiet) + len(latencies)
	if got := info.State.Subjects["cds.events.bg-hiephoa.workfile.processed"]; got != uint64(victimEvents) {
		t.Errorf("the other agency stored %d of its %d events", got, victimEvents)
	}
	var s scores.UnitScore
	getJSON(t, "http://"+sys.API.Addr()+"/v1/scores/bg-hiephoa?milestone=2025&as_of=2025-06-30", &s)
	if got := hscv(t, &s); got.Denominator == nil || *got.Denominator != float64(victimEvents) {
		t.Errorf("the other agency's HSCV %+v, want its %d events folded", got, victimEvents)
	}
	if m := body(t, "http://"+sys.API.Addr()+"/metrics"); !strings.Contains(m, `cds_nats_refused_total{agency="bg-vietyen"}`) {
		t.Error("/metrics has no cds_nats_refused_total for the flooder")
	}
	dlq, err := admin.Stream(ctx, natsserver.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	dinfo, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The gate refuses the junk before the log (dead-lettered, not stored):
	// what passed the flooder's bucket is either stored or dead-lettered.
	if stored+dinfo.State.Msgs > limit {
		t.Errorf("CDS_DLQ holds %d dead letters and the log %d events of the flooder, more than its limit (%d)", dinfo.State.Msgs, stored, limit)
	}
	slices.Sort(latencies)
	slices.Sort(quiet)
	pct := func(l []time.Duration, p float64) time.Duration {
		return l[int(p*float64(len(l)-1))].Round(time.Microsecond)
	}
	t.Logf("flood of %s: bg-vietyen sent %d messages (%.0f/s), stored %d (limit %d), refused by the gate %d; PubAcks it received: %d stored, %d refused (429); CDS_EVENTS %d messages, %d bytes; CDS_DLQ %d dead letters, %d bytes",
		elapsed.Round(time.Millisecond), sent.Load(), float64(sent.Load())/elapsed.Seconds(), stored, limit, sys.NATS.Refused()["bg-vietyen"],
		acked.Load(), refusedAcks.Load(), info.State.Msgs, info.State.Bytes, dinfo.State.Msgs, dinfo.State.Bytes)
	t.Logf("bg-hiephoa: PubAck latency before the flood p50 %s, max %s (%d events); during it p50 %s, p99 %s, max %s (%d events); all stored and folded",
		pct(quiet, 0.5), pct(quiet, 1), len(quiet), pct(latencies, 0.5), pct(latencies, 0.99), pct(latencies, 1), len(latencies))
	t.Logf("RSS of the process (NATS, projector, API in one): %d MB before, %d MB at the end of the flood", rssBefore>>20, rssFlood>>20)
}

// adminJS connects as the operators' admin user.
func adminJS(tb testing.TB, sys *System) jetstream.JetStream {
	tb.Helper()
	f, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	return natstest.JetStream(tb, sys.NATSURL(), nats.UserInfo(f.Admin.User, f.Admin.Password))
}

// rssBytes is the resident memory of this process (Linux).
func rssBytes(tb testing.TB) uint64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}
