// Package scores turns rollup cells into compliance scores against the
// targets of the indicator catalogue: value, attainment, status on the
// trajectory to the milestone, composite per unit and rank among peers.
package scores

import (
	"errors"
	"math"
	"sort"
	"strconv"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// Status of an indicator against its milestone.
const (
	StatusMet      = "met"       // the target is reached
	StatusOnTrack  = "on_track"  // at or beyond the straight line from baseline to target
	StatusAtRisk   = "at_risk"   // behind the line by less than the risk band
	StatusOffTrack = "off_track" // further behind, or the deadline passed unmet
	StatusNoData   = "no_data"   // nothing reported: counts as attainment 0
	// StatusNoTarget: the indicator has no target for the milestone (DINHDANH
	// and DLMO are 2030 targets); its value is shown, it has no weight.
	StatusNoTarget = "no_target"
)

// RiskBand is the share of the distance from baseline to target by which a
// value may trail the trajectory and still be at risk rather than off track.
const RiskBand = 0.10

// Errors callers branch on.
var (
	ErrUnknownUnit      = errors.New("scores: unknown unit")
	ErrUnitNotInForce   = errors.New("scores: unit not in force at as_of")
	ErrUnknownMilestone = errors.New("scores: unknown milestone")
	ErrUnknownLevel     = errors.New("scores: unknown level")
	ErrInvalidQuery     = errors.New("scores: invalid query")
)

// IndicatorScore is one indicator of a unit's score.
type IndicatorScore struct {
	Code        string   `json:"code"`
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Numerator   *float64 `json:"numerator"`
	Denominator *float64 `json:"denominator"`
	Value       *float64 `json:"value"`
	Target      *float64 `json:"target"`
	Comparison  string   `json:"comparison"`
	Attainment  float64  `json:"attainment"`
	Status      string   `json:"status"`
	Expected    *float64 `json:"expected,omitempty"` // trajectory value at as_of
	Baseline    *float64 `json:"baseline,omitempty"` // value at the catalogue's baseline date
	Period      string   `json:"period"`             // what was counted, e.g. "2025-01-01/2025-06-30", "at 2025-06-30", "year 2024"
	Weight      float64  `json:"weight"`
	// WhatItTakes is the distance to the target of an indicator not met
	// (gap.go); absent when met or without a target.
	WhatItTakes *Gap `json:"what_it_takes,omitempty"`
}

// UnitScore is the score of one unit.
type UnitScore struct {
	Unit       string           `json:"unit"`
	Name       string           `json:"name"`
	Level      string           `json:"level"`
	Milestone  int              `json:"milestone"`
	AsOf       string           `json:"as_of"`
	Indicators []IndicatorScore `json:"indicators"`
	Composite  float64          `json:"composite"`
	Rank       int              `json:"rank"`
	Of         int              `json:"of"` // units ranked at this level
}

// figure is a computed value with its parts.
type figure struct {
	num, den, value float64
	ok              bool
	period          string
}

// compute evaluates one indicator for a unit in a snapshot.
// own lists the units whose cells are the unit's own; nil means every unit
// (the province).
func compute(ind catalog.Indicator, own map[string]bool, snap *snapshot, agencies []registry.Unit) figure {
	day := snap.day
	if !ind.Kind.Reported() {
		period := "at " + day.String()
		if ind.Kind == catalog.KindFlowRatio {
			period = registry.NewDate(day.Year(), 1, 1).String() + "/" + day.String()
		}
		cells := snap.own[ind.Code]
		if ind.OfAgencies {
			return agencyShare(cells, agencies, period)
		}
		var a events.Amount
		for u, c := range cells {
			if own == nil || own[u] {
				a.Num, a.Den, a.N = a.Num+c.Num, a.Den+c.Den, a.N+c.N
			}
		}
		f := figure{num: round(a.Num), den: round(a.Den), period: period}
		if ind.Kind == catalog.KindCount {
			f.value, f.ok = f.num, a.N != 0 || f.den != 0
			return f
		}
		if f.den > 0 {
			f.value, f.ok = f.num/f.den, true
		}
		return f
	}
	years := snap.reported[ind.Code]
	latest := latestYears(years, 2)
	if len(latest) == 0 {
		return figure{period: "no report up to " + day.String()}
	}
	y := latest[0]
	f := figure{period: "year " + itoa(y)}
	switch ind.Kind {
	case catalog.KindReportedRatio:
		for _, c := range years[y] {
			f.num, f.den = f.num+c.Num, f.den+c.Den
		}
		if f.den > 0 {
			f.value, f.ok = f.num/f.den, true
		}
	case catalog.KindReportedMinRatio:
		if dim, c, ok := minSector(years[y]); ok {
			f.num, f.den, f.value, f.ok = c.Num, c.Den, c.Num/c.Den, true
			f.period = "year " + itoa(y) + ", sector " + dim
		}
	case catalog.KindReportedGrowth:
		if len(latest) < 2 {
			f.period = "year " + itoa(y) + " only: growth needs two reported years"
			return f
		}
		cur, prev := sumNum(years[latest[0]]), sumNum(years[latest[1]])
		f.num, f.den, f.period = cur, prev, "year "+itoa(latest[0])+" over "+itoa(latest[1])
		if prev > 0 {
			f.value, f.ok = cur/prev-1, true
		}
	case catalog.KindRank:
		var a events.Amount
		for _, c := range years[y] {
			a.Num, a.N = a.Num+c.Num, a.N+c.N
		}
		if a.N > 0 {
			f.num, f.den, f.value, f.ok = a.Num/float64(a.N), 1, a.Num/float64(a.N), true
		}
	}
	return f
}

// minSector returns the part with the smallest ratio num/den (parts with no
// denominator are skipped; ties go to the first name in order), as
// KTS_NGANH is scored.
func minSector(parts map[string]events.Amount) (string, events.Amount, bool) {
	names := make([]string, 0, len(parts))
	for d := range parts {
		names = append(names, d)
	}
	sort.Strings(names)
	var best string
	found := false
	for _, d := range names {
		c := parts[d]
		if c.Den <= 0 {
			continue
		}
		if !found || c.Num/c.Den < parts[best].Num/parts[best].Den {
			best, found = d, true
		}
	}
	return best, parts[best], found
}

// agencyShare is an indicator OfAgencies (DLMO): agencies of the registry in force at as_of with at
// least one open dataset published, over all agencies in force.
func agencyShare(cells map[string]events.Amount, agencies []registry.Unit, period string) figure {
	f := figure{period: period}
	for _, u := range agencies {
		f.den++
		if cells[u.Code].Num > 0 {
			f.num++
		}
	}
	if f.den > 0 {
		f.value, f.ok = f.num/f.den, true
	}
	return f
}

// judge fills value, target, attainment and status of an indicator.
func judge(ind catalog.Indicator, ms catalog.Milestone, level registry.Level, baselineDate, asOf registry.Date, now, base figure) IndicatorScore {
	target, _ := ms.Target(level)
	s := IndicatorScore{
		Code: ind.Code, Name: ind.NameVI, Kind: string(ind.Kind), Target: ptr(target),
		Comparison: string(ms.Comparison), Period: now.period, Weight: ind.Weight, Status: StatusNoData,
	}
	if !now.ok {
		s.WhatItTakes = whatItTakes(ind, ms, target, baselineDate, asOf, now, base)
		return s
	}
	s.Numerator, s.Denominator, s.Value = ptr(now.num), ptr(now.den), ptr(round(now.value))
	s.Attainment = attainment(ind.Direction, now.value, target)
	if ms.Met(ind.Direction, now.value, target) {
		s.Status, s.Attainment = StatusMet, 1
		return s
	}
	s.WhatItTakes = whatItTakes(ind, ms, target, baselineDate, asOf, now, base)
	if !asOf.Before(ms.Deadline) {
		s.Status = StatusOffTrack
		return s
	}
	start := 0.0
	if ind.Direction == catalog.Lower {
		start = target // no baseline rank: the line is flat at the target
	}
	if base.ok {
		start = base.value
		s.Baseline = ptr(round(start))
	}
	total := float64(ms.Deadline.Sub(baselineDate))
	elapsed := float64(asOf.Sub(baselineDate))
	frac := 0.0
	if total > 0 {
		frac = math.Min(math.Max(elapsed/total, 0), 1)
	}
	expected := start + (target-start)*frac
	s.Expected = ptr(round(expected))
	band := RiskBand * math.Abs(target-start)
	behind := expected - now.value
	if ind.Direction == catalog.Lower {
		behind = now.value - expected
	}
	switch {
	case behind <= 1e-12:
		s.Status = StatusOnTrack
	case behind <= band+1e-12:
		s.Status = StatusAtRisk
	default:
		s.Status = StatusOffTrack
	}
	return s
}

// untargeted reports an indicator without a target for the milestone.
func untargeted(ind catalog.Indicator, milestone int, now figure) IndicatorScore {
	s := IndicatorScore{Code: ind.Code, Name: ind.NameVI, Kind: string(ind.Kind), Period: now.period, Status: StatusNoTarget}
	if now.ok {
		s.Numerator, s.Denominator, s.Value = ptr(now.num), ptr(now.den), ptr(round(now.value))
	}
	return s
}

// attainment is min(value/target, 1), inverted for lower-is-better.
func attainment(d catalog.Direction, value, target float64) float64 {
	var a float64
	switch {
	case d == catalog.Lower && value > 0:
		a = target / value
	case d == catalog.Lower:
		a = 1
	case target > 0:
		a = value / target
	default:
		a = 1
	}
	return round(math.Max(0, math.Min(a, 1)))
}

// composite is the weighted mean of the attainments.
func composite(inds []IndicatorScore) float64 {
	var sum, w float64
	for _, s := range inds {
		sum += s.Weight * s.Attainment
		w += s.Weight
	}
	if w == 0 {
		return 0
	}
	return round(sum / w)
}

// rankAll sets Rank and Of: competition ranking by composite, descending;
// equal composites (to 1e-9) share a rank and the next rank skips (1, 2, 2, 4).
// Units with equal rank are listed by code.
func rankAll(units []*UnitScore) {
	sort.SliceStable(units, func(i, j int) bool {
		if units[i].Composite != units[j].Composite {
			return units[i].Composite > units[j].Composite
		}
		return units[i].Unit < units[j].Unit
	})
	for i, u := range units {
		u.Of = len(units)
		if i > 0 && units[i-1].Composite == u.Composite {
			u.Rank = units[i-1].Rank
		} else {
			u.Rank = i + 1
		}
	}
}

func latestYears(years map[int]map[string]events.Amount, n int) []int {
	out := make([]int, 0, len(years))
	for y := range years {
		out = append(out, y)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func sumNum(dims map[string]events.Amount) float64 {
	var s float64
	for _, c := range dims {
		s += c.Num
	}
	return s
}

// round removes float noise left by summing deltas (+x, -x).
func round(v float64) float64 { return math.Round(v*1e9) / 1e9 }

func ptr(v float64) *float64 { return &v }

func itoa(v int) string { return strconv.Itoa(v) }
