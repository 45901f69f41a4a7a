package events

import (
	"strconv"
	"time"
)

// Contribution is what the current state of one natural key adds to one
// indicator: a numerator and a denominator, optionally split by a dimension
// (the sector of KTS_NGANH, the user kind of DINHDANH).
type Contribution struct {
	Indicator string
	Dim       string
	Num, Den  float64
}

// Amount is what a rollup cell holds, or a change to it: the contributions
// of the states counted in it, summed, and their number (docs/design.md,
// "Folding").
type Amount struct {
	Num, Den float64
	N        int64 // number of states counted
}

// Key returns the natural key of the entity the event is about, e.g.
// "workfile/bg-vietyen/VY-2025-000123" or "grdp/2024". Events with the same
// key describe the same entity; the latest one by occurred_at is its state.
// A retraction has no key of its own (it only removes what it supersedes).
func (e *Event) Key() string {
	if e.Payload == nil {
		return ""
	}
	ref, _ := lookupField(e.Spec.Key)
	var v string
	switch ref.kind {
	case kindString:
		v = *ref.str(e.Payload)
	case kindNumber:
		v = strconv.FormatFloat(*ref.num(e.Payload), 'f', -1, 64)
	}
	if e.Spec.Scope == ScopeAgency {
		return e.Spec.Entity + "/" + e.Agency + "/" + v
	}
	return e.Spec.Entity + "/" + v
}

// Period returns the period bucket the event's state counts in: 0 for a stock,
// the calendar year of occurred_at (province time) for a flow, data.year for a
// reported figure.
func (e *Event) Period() int {
	switch e.Spec.Period {
	case PeriodOccurred:
		return e.OccurredAt.In(Zone).Year()
	case PeriodDataYear:
		if e.Payload != nil && e.Payload.Year != nil {
			return int(*e.Payload.Year)
		}
	}
	return 0
}

// Day returns the calendar day of occurred_at in province time, at 00:00 UTC
// (the representation of a ClickHouse Date).
func (e *Event) Day() time.Time { return DayOf(e.OccurredAt) }

// DayOf returns the province-time calendar day of t, at 00:00 UTC.
func DayOf(t time.Time) time.Time {
	y, m, d := t.In(Zone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Contributions returns what the event adds to each indicator while it is the
// current state of its key. Removing events and retractions contribute nothing.
func (e *Event) Contributions() []Contribution {
	if e.Payload == nil || e.Spec.Removes {
		return nil
	}
	out := make([]Contribution, 0, len(e.Spec.Feeds))
	for _, f := range e.Spec.Feeds {
		if f.PerSector {
			for _, s := range *e.Payload.Sectors {
				out = append(out, Contribution{Indicator: f.Indicator, Dim: *s.Sector, Num: *s.Digital, Den: *s.Total})
			}
			continue
		}
		c := Contribution{Indicator: f.Indicator, Num: f.Num.eval(e.Payload), Den: f.Den.eval(e.Payload)}
		if f.Dim != "" {
			if ref, ok := lookupField(f.Dim); ok && ref.kind == kindString {
				c.Dim = *ref.str(e.Payload)
			}
		}
		out = append(out, c)
	}
	return out
}
