package catalog

import (
	"slices"

	"github.com/bacgiang/cds/internal/registry"
)

// A Measure is the unit in which an indicator's values and targets are
// expressed (the "unit" field of the file).
type Measure string

// The measures.
const (
	MeasureRatio  Measure = "ratio"  // a fraction 0–1 (0.85 = 85%)
	MeasureCount  Measure = "count"  // a number of things
	MeasureRank   Measure = "rank"   // a position, 1 = first
	MeasureGrowth Measure = "growth" // a year-on-year change as a fraction (0.125 = +12.5%)
)

// A Kind says how an indicator's value is computed from events.
type Kind string

// The kinds. Flows count the calendar year of the as-of date up to it;
// stocks take the state of natural-key entities at the as-of date; reported
// figures take the latest report for a year no later than the as-of year.
const (
	// KindFlowRatio: numerator / denominator, both summed over the period.
	KindFlowRatio Kind = "flow_ratio"
	// KindStockRatio: entities meeting the criterion / entities, at the date.
	KindStockRatio Kind = "stock_ratio"
	// KindCount: entities in existence at the date.
	KindCount Kind = "count"
	// KindReportedRatio: a reported part / reported total.
	KindReportedRatio Kind = "reported_ratio"
	// KindReportedMinRatio: the smallest part / total over the reported
	// breakdown (e.g. the digital share of the weakest sector).
	KindReportedMinRatio Kind = "reported_min_ratio"
	// KindReportedGrowth: a reported figure's growth over the previous year's.
	KindReportedGrowth Kind = "reported_growth"
	// KindRank: a reported rank.
	KindRank Kind = "rank"
)

// measureOf gives the one measure each kind's values are in.
var measureOf = map[Kind]Measure{
	KindFlowRatio:        MeasureRatio,
	KindStockRatio:       MeasureRatio,
	KindCount:            MeasureCount,
	KindReportedRatio:    MeasureRatio,
	KindReportedMinRatio: MeasureRatio,
	KindReportedGrowth:   MeasureGrowth,
	KindRank:             MeasureRank,
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { _, ok := measureOf[k]; return ok }

// Measure returns the measure values of kind k are expressed in.
func (k Kind) Measure() Measure { return measureOf[k] }

// Reported reports whether values of kind k are figures a unit reports for a
// year, rather than counted from its own events (flows, stocks, counts).
// It is the one place that split is made.
func (k Kind) Reported() bool {
	switch k {
	case KindFlowRatio, KindStockRatio, KindCount:
		return false
	}
	return true
}

// A Direction says whether higher or lower values are better.
type Direction string

// The directions.
const (
	Higher Direction = "higher"
	Lower  Direction = "lower" // e.g. a rank
)

// Valid reports whether d is a known direction.
func (d Direction) Valid() bool { return d == Higher || d == Lower }

// A Comparison says how a value is held against a milestone's target.
type Comparison string

// The comparisons. Approx ("about 25%") is met at or beyond the target in the
// indicator's direction, or short of it by at most the milestone's Tolerance.
const (
	GTE    Comparison = "gte"
	GT     Comparison = "gt"
	LTE    Comparison = "lte"
	LT     Comparison = "lt"
	Approx Comparison = "approx"
)

// Valid reports whether c is a known comparison.
func (c Comparison) Valid() bool {
	switch c {
	case GTE, GT, LTE, LT, Approx:
		return true
	}
	return false
}

// fits reports whether c makes sense for direction d: "at least" for higher
// is better, "at most" for lower is better, approx for either.
func (c Comparison) fits(d Direction) bool {
	switch c {
	case GTE, GT:
		return d == Higher
	case LTE, LT:
		return d == Lower
	}
	return c == Approx
}

// AllLevels is the key of a milestone's target that applies to every level
// without a target of its own.
const AllLevels = "*"

// A Milestone is the target of an indicator for one year of the resolution.
type Milestone struct {
	Year int `json:"year"`
	// Deadline is the day by which the target is due, normally 31 December
	// of Year. Progress is judged on the straight line from the catalogue's
	// baseline date to it.
	Deadline registry.Date `json:"deadline"`
	// Targets maps a level (or AllLevels) to the target, in the
	// indicator's measure.
	Targets    map[string]float64 `json:"targets"`
	Comparison Comparison         `json:"comparison"`
	// Tolerance is how far short of the target (in the indicator's measure)
	// an Approx comparison still counts as met. Only for Approx.
	Tolerance float64 `json:"tolerance,omitempty"`
	Note      string  `json:"note,omitempty"`
}

// Target returns the target for units of the given level: the level's own
// target, else the AllLevels one.
func (m Milestone) Target(level registry.Level) (float64, bool) {
	if v, ok := m.Targets[string(level)]; ok {
		return v, true
	}
	v, ok := m.Targets[AllLevels]
	return v, ok
}

// Met reports whether value meets target under m's comparison, for an
// indicator of direction d.
func (m Milestone) Met(d Direction, value, target float64) bool {
	switch m.Comparison {
	case GTE:
		return value >= target
	case GT:
		return value > target
	case LTE:
		return value <= target
	case LT:
		return value < target
	case Approx:
		if d == Lower {
			return value <= target+m.Tolerance
		}
		return value >= target-m.Tolerance
	}
	return false
}

func (m Milestone) clone() Milestone {
	t := make(map[string]float64, len(m.Targets))
	for k, v := range m.Targets {
		t[k] = v
	}
	m.Targets = t
	return m
}

// An Indicator is one measured target of the resolution, with its milestones.
type Indicator struct {
	// Code identifies the indicator in the API and in ClickHouse, e.g. "HSCV".
	Code   string  `json:"code"`
	NameVI string  `json:"name_vi"`
	NameEN string  `json:"name_en"`
	Unit   Measure `json:"unit"`
	Kind   Kind    `json:"kind"`
	// Direction says which way is better; attainment is inverted for Lower.
	Direction Direction `json:"direction"`
	// Levels are the levels of units the indicator is scored for.
	Levels []registry.Level `json:"levels"`
	// Weight is the indicator's weight in a unit's composite score.
	Weight float64 `json:"weight"`
	// Feeds are the event types the indicator is computed from, taken from
	// the event table (events.FeedingOf) when the catalogue is loaded.
	Feeds []string `json:"feeds"`
	// OfAgencies: the value is the share of agencies in force fed, from the
	// event table (events.Feed.OfAgencies) when the catalogue is loaded.
	OfAgencies bool        `json:"-"`
	Note       string      `json:"note,omitempty"`
	Milestones []Milestone `json:"milestones"`
}

// AppliesTo reports whether the indicator is scored for units of level l.
func (i Indicator) AppliesTo(l registry.Level) bool {
	return slices.Contains(i.Levels, l)
}

// Milestone returns the indicator's milestone for year.
func (i Indicator) Milestone(year int) (Milestone, bool) {
	for _, m := range i.Milestones {
		if m.Year == year {
			return m.clone(), true
		}
	}
	return Milestone{}, false
}

// NextMilestone returns the first milestone whose deadline is on or after d,
// that is the one still to be reached on day d.
func (i Indicator) NextMilestone(d registry.Date) (Milestone, bool) {
	for _, m := range i.Milestones {
		if !m.Deadline.Before(d) {
			return m.clone(), true
		}
	}
	return Milestone{}, false
}

func (i Indicator) clone() Indicator {
	i.Levels = slices.Clone(i.Levels)
	i.Feeds = slices.Clone(i.Feeds)
	ms := make([]Milestone, len(i.Milestones))
	for k, m := range i.Milestones {
		ms[k] = m.clone()
	}
	i.Milestones = ms
	return i
}
