package registry

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bacgiang/cds/events"
)

// The codes docs/design.md, "Organisation units", fixes; agency systems and acceptance tests use them.
var (
	fixedDepartments = []string{"bg-stttt", "bg-skhdt", "bg-syt", "bg-sgddt", "bg-stnmt",
		"bg-snnptnt", "bg-sgtvt", "bg-sct", "bg-ctk", "bg-vpubnd"}
	fixedDistricts = []string{"bg-tpbacgiang", "bg-yenthe", "bg-tanyen", "bg-langgiang", "bg-lucnam",
		"bg-lucngan", "bg-sondong", "bg-yendung", "bg-vietyen", "bg-hiephoa"}
	aggregators = []string{"bg-ctk", "bg-stttt", "bg-skhdt"}
)

func TestSampleFixedCodes(t *testing.T) {
	r := Sample()
	if r.Version() == "" || !strings.Contains(r.Note(), "sample") {
		t.Errorf("version %q, note %q: want a version and a note saying the list is a sample", r.Version(), r.Note())
	}
	want := map[string]Level{"bg": LevelProvince}
	for _, c := range fixedDepartments {
		want[c] = LevelDepartment
	}
	for _, c := range fixedDistricts {
		want[c] = LevelDistrict
	}
	for code, level := range want {
		u, ok := r.Unit(code)
		if !ok {
			t.Errorf("%s missing", code)
			continue
		}
		wantParent := "bg"
		if level == LevelProvince {
			wantParent = ""
		}
		if u.Level != level || u.Parent != wantParent {
			t.Errorf("%s: level %q parent %q, want %q %q", code, u.Level, u.Parent, level, wantParent)
		}
		if u.ValidFrom != NewDate(2021, 1, 1) {
			t.Errorf("%s: valid_from %s, want 2021-01-01", code, u.ValidFrom)
		}
		wantTo, wantSucc := "", ""
		if level == LevelDistrict {
			wantTo, wantSucc = "2025-06-30", "bg"
		}
		if u.ValidTo.String() != wantTo || u.Successor != wantSucc {
			t.Errorf("%s: valid_to %q successor %q, want %q %q", code, u.ValidTo, u.Successor, wantTo, wantSucc)
		}
	}
	for _, c := range aggregators {
		if !r.MayReportFor(c, "bg") {
			t.Errorf("%s may not report for bg", c)
		}
	}
	for _, c := range []string{"bg-syt", "bg-vietyen"} {
		if r.MayReportFor(c, "bg") {
			t.Errorf("%s may report for bg", c)
		}
	}
}

func TestSampleCommunes(t *testing.T) {
	r := Sample()
	perDistrict := map[string]int{}
	for _, u := range r.Units() {
		if !events.ValidAgency(u.Code) {
			t.Errorf("malformed code %q", u.Code)
		}
		if !utf8.ValidString(u.Name) || u.Name == "" || u.NameEN == "" {
			t.Errorf("%s: names %q / %q", u.Code, u.Name, u.NameEN)
		}
		if u.Level != LevelCommune {
			continue
		}
		perDistrict[u.Parent]++
		if d, _ := r.Unit(u.Parent); d.Level != LevelDistrict {
			t.Errorf("%s: parent %s is not a district", u.Code, u.Parent)
		}
		if want := u.Parent + "-" + slug(communeName(u.Name)); u.Code != want {
			t.Errorf("%s (%s): want code %s", u.Code, u.Name, want)
		}
		if !u.ValidTo.IsZero() {
			t.Errorf("%s: communes continue, got valid_to %s", u.Code, u.ValidTo)
		}
	}
	for _, d := range fixedDistricts {
		if perDistrict[d] < 5 {
			t.Errorf("%s has %d communes, want at least 5", d, perDistrict[d])
		}
	}
}

func TestSampleHierarchyOverTime(t *testing.T) {
	r := Sample()
	before, after := NewDate(2025, 6, 30), NewDate(2025, 7, 1)
	if p, _ := r.ParentAt("bg-vietyen-nenh", before); p != "bg-vietyen" {
		t.Errorf("parent of bg-vietyen-nenh on %s = %q, want bg-vietyen", before, p)
	}
	if p, _ := r.ParentAt("bg-vietyen-nenh", after); p != "bg" {
		t.Errorf("parent of bg-vietyen-nenh on %s = %q, want bg", after, p)
	}
	n := func(d Date, l Level) int {
		c := 0
		for _, u := range r.InForce(d) {
			if u.Level == l {
				c++
			}
		}
		return c
	}
	if got := n(before, LevelDistrict); got != 10 {
		t.Errorf("%d districts on %s, want 10", got, before)
	}
	if got := n(after, LevelDistrict); got != 0 {
		t.Errorf("%d districts on %s, want 0", got, after)
	}
	if got, want := len(r.DescendantsAt("bg", after)), n(after, LevelDepartment)+n(after, LevelCommune); got != want {
		t.Errorf("bg has %d descendants on %s, want %d", got, after, want)
	}
	if got := len(r.Predecessors("bg")); got != 10 {
		t.Errorf("bg has %d predecessors, want the 10 districts", got)
	}
}

// communeName strips the kind of commune-level unit from its name.
func communeName(name string) string {
	for _, kind := range []string{"Xã ", "Phường ", "Thị trấn "} {
		if s, ok := strings.CutPrefix(name, kind); ok {
			return s
		}
	}
	return name
}

// slug is a Vietnamese name without diacritics, lower-case, words joined by "-".
func slug(name string) string {
	const from = "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ"
	const to = "aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd"
	fold := map[rune]rune{}
	src := []rune(from)
	for i, c := range to {
		fold[src[i]] = c
	}
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if f, ok := fold[c]; ok {
			c = f
		}
		if c == ' ' {
			c = '-'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TestRulesWithSample: the event rules with the shipped registry refuse an
// event of a district after it was merged (2025-06-30) and name its dates
// and successor; a late report of a day it existed is accepted; the day is
// the province's (UTC+7), not UTC's.
func TestRulesWithSample(t *testing.T) {
	r := Sample()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, events.Zone)
	rules := events.Rules{Now: func() time.Time { return now }, Units: r}
	tests := []struct {
		name       string
		agency     string
		at         string
		wantReason events.Reason
	}{
		{"district, its last day", "bg-vietyen", "2025-06-30T23:59:00+07:00", ""},
		{"district, the next day", "bg-vietyen", "2025-07-01T00:00:00+07:00", events.ReasonNotInForce},
		{"district, next day in Hanoi but not in UTC", "bg-vietyen", "2025-06-30T18:00:00Z", events.ReasonNotInForce},
		{"district, 2021", "bg-vietyen", "2021-03-01T10:00:00+07:00", ""},
		{"before the registry begins", "bg-vietyen", "2020-12-31T10:00:00+07:00", events.ReasonNotInForce},
		{"province after the merger", "bg", "2025-09-01T10:00:00+07:00", ""},
		{"too early", "bg", "1999-12-31T10:00:00+07:00", events.ReasonTooEarly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			err = rules.Check(&events.Event{Agency: tt.agency, OccurredAt: at})
			if got := events.ReasonOf(err); got != tt.wantReason {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantReason)
			}
			if tt.wantReason == events.ReasonNotInForce && tt.agency == "bg-vietyen" && (!strings.Contains(err.Error(), "to 2025-06-30") || !strings.Contains(err.Error(), "successor is bg")) {
				t.Errorf("the refusal %q names neither the unit's dates nor its successor", err)
			}
		})
	}
}
