package events

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	const ok = `{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"VY-1","online":true}}`
	tests := []struct {
		name       string
		in         string
		wantReason Reason
		wantField  string
	}{
		{name: "valid", in: ok},
		{name: "retraction", in: `{"id":"e2","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","supersedes":"e1","data":null}`},
		{name: "correction", in: `{"id":"e2","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00Z","supersedes":"e1","data":{"workfile_id":"VY-1","online":false}}`},
		{name: "not json", in: `{"id":`, wantReason: ReasonMalformed},
		{name: "empty", in: ``, wantReason: ReasonMalformed},
		{name: "array", in: `[1]`, wantReason: ReasonMalformed},
		{name: "trailing", in: ok + `{}`, wantReason: ReasonMalformed},
		{name: "missing id", in: strings.Replace(ok, `"id":"e1",`, ``, 1), wantReason: ReasonMissingField, wantField: "id"},
		{name: "id too long", in: strings.Replace(ok, `"e1"`, `"`+strings.Repeat("a", 65)+`"`, 1), wantReason: ReasonInvalidField, wantField: "id"},
		{name: "id with space", in: strings.Replace(ok, `"e1"`, `"a b"`, 1), wantReason: ReasonInvalidField, wantField: "id"},
		{name: "id is number", in: strings.Replace(ok, `"e1"`, `7`, 1), wantReason: ReasonMalformed, wantField: "id"},
		{name: "unknown type", in: strings.Replace(ok, `workfile.processed`, `workfile.lost`, 1), wantReason: ReasonUnknownType, wantField: "type"},
		{name: "missing v", in: strings.Replace(ok, `"v":1,`, ``, 1), wantReason: ReasonMissingField, wantField: "v"},
		{name: "v 2", in: strings.Replace(ok, `"v":1`, `"v":2`, 1), wantReason: ReasonUnknownVersion, wantField: "v"},
		{name: "bad agency", in: strings.Replace(ok, `bg-vietyen`, `BG_VietYen`, 1), wantReason: ReasonInvalidField, wantField: "agency"},
		{name: "no offset", in: strings.Replace(ok, `+07:00`, ``, 1), wantReason: ReasonInvalidField, wantField: "occurred_at"},
		{name: "date only", in: strings.Replace(ok, `2025-03-14T09:30:00+07:00`, `2025-03-14`, 1), wantReason: ReasonInvalidField, wantField: "occurred_at"},
		{name: "unknown envelope field", in: strings.Replace(ok, `"v":1`, `"v":1,"occured_at":"x"`, 1), wantReason: ReasonUnknownField, wantField: "occured_at"},
		{name: "missing data", in: strings.Replace(ok, `,"data":{"workfile_id":"VY-1","online":true}`, ``, 1), wantReason: ReasonMissingField, wantField: "data"},
		{name: "null data without supersedes", in: strings.Replace(ok, `{"workfile_id":"VY-1","online":true}`, `null`, 1), wantReason: ReasonInvalidField, wantField: "data"},
		{name: "data not object", in: strings.Replace(ok, `{"workfile_id":"VY-1","online":true}`, `[]`, 1), wantReason: ReasonMalformed, wantField: "data"},
		{name: "online string", in: strings.Replace(ok, `"online":true`, `"online":"yes"`, 1), wantReason: ReasonMalformed, wantField: "data.online"},
		{name: "online missing", in: strings.Replace(ok, `,"online":true`, ``, 1), wantReason: ReasonMissingField, wantField: "data.online"},
		{name: "field of other type", in: strings.Replace(ok, `"online":true`, `"online":true,"digital":true`, 1), wantReason: ReasonUnknownField, wantField: "data.digital"},
		{name: "field of no type", in: strings.Replace(ok, `"online":true`, `"online":true,"onlin":true`, 1), wantReason: ReasonUnknownField, wantField: "data.onlin"},
		{name: "empty key", in: strings.Replace(ok, `"VY-1"`, `""`, 1), wantReason: ReasonMissingField, wantField: "data.workfile_id"},
		{name: "supersedes itself", in: strings.Replace(ok, `"v":1`, `"v":1,"supersedes":"e1"`, 1), wantReason: ReasonInvalidField, wantField: "supersedes"},
		{name: "level 5", in: `{"id":"s","type":"service.published","v":1,"agency":"bg-syt","occurred_at":"2025-01-01T00:00:00+07:00","data":{"service_code":"1.001","level":5,"mobile":true}}`, wantReason: ReasonInvalidField, wantField: "data.level"},
		{name: "level 3.5", in: `{"id":"s","type":"service.published","v":1,"agency":"bg-syt","occurred_at":"2025-01-01T00:00:00+07:00","data":{"service_code":"1.001","level":3.5,"mobile":true}}`, wantReason: ReasonInvalidField, wantField: "data.level"},
		{name: "user kind", in: `{"id":"a","type":"auth.recorded","v":1,"agency":"bg","occurred_at":"2025-01-01T00:00:00+07:00","data":{"session_id":"x","user_kind":"alien","authenticated":true}}`, wantReason: ReasonInvalidField, wantField: "data.user_kind"},
		{name: "grdp ok", in: `{"id":"g","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","total":1000,"digital":200}]}}`},
		{name: "grdp digital above total", in: `{"id":"g","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200,"digital_economy":400,"sectors":[{"sector":"health","total":1000,"digital":200}]}}`, wantReason: ReasonInvalidField, wantField: "data.digital_economy"},
		{name: "sector missing total", in: `{"id":"g","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","digital":200}]}}`, wantReason: ReasonMissingField, wantField: "data.sectors[0].total"},
		{name: "sectors empty", in: `{"id":"g","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[]}}`, wantReason: ReasonMissingField, wantField: "data.sectors"},
		{name: "year fraction", in: `{"id":"p","type":"economy.productivity_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024.5,"labour_productivity":150}}`, wantReason: ReasonInvalidField, wantField: "data.year"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if e.Spec == nil || e.Type == "" {
					t.Fatalf("Decode returned an incomplete event: %+v", e)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted %s", tt.in)
			}
			var ee *Error
			if !errors.As(err, &ee) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if ee.Reason != tt.wantReason || ee.Field != tt.wantField {
				t.Fatalf("got reason %q field %q (%v), want %q %q", ee.Reason, ee.Field, err, tt.wantReason, tt.wantField)
			}
		})
	}
}

func TestRulesCheck(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	rules := Rules{Now: func() time.Time { return now }, Units: testUnits{"bg-vietyen": false, "bg-ctk": true, "bg": true}}
	tests := []struct {
		name       string
		agency     string
		typ        string
		at         time.Time
		wantReason Reason
		wantField  string
	}{
		{name: "past", agency: "bg-vietyen", at: now.AddDate(-3, 0, 0)},
		{name: "slightly future", agency: "bg-vietyen", at: now.Add(23 * time.Hour)},
		{name: "far future", agency: "bg-vietyen", at: now.Add(25 * time.Hour), wantReason: ReasonFuture, wantField: "occurred_at"},
		{name: "unknown agency", agency: "hn-x", at: now, wantReason: ReasonUnknownAgency, wantField: "agency"},
		{name: "own dossiers", agency: "bg-vietyen", typ: "workfile.processed", at: now},
		{name: "reporter sends the DTI", agency: "bg-ctk", typ: "dti.published", at: now},
		{name: "the province sends the DTI", agency: "bg", typ: "dti.published", at: now},
		{name: "reporter sends its own dossiers", agency: "bg-ctk", typ: "workfile.processed", at: now},
		{name: "district sends the DTI", agency: "bg-vietyen", typ: "dti.published", at: now, wantReason: ReasonNotAllowed, wantField: "type"},
		{name: "district closes an enterprise", agency: "bg-vietyen", typ: "enterprise.closed", at: now, wantReason: ReasonNotAllowed, wantField: "type"},
		{name: "district reports GRDP", agency: "bg-vietyen", typ: "economy.grdp_reported", at: now, wantReason: ReasonNotAllowed, wantField: "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Event{Agency: tt.agency, OccurredAt: tt.at, Type: tt.typ}
			if tt.typ != "" {
				e.Spec, _ = Lookup(tt.typ)
			}
			err := rules.Check(e)
			if got := ReasonOf(err); got != tt.wantReason {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantReason)
			}
			var ee *Error
			if errors.As(err, &ee) && ee.Field != tt.wantField {
				t.Fatalf("field %q (%v), want %q", ee.Field, err, tt.wantField)
			}
			if tt.wantReason == ReasonNotAllowed && !strings.Contains(err.Error(), tt.typ) || tt.wantReason == ReasonNotAllowed && !strings.Contains(err.Error(), tt.agency) {
				t.Fatalf("the refusal %q names neither the type nor the agency", err)
			}
		})
	}
}

// testUnits is a registry of the units listed, each true when it speaks for
// the province.
type testUnits map[string]bool

func (u testUnits) Known(code string) bool             { _, ok := u[code]; return ok }
func (u testUnits) SpeaksForProvince(code string) bool { return u[code] }

// TestRulesDates: occurred_at before the minimum is refused, whatever the
// registry; with a registry that knows its units' dates, so is an event of
// a day on which its agency was not in force.
func TestRulesDates(t *testing.T) {
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, Zone)
	units := datedUnits{"bg-vietyen": {time.Date(2021, 1, 1, 0, 0, 0, 0, Zone), time.Date(2025, 7, 1, 0, 0, 0, 0, Zone)}}
	tests := []struct {
		name       string
		rules      Rules
		at         time.Time
		wantReason Reason
	}{
		{name: "1969 wraps in ClickHouse", rules: Rules{}, at: time.Date(1969, 6, 1, 0, 0, 0, 0, Zone), wantReason: ReasonTooEarly},
		{name: "year 1", rules: Rules{}, at: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), wantReason: ReasonTooEarly},
		{name: "a second before 2000 in Hanoi", rules: Rules{}, at: time.Date(1999, 12, 31, 23, 59, 59, 0, Zone), wantReason: ReasonTooEarly},
		{name: "2000-01-01 in Hanoi", rules: Rules{}, at: time.Date(2000, 1, 1, 0, 0, 0, 0, Zone)},
		{name: "minimum configured", rules: Rules{MinOccurred: time.Date(2021, 1, 1, 0, 0, 0, 0, Zone)}, at: time.Date(2020, 12, 31, 0, 0, 0, 0, Zone), wantReason: ReasonTooEarly},
		{name: "last day in force, reported late", rules: Rules{Units: units}, at: time.Date(2025, 6, 30, 23, 0, 0, 0, Zone)},
		{name: "the day after", rules: Rules{Units: units}, at: time.Date(2025, 7, 1, 0, 0, 0, 0, Zone), wantReason: ReasonNotInForce},
		{name: "before it existed", rules: Rules{Units: units}, at: time.Date(2020, 12, 31, 12, 0, 0, 0, Zone), wantReason: ReasonNotInForce},
		{name: "no dates known: no check", rules: Rules{Units: testUnits{"bg-vietyen": false}}, at: time.Date(2025, 8, 1, 0, 0, 0, 0, Zone)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rules.Now = func() time.Time { return now }
			err := tt.rules.Check(&Event{Agency: "bg-vietyen", OccurredAt: tt.at})
			if got := ReasonOf(err); got != tt.wantReason {
				t.Fatalf("got %q (%v), want %q", got, err, tt.wantReason)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "occurred_at: ") {
				t.Fatalf("the refusal %q does not name the field occurred_at", err)
			}
		})
	}
}

// datedUnits is a registry of the units listed, each in force from the
// first instant up to the second.
type datedUnits map[string][2]time.Time

func (u datedUnits) Known(code string) bool             { _, ok := u[code]; return ok }
func (u datedUnits) SpeaksForProvince(code string) bool { return false }
func (u datedUnits) InForceOn(code string, t time.Time) (bool, string) {
	d := u[code]
	if t.Before(d[0]) || !t.Before(d[1]) {
		return false, "in force from " + d[0].Format(time.DateOnly) + " to " + d[1].AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return true, ""
}

func TestEveryProvinceTypeNeedsTheProvince(t *testing.T) {
	for _, spec := range Types() {
		if want := spec.Scope == ScopeProvince; (spec.Emitters == EmitProvince) != want {
			t.Errorf("%s: Emitters %v with scope %v", spec.Name, spec.Emitters, spec.Scope)
		}
	}
}

func TestCheckSubject(t *testing.T) {
	e := &Event{Agency: "bg-vietyen", Type: "workfile.processed"}
	tests := []struct {
		subject   string
		wantField string
		wantErr   bool
	}{
		{subject: "cds.events.bg-vietyen.workfile.processed"},
		{subject: "cds.events.bg-hiephoa.workfile.processed", wantErr: true, wantField: "agency"},
		{subject: "cds.events.bg-vietyen.report.submitted", wantErr: true, wantField: "type"},
		{subject: "cds.other", wantErr: true},
		{subject: "cds.events.bg-vietyen", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			err := CheckSubject(tt.subject, e)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckSubject(%q) = %v", tt.subject, err)
			}
			if err != nil && err.(*Error).Field != tt.wantField {
				t.Fatalf("field %q, want %q", err.(*Error).Field, tt.wantField)
			}
		})
	}
}

func TestContributions(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		key    string
		period int
		want   []Contribution
	}{
		{
			name: "workfile online", key: "workfile/bg-vietyen/VY-1", period: 2024,
			// 16:00Z on 31 December is 23:00 in province time: still 2024.
			in:   `{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2024-12-31T16:00:00Z","data":{"workfile_id":"VY-1","online":true}}`,
			want: []Contribution{{Indicator: "HSCV", Num: 1, Den: 1}},
		},
		{
			name: "service level 4 mobile", key: "service/bg-syt/1.001", period: 0,
			in:   `{"id":"s","type":"service.published","v":1,"agency":"bg-syt","occurred_at":"2025-01-01T00:00:00+07:00","data":{"service_code":"1.001","level":4,"mobile":true}}`,
			want: []Contribution{{Indicator: "DVC_L4", Num: 1, Den: 1}, {Indicator: "DVC_MOBILE", Num: 1, Den: 1}},
		},
		{
			name: "service level 3", key: "service/bg-syt/1.001", period: 0,
			in:   `{"id":"s","type":"service.published","v":1,"agency":"bg-syt","occurred_at":"2025-01-01T00:00:00+07:00","data":{"service_code":"1.001","level":3,"mobile":true}}`,
			want: []Contribution{{Indicator: "DVC_L4", Num: 0, Den: 1}, {Indicator: "DVC_MOBILE", Num: 0, Den: 0}},
		},
		{
			name: "withdrawn", key: "service/bg-syt/1.001", period: 0,
			in: `{"id":"s","type":"service.withdrawn","v":1,"agency":"bg-syt","occurred_at":"2025-01-01T00:00:00+07:00","data":{"service_code":"1.001"}}`,
		},
		{
			name: "auth by user kind", key: "session/bg/x", period: 2025,
			in:   `{"id":"a","type":"auth.recorded","v":1,"agency":"bg","occurred_at":"2025-01-01T00:00:00+07:00","data":{"session_id":"x","user_kind":"business","authenticated":false}}`,
			want: []Contribution{{Indicator: "DINHDANH", Dim: "business", Num: 0, Den: 1}},
		},
		{
			name: "grdp", key: "grdp/2024", period: 2024,
			in: `{"id":"g","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","total":1000,"digital":200},{"sector":"transport","total":500,"digital":50}]}}`,
			want: []Contribution{{Indicator: "KTS_GRDP", Num: 40000, Den: 200000},
				{Indicator: "KTS_NGANH", Dim: "health", Num: 200, Den: 1000}, {Indicator: "KTS_NGANH", Dim: "transport", Num: 50, Den: 500}},
		},
		{
			name: "enterprise province scope", key: "enterprise/0101", period: 0,
			in:   `{"id":"n","type":"enterprise.registered","v":1,"agency":"bg-skhdt","occurred_at":"2025-02-01T00:00:00+07:00","data":{"enterprise_id":"0101","digital":true}}`,
			want: []Contribution{{Indicator: "DNS", Num: 1, Den: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Key(); got != tt.key {
				t.Errorf("Key = %q, want %q", got, tt.key)
			}
			if got := e.Period(); got != tt.period {
				t.Errorf("Period = %d, want %d", got, tt.period)
			}
			got := e.Contributions()
			if len(got) != len(tt.want) {
				t.Fatalf("Contributions = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Contributions[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestTypeTableCoversDesign(t *testing.T) {
	want := []string{"auth.recorded", "dti.published", "economy.grdp_reported", "economy.productivity_reported",
		"enterprise.closed", "enterprise.registered", "inspection.completed", "opendata.published",
		"report.submitted", "service.published", "service.withdrawn", "workfile.processed"}
	got := typeNames()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("types = %v, want %v", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"VY-1","online":true}}`))
	f.Add([]byte(`{"id":"g","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","total":1000,"digital":200}]}}`))
	f.Add([]byte(`{"id":"e2","type":"service.published","v":1,"agency":"bg","occurred_at":"2025-03-14T09:30:00Z","supersedes":"e1","data":null}`))
	f.Add([]byte(`{"data":{"sectors":[{}]}}`))
	for _, data := range []string{`{"online":false,"online":true}`, `{"ONLINE":true}`, `{"\u006fnline":true}`, `{"online":false}`, `{"workfile_id":"W\u202e","online":true}`} {
		f.Add([]byte(`{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":` + data + `}`))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		// A decoded event must be usable by every consumer without panics.
		_ = e.Key()
		_ = e.Period()
		_ = e.Contributions()
		_ = e.Subject()
		if e.Retraction() && e.Supersedes == "" {
			t.Fatalf("retraction without supersedes accepted: %s", b)
		}
		if e.Retraction() {
			return
		}
		// One reading: the stored data names each field once, literally, and
		// reads back to itself.
		if e.Type != "economy.grdp_reported" {
			for _, f := range e.Spec.Fields {
				if n := bytes.Count(e.Data, []byte(`"`+f.Name+`":`)); n != 1 {
					t.Fatalf("stored data %s names %s %d times", e.Data, f.Name, n)
				}
			}
		}
		again, err := Decode(fmt.Appendf(nil, `{"id":%q,"type":%q,"v":1,"agency":%q,"occurred_at":%q,"data":%s}`, e.ID, e.Type, e.Agency, e.OccurredAt.Format(time.RFC3339Nano), e.Data))
		if err != nil {
			t.Fatalf("stored data %s refused when read again: %v", e.Data, err)
		}
		if !bytes.Equal(again.Data, e.Data) {
			t.Fatalf("stored data %s read again as %s", e.Data, again.Data)
		}
	})
}

func TestFeedingOf(t *testing.T) {
	f, ok := FeedingOf("DVC_MOBILE")
	if !ok || f.Entity != "service" || strings.Join(f.Types, ",") != "service.published,service.withdrawn" || strings.Join(f.Removes, ",") != "service.withdrawn" || f.Scope != ScopeAgency || f.Period != PeriodNone {
		t.Fatalf("FeedingOf(DVC_MOBILE) = %+v", f)
	}
	if f, ok := FeedingOf("NSLD"); !ok || !f.KeyIsNumber() || f.Period != PeriodDataYear || f.Scope != ScopeProvince {
		t.Fatalf("FeedingOf(NSLD) = %+v", f)
	}
	if _, ok := FeedingOf("NOPE"); ok {
		t.Fatal("FeedingOf(NOPE) found something")
	}
}

func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	b := []byte(`{"id":"e1","type":"opendata.published","v":1,"agency":"bg","occurred_at":"2025-03-14T09:30:00+07:00","data":{"dataset_id":"D","title":"\xff"}}`)
	if _, err := Decode(b); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("Decode of invalid UTF-8 = %v, want malformed", err)
	}
}

// TestCheckMessage: a message is checked in the doors' order: its schema,
// then its subject, then the rules.
func TestCheckMessage(t *testing.T) {
	const body = `{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"W","online":true}}`
	now := func() time.Time { return time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC) }
	rules := Rules{Now: now, MaxFuture: time.Hour}
	if e, err := rules.CheckMessage("cds.events.bg-vietyen.workfile.processed", []byte(body)); err != nil || e.ID != "e1" {
		t.Fatalf("valid message: %v, %v", e, err)
	}
	for _, tt := range []struct {
		name, subject, body string
		rules               Rules
		wantReason          Reason
	}{
		{"schema first", "cds.other", `{"id":"e1"}`, rules, ReasonMissingField},
		{"then the subject", "cds.events.bg-hiephoa.workfile.processed", body, rules, ReasonSubject},
		{"then the rules", "cds.events.bg-vietyen.workfile.processed", body, Rules{Now: func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) }, MaxFuture: time.Hour}, ReasonFuture},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := tt.rules.CheckMessage(tt.subject, []byte(tt.body))
			var ee *Error
			if e != nil || !errors.As(err, &ee) || ee.Reason != tt.wantReason {
				t.Errorf("CheckMessage = %v, %v; want reason %s", e, err, tt.wantReason)
			}
		})
	}
}
