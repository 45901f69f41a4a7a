package catalog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bacgiang/cds/internal/fielderr/fieldertest"
	"github.com/bacgiang/cds/internal/registry"
)

func mustDate(tb testing.TB, s string) registry.Date {
	tb.Helper()
	d, err := registry.ParseDate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

type obj = map[string]any

// doc returns a small valid catalogue as generic JSON values, for tests to
// break one field at a time.
func doc() obj {
	return obj{
		"version": "t1", "source": "test", "baseline_date": "2021-06-11",
		"indicators": []any{
			obj{
				"code": "HSCV", "name_vi": "Hồ sơ", "name_en": "Dossiers", "unit": "ratio", "kind": "flow_ratio",
				"direction": "higher", "levels": []any{"province", "district", "commune"}, "weight": 1,
				"feeds": []any{"workfile.processed"},
				"milestones": []any{
					obj{"year": 2025, "deadline": "2025-12-31", "comparison": "gte",
						"targets": obj{"province": 0.95, "district": 0.85, "commune": 0.65}},
					obj{"year": 2030, "deadline": "2030-12-31", "comparison": "gte",
						"targets": obj{"*": 1.0, "commune": 0.8}},
				},
			},
			obj{
				"code": "DTI_RANK", "name_vi": "Xếp hạng", "name_en": "Rank", "unit": "rank", "kind": "rank",
				"direction": "lower", "levels": []any{"province"}, "weight": 1, "feeds": []any{"dti.published"},
				"milestones": []any{obj{"year": 2025, "deadline": "2025-12-31", "comparison": "lte", "targets": obj{"*": 15}}},
			},
		},
	}
}

func ind(d obj, n int) obj { return d["indicators"].([]any)[n].(obj) }
func ms(d obj, n, k int) obj {
	return ind(d, n)["milestones"].([]any)[k].(obj)
}

func encode(tb testing.TB, d obj) string {
	tb.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestParseValid(t *testing.T) {
	c, err := Parse(strings.NewReader(encode(t, doc())))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != "t1" || len(c.Indicators()) != 2 {
		t.Errorf("version %q, %d indicators", c.Version(), len(c.Indicators()))
	}
}

func TestParseErrors(t *testing.T) {
	edit := func(f func(d obj)) string {
		d := doc()
		f(d)
		return encode(t, d)
	}
	tests := []struct {
		name      string
		in        string
		wantInd   string // FieldError.Code of the first problem; "-" for a non-field error
		wantField string
		wantMsg   string
	}{
		{"not json", `{"version":`, "-", "", "decode"},
		{"unknown top-level field", edit(func(d obj) { d["verison"] = "x" }), "-", "", `unknown field "verison"`},
		{"trailing data", encode(t, doc()) + "[]", "-", "", "after the catalogue object"},
		{"no version", edit(func(d obj) { delete(d, "version") }), "", "version", "missing"},
		{"no source", edit(func(d obj) { d["source"] = "" }), "", "source", "missing"},
		{"no baseline", edit(func(d obj) { delete(d, "baseline_date") }), "", "baseline_date", "missing"},
		{"no indicators", edit(func(d obj) { d["indicators"] = []any{} }), "", "indicators", "no indicators"},
		{"unknown indicator field", edit(func(d obj) { ind(d, 0)["wieght"] = 1 }), "HSCV", "(json)", `unknown field "wieght"`},
		{"malformed code", edit(func(d obj) { ind(d, 0)["code"] = "hscv" }), "hscv", "code", "malformed"},
		{"duplicate code", edit(func(d obj) { ind(d, 1)["code"] = "HSCV" }), "HSCV", "code", "duplicate of indicator #0"},
		{"missing name", edit(func(d obj) { delete(ind(d, 0), "name_en") }), "HSCV", "name_en", "missing"},
		{"unknown kind", edit(func(d obj) { ind(d, 0)["kind"] = "flow" }), "HSCV", "kind", `unknown kind "flow"`},
		{"unit does not fit kind", edit(func(d obj) { ind(d, 0)["unit"] = "count" }), "HSCV", "unit", `"count" does not fit kind "flow_ratio"`},
		{"unknown direction", edit(func(d obj) { ind(d, 0)["direction"] = "up" }), "HSCV", "direction", `unknown direction "up"`},
		{"rank not lower", edit(func(d obj) { ind(d, 1)["direction"] = "higher" }), "DTI_RANK", "direction", "better when lower"},
		{"no levels", edit(func(d obj) { ind(d, 0)["levels"] = []any{} }), "HSCV", "levels", "none"},
		{"unknown level", edit(func(d obj) { ind(d, 1)["levels"] = []any{"province", "ward"} }), "DTI_RANK", "levels", `unknown level "ward"`},
		{"duplicate level", edit(func(d obj) { ind(d, 1)["levels"] = []any{"province", "province"} }), "DTI_RANK", "levels", "listed twice"},
		{"missing weight", edit(func(d obj) { delete(ind(d, 0), "weight") }), "HSCV", "weight", "missing"},
		{"negative weight", edit(func(d obj) { ind(d, 0)["weight"] = -1 }), "HSCV", "weight", "negative"},
		{"feeds empty", edit(func(d obj) { ind(d, 0)["feeds"] = []any{} }), "HSCV", "feeds", "disagree with the event table"},
		{"feeds of another indicator", edit(func(d obj) { ind(d, 0)["feeds"] = []any{"report.submitted"} }), "HSCV", "feeds", "disagree with the event table, which feeds HSCV from [workfile.processed]"},
		{"feeds incomplete", edit(func(d obj) { ind(d, 0)["code"] = "DNS"; ind(d, 0)["feeds"] = []any{"enterprise.registered"} }), "DNS", "feeds", "from [enterprise.closed enterprise.registered]"},
		{"fed by no event type", edit(func(d obj) { ind(d, 0)["code"] = "HSCV_PAPER"; delete(ind(d, 0), "feeds") }), "HSCV_PAPER", "feeds", "no event type feeds HSCV_PAPER"},
		{"no milestones", edit(func(d obj) { ind(d, 0)["milestones"] = []any{} }), "HSCV", "milestones", "none"},
		{"years not increasing", edit(func(d obj) { ms(d, 0, 1)["year"] = 2025 }), "HSCV", "milestones[1].year", "2025 does not follow 2025"},
		{"deadlines not increasing", edit(func(d obj) { ms(d, 0, 1)["deadline"] = "2025-12-31" }), "HSCV", "milestones[1].deadline", "not after the previous deadline"},
		{"missing deadline", edit(func(d obj) { delete(ms(d, 0, 0), "deadline") }), "HSCV", "milestones[0].deadline", "missing"},
		{"deadline before baseline", edit(func(d obj) { ms(d, 1, 0)["deadline"] = "2021-06-11" }), "DTI_RANK", "milestones[0].deadline", "not after the baseline date"},
		{"bad deadline", edit(func(d obj) { ms(d, 1, 0)["deadline"] = "2025-12-32" }), "DTI_RANK", "(json)", `invalid date "2025-12-32"`},
		{"unknown comparison", edit(func(d obj) { ms(d, 0, 0)["comparison"] = ">=" }), "HSCV", "milestones[0].comparison", `unknown comparison ">="`},
		{"comparison against direction", edit(func(d obj) { ms(d, 1, 0)["comparison"] = "gte" }), "DTI_RANK", "milestones[0].comparison", `"gte" does not fit direction "lower"`},
		{"tolerance without approx", edit(func(d obj) { ms(d, 0, 0)["tolerance"] = 0.01 }), "HSCV", "milestones[0].tolerance", "only with approx"},
		{"missing level target", edit(func(d obj) { delete(ms(d, 0, 0)["targets"].(obj), "commune") }), "HSCV", "milestones[0].targets", `no target for level "commune"`},
		{"target for other level", edit(func(d obj) { ms(d, 0, 0)["targets"].(obj)["department"] = 0.95 }), "HSCV", "milestones[0].targets", `level "department", which the indicator does not apply to`},
		{"ratio as percent", edit(func(d obj) { ms(d, 0, 0)["targets"].(obj)["district"] = 85 }), "HSCV", "milestones[0].targets", "within 0–1"},
		{"rank below 1", edit(func(d obj) { ms(d, 1, 0)["targets"] = obj{"*": 0} }), "DTI_RANK", "milestones[0].targets", "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %d indicators", len(c.Indicators()))
			}
			fieldertest.CheckParseError(t, err, "catalog: ", tt.wantMsg, tt.wantInd, tt.wantField)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "indicators.json")
	if err := os.WriteFile(path, []byte(encode(t, doc())), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Indicator("DTI_RANK"); !ok {
		t.Error("loaded catalogue lacks DTI_RANK")
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
}

// The targets of docs/design.md, "Indicators and targets", per indicator and year, as level → target;
// "*" stands for every level the indicator applies to.
func TestDefaultMatchesDesign(t *testing.T) {
	all := []registry.Level{registry.LevelProvince, registry.LevelDepartment, registry.LevelDistrict, registry.LevelCommune}
	prov := []registry.Level{registry.LevelProvince}
	type target struct {
		year    int
		targets map[string]float64
		cmp     Comparison
	}
	one := func(year int, v float64, cmp Comparison) target {
		return target{year, map[string]float64{"*": v}, cmp}
	}
	tests := []struct {
		code    string
		kind    Kind
		dir     Direction
		levels  []registry.Level
		feeds   []string
		targets []target
	}{
		{"DVC_L4", KindStockRatio, Higher, all, []string{"service.published", "service.withdrawn"},
			[]target{one(2021, 1, GTE), one(2025, 1, GTE), one(2030, 1, GTE)}},
		{"DVC_MOBILE", KindStockRatio, Higher, all, []string{"service.published", "service.withdrawn"},
			[]target{one(2021, 1, GTE), one(2025, 1, GTE), one(2030, 1, GTE)}},
		{"HSCV", KindFlowRatio, Higher, all, []string{"workfile.processed"}, []target{
			{2025, map[string]float64{"province": 0.95, "department": 0.95, "district": 0.85, "commune": 0.65}, GTE},
			{2030, map[string]float64{"province": 1, "department": 1, "district": 1, "commune": 0.80}, GTE}}},
		{"BAOCAO", KindFlowRatio, Higher, all, []string{"report.submitted"}, []target{one(2025, 1, GTE), one(2030, 1, GTE)}},
		{"KIEMTRA", KindFlowRatio, Higher, all, []string{"inspection.completed"}, []target{one(2025, 0.60, GT), one(2030, 0.70, GT)}},
		{"DINHDANH", KindFlowRatio, Higher, prov, []string{"auth.recorded"}, []target{one(2030, 1, GTE)}},
		{"DLMO", KindStockRatio, Higher, prov, []string{"opendata.published"}, []target{one(2030, 1, GTE)}},
		{"KTS_GRDP", KindReportedRatio, Higher, prov, []string{"economy.grdp_reported"}, []target{one(2025, 0.25, Approx), one(2030, 0.35, Approx)}},
		{"KTS_NGANH", KindReportedMinRatio, Higher, prov, []string{"economy.grdp_reported"}, []target{one(2025, 0.15, GTE), one(2030, 0.20, GTE)}},
		{"NSLD", KindReportedGrowth, Higher, prov, []string{"economy.productivity_reported"}, []target{one(2025, 0.125, GT), one(2030, 0.135, GT)}},
		{"DNS", KindCount, Higher, prov, []string{"enterprise.closed", "enterprise.registered"}, []target{one(2025, 800, GT), one(2030, 800, GT)}},
		{"DTI_RANK", KindRank, Lower, prov, []string{"dti.published"}, []target{one(2025, 15, LTE), one(2030, 10, LTE)}},
	}
	c := Default()
	if got := len(c.Indicators()); got != len(tests) {
		t.Errorf("Default has %d indicators, want %d", got, len(tests))
	}
	if c.Source() != "Nghị quyết 111-NQ/TU ngày 11/6/2021" || c.BaselineDate().String() != "2021-06-11" || c.Version() == "" {
		t.Errorf("header: version %q source %q baseline %s", c.Version(), c.Source(), c.BaselineDate())
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			ind, ok := c.Indicator(tt.code)
			if !ok {
				t.Fatal("missing")
			}
			if ind.Kind != tt.kind || ind.Direction != tt.dir || ind.Unit != tt.kind.Measure() || ind.Weight != 1 {
				t.Errorf("kind %q direction %q unit %q weight %v", ind.Kind, ind.Direction, ind.Unit, ind.Weight)
			}
			if !slices.Equal(ind.Levels, tt.levels) || !slices.Equal(ind.Feeds, tt.feeds) {
				t.Errorf("levels %v feeds %v, want %v %v", ind.Levels, ind.Feeds, tt.levels, tt.feeds)
			}
			if len(ind.Milestones) != len(tt.targets) {
				t.Fatalf("%d milestones, want %d", len(ind.Milestones), len(tt.targets))
			}
			for _, want := range tt.targets {
				m, ok := ind.Milestone(want.year)
				if !ok {
					t.Errorf("no %d milestone", want.year)
					continue
				}
				if m.Comparison != want.cmp || m.Deadline != registry.NewDate(want.year, 12, 31) {
					t.Errorf("%d: comparison %q deadline %s", want.year, m.Comparison, m.Deadline)
				}
				for _, l := range registry.Levels() {
					w, wok := want.targets[string(l)]
					if !wok {
						w, wok = want.targets["*"]
					}
					wok = wok && ind.AppliesTo(l)
					got, gok := m.Target(l)
					gok = gok && ind.AppliesTo(l)
					if got != w || gok != wok {
						t.Errorf("%d %s: target %v (%v), want %v (%v)", want.year, l, got, gok, w, wok)
					}
				}
			}
		})
	}
}

func TestHSCVTargetPerLevel(t *testing.T) {
	hscv, _ := Default().Indicator("HSCV")
	tests := []struct {
		year  int
		level registry.Level
		want  float64
	}{
		{2025, registry.LevelProvince, 0.95},
		{2025, registry.LevelDepartment, 0.95},
		{2025, registry.LevelDistrict, 0.85},
		{2025, registry.LevelCommune, 0.65},
		{2030, registry.LevelProvince, 1},
		{2030, registry.LevelDepartment, 1},
		{2030, registry.LevelDistrict, 1},
		{2030, registry.LevelCommune, 0.80},
	}
	for _, tt := range tests {
		m, ok := hscv.Milestone(tt.year)
		if !ok {
			t.Fatalf("no %d milestone", tt.year)
		}
		if got, ok := m.Target(tt.level); !ok || got != tt.want {
			t.Errorf("HSCV %d %s = %v, %v; want %v", tt.year, tt.level, got, ok, tt.want)
		}
	}
	if _, ok := hscv.Milestone(2021); ok {
		t.Error("HSCV has a 2021 milestone")
	}
}

func TestTargetFallsBackToAll(t *testing.T) {
	m := Milestone{Targets: map[string]float64{"*": 1, "commune": 0.8}}
	if v, _ := m.Target(registry.LevelCommune); v != 0.8 {
		t.Errorf("commune = %v, want its own 0.8", v)
	}
	if v, _ := m.Target(registry.LevelDistrict); v != 1 {
		t.Errorf("district = %v, want the * target 1", v)
	}
	if _, ok := (Milestone{Targets: map[string]float64{"province": 1}}).Target(registry.LevelCommune); ok {
		t.Error("target found for a level without one")
	}
}

func TestNextMilestone(t *testing.T) {
	c := Default()
	dvc, _ := c.Indicator("DVC_L4")
	dinh, _ := c.Indicator("DINHDANH")
	tests := []struct {
		date        string
		dvc, dinh   int // 0: none
		catalogYear int
	}{
		{"2021-06-11", 2021, 2030, 2021},
		{"2021-12-31", 2021, 2030, 2021},
		{"2022-01-01", 2025, 2030, 2025},
		{"2025-12-31", 2025, 2030, 2025},
		{"2026-01-01", 2030, 2030, 2030},
		{"2030-12-31", 2030, 2030, 2030},
		{"2031-01-01", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.date, func(t *testing.T) {
			d := mustDate(t, tt.date)
			for _, x := range []struct {
				ind  Indicator
				want int
			}{{dvc, tt.dvc}, {dinh, tt.dinh}} {
				m, ok := x.ind.NextMilestone(d)
				if got := map[bool]int{true: m.Year}[ok]; got != x.want {
					t.Errorf("%s.NextMilestone = %d (%v), want %d", x.ind.Code, m.Year, ok, x.want)
				}
			}
			y, ok := c.NextMilestone(d)
			if got := map[bool]int{true: y}[ok]; got != tt.catalogYear {
				t.Errorf("Catalog.NextMilestone = %d (%v), want %d", y, ok, tt.catalogYear)
			}
		})
	}
	if got, want := c.Milestones(), []int{2021, 2025, 2030}; !slices.Equal(got, want) {
		t.Errorf("Milestones() = %v, want %v", got, want)
	}
}

func TestMet(t *testing.T) {
	tests := []struct {
		name   string
		cmp    Comparison
		tol    float64
		dir    Direction
		value  float64
		target float64
		want   bool
	}{
		{"gte at target", GTE, 0, Higher, 0.85, 0.85, true},
		{"gte below", GTE, 0, Higher, 0.84, 0.85, false},
		{"gt at target", GT, 0, Higher, 0.60, 0.60, false},
		{"gt above", GT, 0, Higher, 0.61, 0.60, true},
		{"lte rank at target", LTE, 0, Lower, 15, 15, true},
		{"lte rank worse", LTE, 0, Lower, 16, 15, false},
		{"lt rank at target", LT, 0, Lower, 15, 15, false},
		{"approx within tolerance", Approx, 0.01, Higher, 0.245, 0.25, true},
		{"approx beyond", Approx, 0.01, Higher, 0.30, 0.25, true},
		{"approx short", Approx, 0.01, Higher, 0.235, 0.25, false},
		{"approx lower", Approx, 1, Lower, 11, 10, true},
		{"unknown comparison", "eq", 0, Higher, 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Milestone{Comparison: tt.cmp, Tolerance: tt.tol}
			if got := m.Met(tt.dir, tt.value, tt.target); got != tt.want {
				t.Errorf("Met(%v, %v, %v) = %v, want %v", tt.dir, tt.value, tt.target, got, tt.want)
			}
		})
	}
}

func TestForEventType(t *testing.T) {
	c := Default()
	tests := []struct {
		typ  string
		want []string
	}{
		{"service.published", []string{"DVC_L4", "DVC_MOBILE"}},
		{"economy.grdp_reported", []string{"KTS_GRDP", "KTS_NGANH"}},
		{"enterprise.closed", []string{"DNS"}},
		{"workfile.processed", []string{"HSCV"}},
		{"nothing.here", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, ind := range c.ForEventType(tt.typ) {
			got = append(got, ind.Code)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ForEventType(%s) = %v, want %v", tt.typ, got, tt.want)
		}
	}
	if got := len(c.EventTypes()); got != 12 {
		t.Errorf("%d event types feed indicators, want the 12 of docs/design.md, \"Event types\"", got)
	}
}

func TestTargetRows(t *testing.T) {
	rows := Default().TargetRows()
	var hscv2025commune, total int
	for _, r := range rows {
		total++
		if r.Indicator == "HSCV" && r.Year == 2025 && r.Level == registry.LevelCommune {
			hscv2025commune++
			if r.Target != 0.65 || r.Comparison != GTE {
				t.Errorf("HSCV 2025 commune row = %+v", r)
			}
		}
	}
	// 4 levels × (3+3+2+2+2) milestones of the agency indicators, 1 level × 12 of the province ones.
	if want := 4*(3+3+2+2+2) + (1 + 1 + 2 + 2 + 2 + 2 + 2); total != want || hscv2025commune != 1 {
		t.Errorf("%d rows (%d HSCV 2025 commune), want %d (1)", total, hscv2025commune, want)
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	c := Default()
	ind, _ := c.Indicator("HSCV")
	ind.Milestones[0].Targets["commune"] = 0
	ind.Levels[0] = "nowhere"
	c.Indicators()[2].Milestones[0].Targets["commune"] = 0
	c.ForEventType("workfile.processed")[0].Milestones[0].Targets["commune"] = 0
	again, _ := c.Indicator("HSCV")
	if v, _ := again.Milestones[0].Target(registry.LevelCommune); v != 0.65 || again.Levels[0] != registry.LevelProvince {
		t.Error("changing a returned indicator changed the catalogue")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(defaultJSON))
	f.Add(`{"version":"v","source":"s","baseline_date":"2021-06-11","indicators":[{"code":"A","weight":1}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		d := registry.NewDate(2025, 7, 1)
		for _, ind := range c.Indicators() {
			if !ValidCode(ind.Code) {
				t.Fatalf("accepted malformed code %q", ind.Code)
			}
			for _, l := range ind.Levels {
				m, ok := ind.NextMilestone(d)
				if _, has := m.Target(l); ok && !has {
					t.Fatalf("%s: no target for %s", ind.Code, l)
				}
			}
		}
		c.TargetRows()
		c.NextMilestone(d)
	})
}
