package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/scores"
)

// TestProvinceFiguresOnlyFromReporters replays the three attacks of an
// insider on the province's own figures: a commune publishing the DTI
// result (rank 1), a commune closing enterprises that the department of
// planning registered, a district reporting a digital economy equal to the
// GRDP. Each is sent over NATS (on the sender's own subject, which its
// permissions allow) and over HTTP (with its own token). Every one is
// refused as not_allowed (403 over HTTP, a dead letter over NATS) and none
// moves a score of the province.
func TestProvinceFiguresOnlyFromReporters(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	creds, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	const (
		commune  = "bg-vietyen-nenh"
		district = "bg-vietyen"
		at       = "2025-03-02T09:00:00+07:00"
	)
	event := func(id, typ, agency, data string) string {
		return fmt.Sprintf(`{"id":%q,"type":%q,"v":1,"agency":%q,"occurred_at":%q,"data":%s}`, id, typ, agency, at, data)
	}
	grdp := func(total, digital int) string {
		return fmt.Sprintf(`{"year":2024,"grdp_total":%d,"digital_economy":%d,"sectors":[{"sector":"health","total":%d,"digital":%d}]}`, total, digital, total, digital)
	}

	// The figures as the units that report for the province sent them:
	// DTI rank 20, three digital enterprises, a digital economy of 10%.
	stttt, skhdt, ctk := agencyJS(t, sys, "bg-stttt"), agencyJS(t, sys, "bg-skhdt"), agencyJS(t, sys, "bg-ctk")
	publish(t, stttt, "cds.events.bg-stttt.dti.published", event("dti-2024", "dti.published", "bg-stttt", `{"year":2024,"rank":20,"score":0.5}`))
	for i := 1; i <= 3; i++ {
		publish(t, skhdt, "cds.events.bg-skhdt.enterprise.registered", event(fmt.Sprintf("reg-%d", i), "enterprise.registered", "bg-skhdt", fmt.Sprintf(`{"enterprise_id":"E%d","digital":true}`, i)))
	}
	publish(t, ctk, "cds.events.bg-ctk.economy.grdp_reported", event("grdp-2024", "economy.grdp_reported", "bg-ctk", grdp(1000, 100)))
	waitCaughtUp(t, sys)
	before := provinceValues(t, base)
	want := map[string]float64{"DTI_RANK": 20, "DNS": 3, "KTS_GRDP": 0.1, "KTS_NGANH": 0.1}
	for code, v := range want {
		if before[code] != v {
			t.Fatalf("before the attacks %s = %v, want %v (all: %v)", code, before[code], v, before)
		}
	}

	attacks := []struct {
		name, agency, typ, body string
	}{
		{"commune sets the DTI rank", commune, "dti.published", `{"year":2024,"rank":1,"score":0.99}`},
		{"commune closes an enterprise of bg-skhdt", commune, "enterprise.closed", `{"enterprise_id":"E1"}`},
		{"district reports the digital economy", district, "economy.grdp_reported", grdp(1000, 1000)},
	}
	var natsIDs []string
	for i, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			// NATS: the subject is the sender's own, but the gate refuses
			// the type, with reason and field, and dead-letters it.
			id := fmt.Sprintf("nats-attack-%d", i)
			natsIDs = append(natsIDs, id)
			refusal := publishRefused(t, agencyJS(t, sys, a.agency), "cds.events."+a.agency+"."+a.typ, event(id, a.typ, a.agency, a.body))
			if !strings.Contains(refusal.Description, "type: not_allowed") {
				t.Errorf("NATS refusal %q: want type: not_allowed", refusal.Description)
			}
			// HTTP: refused at the door with 403 and the reason.
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(event(fmt.Sprintf("http-attack-%d", i), a.typ, a.agency, a.body)))
			req.Header.Set("Authorization", "Bearer "+creds.Agencies[a.agency].HTTPToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("POST: %d %s, want 403", res.StatusCode, b)
			}
			var answer struct {
				Results []struct {
					Status string
					Error  struct{ Reason, Field, Message string }
				}
			}
			if err := json.Unmarshal(b, &answer); err != nil || len(answer.Results) != 1 {
				t.Fatalf("answer %s: %v", b, err)
			}
			got := answer.Results[0]
			if got.Status != "rejected" || got.Error.Reason != "not_allowed" || got.Error.Field != "type" ||
				!strings.Contains(got.Error.Message, a.typ) || !strings.Contains(got.Error.Message, a.agency) {
				t.Fatalf("answer %s: want rejected, not_allowed on field type, naming %s and %s", b, a.typ, a.agency)
			}
		})
	}
	waitCaughtUp(t, sys)

	after := provinceValues(t, base)
	for code, v := range want {
		if after[code] != v {
			t.Errorf("after the attacks %s = %v, want %v: a refused event was counted", code, after[code], v)
		}
	}
	var n uint64
	if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count() FROM "+sys.CH.DB.Table("events")+" WHERE id LIKE '%attack%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("cds.events holds %d refused events", n)
	}
	reasons := deadLetterReasons(t, sys)
	for _, id := range natsIDs {
		if reasons[id] != "not_allowed" {
			t.Errorf("dead letter %s: reason %q, want not_allowed (all: %v)", id, reasons[id], reasons)
		}
	}
}

// provinceValues returns the value of each indicator of the province
// (milestone 2025, as of 2025-06-30), by code.
func provinceValues(tb testing.TB, base string) map[string]float64 {
	tb.Helper()
	var s scores.UnitScore
	if code := getJSON(tb, base+"/v1/scores/bg?milestone=2025&as_of=2025-06-30", &s); code != http.StatusOK {
		tb.Fatalf("GET /v1/scores/bg: %d", code)
	}
	out := map[string]float64{}
	for _, ind := range s.Indicators {
		if ind.Value != nil {
			out[ind.Code] = *ind.Value
		}
	}
	return out
}

// deadLetterReasons returns the reason of every dead letter, by event id.
func deadLetterReasons(tb testing.TB, sys *System) map[string]string {
	tb.Helper()
	ctx := context.Background()
	js := projectorJetStream(tb, sys.NATSURL(), sys.Config.DataDir)
	dlq, err := js.Stream(ctx, natsserver.DeadLetterStream)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for seq := uint64(1); seq <= dlq.CachedInfo().State.LastSeq; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatal(err)
		}
		var id struct{ ID string }
		_ = json.Unmarshal(m.Data, &id)
		out[id.ID] = m.Header.Get(deadletter.HeaderReason)
	}
	return out
}
