package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
)

// docExample returns the code block that follows the marker
// "<!-- example: name" in docs/integrators.md.
func docExample(tb testing.TB, name string) string {
	tb.Helper()
	f, err := os.Open("../../docs/integrators.md")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var found, in bool
	var block []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !found && strings.HasPrefix(line, "<!-- example: "+name+" "):
			found = true
		case found && !in && strings.HasPrefix(line, "```"):
			in = true
		case in && strings.HasPrefix(line, "```"):
			return strings.Join(block, "\n")
		case in:
			block = append(block, line)
		}
	}
	tb.Fatalf("docs/integrators.md has no example %q", name)
	return ""
}

// jsonShape decodes s and drops the members named in drop, at any depth,
// after checking that they are present where the other side has them.
func jsonShape(tb testing.TB, s string, drop ...string) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatalf("%v in %s", err, s)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range drop {
				delete(x, k)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return v
}

// do sends a request with a bearer token and returns the status and body.
func do(tb testing.TB, method, url, token, body string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestFirstDay walks an integrator's and an analyst's first day (issue 16)
// on real servers with read tokens and the analyst user: the HTTP batch of
// docs/integrators.md with its bad line, answered as the docs show; the
// same bad event over NATS, refused by the gate as the docs show; both in
// GET /v1/dlq as the docs show; the event fixed with the same id and
// counted; the drill-down finds it by id; the analyst reads it, read-only.
func TestFirstDay(t *testing.T) {
	const analystPassword = "analyst of the first day"
	const readToken = "reader of the first day"
	ch := chtest.StartConfig(t, chserver.Config{AnalystPassword: analystPassword})
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ClickHouseAddr = ch.Addr()
	cfg.HistoryInterval = -1
	cfg.ReadTokens = []string{readToken}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := Start(ctx, cfg, Parts{NATS: true, Projector: true, API: true})
	if err != nil {
		t.Fatalf("start system: %v", err)
	}
	t.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			t.Errorf("close system: %v", err)
		}
	})
	base := "http://" + sys.API.Addr()
	creds, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	token := creds.Agencies["bg-hiephoa"].HTTPToken

	// 1. The docs' HTTP batch: the first line stored, the second refused
	// with its id, reason, field and a clean message.
	batch := docExample(t, "http-request")
	status, answer := do(t, http.MethodPost, base+"/v1/events", token, batch+"\n")
	if status != http.StatusBadRequest {
		t.Errorf("POST the docs' batch: %d %s, want 400", status, answer)
	}
	if !strings.Contains(answer, `"seq":1`) {
		t.Errorf("POST the docs' batch: %s, want the first event at seq 1", answer)
	}
	if got, want := jsonShape(t, answer, "seq"), jsonShape(t, docExample(t, "http-answer"), "seq"); !reflect.DeepEqual(got, want) {
		t.Errorf("POST the docs' batch answers\n%s\nthe docs show\n%s", answer, docExample(t, "http-answer"))
	}

	// 2. The bad line over NATS: an error PubAck as the docs show, and its
	// id stays free.
	bad := strings.Split(batch, "\n")[1]
	const subject = "cds.events.bg-hiephoa.workfile.processed"
	js := agencyJS(t, sys, "bg-hiephoa")
	msg := nats.NewMsg(subject)
	msg.Data = []byte(bad)
	msg.Header.Set(jetstream.MsgIDHeader, idIn(bad))
	reply, err := js.Conn().RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatalf("publish the bad event over NATS: %v", err)
	}
	if got, want := jsonShape(t, string(reply.Data)), jsonShape(t, docExample(t, "nats-refusal")); !reflect.DeepEqual(got, want) {
		t.Errorf("NATS PubAck\n%s\nthe docs show\n%s", reply.Data, docExample(t, "nats-refusal"))
	}

	// 3. Both refusals in GET /v1/dlq, newest first, as the docs show; the
	// read token sees them; no token does not.
	page := waitDLQ(t, base, token, "", 2)
	raw, _ := json.Marshal(page)
	if got, want := jsonShape(t, string(raw), "seq", "at"), jsonShape(t, docExample(t, "dlq-answer"), "seq", "at"); !reflect.DeepEqual(got, want) {
		t.Errorf("GET /v1/dlq answers\n%s\nthe docs show\n%s", raw, docExample(t, "dlq-answer"))
	}
	if l := page.Letters; l[0].Seq <= l[1].Seq || l[1].At.After(l[0].At) || l[1].At.IsZero() {
		t.Errorf("letters not newest first: %+v", l)
	}
	if _, p := getDLQ(t, base, readToken, "agency=bg-hiephoa"); len(p.Letters) != 2 {
		t.Errorf("the read token sees %d letters of bg-hiephoa, want 2", len(p.Letters))
	}
	if s, _ := getDLQ(t, base, "", ""); s != http.StatusUnauthorized {
		t.Errorf("GET /v1/dlq without a token on a server with read tokens: %d, want 401", s)
	}

	// 4. Fixed and sent again with the same id over NATS: stored; the whole
	// HTTP batch, fixed, sent again: both lines duplicates.
	fixed := strings.Replace(bad, `"online":"yes"`, `"online":true`, 1)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	ack, err := js.Publish(pctx, subject, []byte(fixed), jetstream.WithMsgID(idIn(fixed)))
	if err != nil || ack.Duplicate {
		t.Fatalf("the fixed event with the same id: %+v, %v; want stored", ack, err)
	}
	fixedBatch := strings.Replace(batch, `"online":"yes"`, `"online":true`, 1)
	if status, answer := do(t, http.MethodPost, base+"/v1/events", token, fixedBatch); status != http.StatusOK || !strings.Contains(answer, `"duplicates":2`) {
		t.Errorf("the fixed batch again: %d %s, want 200 and two duplicates", status, answer)
	}
	waitCaughtUp(t, sys)

	// 5. Counted: HSCV of bg-hiephoa 2/2; the drill-down finds the event by
	// id, and by its key.
	var drill struct {
		Score  struct{ Numerator, Denominator *float64 }
		Total  int
		Events []struct {
			ID, Key   string
			Numerator float64
		}
	}
	url := base + "/v1/scores/bg-hiephoa/HSCV/events?milestone=2025&as_of=2025-06-30&id=" + idIn(fixed)
	status, body := do(t, http.MethodGet, url, readToken, "")
	if err := json.Unmarshal([]byte(body), &drill); err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	if drill.Score.Numerator == nil || *drill.Score.Numerator != 2 || *drill.Score.Denominator != 2 ||
		drill.Total != 1 || len(drill.Events) != 1 || drill.Events[0].ID != idIn(fixed) || drill.Events[0].Numerator != 1 {
		t.Errorf("drill-down by id: %s; want HSCV 2/2 and the one fixed event, counted", body)
	}
	status, body = do(t, http.MethodGet, base+"/v1/scores/bg-hiephoa/HSCV/events?as_of=2025-06-30&key=bg-hiephoa/HH-2025-000124", readToken, "")
	if status != http.StatusOK || !strings.Contains(body, idIn(fixed)) || !strings.Contains(body, `"total":1`) {
		t.Errorf("drill-down by key: %d %s", status, body)
	}
	if status, body := do(t, http.MethodGet, base+"/v1/scores/bg-hiephoa/HSCV/events?limit=1001", readToken, ""); status != http.StatusBadRequest || !strings.Contains(body, "1000") {
		t.Errorf("drill-down limit=1001: %d %s, want 400 naming 1000", status, body)
	}

	// 6. The analyst, read-only, finds the same two events and can change
	// nothing.
	analyst := openAs(t, ch.Addr(), chserver.DefaultAnalystUser, analystPassword)
	var n uint64
	if err := analyst.QueryRow(ctx, "SELECT count() FROM cds.events WHERE agency = 'bg-hiephoa' AND type = 'workfile.processed' AND visitParamExtractBool(data, 'online') = 1").Scan(&n); err != nil || n != 2 {
		t.Errorf("the analyst counts %d online work dossiers of bg-hiephoa (%v), want 2", n, err)
	}
	if err := analyst.Exec(ctx, "INSERT INTO cds.events (id, type, agency) SELECT 'x', 'workfile.processed', 'bg-hiephoa'"); err == nil {
		t.Error("the analyst inserted into cds.events")
	}
}
