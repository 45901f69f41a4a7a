package history_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/scores"
)

// queryDir holds the example queries of docs/analysts.md.
const queryDir = "../../docs/queries"

// runQuery runs a query file of docs/queries against sys's database and
// returns its rows as maps by column name (NULL as a nil *float64).
func runQuery(sys *app.System, name string) ([]map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(queryDir, name))
	if err != nil {
		return nil, err
	}
	q := strings.ReplaceAll(string(b), "cds.", sys.CH.DB.Table(""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := sys.CH.DB.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	var out []map[string]any
	for rows.Next() {
		dest := make([]any, len(cols))
		for i, c := range cols {
			dest[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m := map[string]any{}
		for i, c := range cols {
			m[c.Name()] = reflect.ValueOf(dest[i]).Elem().Interface()
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func nullable(v any) *float64 {
	p, _ := v.(*float64)
	return p
}

// checkTrend: indicator_trend.sql equals GET /v1/scores/bg-vietyen at each month-end.
func checkTrend(sys *app.System) error {
	rows, err := runQuery(sys, "indicator_trend.sql")
	if err != nil {
		return err
	}
	if len(rows) != 49 {
		return fmt.Errorf("indicator_trend.sql: %d rows, want the 49 month-ends 2021-06-30…2025-06-30", len(rows))
	}
	for _, r := range rows {
		asOf := r["as_of"].(time.Time).Format("2006-01-02")
		var s scores.UnitScore
		if err := getJSON("http://"+sys.API.Addr()+"/v1/scores/bg-vietyen?milestone=2025&as_of="+asOf, &s); err != nil {
			return err
		}
		for _, ind := range s.Indicators {
			if ind.Code == "HSCV" && (!sameFloat(nullable(r["numerator"]), ind.Numerator) || !sameFloat(nullable(r["denominator"]), ind.Denominator) ||
				!sameFloat(nullable(r["value"]), ind.Value) || !sameFloat(nullable(r["target"]), ind.Target) ||
				!sameFloat(nullable(r["expected"]), ind.Expected) || r["status"] != ind.Status) {
				return fmt.Errorf("indicator_trend.sql at %s: %v; API %s/%s = %s, %s", asOf, r, fmtFloat(ind.Numerator), fmtFloat(ind.Denominator), fmtFloat(ind.Value), ind.Status)
			}
		}
	}
	return nil
}

// checkLeague: league_table.sql equals GET /v1/scores?level=district at 2025-06-30.
func checkLeague(sys *app.System) error {
	rows, err := runQuery(sys, "league_table.sql")
	if err != nil {
		return err
	}
	var api scores.LevelScores
	if err := getJSON("http://"+sys.API.Addr()+"/v1/scores?level=district&milestone=2025&as_of=2025-06-30", &api); err != nil {
		return err
	}
	if len(rows) != len(api.Units) || len(rows) != 10 {
		return fmt.Errorf("league_table.sql: %d rows, API %d districts", len(rows), len(api.Units))
	}
	for i, u := range api.Units { // the API lists by rank, then code
		r := rows[i]
		var met, at, hscv = 0, 0, scores.IndicatorScore{}
		for _, ind := range u.Indicators {
			switch ind.Status {
			case scores.StatusMet:
				met++
			case scores.StatusAtRisk:
				at++
			}
			if ind.Code == "HSCV" {
				hscv = ind
			}
		}
		if r["unit"] != u.Unit || int(r["rank"].(uint32)) != u.Rank || r["composite"] != u.Composite ||
			int(r["met"].(uint16)) != met || int(r["at_risk"].(uint16)) != at ||
			!sameFloat(nullable(r["hscv"]), hscv.Value) || r["hscv_status"] != hscv.Status {
			return fmt.Errorf("league_table.sql row %d: %v; API %s rank %d composite %v met %d at_risk %d HSCV %s %s",
				i, r, u.Unit, u.Rank, u.Composite, met, at, fmtFloat(hscv.Value), hscv.Status)
		}
	}
	return nil
}

// checkFellBehind: fell_behind.sql lists the unit indicators whose status in
// GET /v1/scores got worse from 2024-12-31 to 2025-03-31.
func checkFellBehind(sys *app.System) error {
	rows, err := runQuery(sys, "fell_behind.sql")
	if err != nil {
		return err
	}
	grade := map[string]int{scores.StatusMet: 4, scores.StatusOnTrack: 3, scores.StatusAtRisk: 2, scores.StatusOffTrack: 1, scores.StatusNoData: 0}
	statuses := func(asOf string) (map[string]string, error) {
		out := map[string]string{}
		for _, level := range []string{"province", "department", "district", "commune"} {
			var ls scores.LevelScores
			if err := getJSON("http://"+sys.API.Addr()+"/v1/scores?milestone=2025&level="+level+"&as_of="+asOf, &ls); err != nil {
				return nil, err
			}
			for _, u := range ls.Units {
				for _, ind := range u.Indicators {
					if ind.Status != scores.StatusNoTarget {
						out[u.Unit+"/"+ind.Code] = ind.Status
					}
				}
			}
		}
		return out, nil
	}
	was, err := statuses("2024-12-31")
	if err != nil {
		return err
	}
	now, err := statuses("2025-03-31")
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for k, s := range now {
		if w, ok := was[k]; ok && grade[s] < grade[w] {
			want[k] = true
		}
	}
	got := map[string]bool{}
	for _, r := range rows {
		k := r["unit"].(string) + "/" + r["indicator"].(string)
		got[k] = true
		if !want[k] || r["status"] != now[k] || r["was"] != was[k] {
			return fmt.Errorf("fell_behind.sql lists %v; API %s → %s", r, was[k], now[k])
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		return fmt.Errorf("fell_behind.sql: %d rows, API %d (the fixture must have some)", len(got), len(want))
	}
	return nil
}
