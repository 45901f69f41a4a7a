package events

import (
	"fmt"
	"sort"
)

// Scope says whose entity a natural key names.
type Scope int

const (
	// ScopeAgency: the key is unique within the emitting agency (a dossier number).
	ScopeAgency Scope = iota
	// ScopeProvince: the key is unique in the province (an enterprise, a statistics year).
	ScopeProvince
)

// PeriodRule says in which period bucket the state of an entity counts.
type PeriodRule int

const (
	// PeriodNone: a stock; the state counts at every date after it took effect.
	PeriodNone PeriodRule = iota
	// PeriodOccurred: a flow; the state counts in the calendar year of occurred_at.
	PeriodOccurred
	// PeriodDataYear: a reported figure; the state counts for the year in data.year.
	PeriodDataYear
)

// Emitters says which units may emit an event type: the role a type asks of
// its sender, declared with the type (docs/design.md, "Who may send what").
type Emitters int

const (
	// EmitAnyUnit: every unit, about itself (an agency's own dossiers,
	// services, reports).
	EmitAnyUnit Emitters = iota
	// EmitProvince: only the province and the units that report for it
	// (the registry's reports_for names the province): figures that count
	// for the whole province, such as its statistics, its enterprises and
	// its DTI result.
	EmitProvince
)

func (e Emitters) String() string {
	if e == EmitProvince {
		return "the province and the units that report for it"
	}
	return "any unit"
}

// Field is the schema of one data field of an event type.
type Field struct {
	Name     string
	Required bool
	Integer  bool     // numbers: must be whole
	Min, Max float64  // numbers: inclusive bounds, ignored when both are 0
	Enum     []string // strings: allowed values, any when empty
	MaxLen   int      // strings: maximum length in bytes, 0 = 128
}

// Term computes one number of a contribution from a decoded payload.
type Term struct {
	Doc  string // how the number is computed, for documentation
	eval func(*Payload) float64
}

// Feed says how an event of a type contributes to one indicator: the
// numerator and denominator it adds while it is the current state of its
// natural key. PerSector feeds contribute once per element of data.sectors,
// with the sector name as dimension.
type Feed struct {
	Indicator string
	Num, Den  Term
	Dim       string // payload field whose value splits the indicator (e.g. user_kind), optional
	PerSector bool
	// OfAgencies: the indicator is the share of the agencies in force whose
	// numerator is positive; the denominator is theirs, not the events'.
	OfAgencies bool
}

// TypeSpec declares one event type: its data schema, its natural key, and
// the indicators it feeds.
type TypeSpec struct {
	Name    string
	Version int
	Entity  string // entity kind named by the key; types sharing an entity share keys
	Key     string // data field holding the natural key
	Scope   Scope
	Period  PeriodRule
	Removes bool // the event ends the entity (a withdrawn service, a closed enterprise)
	// Emitters says who may send the type. Every ScopeProvince type is
	// EmitProvince: its keys are shared by the whole province, so a unit
	// that does not speak for the province could change the province's figures.
	Emitters Emitters
	Fields   []Field
	Feeds    []Feed

	refs []fieldRef // refs[i] reaches Fields[i] in a Payload
}

var (
	one = Term{Doc: "1", eval: func(*Payload) float64 { return 1 }}
)

func flag(name string) Term {
	ref := mustField(name, kindBool)
	return Term{Doc: name, eval: func(p *Payload) float64 { return b2f(ref.boolean(p)) }}
}

func number(name string) Term {
	ref := mustField(name, kindNumber)
	return Term{Doc: name, eval: func(p *Payload) float64 { return deref(ref.num(p)) }}
}

func numberIs(name string, v float64) Term {
	ref := mustField(name, kindNumber)
	return Term{Doc: fmt.Sprintf("%s == %g", name, v), eval: func(p *Payload) float64 {
		return b2f(ptr(deref(ref.num(p)) == v))
	}}
}

func both(a, b Term) Term {
	return Term{Doc: a.Doc + " and " + b.Doc, eval: func(p *Payload) float64 {
		return b2f(ptr(a.eval(p) != 0 && b.eval(p) != 0))
	}}
}

func mustField(name string, k kind) fieldRef {
	ref, ok := lookupField(name)
	if !ok || ref.kind != k {
		panic(fmt.Sprintf("events: type table names field %q as %v, which Payload does not have", name, k))
	}
	return ref
}

func ptr[T any](v T) *T { return &v }

func b2f(b *bool) float64 {
	if b != nil && *b {
		return 1
	}
	return 0
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

var (
	yearField = Field{Name: "year", Required: true, Integer: true, Min: 2000, Max: 2100}
	money     = func(name string) Field { return Field{Name: name, Required: true, Min: 0, Max: 1e12} }
)

// typeTable declares every v1 event type (docs/design.md, "Event types"), once.
var typeTable = []TypeSpec{
	{
		Name: "service.published", Version: 1, Entity: "service", Key: "service_code", Scope: ScopeAgency, Period: PeriodNone,
		Fields: []Field{{Name: "service_code", Required: true}, {Name: "level", Required: true, Integer: true, Min: 1, Max: 4}, {Name: "mobile", Required: true}},
		Feeds: []Feed{
			{Indicator: "DVC_L4", Num: numberIs("level", 4), Den: one},
			{Indicator: "DVC_MOBILE", Num: both(numberIs("level", 4), flag("mobile")), Den: numberIs("level", 4)},
		},
	},
	{
		Name: "service.withdrawn", Version: 1, Entity: "service", Key: "service_code", Scope: ScopeAgency, Period: PeriodNone, Removes: true,
		Fields: []Field{{Name: "service_code", Required: true}},
	},
	{
		Name: "workfile.processed", Version: 1, Entity: "workfile", Key: "workfile_id", Scope: ScopeAgency, Period: PeriodOccurred,
		Fields: []Field{{Name: "workfile_id", Required: true}, {Name: "online", Required: true}},
		Feeds:  []Feed{{Indicator: "HSCV", Num: flag("online"), Den: one}},
	},
	{
		Name: "report.submitted", Version: 1, Entity: "report", Key: "report_id", Scope: ScopeAgency, Period: PeriodOccurred,
		Fields: []Field{{Name: "report_id", Required: true}, {Name: "regime", Required: true}, {Name: "via_system", Required: true}},
		Feeds:  []Feed{{Indicator: "BAOCAO", Num: flag("via_system"), Den: one}},
	},
	{
		Name: "inspection.completed", Version: 1, Entity: "inspection", Key: "inspection_id", Scope: ScopeAgency, Period: PeriodOccurred,
		Fields: []Field{{Name: "inspection_id", Required: true}, {Name: "digital", Required: true}},
		Feeds:  []Feed{{Indicator: "KIEMTRA", Num: flag("digital"), Den: one}},
	},
	{
		Name: "auth.recorded", Version: 1, Entity: "session", Key: "session_id", Scope: ScopeAgency, Period: PeriodOccurred,
		Fields: []Field{{Name: "session_id", Required: true}, {Name: "user_kind", Required: true, Enum: []string{"citizen", "business"}}, {Name: "authenticated", Required: true}},
		Feeds:  []Feed{{Indicator: "DINHDANH", Num: flag("authenticated"), Den: one, Dim: "user_kind"}},
	},
	{
		Name: "opendata.published", Version: 1, Entity: "dataset", Key: "dataset_id", Scope: ScopeAgency, Period: PeriodNone,
		Fields: []Field{{Name: "dataset_id", Required: true}, {Name: "title", Required: true, MaxLen: 512}},
		Feeds:  []Feed{{Indicator: "DLMO", Num: one, Den: Term{Doc: "0 (the denominator is the agencies in force)", eval: func(*Payload) float64 { return 0 }}, OfAgencies: true}},
	},
	{
		Name: "enterprise.registered", Version: 1, Entity: "enterprise", Key: "enterprise_id", Scope: ScopeProvince, Period: PeriodNone, Emitters: EmitProvince,
		Fields: []Field{{Name: "enterprise_id", Required: true}, {Name: "digital", Required: true}},
		Feeds:  []Feed{{Indicator: "DNS", Num: flag("digital"), Den: one}},
	},
	{
		Name: "enterprise.closed", Version: 1, Entity: "enterprise", Key: "enterprise_id", Scope: ScopeProvince, Period: PeriodNone, Removes: true, Emitters: EmitProvince,
		Fields: []Field{{Name: "enterprise_id", Required: true}},
	},
	{
		Name: "economy.grdp_reported", Version: 1, Entity: "grdp", Key: "year", Scope: ScopeProvince, Period: PeriodDataYear, Emitters: EmitProvince,
		Fields: []Field{yearField, money("grdp_total"), money("digital_economy"), {Name: "sectors", Required: true}},
		Feeds: []Feed{
			{Indicator: "KTS_GRDP", Num: number("digital_economy"), Den: number("grdp_total")},
			{Indicator: "KTS_NGANH", PerSector: true},
		},
	},
	{
		Name: "economy.productivity_reported", Version: 1, Entity: "productivity", Key: "year", Scope: ScopeProvince, Period: PeriodDataYear, Emitters: EmitProvince,
		Fields: []Field{yearField, {Name: "labour_productivity", Required: true, Min: 0, Max: 1e9}},
		Feeds:  []Feed{{Indicator: "NSLD", Num: number("labour_productivity"), Den: one}},
	},
	{
		Name: "dti.published", Version: 1, Entity: "dti", Key: "year", Scope: ScopeProvince, Period: PeriodDataYear, Emitters: EmitProvince,
		Fields: []Field{yearField, {Name: "rank", Required: true, Integer: true, Min: 1, Max: 100}, {Name: "score", Required: true, Min: 0, Max: 1000}},
		Feeds:  []Feed{{Indicator: "DTI_RANK", Num: number("rank"), Den: one}},
	},
}

var typeIndex = func() map[string]*TypeSpec {
	m := make(map[string]*TypeSpec, len(typeTable))
	for i := range typeTable {
		t := &typeTable[i]
		for _, f := range t.Fields {
			ref, ok := lookupField(f.Name)
			if !ok {
				panic(fmt.Sprintf("events: type %s declares field %q that Payload does not have", t.Name, f.Name))
			}
			t.refs = append(t.refs, ref)
		}
		if (t.Scope == ScopeProvince) != (t.Emitters == EmitProvince) {
			panic(fmt.Sprintf("events: type %s: a province-wide key needs Emitters EmitProvince, and only it", t.Name))
		}
		m[t.Name] = t
	}
	return m
}()

// Types returns the declared event types, sorted by name.
func Types() []TypeSpec {
	out := append([]TypeSpec(nil), typeTable...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the spec of an event type.
func Lookup(name string) (*TypeSpec, bool) {
	t, ok := typeIndex[name]
	return t, ok
}

// FeedsOf returns the indicator codes an event type feeds.
func (t *TypeSpec) FeedsOf() []string {
	out := make([]string, 0, len(t.Feeds))
	for _, f := range t.Feeds {
		out = append(out, f.Indicator)
	}
	return out
}

func (t *TypeSpec) fieldNames() []string {
	out := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		out[i] = f.Name
	}
	return out
}

func (t *TypeSpec) field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Feeding says which events feed an indicator and how they are keyed: the
// entity, its natural-key field and scope, the period rule, every type of the
// entity (Types) and those that end it (Removes). Queries that list the
// events behind a value are built from it.
type Feeding struct {
	Indicator string
	Entity    string
	Key       string
	Scope     Scope
	Period    PeriodRule
	Types     []string
	Removes   []string
	// OfAgencies: the value is the share of agencies in force fed (Feed.OfAgencies).
	OfAgencies bool
}

// FeedingOf returns how indicator is fed, or false when no type feeds it.
func FeedingOf(indicator string) (Feeding, bool) {
	f := Feeding{Indicator: indicator}
	for _, t := range typeTable {
		for _, feed := range t.Feeds {
			if feed.Indicator == indicator {
				f.Entity, f.Key, f.Scope, f.Period = t.Entity, t.Key, t.Scope, t.Period
				f.OfAgencies = f.OfAgencies || feed.OfAgencies
			}
		}
	}
	if f.Entity == "" {
		return f, false
	}
	for _, t := range typeTable {
		if t.Entity != f.Entity {
			continue
		}
		f.Types = append(f.Types, t.Name)
		if t.Removes {
			f.Removes = append(f.Removes, t.Name)
		}
	}
	sort.Strings(f.Types)
	return f, true
}

// KeyIsNumber reports whether the natural key field holds a number (a year).
func (f Feeding) KeyIsNumber() bool {
	ref, ok := lookupField(f.Key)
	return ok && ref.kind == kindNumber
}

// Contribution returns what e adds to indicator, summed over dimensions, and
// whether it contributes at all.
func (e *Event) Contribution(indicator string) (num, den float64, ok bool) {
	for _, c := range e.Contributions() {
		if c.Indicator == indicator {
			num, den, ok = num+c.Num, den+c.Den, true
		}
	}
	return num, den, ok
}
