package scores

import (
	"math"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// Gap is what it takes to meet an indicator's target, in the indicator's
// own units of work (docs/board.md, "What it takes"). It is given for every
// indicator with a target that is not met.
type Gap struct {
	// By is the day the target is measured on: the milestone's deadline or,
	// for a flow (counted per calendar year), the end of as_of's year when
	// that comes first.
	By string `json:"by"`
	// Need is how much more is needed by By, in Measure: for a flow, how
	// many of the further items expected by By must count (e.g. be
	// processed online); for a stock, how many more items must meet the
	// criterion; for a count, how many more things; for a reported figure,
	// how much more of it; for a rank, how many places to climb. Nil when
	// there is no data to measure from.
	Need *float64 `json:"need"`
	// Of (flows only) is how many further items are expected by By at the
	// pace so far: the year's items so far, scaled to By by the days.
	Of *float64 `json:"of,omitempty"`
	// Share (flows only) is Need / Of: the share of the further items that
	// must count.
	Share *float64 `json:"share,omitempty"`
	// Pace is the value so far (flows), or the value projected at By if the
	// change since the baseline goes on at the same rate per day (counts).
	Pace *float64 `json:"pace,omitempty"`
	// Reachable says whether Need can be met at all: false when a flow needs
	// more items than are expected, or a stock more than it has.
	Reachable bool `json:"reachable"`
	// Measure is what Need counts: "items" (work dossiers, reports,
	// inspections, sessions, services, agencies, enterprises), "amount" (of
	// the reported figure: bn VND, mn VND per worker) or "places" (a rank).
	Measure string `json:"measure"`
	// Rule states in words how Need was worked out.
	Rule string `json:"rule"`
}

// The measures of a Gap.
const (
	GapItems  = "items"
	GapAmount = "amount"
	GapPlaces = "places"
)

// The rules of a Gap, by kind of indicator.
const (
	RuleFlow = "flow: the items counted so far this year are scaled to the horizon by the days; " +
		"need = the smallest whole number of items that must count, out of all expected by then, to meet the target, minus those counted so far; " +
		"of = the items still expected; pace = the share so far"
	RuleStock    = "stock: with the number of items as it is, need = how many more of them must meet the criterion for the share to meet the target"
	RuleCount    = "count: need = how many more are needed to meet the target; pace = the count projected to the horizon at its rate per day since the baseline"
	RuleReported = "reported figure: need = how much more the reported part must be, with the total as reported, to meet the target"
	RuleGrowth   = "growth: need = how much more this year's reported figure must be, over last year's, to meet the target"
	RuleRank     = "rank: need = how many places to climb"
	RuleNoData   = "no data: nothing has been reported to measure the distance from"
)

// whatItTakes works out the gap of an indicator that is not met; now is the
// figure at asOf, base at the baseline date.
func whatItTakes(ind catalog.Indicator, ms catalog.Milestone, target float64, baselineDate, asOf registry.Date, now, base figure) *Gap {
	by := ms.Deadline
	g := &Gap{By: by.String(), Measure: GapItems}
	switch ind.Kind {
	case catalog.KindFlowRatio:
		g.Rule = RuleFlow
		yearEnd := registry.NewDate(asOf.Year(), 12, 31)
		if yearEnd.Before(by) || !asOf.Before(by) {
			by = yearEnd
		}
		g.By = by.String()
	case catalog.KindStockRatio:
		g.Rule = RuleStock
	case catalog.KindCount:
		g.Rule = RuleCount
	case catalog.KindReportedRatio, catalog.KindReportedMinRatio:
		g.Rule, g.Measure = RuleReported, GapAmount
	case catalog.KindReportedGrowth:
		g.Rule, g.Measure = RuleGrowth, GapAmount
	case catalog.KindRank:
		g.Rule, g.Measure = RuleRank, GapPlaces
	}
	if !now.ok {
		g.Rule = RuleNoData
		return g
	}
	met := func(v float64) bool { return ms.Met(ind.Direction, v, target) }
	switch ind.Kind {
	case catalog.KindFlowRatio:
		jan1 := registry.NewDate(asOf.Year(), 1, 1)
		elapsed := float64(asOf.Sub(jan1) + 1)
		total := float64(by.Sub(jan1) + 1)
		expected := math.Max(now.den, math.Round(now.den*total/elapsed))
		k, ok := minItems(met, target, now.num, expected)
		g.Need, g.Of, g.Pace = ptr(k), ptr(expected-now.den), ptr(round(now.value))
		g.Reachable = ok && k <= expected-now.den
		if *g.Of > 0 {
			g.Share = ptr(round(k / *g.Of))
		}
	case catalog.KindStockRatio:
		k, ok := minItems(met, target, now.num, now.den)
		g.Need, g.Reachable = ptr(k), ok
	case catalog.KindCount:
		k := math.Max(0, math.Ceil(target-now.value-1e-9))
		if !met(now.value + k) {
			k++
		}
		g.Need, g.Reachable = ptr(k), true
		if base.ok && asOf.After(baselineDate) && by.After(asOf) {
			perDay := (now.value - base.value) / float64(asOf.Sub(baselineDate))
			g.Pace = ptr(round(now.value + perDay*float64(by.Sub(asOf))))
		}
	case catalog.KindReportedRatio, catalog.KindReportedMinRatio:
		goal := target
		if ms.Comparison == catalog.Approx {
			goal -= ms.Tolerance
		}
		g.Need, g.Reachable = ptr(round(math.Max(0, goal*now.den-now.num))), now.den > 0
	case catalog.KindReportedGrowth:
		g.Need, g.Reachable = ptr(round(math.Max(0, now.den*(1+target)-now.num))), now.den > 0
	case catalog.KindRank:
		k := math.Max(0, math.Ceil(now.value-target-1e-9))
		if !met(now.value - k) {
			k++
		}
		g.Need, g.Reachable = ptr(k), now.value-k >= 1
	}
	return g
}

// minItems returns the smallest whole k >= 0 such that (num+k)/den meets
// the target (met), and whether one exists with num+k <= den. When none
// does, it returns what the target asks beyond den: ceil(target*den - num).
func minItems(met func(float64) bool, target, num, den float64) (float64, bool) {
	if den <= 0 {
		return 0, false
	}
	hi := math.Max(0, math.Floor(den-num+1e-9))
	if !met((num + hi) / den) {
		return math.Max(0, math.Ceil(target*den-num-1e-9)), false
	}
	lo := 0.0
	for lo < hi {
		mid := math.Floor((lo + hi) / 2)
		if met((num + mid) / den) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, true
}
