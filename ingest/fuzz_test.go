package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/ingest"
	"github.com/bacgiang/cds/internal/natsserver"
)

// FuzzIngest sends random bodies with random Content-Types and tokens to the
// handler in front of a real JetStream server. It must never panic, never
// answer 5xx (the server is up, so not even 503), always answer JSON in one
// of the two documented shapes, and every event it calls accepted or
// duplicate must be in the stream, under its id, on its subject, for an
// agency the token may speak for.
//
//	go test -run '^$' -fuzz FuzzIngest -fuzztime 5m ./ingest/
func FuzzIngest(f *testing.F) {
	fx := newFixture(f, ingest.Config{Rate: -1, MaxBatch: 50, MaxEventBytes: 4096, MaxBodyBytes: 64 << 10})
	st, err := fx.admin.Stream(context.Background(), natsserver.EventsStream)
	if err != nil {
		f.Fatal(err)
	}
	tokens := []string{"Bearer " + fx.token("bg-vietyen"), "Bearer " + fx.token("bg-stttt"), "Bearer nope", ""}
	ev := wf("f1", "bg-vietyen", at)
	for _, seed := range []struct {
		body, contentType string
		token             uint8
	}{
		{ev, "", 0},
		{ev + "\n" + wf("f2", "bg-vietyen", at) + "\n", "application/x-ndjson", 0},
		{wf("f3", "bg", at), "application/json", 1},
		{wf("f4", "bg-hiephoa", at), "", 0},
		{"[" + ev + "]", "", 0},
		{"{\n \"id\": \"f5\",\n \"v\": 1,\n}", "", 0},
		{ev + "\r\n\r\nnot json\r\n" + ev, "application/json; charset=utf-8", 0},
		{"\uFEFF" + strings.Replace(ev, "W-f1", "W-\xff", 1), "", 0},
		{`{"id":"f6","type":"economy.grdp_reported","v":1,"agency":"bg","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","total":1000,"digital":200}]}}`, "", 1},
		{`{"id":"f7","type":"service.published","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00Z","supersedes":"f1","data":null}`, "", 0},
		{ev, "text/plain", 0},
		{ev, "", 2},
		{ev, "", 3},
		{"", "", 0},
	} {
		f.Add([]byte(seed.body), seed.contentType, seed.token)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string, token uint8) {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		if auth := tokens[int(token)%len(tokens)]; auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		var shape struct {
			Error   *json.RawMessage `json:"error"`
			Results []ingest.Result  `json:"results"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &shape); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
		}
		if shape.Error != nil {
			if rec.Code < 400 || shape.Results != nil {
				t.Fatalf("status %d with error body %s", rec.Code, rec.Body)
			}
			return
		}
		var resp ingest.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) == 0 || resp.Accepted+resp.Duplicates+resp.Rejected != len(resp.Results) {
			t.Fatalf("inconsistent answer: %s", rec.Body)
		}
		sender := map[uint8]string{0: "bg-vietyen", 1: "bg-stttt"}[uint8(int(token)%len(tokens))]
		for _, r := range resp.Results {
			switch r.Status {
			case ingest.StatusRejected:
				if r.Error == nil || r.Error.Reason == "" || r.Error.Msg == "" || r.Seq != 0 {
					t.Fatalf("rejected result without a reason: %+v", r)
				}
				continue
			case ingest.StatusAccepted, ingest.StatusDuplicate:
			default:
				t.Fatalf("status %q", r.Status)
			}
			m, err := st.GetMsg(context.Background(), r.Seq)
			if err != nil {
				t.Fatalf("%s result %+v is not in the stream: %v", r.Status, r, err)
			}
			if got := m.Header.Get(jetstream.MsgIDHeader); got != r.ID {
				t.Fatalf("stored Nats-Msg-Id %q, result id %q", got, r.ID)
			}
			e, err := events.Decode(m.Data)
			if err != nil {
				t.Fatalf("stored event does not decode: %v: %s", err, m.Data)
			}
			if e.ID != r.ID || events.CheckSubject(m.Subject, e) != nil {
				t.Fatalf("stored %s %s for result %+v", m.Subject, m.Data, r)
			}
			if r.Status == ingest.StatusAccepted && e.Agency != sender && !(sender == "bg-stttt" && e.Agency == "bg") {
				t.Fatalf("token of %q stored an event of %q", sender, e.Agency)
			}
		}
		if rec.Code == http.StatusAccepted && resp.Accepted == 0 {
			t.Fatalf("202 without an accepted event: %s", rec.Body)
		}
	})
}
