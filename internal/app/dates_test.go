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
	"github.com/bacgiang/cds/internal/eventtest"
)

// TestDatesAndUnitsAtTheDoor sends, over NATS and over HTTP, an event dated
// 1969 (ClickHouse's DateTime would wrap it to 2105), an event of a
// district dated after it was merged away (2025-06-30), and a late report
// of that district from a day it existed. The first two are refused with
// too_early and unit_not_in_force on field occurred_at (400 over HTTP, a
// refusal at the NATS gate, kept as a dead letter); the late report is
// stored.
func TestDatesAndUnitsAtTheDoor(t *testing.T) {
	sys := mustSystem(t)
	base := "http://" + sys.API.Addr()
	creds, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	const district = "bg-vietyen"
	event := func(id, at string) string {
		return eventtest.Workfile(id, district, at, id, true)
	}
	tests := []struct {
		name, at, wantReason string
	}{
		{"before 2000", "1969-06-01T10:00:00+07:00", "too_early"},
		{"after the merger", "2025-07-02T10:00:00+07:00", "unit_not_in_force"},
		{"late report of a day it existed", "2025-06-30T16:00:00+07:00", ""},
	}
	js := agencyJS(t, sys, district)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subject := "cds.events." + district + ".workfile.processed"
			if tc.wantReason == "" {
				publish(t, js, subject, event(fmt.Sprintf("nats-date-%d", i), tc.at))
			} else if e := publishRefused(t, js, subject, event(fmt.Sprintf("nats-date-%d", i), tc.at)); !strings.Contains(e.Description, tc.wantReason) {
				t.Fatalf("NATS: refused with %q, want %s", e.Description, tc.wantReason)
			}
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(event(fmt.Sprintf("http-date-%d", i), tc.at)))
			req.Header.Set("Authorization", "Bearer "+creds.Agencies[district].HTTPToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if tc.wantReason == "" {
				if res.StatusCode/100 != 2 {
					t.Fatalf("POST: %d %s, want accepted", res.StatusCode, b)
				}
				return
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
			if res.StatusCode != http.StatusBadRequest || got.Status != "rejected" || got.Error.Reason != tc.wantReason || got.Error.Field != "occurred_at" {
				t.Fatalf("POST: %d %s, want 400, rejected, %s on field occurred_at", res.StatusCode, b, tc.wantReason)
			}
		})
	}
	waitCaughtUp(t, sys)
	reasons := deadLetterReasons(t, sys)
	for i, tc := range tests {
		id := fmt.Sprintf("nats-date-%d", i)
		if reasons[id] != tc.wantReason {
			t.Errorf("%s over NATS: dead letter reason %q, want %q", tc.name, reasons[id], tc.wantReason)
		}
	}
	var ids []string
	rows, err := sys.CH.DB.Query(context.Background(), "SELECT id FROM "+sys.CH.DB.Table("events")+" WHERE id LIKE '%-date-%' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if strings.Join(ids, ",") != "http-date-2,nats-date-2" {
		t.Errorf("cds.events holds %v, want the late reports only", ids)
	}
}
