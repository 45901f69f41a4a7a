package scores

import (
	"math"
	"testing"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

func TestWhatItTakes(t *testing.T) {
	cat := catalog.Default()
	ind := func(code string) catalog.Indicator {
		i, ok := cat.Indicator(code)
		if !ok {
			t.Fatalf("no %s", code)
		}
		return i
	}
	base := cat.BaselineDate()
	f := func(num, den, value float64) figure { return figure{num: num, den: den, value: value, ok: true} }
	tests := []struct {
		name          string
		code          string
		level         registry.Level
		asOf          string
		now, base     figure
		wantBy        string
		wantNeed      float64 // -1: nil
		wantOf        float64 // -1: nil
		wantPace      float64 // -1: nil
		wantReachable bool
		wantMeasure   string
	}{
		// 181 days of 365 gone: 100 dossiers so far → about 202 by 31 December;
		// 85% of 202 is 171.7, so 172 must be online: 101 more of the 102 to come.
		{name: "flow district mid-year", code: "HSCV", level: registry.LevelDistrict, asOf: "2025-06-30", now: f(71, 100, 0.71),
			wantBy: "2025-12-31", wantNeed: 101, wantOf: 102, wantPace: 0.71, wantReachable: true, wantMeasure: GapItems},
		{name: "flow out of reach", code: "HSCV", level: registry.LevelDistrict, asOf: "2025-06-30", now: f(10, 100, 0.1),
			wantBy: "2025-12-31", wantNeed: 162, wantOf: 102, wantPace: 0.1, wantReachable: false, wantMeasure: GapItems},
		{name: "flow before the deadline year ends with the year", code: "HSCV", level: registry.LevelCommune, asOf: "2024-12-31", now: f(6, 10, 0.6),
			wantBy: "2024-12-31", wantNeed: 1, wantOf: 0, wantPace: 0.6, wantReachable: false, wantMeasure: GapItems},
		{name: "flow strictly above", code: "KIEMTRA", level: registry.LevelDistrict, asOf: "2025-07-02", now: f(6, 10, 0.6),
			wantBy: "2025-12-31", wantNeed: 7, wantOf: 10, wantPace: 0.6, wantReachable: true, wantMeasure: GapItems},
		{name: "stock", code: "DVC_L4", level: registry.LevelDistrict, asOf: "2025-06-30", now: f(7, 10, 0.7),
			wantBy: "2025-12-31", wantNeed: 3, wantOf: -1, wantPace: -1, wantReachable: true, wantMeasure: GapItems},
		{name: "count strictly above, with pace", code: "DNS", level: registry.LevelProvince, asOf: "2025-06-30", now: f(790, 0, 790), base: f(700, 0, 700),
			wantBy: "2025-12-31", wantNeed: 11, wantOf: -1, wantPace: 790 + 90.0/1480*184, wantReachable: true, wantMeasure: GapItems},
		{name: "rank", code: "DTI_RANK", level: registry.LevelProvince, asOf: "2025-06-30", now: f(20, 1, 20),
			wantBy: "2025-12-31", wantNeed: 5, wantOf: -1, wantPace: -1, wantReachable: true, wantMeasure: GapPlaces},
		{name: "about 25% with a tolerance", code: "KTS_GRDP", level: registry.LevelProvince, asOf: "2025-06-30", now: f(20, 100, 0.2),
			wantBy: "2025-12-31", wantNeed: 4, wantOf: -1, wantPace: -1, wantReachable: true, wantMeasure: GapAmount},
		{name: "growth", code: "NSLD", level: registry.LevelProvince, asOf: "2025-06-30", now: f(110, 100, 0.1),
			wantBy: "2025-12-31", wantNeed: 2.5, wantOf: -1, wantPace: -1, wantReachable: true, wantMeasure: GapAmount},
		{name: "no data", code: "HSCV", level: registry.LevelDistrict, asOf: "2025-06-30",
			wantBy: "2025-12-31", wantNeed: -1, wantOf: -1, wantPace: -1, wantReachable: false, wantMeasure: GapItems},
	}
	opt := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := ind(tt.code)
			ms, _ := i.Milestone(2025)
			s := judge(i, ms, tt.level, base, date(tt.asOf), tt.now, tt.base)
			g := s.WhatItTakes
			if g == nil {
				t.Fatalf("no gap; status %s", s.Status)
			}
			if g.By != tt.wantBy || math.Abs(opt(g.Need)-tt.wantNeed) > 1e-6 || math.Abs(opt(g.Of)-tt.wantOf) > 1e-6 ||
				math.Abs(opt(g.Pace)-tt.wantPace) > 1e-6 || g.Reachable != tt.wantReachable || g.Measure != tt.wantMeasure {
				t.Fatalf("got by %s need %v of %v pace %v reachable %v measure %s; want %s %v %v %v %v %s",
					g.By, opt(g.Need), opt(g.Of), opt(g.Pace), g.Reachable, g.Measure,
					tt.wantBy, tt.wantNeed, tt.wantOf, tt.wantPace, tt.wantReachable, tt.wantMeasure)
			}
			if g.Rule == "" {
				t.Fatal("no rule")
			}
		})
	}
	t.Run("met has none", func(t *testing.T) {
		i := ind("HSCV")
		ms, _ := i.Milestone(2025)
		if s := judge(i, ms, registry.LevelDistrict, base, date("2025-06-30"), f(90, 100, 0.9), figure{}); s.WhatItTakes != nil {
			t.Fatalf("met indicator has a gap %+v", s.WhatItTakes)
		}
	})
}
