package registry

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/fielderr/fieldertest"
)

func mustDate(tb testing.TB, s string) Date {
	tb.Helper()
	d, err := ParseDate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// unit returns a unit valid from 2021-01-01, open-ended.
func unit(code string, level Level, parent string) Unit {
	return Unit{Code: code, Name: "Unit " + code, Level: level, Parent: parent,
		ValidFrom: NewDate(2021, 1, 1), ReportsFor: []string{}}
}

// small is a registry like the sample, in miniature: a province, an
// aggregating department, a district ending 2025-06-30, two communes under it
// (one of them created in 2023) and a district merged into another in 2024.
func small() []Unit {
	ctk := unit("p-ctk", LevelDepartment, "p")
	ctk.ReportsFor = []string{"p"}
	d1 := unit("p-d1", LevelDistrict, "p")
	d1.ValidTo, d1.Successor = NewDate(2025, 6, 30), "p"
	d2 := unit("p-d2", LevelDistrict, "p")
	d2.ValidTo, d2.Successor = NewDate(2024, 12, 31), "p-d1"
	c3 := unit("p-d1-c3", LevelCommune, "p-d1")
	c3.ValidFrom = NewDate(2023, 1, 1)
	return []Unit{
		unit("p", LevelProvince, ""),
		ctk,
		d1,
		unit("p-d1-c1", LevelCommune, "p-d1"),
		c3,
		d2,
		unit("p-d2-c2", LevelCommune, "p-d2"),
	}
}

func mustParseUnits(tb testing.TB, units []Unit) *Registry {
	tb.Helper()
	r, err := Parse(strings.NewReader(encode(tb, units)))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func encode(tb testing.TB, units []Unit) string {
	tb.Helper()
	b, err := json.Marshal(file{Version: "test", Units: units})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestParseErrors(t *testing.T) {
	edit := func(f func(u []Unit) []Unit) string {
		return encode(t, f(small()))
	}
	tests := []struct {
		name      string
		in        string
		wantUnit  string // FieldError.Code of the first problem; "-" for a non-field error
		wantField string
		wantMsg   string
	}{
		{"not json", `{"version":`, "-", "", "decode"},
		{"unknown field", `{"version":"v","units":[{"code":"p","nmae":"x"}]}`, "-", "", `unknown field "nmae"`},
		{"trailing data", encode(t, small()) + `{}`, "-", "", "after the registry object"},
		{"bad date", `{"version":"v","units":[{"code":"p","name":"P","level":"province","valid_from":"2021-02-30"}]}`, "-", "", `invalid date "2021-02-30"`},
		{"no version", `{"units":[{"code":"p","name":"P","level":"province","valid_from":"2021-01-01"}]}`, "", "version", "missing"},
		{"no units", `{"version":"v","units":[]}`, "", "units", "no units"},
		{"malformed code", edit(func(u []Unit) []Unit { u[3].Code = "P-D1-C1"; return u }), "P-D1-C1", "code", "malformed"},
		{"empty code", edit(func(u []Unit) []Unit { u[3].Code = ""; return u }), "", "code", "malformed"},
		{"code too long", edit(func(u []Unit) []Unit { u[3].Code = strings.Repeat("a", 49); return u }), strings.Repeat("a", 49), "code", "malformed"},
		{"duplicate code", edit(func(u []Unit) []Unit { u[4].Code = "p-d1-c1"; return u }), "p-d1-c1", "code", "duplicate of unit #3"},
		{"missing name", edit(func(u []Unit) []Unit { u[3].Name = " "; return u }), "p-d1-c1", "name", "missing"},
		{"unknown level", edit(func(u []Unit) []Unit { u[3].Level = "ward"; return u }), "p-d1-c1", "level", `unknown level "ward"`},
		{"unknown parent", edit(func(u []Unit) []Unit { u[3].Parent = "p-d9"; return u }), "p-d1-c1", "parent", `unknown unit "p-d9"`},
		{"self parent", edit(func(u []Unit) []Unit { u[3].Parent = "p-d1-c1"; return u }), "p-d1-c1", "parent", "itself"},
		{"unknown successor", edit(func(u []Unit) []Unit { u[2].Successor = "q"; return u }), "p-d1", "successor", `unknown unit "q"`},
		{"unknown reports_for", edit(func(u []Unit) []Unit { u[1].ReportsFor = []string{"p", "q"}; return u }), "p-ctk", "reports_for", `unknown unit "q"`},
		{"duplicate reports_for", edit(func(u []Unit) []Unit { u[1].ReportsFor = []string{"p", "p"}; return u }), "p-ctk", "reports_for", "listed twice"},
		{"missing valid_from", edit(func(u []Unit) []Unit { u[3].ValidFrom = Date{}; return u }), "p-d1-c1", "valid_from", "missing"},
		{"valid_to before valid_from", edit(func(u []Unit) []Unit { u[2].ValidTo = NewDate(2020, 12, 31); return u }), "p-d1", "valid_to", "2020-12-31 is before valid_from 2021-01-01"},
		{"parent cycle", edit(func(u []Unit) []Unit { u[0].Parent = "p-d1-c1"; return u }), "p", "parent", "cycle p → p-d1-c1 → p-d1 → p"},
		{"successor cycle", edit(func(u []Unit) []Unit { u[0].Successor = "p-d1"; return u }), "p", "successor", "cycle p → p-d1 → p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %v", r.Codes())
			}
			fieldertest.CheckParseError(t, err, "registry: ", tt.wantMsg, tt.wantUnit, tt.wantField)
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	u := small()
	u[2].Level = "ward"
	u[3].Parent = "nowhere"
	_, err := Parse(strings.NewReader(encode(t, u)))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	for _, want := range []string{`unit "p-d1" (#2): level`, `unit "p-d1-c1" (#3): parent`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "units.json")
	if err := os.WriteFile(good, []byte(encode(t, small())), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version() != "test" || len(r.Units()) != len(small()) {
		t.Errorf("Load: version %q, %d units", r.Version(), len(r.Units()))
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version":"v","units":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) error = %v, want one naming the path", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
}

func TestParentAt(t *testing.T) {
	r := mustParseUnits(t, small())
	tests := []struct {
		code, date string
		want       string
		wantOK     bool
	}{
		{"p-d1-c1", "2025-06-30", "p-d1", true},
		{"p-d1-c1", "2025-07-01", "p", true},
		{"p-d1", "2025-06-30", "p", true},
		{"p-d1", "2025-07-01", "p", true}, // the unit itself need not be in force
		{"p-d2-c2", "2024-12-31", "p-d2", true},
		{"p-d2-c2", "2025-01-01", "p", true}, // nearest ancestor, not the successor
		{"p", "2025-06-30", "", false},
		{"nope", "2025-06-30", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.code+"@"+tt.date, func(t *testing.T) {
			got, ok := r.ParentAt(tt.code, mustDate(t, tt.date))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParentAt(%s, %s) = %q, %v; want %q, %v", tt.code, tt.date, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestAncestorsAt(t *testing.T) {
	r := mustParseUnits(t, small())
	tests := []struct {
		code, date string
		want       []string
	}{
		{"p-d1-c1", "2025-06-30", []string{"p-d1", "p"}},
		{"p-d1-c1", "2025-07-01", []string{"p"}},
		{"p", "2025-07-01", nil},
		{"nope", "2025-07-01", nil},
	}
	for _, tt := range tests {
		t.Run(tt.code+"@"+tt.date, func(t *testing.T) {
			if got := r.AncestorsAt(tt.code, mustDate(t, tt.date)); !slices.Equal(got, tt.want) {
				t.Errorf("AncestorsAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDescendantsAt(t *testing.T) {
	r := mustParseUnits(t, small())
	tests := []struct {
		code, date string
		want       []string
	}{
		{"p", "2022-01-01", []string{"p-ctk", "p-d1", "p-d1-c1", "p-d2", "p-d2-c2"}},
		{"p-d1", "2022-01-01", []string{"p-d1-c1"}},
		{"p-d1", "2023-01-01", []string{"p-d1-c1", "p-d1-c3"}},
		{"p-d1", "2025-06-30", []string{"p-d1-c1", "p-d1-c3"}},
		{"p-d1", "2025-07-01", nil},
		{"p-d2", "2025-01-01", nil},
		{"p", "2025-07-01", []string{"p-ctk", "p-d1-c1", "p-d1-c3", "p-d2-c2"}},
		{"p-d1-c1", "2025-06-30", nil},
		{"nope", "2025-06-30", nil},
	}
	for _, tt := range tests {
		t.Run(tt.code+"@"+tt.date, func(t *testing.T) {
			if got := r.DescendantsAt(tt.code, mustDate(t, tt.date)); !slices.Equal(got, tt.want) {
				t.Errorf("DescendantsAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInForce(t *testing.T) {
	r := mustParseUnits(t, small())
	tests := []struct {
		date string
		want []string
	}{
		{"2020-12-31", nil},
		{"2021-01-01", []string{"p", "p-ctk", "p-d1", "p-d1-c1", "p-d2", "p-d2-c2"}},
		{"2024-12-31", []string{"p", "p-ctk", "p-d1", "p-d1-c1", "p-d1-c3", "p-d2", "p-d2-c2"}},
		{"2025-06-30", []string{"p", "p-ctk", "p-d1", "p-d1-c1", "p-d1-c3", "p-d2-c2"}},
		{"2025-07-01", []string{"p", "p-ctk", "p-d1-c1", "p-d1-c3", "p-d2-c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.date, func(t *testing.T) {
			var got []string
			for _, u := range r.InForce(mustDate(t, tt.date)) {
				got = append(got, u.Code)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("InForce(%s) = %v, want %v", tt.date, got, tt.want)
			}
		})
	}
}

func TestMayReportFor(t *testing.T) {
	r := mustParseUnits(t, small())
	tests := []struct {
		agency, unit string
		want         bool
	}{
		{"p-d1", "p-d1", true},
		{"p-ctk", "p", true},
		{"p-ctk", "p-ctk", true},
		{"p-d1", "p", false},
		{"p", "p-d1", false},
		{"p-ctk", "p-d1", false},
		{"nope", "nope", false},
	}
	for _, tt := range tests {
		if got := r.MayReportFor(tt.agency, tt.unit); got != tt.want {
			t.Errorf("MayReportFor(%s, %s) = %v, want %v", tt.agency, tt.unit, got, tt.want)
		}
	}
}

func TestHistory(t *testing.T) {
	r := mustParseUnits(t, small())
	if got, want := r.Predecessors("p"), []string{"p-d1"}; !slices.Equal(got, want) {
		t.Errorf("Predecessors(p) = %v, want %v", got, want)
	}
	if got, want := r.Predecessors("p-d1"), []string{"p-d2"}; !slices.Equal(got, want) {
		t.Errorf("Predecessors(p-d1) = %v, want %v", got, want)
	}
	tests := []struct {
		code, date string
		want       string
		wantOK     bool
	}{
		{"p-d2", "2024-12-31", "p-d2", true},
		{"p-d2", "2025-01-01", "p-d1", true},
		{"p-d2", "2025-07-01", "p", true},
		{"p-d1-c3", "2022-01-01", "", false},
		{"nope", "2022-01-01", "", false},
	}
	for _, tt := range tests {
		got, ok := r.SuccessorAt(tt.code, mustDate(t, tt.date))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("SuccessorAt(%s, %s) = %q, %v; want %q, %v", tt.code, tt.date, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	r := mustParseUnits(t, small())
	u, _ := r.Unit("p-ctk")
	u.ReportsFor[0] = "p-d1"
	r.Units()[1].ReportsFor[0] = "p-d1"
	if !r.MayReportFor("p-ctk", "p") {
		t.Error("changing a returned unit changed the registry")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(sampleJSON))
	f.Add(`{"version":"v","units":[{"code":"a","name":"A","level":"province","valid_from":"2021-01-01","parent":"a"}]}`)
	f.Add(`{"version":"v","units":[{"code":"a","name":"A","level":"province","valid_from":"2021-01-01","parent":"b"},{"code":"b","name":"B","level":"province","valid_from":"2021-01-01","parent":"a"}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		// A parsed registry answers every query without looping or panicking.
		d := NewDate(2025, 7, 1)
		for _, c := range r.Codes() {
			if !events.ValidAgency(c) {
				t.Fatalf("accepted malformed code %q", c)
			}
			r.AncestorsAt(c, d)
			r.DescendantsAt(c, d)
			r.SuccessorAt(c, d)
		}
	})
}

func TestSpeaksForProvince(t *testing.T) {
	reg := Sample()
	for _, tt := range []struct {
		code string
		want bool
	}{
		{"bg", true},
		{"bg-ctk", true},
		{"bg-stttt", true},
		{"bg-skhdt", true},
		{"bg-syt", false},
		{"bg-vietyen", false},
		{"bg-vietyen-nenh", false},
		{"hn-x", false},
	} {
		if got := reg.SpeaksForProvince(tt.code); got != tt.want {
			t.Errorf("SpeaksForProvince(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}
