package scores

import (
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

func date(s string) registry.Date {
	d, err := registry.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestJudge(t *testing.T) {
	cat := catalog.Default()
	hscv, _ := cat.Indicator("HSCV")
	rank, _ := cat.Indicator("DTI_RANK")
	ms25, _ := hscv.Milestone(2025)
	rms25, _ := rank.Milestone(2025)
	base := cat.BaselineDate() // 2021-06-11
	tests := []struct {
		name       string
		ind        catalog.Indicator
		ms         catalog.Milestone
		level      registry.Level
		asOf       string
		now, base  figure
		wantStatus string
		wantAtt    float64
	}{
		{name: "met district", ind: hscv, ms: ms25, level: registry.LevelDistrict, asOf: "2025-06-30", now: figure{num: 85, den: 100, value: 0.85, ok: true}, wantStatus: StatusMet, wantAtt: 1},
		{name: "commune met at 65", ind: hscv, ms: ms25, level: registry.LevelCommune, asOf: "2025-06-30", now: figure{num: 65, den: 100, value: 0.65, ok: true}, wantStatus: StatusMet, wantAtt: 1},
		{name: "on track early", ind: hscv, ms: ms25, level: registry.LevelDistrict, asOf: "2023-06-11", now: figure{value: 0.5, ok: true}, base: figure{value: 0.2, ok: true}, wantStatus: StatusOnTrack, wantAtt: 0.588235294},
		{name: "at risk", ind: hscv, ms: ms25, level: registry.LevelDistrict, asOf: "2023-06-11", now: figure{value: 0.48, ok: true}, base: figure{value: 0.2, ok: true}, wantStatus: StatusAtRisk, wantAtt: 0.564705882},
		{name: "off track", ind: hscv, ms: ms25, level: registry.LevelDistrict, asOf: "2023-06-11", now: figure{value: 0.3, ok: true}, base: figure{value: 0.2, ok: true}, wantStatus: StatusOffTrack, wantAtt: 0.352941176},
		{name: "deadline passed unmet", ind: hscv, ms: ms25, level: registry.LevelDistrict, asOf: "2025-12-31", now: figure{value: 0.84, ok: true}, wantStatus: StatusOffTrack, wantAtt: 0.988235294},
		{name: "no data", ind: hscv, ms: ms25, level: registry.LevelDistrict, asOf: "2025-06-30", wantStatus: StatusNoData, wantAtt: 0},
		{name: "rank met", ind: rank, ms: rms25, level: registry.LevelProvince, asOf: "2025-06-30", now: figure{value: 12, ok: true}, wantStatus: StatusMet, wantAtt: 1},
		{name: "rank behind", ind: rank, ms: rms25, level: registry.LevelProvince, asOf: "2025-06-30", now: figure{value: 30, ok: true}, base: figure{value: 40, ok: true}, wantStatus: StatusOffTrack, wantAtt: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := judge(tt.ind, tt.ms, tt.level, base, date(tt.asOf), tt.now, tt.base)
			if got.Status != tt.wantStatus || got.Attainment != tt.wantAtt {
				t.Fatalf("status %s attainment %v (expected %v), want %s %v", got.Status, got.Attainment, deref(got.Expected), tt.wantStatus, tt.wantAtt)
			}
		})
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func TestRankAll(t *testing.T) {
	units := []*UnitScore{{Unit: "c", Composite: 0.5}, {Unit: "a", Composite: 0.9}, {Unit: "b", Composite: 0.5}, {Unit: "d", Composite: 0.1}}
	rankAll(units)
	want := map[string]int{"a": 1, "b": 2, "c": 2, "d": 4}
	for _, u := range units {
		if u.Rank != want[u.Unit] || u.Of != 4 {
			t.Errorf("%s rank %d of %d, want %d of 4", u.Unit, u.Rank, u.Of, want[u.Unit])
		}
	}
}

func TestCompute(t *testing.T) {
	cat := catalog.Default()
	reg := registry.Sample()
	hscv, _ := cat.Indicator("HSCV")
	nsld, _ := cat.Indicator("NSLD")
	ngan, _ := cat.Indicator("KTS_NGANH")
	root, _ := reg.Unit("bg")
	vy, _ := reg.Unit("bg-vietyen")
	snap := &snapshot{
		day: date("2025-06-30"),
		own: map[string]map[string]events.Amount{"HSCV": {"bg-vietyen": {Num: 8, Den: 10, N: 10}, "bg-hiephoa": {Num: 1, Den: 10, N: 10}}},
		reported: map[string]map[int]map[string]events.Amount{
			"NSLD":      {2023: {"": {Num: 100, Den: 1, N: 1}}, 2024: {"": {Num: 113, Den: 1, N: 1}}, 2021: {"": {Num: 50, Den: 1, N: 1}}},
			"KTS_NGANH": {2024: {"health": {Num: 20, Den: 100, N: 1}, "transport": {Num: 5, Den: 50, N: 1}}},
		},
	}
	tests := []struct {
		name     string
		ind      catalog.Indicator
		unit     registry.Unit
		wantNum  float64
		wantDen  float64
		wantVal  float64
		wantPerd string
	}{
		{name: "unit's own flow", ind: hscv, unit: vy, wantNum: 8, wantDen: 10, wantVal: 0.8, wantPerd: "2025-01-01/2025-06-30"},
		{name: "province sums numerators and denominators", ind: hscv, unit: root, wantNum: 9, wantDen: 20, wantVal: 0.45, wantPerd: "2025-01-01/2025-06-30"},
		{name: "growth of the two latest years", ind: nsld, unit: root, wantNum: 113, wantDen: 100, wantVal: 0.13, wantPerd: "year 2024 over 2023"},
		{name: "minimum over sectors", ind: ngan, unit: root, wantNum: 5, wantDen: 50, wantVal: 0.1, wantPerd: "year 2024, sector transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var own map[string]bool
			if tt.unit.Parent != "" {
				own = map[string]bool{tt.unit.Code: true}
			}
			f := compute(tt.ind, own, snap, reg.InForce(snap.day))
			if !f.ok || f.num != tt.wantNum || f.den != tt.wantDen || round(f.value) != tt.wantVal || f.period != tt.wantPerd {
				t.Fatalf("got %+v, want %v/%v=%v %q", f, tt.wantNum, tt.wantDen, tt.wantVal, tt.wantPerd)
			}
		})
	}
}

func TestComposite(t *testing.T) {
	tests := []struct {
		name string
		in   []IndicatorScore
		want float64
	}{
		{name: "weighted mean", in: []IndicatorScore{{Weight: 1, Attainment: 1}, {Weight: 3, Attainment: 0.5}}, want: 0.625},
		{name: "no data counts as zero", in: []IndicatorScore{{Weight: 1, Attainment: 1}, {Weight: 1, Status: StatusNoData}}, want: 0.5},
		{name: "untargeted has no weight", in: []IndicatorScore{{Weight: 1, Attainment: 0.8}, {Status: StatusNoTarget}}, want: 0.8},
		{name: "nothing applies", in: nil, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := composite(tt.in); got != tt.want {
				t.Fatalf("composite = %v, want %v", got, tt.want)
			}
		})
	}
}
