// Package catalog holds the indicator catalogue: the indicators of Resolution
// 111-NQ/TU and their targets per milestone year, as data.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/fielderr"
	"github.com/bacgiang/cds/internal/registry"
)

// A Catalog is a validated, read-only indicator catalogue. It is safe for
// concurrent use. Methods that return indicators return deep copies.
type Catalog struct {
	version  string
	source   string
	baseline registry.Date
	note     string
	inds     []Indicator
	index    map[string]int
	byEvent  map[string][]int
}

// file is the JSON layout of a catalogue file. Indicators are decoded one by
// one so that a missing weight can be told from a zero one.
type file struct {
	Version      string            `json:"version"`
	Source       string            `json:"source"`
	BaselineDate registry.Date     `json:"baseline_date"`
	Note         string            `json:"note,omitempty"`
	Indicators   []json.RawMessage `json:"indicators"`
}

// A FieldError is one problem found in the file: which indicator (by code,
// and by position) and which field. Parse returns every problem it finds,
// joined; use errors.As to get the first.
type FieldError = fielderr.Error

// problems collects the problems of a file.
type problems = fielderr.List

// ValidCode reports whether s is a well-formed indicator code: an upper-case
// letter followed by up to 31 of [A-Z0-9_].
func ValidCode(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Parse reads and validates a catalogue file (JSON). It checks the header
// (version, source, baseline_date) and, per indicator: the code is unique and
// well-formed; names are present; unit, kind, direction and comparisons are
// known and agree with each other; levels are known; weight is present and
// >= 0; some event type feeds it, and feeds, when the file lists them, are
// those of the event table (they are derived from it); milestones have increasing years and
// deadlines after the baseline date; every level the indicator applies to
// has a target ("*" covers all) and targets fit the unit (ratios in 0–1,
// ranks >= 1, counts >= 0). The error lists every problem found, each naming
// the indicator and the field (see FieldError).
func Parse(r io.Reader) (*Catalog, error) {
	var f file
	if err := fielderr.Decode(r, &f, "catalog", "catalogue"); err != nil {
		return nil, err
	}
	p := problems{Item: "indicator"}
	if strings.TrimSpace(f.Version) == "" {
		p.Add("", -1, "version", "missing")
	}
	if strings.TrimSpace(f.Source) == "" {
		p.Add("", -1, "source", "missing")
	}
	if f.BaselineDate.IsZero() {
		p.Add("", -1, "baseline_date", "missing")
	}
	if len(f.Indicators) == 0 {
		p.Add("", -1, "indicators", "no indicators")
	}
	c := &Catalog{
		version:  f.Version,
		source:   f.Source,
		baseline: f.BaselineDate,
		note:     f.Note,
		index:    make(map[string]int, len(f.Indicators)),
		byEvent:  make(map[string][]int),
	}
	for n, raw := range f.Indicators {
		ind, ok := decodeIndicator(raw, n, &p)
		if !ok {
			continue
		}
		if prev, dup := c.index[ind.Code]; dup && ValidCode(ind.Code) {
			p.Add(ind.Code, n, "code", "duplicate of indicator #%d", prev)
		}
		ind.Feeds = feeds(ind, n, &p)
		if f, ok := events.FeedingOf(ind.Code); ok {
			ind.OfAgencies = f.OfAgencies
		}
		validateIndicator(ind, n, f.BaselineDate, &p)
		c.index[ind.Code] = len(c.inds)
		for _, t := range ind.Feeds {
			c.byEvent[t] = append(c.byEvent[t], len(c.inds))
		}
		c.inds = append(c.inds, ind)
	}
	if err := p.Err("catalog: invalid catalogue"); err != nil {
		return nil, err
	}
	return c, nil
}

// feeds returns the event types that feed ind, from the event table
// (events.FeedingOf): the types of the entity whose state the indicator
// counts, those that end it included. Which type feeds which indicator is a
// rule of the code, stated once there; a catalogue file may still list
// feeds, and then they must be the same.
func feeds(ind Indicator, n int, p *problems) []string {
	if !ValidCode(ind.Code) {
		return ind.Feeds // the code is reported; nothing to look up
	}
	var want []string
	if f, ok := events.FeedingOf(ind.Code); ok {
		want = f.Types
	}
	if ind.Feeds != nil {
		got := slices.Sorted(slices.Values(ind.Feeds))
		if !slices.Equal(got, want) {
			p.Add(ind.Code, n, "feeds", "%v disagree with the event table, which feeds %s from %v: leave feeds out, they are derived", ind.Feeds, ind.Code, want)
		}
	}
	return want
}

func decodeIndicator(raw json.RawMessage, n int, p *problems) (Indicator, bool) {
	var ind Indicator
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ind); err != nil {
		var peek struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &peek)
		p.Add(peek.Code, n, "(json)", "%v", err)
		return Indicator{}, false
	}
	var presence struct {
		Weight *float64 `json:"weight"`
	}
	if json.Unmarshal(raw, &presence) == nil && presence.Weight == nil {
		p.Add(ind.Code, n, "weight", "missing (write 0 to leave the indicator out of composites)")
	}
	return ind, true
}

func validateIndicator(ind Indicator, n int, baseline registry.Date, p *problems) {
	code := ind.Code
	add := func(field, format string, args ...any) { p.Add(code, n, field, format, args...) }
	if !ValidCode(code) {
		add("code", "malformed: want [A-Z][A-Z0-9_]{0,31}")
	}
	if strings.TrimSpace(ind.NameVI) == "" {
		add("name_vi", "missing")
	}
	if strings.TrimSpace(ind.NameEN) == "" {
		add("name_en", "missing")
	}
	switch {
	case !ind.Kind.Valid():
		add("kind", "unknown kind %q", ind.Kind)
	case ind.Unit != ind.Kind.Measure():
		add("unit", "%q does not fit kind %q: want %q", ind.Unit, ind.Kind, ind.Kind.Measure())
	}
	if !ind.Direction.Valid() {
		add("direction", "unknown direction %q: want higher or lower", ind.Direction)
	} else if ind.Kind == KindRank && ind.Direction != Lower {
		add("direction", "a rank is better when lower")
	}
	if len(ind.Levels) == 0 {
		add("levels", "none")
	}
	for k, l := range ind.Levels {
		switch {
		case !l.Valid():
			add("levels", "unknown level %q", l)
		case slices.Contains(ind.Levels[:k], l):
			add("levels", "%q listed twice", l)
		}
	}
	if ind.Weight < 0 || math.IsInf(ind.Weight, 0) {
		add("weight", "%v is negative", ind.Weight)
	}
	if len(ind.Feeds) == 0 && ValidCode(code) {
		add("feeds", "no event type feeds %s (events/types.go)", code)
	}
	if len(ind.Milestones) == 0 {
		add("milestones", "none")
	}
	for k, m := range ind.Milestones {
		field := fmt.Sprintf("milestones[%d]", k)
		if k > 0 {
			prev := ind.Milestones[k-1]
			if m.Year <= prev.Year {
				add(field+".year", "%d does not follow %d", m.Year, prev.Year)
			}
			if !m.Deadline.IsZero() && !m.Deadline.After(prev.Deadline) {
				add(field+".deadline", "%s is not after the previous deadline %s", m.Deadline, prev.Deadline)
			}
		}
		switch {
		case m.Deadline.IsZero():
			add(field+".deadline", "missing")
		case !baseline.IsZero() && !m.Deadline.After(baseline):
			add(field+".deadline", "%s is not after the baseline date %s", m.Deadline, baseline)
		}
		switch {
		case !m.Comparison.Valid():
			add(field+".comparison", "unknown comparison %q", m.Comparison)
		case ind.Direction.Valid() && !m.Comparison.fits(ind.Direction):
			add(field+".comparison", "%q does not fit direction %q", m.Comparison, ind.Direction)
		}
		if m.Tolerance < 0 || (m.Tolerance != 0 && m.Comparison != Approx) {
			add(field+".tolerance", "%v: want a non-negative tolerance, and only with approx", m.Tolerance)
		}
		validateTargets(ind, m, field+".targets", add)
	}
}

func validateTargets(ind Indicator, m Milestone, field string, add func(field, format string, args ...any)) {
	keys := make([]string, 0, len(m.Targets))
	for k := range m.Targets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != AllLevels && !ind.AppliesTo(registry.Level(k)) {
			add(field, "target for level %q, which the indicator does not apply to", k)
		}
		v := m.Targets[k]
		var bad string
		switch ind.Unit {
		case MeasureRatio:
			if v < 0 || v > 1 {
				bad = "a ratio must be within 0–1 (0.85 = 85%)"
			}
		case MeasureRank:
			if v < 1 {
				bad = "a rank must be at least 1"
			}
		case MeasureCount:
			if v < 0 {
				bad = "a count must not be negative"
			}
		case MeasureGrowth:
			if v <= -1 {
				bad = "a growth must be above -1 (a fraction: 0.125 = +12.5%)"
			}
		}
		if bad != "" {
			add(field, "%q: %v: %s", k, v, bad)
		}
	}
	for _, l := range ind.Levels {
		if _, ok := m.Target(l); !ok && l.Valid() {
			add(field, "no target for level %q", l)
		}
	}
}

// Load reads and validates the catalogue file at path.
func Load(path string) (*Catalog, error) {
	return fielderr.ReadFile("catalog", path, Parse)
}

//go:embed indicators.json
var defaultJSON []byte

var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := Parse(bytes.NewReader(defaultJSON))
	if err != nil {
		panic("catalog: embedded indicators.json is invalid: " + err.Error())
	}
	return c
})

// Default returns the embedded catalogue of Resolution 111-NQ/TU
// (indicators.json). The Catalog is shared and read-only. Default panics only
// if the embedded file is invalid, which the package tests rule out.
func Default() *Catalog { return defaultCatalog() }

// DefaultJSON returns a copy of the embedded catalogue file.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Version returns the version string of the catalogue file.
func (c *Catalog) Version() string { return c.version }

// Source returns the resolution the targets come from.
func (c *Catalog) Source() string { return c.source }

// BaselineDate returns the day progress is measured from: the start of the
// straight line to each milestone's deadline.
func (c *Catalog) BaselineDate() registry.Date { return c.baseline }

// Note returns the free-text note of the catalogue file.
func (c *Catalog) Note() string { return c.note }

// Indicators returns all indicators, in file order.
func (c *Catalog) Indicators() []Indicator {
	out := make([]Indicator, len(c.inds))
	for k, ind := range c.inds {
		out[k] = ind.clone()
	}
	return out
}

// Indicator returns the indicator with the given code.
func (c *Catalog) Indicator(code string) (Indicator, bool) {
	k, ok := c.index[code]
	if !ok {
		return Indicator{}, false
	}
	return c.inds[k].clone(), true
}

// ForEventType returns, in file order, the indicators fed by events of type
// t. It copies; a hot path should resolve its types once and keep the result.
func (c *Catalog) ForEventType(t string) []Indicator {
	ks := c.byEvent[t]
	if len(ks) == 0 {
		return nil
	}
	out := make([]Indicator, len(ks))
	for n, k := range ks {
		out[n] = c.inds[k].clone()
	}
	return out
}

// EventTypes returns the event types that feed some indicator, sorted.
func (c *Catalog) EventTypes() []string {
	out := make([]string, 0, len(c.byEvent))
	for t := range c.byEvent {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Milestones returns the distinct milestone years of all indicators, ascending.
func (c *Catalog) Milestones() []int {
	var out []int
	for _, ind := range c.inds {
		for _, m := range ind.Milestones {
			out = append(out, m.Year)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// NextMilestone returns the year of the earliest milestone, of any
// indicator, whose deadline is on or after d: the default milestone of a
// score asked for as of d.
func (c *Catalog) NextMilestone(d registry.Date) (int, bool) {
	year, found := 0, false
	for _, ind := range c.inds {
		if m, ok := ind.NextMilestone(d); ok && (!found || m.Year < year) {
			year, found = m.Year, true
		}
	}
	return year, found
}

// A TargetRow is one target, flattened: an indicator's target for one level
// in one milestone year. It is the shape loaded into ClickHouse for analysts.
type TargetRow struct {
	Indicator  string
	Year       int
	Deadline   registry.Date
	Level      registry.Level
	Target     float64
	Comparison Comparison
	Tolerance  float64
	Direction  Direction
}

// TargetRows returns every target, one row per indicator, milestone and
// level the indicator applies to ("*" expanded), in file order.
func (c *Catalog) TargetRows() []TargetRow {
	var out []TargetRow
	for _, ind := range c.inds {
		for _, m := range ind.Milestones {
			for _, l := range ind.Levels {
				v, _ := m.Target(l)
				out = append(out, TargetRow{
					Indicator: ind.Code, Year: m.Year, Deadline: m.Deadline, Level: l,
					Target: v, Comparison: m.Comparison, Tolerance: m.Tolerance, Direction: ind.Direction,
				})
			}
		}
	}
	return out
}
