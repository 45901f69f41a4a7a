package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/api"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
)

// publishRefused publishes body as an agency does and returns the error
// PubAck of the gate; it fails the test if the event was stored.
func publishRefused(tb testing.TB, js jetstream.JetStream, subject, body string) *jetstream.APIError {
	tb.Helper()
	ack, err := publishAsAgency(js, subject, body)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		tb.Fatalf("publish %s: ack %+v, err %v; want an error PubAck", body, ack, err)
	}
	return apiErr
}

// publishFixture publishes a line of a fixture, which may hold events the
// gate refuses (a district's event after 2025-06-30): stored or refused with
// an error PubAck (400) are both fine; anything else fails the test.
func publishFixture(tb testing.TB, js jetstream.JetStream, subject, body string) {
	tb.Helper()
	_, err := publishAsAgency(js, subject, body)
	var apiErr *jetstream.APIError
	if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == 400) {
		tb.Fatalf("publish %s: %v", subject, err)
	}
}

// publishAsAgency publishes body with its id as Nats-Msg-Id and waits for
// the PubAck.
func publishAsAgency(js jetstream.JetStream, subject, body string) (*jetstream.PubAck, error) {
	msg := nats.NewMsg(subject)
	msg.Data = []byte(body)
	if id := idIn(body); id != "" {
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return js.PublishMsg(ctx, msg)
}

func idIn(body string) string {
	var env struct{ ID string }
	_ = json.Unmarshal([]byte(body), &env)
	return env.ID
}

// getDLQ answers GET /v1/dlq?query with token ("" for none).
func getDLQ(tb testing.TB, base, token, query string) (int, api.DeadLetterPage) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/dlq?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var page api.DeadLetterPage
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &page); err != nil {
			tb.Fatalf("GET /v1/dlq?%s: %v in %s", query, err, b)
		}
	}
	return res.StatusCode, page
}

// waitDLQ polls GET /v1/dlq until it lists n letters.
func waitDLQ(tb testing.TB, base, token, query string, n int) api.DeadLetterPage {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, page := getDLQ(tb, base, token, query)
		if status == http.StatusOK && len(page.Letters) == n {
			return page
		}
		if time.Now().After(deadline) {
			tb.Fatalf("GET /v1/dlq?%s: %d, %d letters %+v; want %d", query, status, len(page.Letters), page.Letters, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRefusedEventKeepsItsID: an invalid event refused over NATS (error
// PubAck naming reason and field) or over HTTP is not stored, is listed by
// GET /v1/dlq for its agency only, and the corrected event with the same id
// is accepted at once and counted (issue 16).
func TestRefusedEventKeepsItsID(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	creds, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	const subject = "cds.events.bg-vietyen.workfile.processed"
	bad := func(id string) string {
		return strings.Replace(eventtest.Workfile(id, "bg-vietyen", "2025-03-01T09:00:00+07:00", "WF-"+id, true), `"online":true`, `"online":"yes"`, 1)
	}
	js := agencyJS(t, sys, "bg-vietyen")

	// NATS: refused with reason and field, then the same id accepted.
	refusal := publishRefused(t, js, subject, bad("n-1"))
	if refusal.Code != 400 || !strings.Contains(refusal.Description, "data.online: malformed: expected a boolean, got string \"yes\"") {
		t.Errorf("NATS refusal %+v: want code 400 naming data.online and malformed", refusal)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fixed := nats.NewMsg(subject)
	fixed.Data = []byte(eventtest.Workfile("n-1", "bg-vietyen", "2025-03-01T09:00:00+07:00", "WF-n-1", true))
	fixed.Header.Set(jetstream.MsgIDHeader, "n-1")
	if ack, err := js.PublishMsg(ctx, fixed); err != nil || ack.Duplicate {
		t.Fatalf("corrected n-1 over NATS: ack %+v, err %v; want stored, not a duplicate", ack, err)
	}

	// HTTP: the rejected result carries the id; the same id then counts.
	token := creds.Agencies["bg-vietyen"].HTTPToken
	status, answer := post(t, base, token, bad("h-1"))
	want := `{"accepted":0,"duplicates":0,"rejected":1,"results":[{"index":0,"line":1,"id":"h-1","status":"rejected","error":{"reason":"malformed","field":"data.online","message":"expected a boolean, got string \"yes\""}}]}`
	if status != http.StatusBadRequest || strings.TrimSpace(answer) != want {
		t.Errorf("POST bad h-1: %d %s\nwant 400 %s", status, answer, want)
	}
	status, answer = post(t, base, token, eventtest.Workfile("h-1", "bg-vietyen", "2025-03-01T10:00:00+07:00", "WF-h-1", true))
	if status != http.StatusAccepted || !strings.Contains(answer, `"accepted":1`) {
		t.Errorf("POST corrected h-1: %d %s, want 202 accepted", status, answer)
	}

	waitCaughtUp(t, sys)
	var score struct {
		Indicators []struct {
			Code                   string
			Numerator, Denominator *float64
		}
	}
	getJSON(t, base+"/v1/scores/bg-vietyen?milestone=2025&as_of=2025-06-30", &score)
	for _, ind := range score.Indicators {
		if ind.Code == "HSCV" && (ind.Numerator == nil || *ind.Numerator != 2 || *ind.Denominator != 2) {
			t.Errorf("HSCV of bg-vietyen %v/%v, want 2/2: both corrected events count", ind.Numerator, ind.Denominator)
		}
	}

	// The agency sees its two refusals, newest first; another agency none;
	// the operator (no read token configured) all of them.
	page := waitDLQ(t, base, token, "", 2)
	for i, w := range []struct{ id, source string }{{"h-1", "http"}, {"n-1", "nats"}} {
		l := page.Letters[i]
		if l.ID != w.id || l.Source != w.source || l.Agency != "bg-vietyen" || l.Reason != "malformed" || l.Field != "data.online" ||
			l.Original != bad(w.id) || !strings.Contains(l.Message, `got string "yes"`) || l.At.IsZero() {
			t.Errorf("letter %d: %+v\nwant %s from %s, malformed data.online, the original bytes", i, l, w.id, w.source)
		}
	}
	if _, p := getDLQ(t, base, creds.Agencies["bg-hiephoa"].HTTPToken, ""); len(p.Letters) != 0 {
		t.Errorf("bg-hiephoa sees %d letters of another agency", len(p.Letters))
	}
	if s, _ := getDLQ(t, base, creds.Agencies["bg-hiephoa"].HTTPToken, "agency=bg-vietyen"); s != http.StatusForbidden {
		t.Errorf("bg-hiephoa asking for bg-vietyen's letters: %d, want 403", s)
	}
	if s, _ := getDLQ(t, base, "forged", ""); s != http.StatusUnauthorized {
		t.Errorf("a forged token: %d, want 401", s)
	}
	if _, p := getDLQ(t, base, "", "agency=bg-vietyen&reason=malformed"); len(p.Letters) != 2 {
		t.Errorf("the operator sees %d letters of bg-vietyen, want 2", len(p.Letters))
	}
	if _, p := getDLQ(t, base, "", "reason=future"); len(p.Letters) != 0 {
		t.Errorf("reason=future lists %+v", p.Letters)
	}
	// Paged: one at a time.
	_, first := getDLQ(t, base, token, "limit=1")
	if len(first.Letters) != 1 || first.Letters[0].ID != "h-1" || first.Next == "" {
		t.Fatalf("limit=1: %+v, want h-1 and a next page", first)
	}
	req, _ := http.NewRequest(http.MethodGet, base+first.Next, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var second api.DeadLetterPage
	err = json.NewDecoder(res.Body).Decode(&second)
	res.Body.Close()
	if err != nil || len(second.Letters) != 1 || second.Letters[0].ID != "n-1" || second.Next != "" {
		t.Errorf("next page %s: %+v (%v), want n-1 and no further page", first.Next, second, err)
	}
	if s, _ := getDLQ(t, base, token, fmt.Sprintf("limit=%d", api.DLQMaxLimit+1)); s != http.StatusBadRequest {
		t.Errorf("limit above the maximum: %d, want 400", s)
	}
}
