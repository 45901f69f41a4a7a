package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/ingest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/httpx"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/registry"
)

// fixture is a real NATS JetStream server with the agencies of the sample
// registry, the ingest handler publishing as the API service user, and a
// real HTTP server in front of it.
type fixture struct {
	ns    *natsserver.Server
	creds *credentials.File
	admin jetstream.JetStream
	h     *ingest.Handler
	url   string
	clock *clock
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testNow = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// extraAgency has credentials but is not an organisation unit of the registry.
const extraAgency = "bg-nowhere"

func newFixture(tb testing.TB, cfg ingest.Config) *fixture {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registry.Sample()
	dir := tb.TempDir()
	creds, hashes, err := credentials.Ensure(dir, append(reg.Codes(), extraAgency))
	if err != nil {
		tb.Fatal(err)
	}
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: tb.TempDir(), Hashes: hashes})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	connect := func(u credentials.NATSUser) jetstream.JetStream {
		return natstest.JetStream(tb, ns.ClientURL(), nats.UserInfo(u.User, u.Password), nats.MaxReconnects(-1))
	}
	admin := connect(creds.Admin)
	if err := natsserver.EnsureStreams(ctx, admin, natsserver.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	apiJS := connect(creds.Services[credentials.ServiceAPI])
	clk := &clock{t: testNow}
	h := ingest.New(cfg, ingest.Deps{JetStream: apiJS, Auth: hashes.CheckHTTPToken, Units: reg, MayReport: reg.MayReportFor, Now: clk.Now})
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &fixture{ns: ns, creds: creds, admin: admin, h: h, url: srv.URL, clock: clk}
}

func (fx *fixture) token(agency string) string { return fx.creds.Agencies[agency].HTTPToken }

// answer is a decoded reply to POST /v1/events.
type answer struct {
	status int
	header http.Header
	resp   ingest.Response
	err    httpx.Body
	raw    string
}

func (fx *fixture) post(tb testing.TB, header map[string]string, body string) answer {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, fx.url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header, raw: string(b)}
	if err := json.Unmarshal(b, &a.resp); err != nil {
		tb.Fatalf("answer is not JSON: %v: %s", err, b)
	}
	_ = json.Unmarshal(b, &a.err)
	return a
}

// as returns the headers of an agency's request.
func (fx *fixture) as(agency string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + fx.token(agency)}
}

func (fx *fixture) streamMsgs(tb testing.TB) uint64 {
	tb.Helper()
	st, err := fx.admin.Stream(context.Background(), natsserver.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// stored fails unless the stream holds data at seq on the event's subject.
func (fx *fixture) stored(tb testing.TB, seq uint64, subject, data string) {
	tb.Helper()
	st, err := fx.admin.Stream(context.Background(), natsserver.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		tb.Fatalf("stream message %d: %v", seq, err)
	}
	if m.Subject != subject || string(m.Data) != data {
		tb.Errorf("stream message %d = %s %s; want %s %s", seq, m.Subject, m.Data, subject, data)
	}
}

// wf is an online workfile W-<id>.
func wf(id, agency, at string) string { return eventtest.Workfile(id, agency, at, "W-"+id, true) }

// enterprise is an event of a type only the province and the units that
// report for it may send (events.EmitProvince).
func enterprise(id, agency, at string) string {
	return fmt.Sprintf(`{"id":%q,"type":"enterprise.registered","v":1,"agency":%q,"occurred_at":%q,"data":{"enterprise_id":"E-%s","digital":true}}`, id, agency, at, id)
}

const at = "2025-03-14T09:30:00+07:00"

// want is the expected outcome of one event.
type want struct {
	status, reason, field, msg string
}

func TestRefusals(t *testing.T) {
	fx := newFixture(t, ingest.Config{MaxBatch: 5, MaxEventBytes: 1024, MaxBodyBytes: 4096, Rate: -1})
	vy := "Bearer " + fx.token("bg-vietyen")
	big := strings.Replace(wf("big", "bg-vietyen", at), `"W-big"`, `"`+strings.Repeat("x", 1100)+`"`, 1)
	tests := []struct {
		name       string
		header     map[string]string
		body       string
		wantStatus int
		wantCode   string // whole-request refusal
		wantMsg    string // in the whole-request message
		want       []want // per event
	}{
		{name: "no token", body: wf("a1", "bg-vietyen", at), wantStatus: 401, wantCode: "unauthorized", wantMsg: "missing Authorization"},
		{name: "empty token", header: map[string]string{"Authorization": "Bearer "}, body: wf("a2", "bg-vietyen", at), wantStatus: 401, wantCode: "unauthorized"},
		{name: "bad token", header: map[string]string{"Authorization": "Bearer nope"}, body: wf("a3", "bg-vietyen", at), wantStatus: 401, wantCode: "unauthorized", wantMsg: "not valid"},
		{name: "basic auth", header: map[string]string{"Authorization": "Basic " + fx.token("bg-vietyen")}, body: wf("a4", "bg-vietyen", at), wantStatus: 401, wantCode: "unauthorized"},
		{name: "nats password as token", header: map[string]string{"Authorization": "Bearer " + fx.creds.Agencies["bg-vietyen"].NATSPassword}, body: wf("a5", "bg-vietyen", at), wantStatus: 401, wantCode: "unauthorized"},
		{name: "lower-case scheme", header: map[string]string{"Authorization": "bearer " + fx.token("bg-vietyen")}, body: wf("ok1", "bg-vietyen", at), wantStatus: 202, want: []want{{status: "accepted"}}},
		{name: "text/plain", header: map[string]string{"Authorization": vy, "Content-Type": "text/plain"}, body: wf("b1", "bg-vietyen", at), wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "curl default", header: map[string]string{"Authorization": vy, "Content-Type": "application/x-www-form-urlencoded"}, body: wf("b2", "bg-vietyen", at), wantStatus: 415, wantCode: "unsupported_media_type", wantMsg: "-H 'Content-Type: application/x-ndjson'"},
		{name: "latin1", header: map[string]string{"Authorization": vy, "Content-Type": "application/json; charset=iso-8859-1"}, body: wf("b3", "bg-vietyen", at), wantStatus: 415, wantCode: "unsupported_media_type", wantMsg: "UTF-8"},
		{name: "gzip", header: map[string]string{"Authorization": vy, "Content-Encoding": "gzip"}, body: wf("b4", "bg-vietyen", at), wantStatus: 415, wantCode: "unsupported_media_type", wantMsg: "uncompressed"},
		{name: "json utf-8", header: map[string]string{"Authorization": vy, "Content-Type": "application/json; charset=UTF-8"}, body: wf("ok2", "bg-vietyen", at), wantStatus: 202, want: []want{{status: "accepted"}}},
		{name: "ndjson", header: map[string]string{"Authorization": vy, "Content-Type": "application/x-ndjson"}, body: wf("ok3", "bg-vietyen", at) + "\n" + wf("ok4", "bg-vietyen", at) + "\n", wantStatus: 202, want: []want{{status: "accepted"}, {status: "accepted"}}},
		{name: "crlf and blank lines", header: map[string]string{"Authorization": vy}, body: "\r\n" + wf("ok5", "bg-vietyen", at) + "\r\n\r\n" + wf("ok6", "bg-vietyen", at) + "\r\n", wantStatus: 202, want: []want{{status: "accepted"}, {status: "accepted"}}},
		{name: "byte order mark", header: map[string]string{"Authorization": vy}, body: "\uFEFF" + wf("ok7", "bg-vietyen", at), wantStatus: 202, want: []want{{status: "accepted"}}},
		{name: "pretty-printed", header: map[string]string{"Authorization": vy}, body: "{\n  \"id\": \"ok8\",\n  \"type\": \"workfile.processed\",\n  \"v\": 1,\n  \"agency\": \"bg-vietyen\",\n  \"occurred_at\": \"" + at + "\",\n  \"data\": {\"workfile_id\": \"W-8\", \"online\": false}\n}\n", wantStatus: 202, want: []want{{status: "accepted"}}},
		{name: "empty body", header: map[string]string{"Authorization": vy}, body: " \n\t\n", wantStatus: 400, wantCode: "invalid", wantMsg: "empty body"},
		{name: "json array", header: map[string]string{"Authorization": vy}, body: "[" + wf("c1", "bg-vietyen", at) + "]", wantStatus: 400, wantCode: "invalid", wantMsg: "NDJSON"},
		{name: "truncated", header: map[string]string{"Authorization": vy}, body: `{"id":"c2","type":"workfile.processed"`, wantStatus: 400, want: []want{{status: "rejected", reason: "malformed", msg: "line 1, column 39"}}},
		{name: "syntax error on line 2", header: map[string]string{"Authorization": vy}, body: wf("ok9", "bg-vietyen", at) + "\n" + `  {"id":"c3","type":"workfile.processed",,}`, wantStatus: 400, want: []want{{status: "accepted"}, {status: "rejected", reason: "malformed", msg: "line 2, column 42"}}},
		{name: "pretty-printed with a trailing comma", header: map[string]string{"Authorization": vy}, body: "{\n  \"id\": \"c4\",\n  \"v\": 1,\n}\n", wantStatus: 400, want: []want{{status: "rejected", reason: "malformed", msg: "line 4, column 1"}}},
		{name: "not utf-8", header: map[string]string{"Authorization": vy}, body: strings.Replace(wf("c5", "bg-vietyen", at), "W-c5", "W-\xff", 1), wantStatus: 400, want: []want{{status: "rejected", reason: "malformed", msg: "not UTF-8 at line 1, column 135"}}},
		{name: "not an object", header: map[string]string{"Authorization": vy}, body: `"hello"`, wantStatus: 400, want: []want{{status: "rejected", reason: "malformed"}}},
		{name: "missing field", header: map[string]string{"Authorization": vy}, body: `{"id":"c6","type":"workfile.processed","v":1,"agency":"bg-vietyen","data":{"workfile_id":"W","online":true}}`, wantStatus: 400, want: []want{{status: "rejected", reason: "missing_field", field: "occurred_at"}}},
		{name: "missing data field", header: map[string]string{"Authorization": vy}, body: `{"id":"c7","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"` + at + `","data":{"workfile_id":"W"}}`, wantStatus: 400, want: []want{{status: "rejected", reason: "missing_field", field: "data.online"}}},
		{name: "mistyped", header: map[string]string{"Authorization": vy}, body: strings.Replace(wf("c8", "bg-vietyen", at), `"online":true`, `"online":"yes"`, 1), wantStatus: 400, want: []want{{status: "rejected", reason: "malformed", field: "data.online", msg: "expected a boolean"}}},
		{name: "mistyped version", header: map[string]string{"Authorization": vy}, body: strings.Replace(wf("c9", "bg-vietyen", at), `"v":1`, `"v":"1"`, 1), wantStatus: 400, want: []want{{status: "rejected", reason: "malformed", field: "v"}}},
		{name: "unknown type", header: map[string]string{"Authorization": vy}, body: strings.Replace(wf("c10", "bg-vietyen", at), "workfile.processed", "workfile.lost", 1), wantStatus: 400, want: []want{{status: "rejected", reason: "unknown_type", field: "type", msg: "workfile.processed"}}},
		{name: "unknown field", header: map[string]string{"Authorization": vy}, body: strings.Replace(wf("c11", "bg-vietyen", at), `"v":1`, `"v":1,"agencey":"x"`, 1), wantStatus: 400, want: []want{{status: "rejected", reason: "unknown_field", field: "agencey"}}},
		{name: "bad timestamp", header: map[string]string{"Authorization": vy}, body: wf("c12", "bg-vietyen", "2025-03-14 09:30:00"), wantStatus: 400, want: []want{{status: "rejected", reason: "invalid_field", field: "occurred_at", msg: "RFC 3339"}}},
		{name: "far future", header: map[string]string{"Authorization": vy}, body: wf("c13", "bg-vietyen", "2025-06-03T10:00:00+07:00"), wantStatus: 400, want: []want{{status: "rejected", reason: "future", field: "occurred_at"}}},
		{name: "a little ahead", header: map[string]string{"Authorization": vy}, body: wf("ok10", "bg-vietyen", "2025-06-01T20:00:00+07:00"), wantStatus: 202, want: []want{{status: "accepted"}}},
		{name: "unknown agency", header: map[string]string{"Authorization": vy}, body: wf("c14", "bg-atlantis", at), wantStatus: 400, want: []want{{status: "rejected", reason: "unknown_agency", field: "agency"}}},
		{name: "token of an agency not in the registry", header: fx.as(extraAgency), body: wf("c15", extraAgency, at), wantStatus: 400, want: []want{{status: "rejected", reason: "unknown_agency", field: "agency"}}},
		{name: "another agency", header: map[string]string{"Authorization": vy}, body: wf("c16", "bg-hiephoa", at), wantStatus: 403, want: []want{{status: "rejected", reason: "not_allowed", field: "agency"}}},
		{name: "reports for the province", header: fx.as("bg-stttt"), body: enterprise("ok11", "bg", at), wantStatus: 202, want: []want{{status: "accepted"}}},
		{name: "the province for a department", header: fx.as("bg"), body: wf("c17", "bg-stttt", at), wantStatus: 403, want: []want{{status: "rejected", reason: "not_allowed", field: "agency"}}},
		{name: "a province figure from a unit that does not report for it", header: map[string]string{"Authorization": vy}, body: enterprise("c19", "bg-vietyen", at), wantStatus: 403, want: []want{{status: "rejected", reason: "not_allowed", field: "type", msg: "does not report for the province"}}},
		{name: "event too large", header: map[string]string{"Authorization": vy}, body: big + "\n" + wf("ok12", "bg-vietyen", at), wantStatus: 413, want: []want{{status: "rejected", reason: "too_large"}, {status: "accepted"}}},
		{name: "body too large", header: map[string]string{"Authorization": vy}, body: strings.Repeat(" ", 4097), wantStatus: 413, wantCode: "too_large"},
		{name: "batch too large", header: map[string]string{"Authorization": vy}, body: strings.Repeat("{}\n", 6), wantStatus: 413, wantCode: "too_large", wantMsg: "limit is 5"},
		{name: "mixed: forbidden wins over invalid", header: map[string]string{"Authorization": vy}, body: wf("ok13", "bg-vietyen", at) + "\nnot json\n" + wf("c18", "bg-yenthe", at), wantStatus: 403, want: []want{{status: "accepted"}, {status: "rejected", reason: "malformed", msg: "line 2, column 2"}, {status: "rejected", reason: "not_allowed", field: "agency"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fx.streamMsgs(t)
			a := fx.post(t, tt.header, tt.body)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.status, tt.wantStatus, a.raw)
			}
			if tt.wantCode != "" {
				if a.err.Error.Code != tt.wantCode || !strings.Contains(a.err.Error.Message, tt.wantMsg) {
					t.Errorf("error = %+v, want code %s with %q", a.err.Error, tt.wantCode, tt.wantMsg)
				}
				if got := fx.streamMsgs(t); got != before {
					t.Errorf("a refused request stored %d events", got-before)
				}
				return
			}
			if len(a.resp.Results) != len(tt.want) {
				t.Fatalf("%d results, want %d: %s", len(a.resp.Results), len(tt.want), a.raw)
			}
			accepted := 0
			for i, w := range tt.want {
				r := a.resp.Results[i]
				if r.Index != i || r.Status != w.status {
					t.Errorf("result %d = %+v, want %s", i, r, w.status)
					continue
				}
				if w.status == "accepted" {
					accepted++
					if r.Seq == 0 || r.Error != nil {
						t.Errorf("accepted result %d = %+v", i, r)
					}
					continue
				}
				if r.Error == nil || string(r.Error.Reason) != w.reason || r.Error.Field != w.field || !strings.Contains(r.Error.Msg, w.msg) {
					t.Errorf("result %d error = %+v, want reason %s field %q message with %q", i, r.Error, w.reason, w.field, w.msg)
				}
			}
			if a.resp.Accepted != accepted || a.resp.Rejected != len(tt.want)-accepted {
				t.Errorf("counts accepted %d rejected %d, want %d and %d", a.resp.Accepted, a.resp.Rejected, accepted, len(tt.want)-accepted)
			}
			if got := fx.streamMsgs(t); got != before+uint64(accepted) {
				t.Errorf("stream grew by %d, want %d", got-before, accepted)
			}
		})
	}
}

func TestStoredAsSent(t *testing.T) {
	fx := newFixture(t, ingest.Config{})
	e1, e2 := wf("s1", "bg-vietyen", at), wf("s2", "bg-vietyen", at)
	a := fx.post(t, fx.as("bg-vietyen"), e1+"\n"+e2)
	if a.status != 202 || a.resp.Accepted != 2 {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	for i, e := range []string{e1, e2} {
		r := a.resp.Results[i]
		if r.Line != i+1 || r.ID != fmt.Sprintf("s%d", i+1) {
			t.Errorf("result %d = %+v", i, r)
		}
		fx.stored(t, r.Seq, "cds.events.bg-vietyen.workfile.processed", e)
	}
	// The message id is the event id.
	st, _ := fx.admin.Stream(context.Background(), natsserver.EventsStream)
	m, err := st.GetMsg(context.Background(), a.resp.Results[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(jetstream.MsgIDHeader); got != "s1" {
		t.Errorf("Nats-Msg-Id = %q, want s1", got)
	}
}

// TestRetryIsSafe: a batch sent again (a lost answer, a timeout) stores
// nothing twice, and a batch with refused events can be fixed and resent whole.
func TestRetryIsSafe(t *testing.T) {
	fx := newFixture(t, ingest.Config{})
	vy := fx.as("bg-vietyen")
	bad := strings.Replace(wf("r2", "bg-vietyen", at), `"online":true`, `"online":1`, 1)
	batch := wf("r1", "bg-vietyen", at) + "\n" + bad + "\n" + wf("r3", "bg-vietyen", at)
	first := fx.post(t, vy, batch)
	if first.status != 400 || first.resp.Accepted != 2 || first.resp.Rejected != 1 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	fixed := strings.Replace(batch, `"online":1`, `"online":true`, 1)
	second := fx.post(t, vy, fixed)
	if second.status != 202 || second.resp.Accepted != 1 || second.resp.Duplicates != 2 {
		t.Fatalf("second: %d %s", second.status, second.raw)
	}
	for _, i := range []int{0, 2} {
		if second.resp.Results[i].Status != "duplicate" || second.resp.Results[i].Seq != first.resp.Results[i].Seq {
			t.Errorf("result %d = %+v, want duplicate of seq %d", i, second.resp.Results[i], first.resp.Results[i].Seq)
		}
	}
	third := fx.post(t, vy, fixed)
	if third.status != 200 || third.resp.Duplicates != 3 {
		t.Fatalf("third: %d %s", third.status, third.raw)
	}
	if n := fx.streamMsgs(t); n != 3 {
		t.Errorf("stream holds %d events, want 3", n)
	}
}

// TestManyAgenciesAtOnce: full batches of many agencies at once are more
// than the publisher's window of unacknowledged messages (4000 by default):
// they wait for room instead of being refused with 503, every event is
// stored once, and each answer gives every event its own sequence. (Before
// the wait, 16 agencies posting 4 batches each got 503s about every other
// run on the 2-core machine.)
func TestManyAgenciesAtOnce(t *testing.T) {
	fx := newFixture(t, ingest.Config{Rate: -1, AckTimeout: time.Minute}) // a slow shared machine is not what this tests
	const size, rounds = 1000, 4
	var mk batchMaker
	answers := make([][]answer, len(benchAgencies))
	var wg sync.WaitGroup
	for i, agency := range benchAgencies {
		bodies := make([]string, rounds)
		for r := range bodies {
			bodies[r] = string(mk.batch(agency, size))
		}
		wg.Go(func() {
			for _, body := range bodies {
				answers[i] = append(answers[i], fx.post(t, fx.as(agency), body))
			}
		})
	}
	wg.Wait()
	seqs := map[uint64]bool{}
	for i, as := range answers {
		for _, a := range as {
			if a.status != 202 || a.resp.Accepted != size {
				t.Fatalf("%s: %d, %d accepted: %.300s", benchAgencies[i], a.status, a.resp.Accepted, a.raw)
			}
			for _, r := range a.resp.Results {
				if r.Seq == 0 || seqs[r.Seq] {
					t.Fatalf("%s: result %+v: no or a repeated sequence", benchAgencies[i], r)
				}
				seqs[r.Seq] = true
			}
		}
	}
	if n, want := fx.streamMsgs(t), uint64(len(benchAgencies)*rounds*size); n != want {
		t.Errorf("stream holds %d events, want %d", n, want)
	}
}

func TestRateLimit(t *testing.T) {
	fx := newFixture(t, ingest.Config{Rate: 10, Burst: 20, MaxBatch: 20})
	vy := fx.as("bg-vietyen")
	batch := func(prefix string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintln(&b, wf(fmt.Sprintf("%s-%d", prefix, i), "bg-vietyen", at))
		}
		return b.String()
	}
	if a := fx.post(t, vy, batch("a", 15)); a.status != 202 {
		t.Fatalf("first batch: %d %s", a.status, a.raw)
	}
	// 5 left: a batch of 10 waits 0.5 s for the missing 5 → Retry-After 1; nothing stored.
	before := fx.streamMsgs(t)
	a := fx.post(t, vy, batch("b", 10))
	if a.status != 429 || a.header.Get("Retry-After") != "1" || a.err.Error.Code != "rate_limited" {
		t.Fatalf("over the rate: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
	if fx.streamMsgs(t) != before {
		t.Error("a rate-limited request stored events")
	}
	// Refused events count too: 5 invalid lines use up the rest.
	if a := fx.post(t, vy, strings.Repeat("x\n", 5)); a.status != 400 {
		t.Fatalf("invalid batch: %d %s", a.status, a.raw)
	}
	// Empty bucket: refused before the body is read, with the wait for one event.
	if a := fx.post(t, vy, batch("c", 1)); a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Fatalf("empty bucket: %d %s", a.status, a.raw)
	}
	// Other agencies have their own bucket.
	if a := fx.post(t, fx.as("bg-hiephoa"), wf("h1", "bg-hiephoa", at)); a.status != 202 {
		t.Fatalf("other agency: %d %s", a.status, a.raw)
	}
	// After 20 s of quiet the bucket is full again (burst 20, not more).
	fx.clock.Add(20 * time.Second)
	if a := fx.post(t, vy, batch("d", 20)); a.status != 202 {
		t.Fatalf("after the wait: %d %s", a.status, a.raw)
	}
	// Retry-After converges: first the wait for one event (the body is not
	// read), then, with the body read, the wait for the whole batch.
	for _, step := range []struct {
		wait       time.Duration
		wantStatus int
		wantRetry  string
	}{{0, 429, "1"}, {time.Second, 429, "1"}, {time.Second, 202, ""}} {
		fx.clock.Add(step.wait)
		a = fx.post(t, vy, batch("e", 20))
		if a.status != step.wantStatus || a.header.Get("Retry-After") != step.wantRetry {
			t.Fatalf("after a full burst and %s: %d Retry-After %q, want %d %q", step.wait, a.status, a.header.Get("Retry-After"), step.wantStatus, step.wantRetry)
		}
	}
}

func TestDefaults(t *testing.T) {
	got := ingest.New(ingest.Config{}, ingest.Deps{}).Config()
	if got.Rate != ingest.DefaultRate || got.Burst != 2000 || got.MaxBatch != 1000 || got.MaxEventBytes != 64<<10 ||
		got.MaxBodyBytes != 8<<20 || got.MaxInFlight != 4 || got.AckTimeout != 10*time.Second {
		t.Errorf("defaults = %+v", got)
	}
	if got := ingest.New(ingest.Config{MaxBatch: 5000, Burst: 10}, ingest.Deps{}).Config(); got.Burst != 5000 {
		t.Errorf("burst %d below the batch size 5000", got.Burst)
	}
}

// signalBody closes entered on the handler's first read of the body, which
// happens after the request took its in-flight slot.
type signalBody struct {
	io.ReadCloser
	once    sync.Once
	entered chan struct{}
}

func (b *signalBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	return b.ReadCloser.Read(p)
}

func TestInFlightLimit(t *testing.T) {
	fx := newFixture(t, ingest.Config{MaxInFlight: 1, Rate: -1})
	entered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") == "slow" {
			r.Body = &signalBody{ReadCloser: r.Body, entered: entered}
		}
		fx.h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	fx.url = srv.URL
	// A request whose body does not end holds the agency's only slot.
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() }) // runs before srv.Close
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	req.Header.Set("Authorization", "Bearer "+fx.token("bg-vietyen"))
	req.Header.Set("X-Test", "slow")
	done := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request did not reach the handler")
	}
	a := fx.post(t, fx.as("bg-vietyen"), wf("p1", "bg-vietyen", at))
	if a.status != 429 || !strings.Contains(a.err.Error.Message, "in progress") || a.header.Get("Retry-After") == "" {
		t.Fatalf("second request while one is in progress: %d %s", a.status, a.raw)
	}
	if a := fx.post(t, fx.as("bg-hiephoa"), wf("h1", "bg-hiephoa", at)); a.status != 202 {
		t.Errorf("other agency blocked: %d", a.status)
	}
	if _, err := pw.Write([]byte(wf("slow", "bg-vietyen", at))); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-done; code != 202 {
		t.Fatalf("slow request: %d", code)
	}
	if a := fx.post(t, fx.as("bg-vietyen"), wf("after", "bg-vietyen", at)); a.status != 202 {
		t.Errorf("slot not released: %d %s", a.status, a.raw)
	}
}

// TestNATSDown: without JetStream the answer is 503 with a retry hint, in
// bounded time.
func TestNATSDown(t *testing.T) {
	fx := newFixture(t, ingest.Config{AckTimeout: 500 * time.Millisecond})
	fx.ns.Close()
	start := time.Now()
	a := fx.post(t, fx.as("bg-vietyen"), wf("d1", "bg-vietyen", at)+"\n"+wf("d2", "bg-vietyen", at)+"\nnot json")
	if a.status != 503 {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("answer took %s", time.Since(start))
	}
	for _, r := range a.resp.Results[:2] {
		if r.Status != "rejected" || r.Error.Reason != "unavailable" || !strings.Contains(r.Error.Msg, "retry") {
			t.Errorf("result %+v", r)
		}
	}
	if r := a.resp.Results[2]; r.Error == nil || r.Error.Reason != "malformed" {
		t.Errorf("invalid event while NATS is down: %+v", r)
	}
}
