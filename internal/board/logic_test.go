package board

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

func TestRankChange(t *testing.T) {
	tests := []struct {
		name            string
		before          int
		known           bool
		now             int
		wantSign, wantW string
		wantV           int
	}{
		{name: "up", before: 5, known: true, now: 2, wantSign: "▲ 3", wantW: "lên 3", wantV: 3},
		{name: "down", before: 1, known: true, now: 4, wantSign: "▼ 3", wantW: "xuống 3", wantV: -3},
		{name: "same", before: 2, known: true, now: 2, wantSign: "=", wantW: "giữ nguyên", wantV: 0},
		{name: "new unit", now: 7, wantSign: "mới", wantW: "mới", wantV: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w, v := rankChange(LangVI, tt.before, tt.known, tt.now)
			if s != tt.wantSign || w != tt.wantW || v != tt.wantV {
				t.Fatalf("got %q %q %d, want %q %q %d", s, w, v, tt.wantSign, tt.wantW, tt.wantV)
			}
		})
	}
}

func f(v float64) *float64 { return &v }

func TestLevelCSV(t *testing.T) {
	reg := registry.Sample()
	ls := &scores.LevelScores{Level: "district", Milestone: 2025, AsOf: "2025-06-30", Units: []*scores.UnitScore{
		{Unit: "bg-vietyen", Level: "district", Milestone: 2025, AsOf: "2025-06-30", Composite: 0.5, Rank: 1, Of: 2, Indicators: []scores.IndicatorScore{
			{Code: "HSCV", Numerator: f(71), Denominator: f(100), Value: f(0.71), Target: f(0.85), Attainment: 0.835294118, Status: scores.StatusOffTrack},
			{Code: "KIEMTRA", Target: f(0.6), Status: scores.StatusNoData},
		}},
	}}
	var buf bytes.Buffer
	if err := LevelCSV(&buf, ls, reg); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "\uFEFF") {
		t.Fatal("no byte-order mark")
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := "unit,name,level,indicator,numerator,denominator,value,target,attainment,status,composite,rank"
	if got := strings.Join(rows[0][:12], ","); got != want {
		t.Fatalf("header %s, want %s", got, want)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want a header and one per unit and indicator", len(rows))
	}
	if got := strings.Join(rows[1][:12], ","); got != "bg-vietyen,Huyện Việt Yên,district,HSCV,71,100,0.71,0.85,0.835294118,off_track,0.5,1" {
		t.Fatalf("row %s", got)
	}
	// No data is an empty cell, not a zero.
	if rows[2][6] != "" || rows[2][4] != "" || rows[2][9] != scores.StatusNoData {
		t.Fatalf("no-data row %v", rows[2])
	}
}

func TestTrendDays(t *testing.T) {
	d := func(s string) registry.Date { v, _ := registry.ParseDate(s); return v }
	got := TrendDays(d("2021-06-11"), d("2021-09-15"))
	want := []string{"2021-06-30", "2021-07-31", "2021-08-31", "2021-09-15"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := TrendDays(d("2021-06-11"), d("2021-07-31")); len(got) != 2 || got[1].String() != "2021-07-31" {
		t.Fatalf("a month-end as_of is not repeated: %v", got)
	}
	if got := PreviousMonthEnd(d("2025-03-01")); got.String() != "2025-02-28" {
		t.Fatalf("previous month-end %s", got)
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		lang string
		m    catalog.Measure
		v    float64
		want string
	}{
		{LangVI, catalog.MeasureRatio, 0.714, "71,4 %"},
		{LangEN, catalog.MeasureRatio, 0.714, "71.4 %"},
		{LangVI, catalog.MeasureRatio, 0, "0 %"},
		{LangVI, catalog.MeasureCount, 1234, "1.234"},
		{LangEN, catalog.MeasureCount, 1234567, "1,234,567"},
		{LangVI, catalog.MeasureGrowth, 0.13, "+13 %"},
		{LangVI, catalog.MeasureGrowth, -0.02, "−2 %"},
		{LangVI, catalog.MeasureRank, 14, "hạng 14"},
	}
	for _, tt := range tests {
		if got := measureValue(tt.lang, tt.m, tt.v); got != tt.want {
			t.Errorf("%s %s %v: got %q, want %q", tt.lang, tt.m, tt.v, got, tt.want)
		}
	}
}

func TestGapText(t *testing.T) {
	s := scores.IndicatorScore{Code: "HSCV", Kind: "flow_ratio", Target: f(0.85), Status: scores.StatusOffTrack,
		WhatItTakes: &scores.Gap{By: "2025-12-31", Need: f(412), Of: f(500), Share: f(0.824), Pace: f(0.71), Reachable: true, Measure: scores.GapItems}}
	want := "To reach 85 % by 2025-12-31, 412 of the about 500 work dossiers expected by then must be processed online (82.4 %; the pace so far: 71 %)."
	if got := gapText(LangEN, s, catalog.MeasureRatio); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	s = scores.IndicatorScore{Code: "DVC_L4", Kind: "stock_ratio", Target: f(1), Status: scores.StatusAtRisk,
		WhatItTakes: &scores.Gap{By: "2025-12-31", Need: f(3), Reachable: true, Measure: scores.GapItems}}
	if got := gapText(LangEN, s, catalog.MeasureRatio); got != "3 more public services at level 4 needed to reach 100 % by 2025-12-31." {
		t.Fatalf("stock: %s", got)
	}
	s = scores.IndicatorScore{Code: "HSCV", Kind: "flow_ratio", Target: f(0.85), Status: scores.StatusNoData, WhatItTakes: &scores.Gap{By: "2025-12-31"}}
	if got := gapText(LangVI, s, catalog.MeasureRatio); !strings.HasPrefix(got, "Chưa có số liệu") {
		t.Fatalf("no data: %s", got)
	}
}

func TestSortRows(t *testing.T) {
	row := func(name string, rank int, hscv string) rowView {
		c := indView{Code: "HSCV", Value: "", SortValue: "-1"}
		if hscv != "" {
			c.Value, c.SortValue = hscv, hscv
		}
		return rowView{Name: name, Rank: rank, Cells: []indView{c}}
	}
	rows := []rowView{row("B", 1, "0.5"), row("A", 2, ""), row("C", 3, "0.9"), row("D", 4, "0")}
	names := func() string {
		var s []string
		for _, r := range rows {
			s = append(s, r.Name)
		}
		return strings.Join(s, "")
	}
	for _, tt := range []struct{ key, dir, want string }{
		{"HSCV", "desc", "CBDA"}, {"HSCV", "asc", "DBCA"}, {"name", "asc", "ABCD"}, {"rank", "asc", "BACD"},
	} {
		sortRows(rows, tt.key, tt.dir)
		if got := names(); got != tt.want {
			t.Errorf("%s %s: %s, want %s (no data last, zero is data)", tt.key, tt.dir, got, tt.want)
		}
	}
}
