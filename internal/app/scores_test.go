package app

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/scores"
)

// load publishes lines, each as the agency of its body, then a duplicate
// without Nats-Msg-Id and an event whose body names another agency (refused
// by the gate).
func load(tb testing.TB, sys *System, lines []string) {
	tb.Helper()
	conns := map[string]jetstream.JetStream{}
	for _, line := range lines {
		var env struct{ Agency, Type string }
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			tb.Fatal(err)
		}
		js, ok := conns[env.Agency]
		if !ok {
			js = agencyJS(tb, sys, env.Agency)
			conns[env.Agency] = js
		}
		publishFixture(tb, js, "cds.events."+env.Agency+"."+env.Type, line)
	}
	var first struct{ Agency, Type string }
	_ = json.Unmarshal([]byte(lines[0]), &first) // decoded above
	if _, err := conns[first.Agency].Publish(context.Background(), "cds.events."+first.Agency+"."+first.Type, []byte(lines[0])); err != nil {
		tb.Fatal(err)
	}
	vy := agencyJS(tb, sys, "bg-vietyen")
	publishRefused(tb, vy, "cds.events.bg-vietyen.workfile.processed", eventtest.Workfile("forged", "bg-hiephoa", "2025-01-10T09:00:00+07:00", "X", true))
	waitCaughtUp(tb, sys)
}

func indicator(tb testing.TB, s *scores.UnitScore, code string) scores.IndicatorScore {
	tb.Helper()
	for _, ind := range s.Indicators {
		if ind.Code == code {
			return ind
		}
	}
	tb.Fatalf("%s has no %s", s.Unit, code)
	return scores.IndicatorScore{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// mustGet GETs url into v and fails unless the status is want.
func mustGet(tb testing.TB, url string, want int, v any) {
	tb.Helper()
	if code := getJSON(tb, url, v); code != want {
		tb.Fatalf("GET %s: status %d, want %d", url, code, want)
	}
}

// TestScoresEndToEnd publishes the fixture once and checks each feature
// of the score API against it, one subtest per feature.
func TestScoresEndToEnd(t *testing.T) {
	lines := eventtest.Province()
	sys := mustSystem(t)
	load(t, sys, lines)
	base := "http://" + sys.API.Addr()

	t.Run("values", func(t *testing.T) {
		tests := []struct {
			unit, code, asOf string
			num, den, value  float64
			status           string
		}{
			// W7 has two states in the same second: the larger cityHash64(id) wins (vy-w7b, online), not the larger id.
			{"bg-vietyen", "HSCV", "2025-06-30", 3, 4, 0.75, ""},
			{"bg-vietyen", "HSCV", "2024-12-31", 1, 1, 1, scores.StatusMet},
			{"bg-vietyen", "DVC_L4", "2025-06-30", 2, 2, 1, scores.StatusMet},
			{"bg-vietyen", "DVC_L4", "2024-12-31", 2, 3, 2.0 / 3, ""},
			{"bg-vietyen", "DVC_MOBILE", "2025-06-30", 1, 2, 0.5, ""},
			{"bg-vietyen", "BAOCAO", "2025-06-30", 1, 2, 0.5, ""},
			{"bg-vietyen", "KIEMTRA", "2025-06-30", 2, 3, 2.0 / 3, scores.StatusMet},
			{"bg", "HSCV", "2025-06-30", 3, 4, 0.75, ""},
			{"bg", "DINHDANH", "2025-06-30", 2, 3, 2.0 / 3, ""},
			{"bg", "DLMO", "2025-06-30", 2, 81, 2.0 / 81, ""},
			{"bg", "DNS", "2025-06-30", 2, 3, 2, ""},
			{"bg", "KTS_GRDP", "2025-06-30", 60, 200, 0.3, scores.StatusMet},
			{"bg", "KTS_NGANH", "2025-06-30", 8, 40, 0.2, scores.StatusMet},
			{"bg", "NSLD", "2025-06-30", 113, 100, 0.13, scores.StatusMet},
			{"bg", "DTI_RANK", "2025-06-30", 14, 1, 14, scores.StatusMet},
			{"bg", "DTI_RANK", "2025-04-30", 20, 1, 20, ""},
			{"bg", "KTS_GRDP", "2024-12-31", 20, 100, 0.2, ""},
		}
		for _, tt := range tests {
			t.Run(tt.unit+"/"+tt.code+"@"+tt.asOf, func(t *testing.T) {
				var s scores.UnitScore
				mustGet(t, base+"/v1/scores/"+tt.unit+"?milestone=2025&as_of="+tt.asOf, http.StatusOK, &s)
				got := indicator(t, &s, tt.code)
				if got.Value == nil {
					t.Fatalf("%s: no value (%s)", tt.code, got.Status)
				}
				if !near(*got.Numerator, tt.num) || !near(*got.Denominator, tt.den) || !near(*got.Value, tt.value) {
					t.Errorf("%s = %v/%v = %v, want %v/%v = %v", tt.code, *got.Numerator, *got.Denominator, *got.Value, tt.num, tt.den, tt.value)
				}
				if tt.status != "" && got.Status != tt.status {
					t.Errorf("%s status %s, want %s", tt.code, got.Status, tt.status)
				}
			})
		}
	})

	// The events behind a number add up to it, and the SQL an analyst would
	// run lists the same events.
	t.Run("drill-down", func(t *testing.T) {
		for _, c := range []struct{ unit, code string }{{"bg-vietyen", "HSCV"}, {"bg-vietyen", "DVC_MOBILE"}, {"bg", "KTS_NGANH"}, {"bg", "DNS"}} {
			t.Run(c.unit+"/"+c.code, func(t *testing.T) {
				url := base + "/v1/scores/" + c.unit + "/" + c.code + "/events?milestone=2025&as_of=2025-06-30&limit=2"
				var d scores.Drill
				mustGet(t, url, http.StatusOK, &d)
				var num, den float64
				var ids []string
				for off := 0; off < int(d.Total); off += 2 {
					var p scores.Drill
					mustGet(t, url+"&offset="+itoa(off), http.StatusOK, &p)
					for _, e := range p.Events {
						num, den = num+e.Numerator, den+e.Denominator
						ids = append(ids, e.ID)
					}
				}
				if c.code != "DNS" && (!near(num, *d.Score.Numerator) || !near(den, *d.Score.Denominator)) {
					t.Errorf("events sum to %v/%v, score is %v/%v (%v)", num, den, *d.Score.Numerator, *d.Score.Denominator, ids)
				}
				if c.code == "HSCV" && !slices.Equal(ids, []string{"vy-w1", "vy-w2", "vy-w3b", "vy-w7b"}) {
					t.Errorf("HSCV events = %v, want vy-w1 vy-w2 vy-w3b vy-w7b", ids)
				}
				if c.code == "DNS" && !near(num, *d.Score.Numerator) {
					t.Errorf("DNS drill counts %v digital enterprises, score %v (%v)", num, *d.Score.Numerator, ids)
				}
				if d.SQL == "" {
					t.Fatal("no SQL")
				}
				rows, err := sys.CH.DB.Query(context.Background(), d.SQL)
				if err != nil {
					t.Fatalf("drill SQL: %v\n%s", err, d.SQL)
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if c.code != "KTS_NGANH" && n != int(d.Total) {
					t.Errorf("drill SQL returns %d rows, API total %d", n, d.Total)
				}
			})
		}
	})

	t.Run("README query reproduces HSCV", func(t *testing.T) {
		readme := strings.ReplaceAll(`SELECT toFloat64(sum(visitParamExtractBool(ev_data, 'online'))) AS numerator, toFloat64(count()) AS denominator
FROM (
  SELECT concat(agency, '/', visitParamExtractString(data, 'workfile_id')) AS key,
         argMax(data, (occurred_at, cityHash64(id))) AS ev_data, max(occurred_at) AS at
  FROM cds.events
  WHERE type = 'workfile.processed' AND agency = 'bg-vietyen' AND retraction = 0
    AND toDate(occurred_at) <= toDate('2025-06-30')
    AND (agency, id) NOT IN (SELECT agency, supersedes FROM cds.events WHERE supersedes != '')
  GROUP BY key)
WHERE toYear(at) = 2025`, "cds.", sys.CH.DB.Table(""))
		var rn, rd float64
		if err := sys.CH.DB.QueryRow(context.Background(), readme).Scan(&rn, &rd); err != nil || rn != 3 || rd != 4 {
			t.Errorf("README query: %v/%v, %v; want 3/4", rn, rd, err)
		}
	})

	// Nobody emitted work dossiers in the 30 days before 2025-06-30.
	t.Run("silence", func(t *testing.T) {
		var sil scores.Silence
		mustGet(t, base+"/v1/silence?days=30&as_of=2025-06-30&level=district", http.StatusOK, &sil)
		found := false
		for _, s := range sil.Silent {
			if s.Unit == "bg-vietyen" && s.Indicator == "HSCV" {
				found = s.LastEvent != nil
			}
		}
		if !found || len(sil.Silent) < 10 {
			t.Errorf("%d silent, bg-vietyen HSCV with a last event: %v", len(sil.Silent), found)
		}
	})

	// The district level ends on 2025-06-30: scorable before, gone after.
	t.Run("district level ends", func(t *testing.T) {
		var gone map[string]map[string]string
		mustGet(t, base+"/v1/scores/bg-vietyen?milestone=2025&as_of=2025-07-01", http.StatusNotFound, &gone)
		if !strings.Contains(gone["error"]["message"], "2025-06-30") {
			t.Errorf("bg-vietyen after 2025-06-30: %v, want a message naming 2025-06-30", gone)
		}
		var after scores.LevelScores
		mustGet(t, base+"/v1/scores?level=district&milestone=2025&as_of=2025-07-01", http.StatusOK, &after)
		if len(after.Units) != 0 {
			t.Errorf("%d districts on 2025-07-01, want none", len(after.Units))
		}
		var units struct{ Units []json.RawMessage }
		mustGet(t, base+"/v1/units?as_of=2025-07-01", http.StatusOK, &units)
		if len(units.Units) != 71 {
			t.Errorf("%d units in force on 2025-07-01, want 71", len(units.Units))
		}
	})

	// Reference data is in ClickHouse for analysts.
	t.Run("targets in ClickHouse", func(t *testing.T) {
		var targets uint64
		if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count() FROM "+sys.CH.DB.Table("targets_current")+" WHERE indicator = 'HSCV' AND year = 2025").Scan(&targets); err != nil || targets != 4 {
			t.Errorf("targets_current HSCV 2025: %d rows, %v", targets, err)
		}
	})
}

// TestScoresIndependentOfOrder publishes the fixture forwards into one
// system and backwards into another: every answer must be the same.
func TestScoresIndependentOfOrder(t *testing.T) {
	lines := eventtest.Province()
	a, b := mustSystem(t), mustSystem(t)
	load(t, a, lines)
	rev := slices.Clone(lines)
	slices.Reverse(rev)
	load(t, b, rev)
	for _, path := range []string{
		"/v1/scores?level=district&milestone=2025&as_of=2025-06-30",
		"/v1/scores?level=province&milestone=2025&as_of=2025-06-30",
		"/v1/scores?level=province&milestone=2030&as_of=2025-12-31",
		"/v1/scores?level=department&milestone=2025&as_of=2024-12-31",
		"/v1/scores/bg-vietyen?milestone=2025&as_of=2023-06-30",
		"/v1/scores/bg/KTS_NGANH/events?as_of=2025-06-30",
		"/v1/scores/bg-vietyen/DVC_L4/events?as_of=2024-12-31",
	} {
		if x, y := body(t, "http://"+a.API.Addr()+path), body(t, "http://"+b.API.Addr()+path); x != y {
			t.Errorf("%s differs:\nforwards  %s\nbackwards %s", path, x, y)
		}
	}
}

func body(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
