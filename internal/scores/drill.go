package scores

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// ErrUnknownIndicator is returned for an indicator code not in the catalogue.
var ErrUnknownIndicator = errors.New("scores: unknown indicator")

// Contributor is one event that counts in a value at as_of: the current state
// of its natural key.
type Contributor struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Agency      string          `json:"agency"`
	OccurredAt  time.Time       `json:"occurred_at"`
	Supersedes  string          `json:"supersedes,omitempty"`
	Key         string          `json:"key"`
	Numerator   float64         `json:"numerator"`
	Denominator float64         `json:"denominator"`
	Data        json.RawMessage `json:"data"`
}

// Drill is one page of the events behind an indicator of a unit.
type Drill struct {
	Unit      string          `json:"unit"`
	Indicator string          `json:"indicator"`
	AsOf      string          `json:"as_of"`
	Milestone int             `json:"milestone"`
	Score     *IndicatorScore `json:"score"`
	Total     uint64          `json:"total"` // events that count, over all pages
	Offset    int             `json:"offset"`
	Limit     int             `json:"limit"`
	Events    []Contributor   `json:"events"`
	// SQL lists the same events straight from cds.events, for analysts.
	SQL string `json:"sql"`
}

// MaxDrillLimit caps a page of the drill-down; a larger limit is an error.
const MaxDrillLimit = 1000

// DefaultDrillLimit is the page size when none is asked for.
const DefaultDrillLimit = 100

// Find narrows a drill-down to one event or one natural key; zero fields
// do not restrict.
type Find struct {
	ID  string // the event id: the page holds it if it counts
	Key string // the natural key, as Contributor.Key shows it
}

// Events lists the events that count in indicator for unit at q.AsOf:
// for each natural key, its latest event (by occurred_at, then cityHash64(id)) up to
// as_of, leaving out retractions and events superseded by a correction of the
// same agency; for a flow only keys whose state falls in as_of's year, for a
// stock only keys not ended, for a reported figure the report(s) used.
//
// The page and its score come from the same commit: the score is computed
// from snapshots read with the commit markers (or cached under them), and
// the page and its total are read at those markers' watermark, however
// many commits land meanwhile (drilltable.go).
func (e *Engine) Events(ctx context.Context, unit, indicator string, q Query, offset, limit int) (*Drill, error) {
	return e.FindEvents(ctx, unit, indicator, q, Find{}, offset, limit)
}

// FindEvents is Events narrowed to one event id or one natural key (find).
// It reads the page and its total from cds.drill_list and cds.drill_days
// pinned at the commit of the score, else from cds.events (drilltable.go).
func (e *Engine) FindEvents(ctx context.Context, unit, indicator string, q Query, find Find, offset, limit int) (*Drill, error) {
	ind, ok := e.Catalog.Indicator(indicator)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownIndicator, indicator)
	}
	feeding, ok := events.FeedingOf(indicator)
	if !ok {
		return nil, fmt.Errorf("%w: %q is fed by no event type", ErrUnknownIndicator, indicator)
	}
	if limit > MaxDrillLimit {
		return nil, fmt.Errorf("%w: limit %d is above the maximum, %d", ErrInvalidQuery, limit, MaxDrillLimit)
	}
	if limit <= 0 {
		limit = DefaultDrillLimit
	}
	score, m, err := e.unitAt(ctx, unit, q)
	if err != nil {
		return nil, err
	}
	d := &Drill{Unit: unit, Indicator: indicator, AsOf: score.AsOf, Milestone: score.Milestone, Offset: max(offset, 0), Limit: limit}
	for i := range score.Indicators {
		if score.Indicators[i].Code == indicator {
			d.Score = &score.Indicators[i]
		}
	}
	if d.Score == nil {
		return nil, fmt.Errorf("%w: %s does not apply to %s (level %s)", ErrUnknownIndicator, indicator, unit, score.Level)
	}
	asOf, _ := registry.ParseDate(score.AsOf)
	u, _ := e.Registry.Unit(unit)
	var units []string
	if u.Parent != "" {
		units = e.ownUnits(u, asOf)
	}
	filter := drillFilter(feeding, units, asOf, find)
	d.SQL = e.Store.db.DrillSQL(filter)
	filter.UpTo = &m.watermark

	reported := ind.Kind.Reported()
	rows, total, err := e.contributors(ctx, m, ind, filter, reported, d.Offset, d.Limit)
	if err != nil {
		return nil, err
	}
	switch {
	case reported:
		rows = latestReports(rows, asOf.Year(), ind.Kind == catalog.KindReportedGrowth)
		d.Total = uint64(len(rows))
		rows = page(rows, d.Offset, d.Limit)
	case total >= 0: // read with the page
		d.Total = uint64(total)
	default: // the page was read from cds.events (listRows)
		if d.Total, err = e.drillCount(ctx, m, filter); err != nil {
			return nil, fmt.Errorf("drill-down count: %w", err)
		}
	}
	d.Events = rows // shared with the cache: read only
	if d.Events == nil {
		d.Events = []Contributor{}
	}
	return d, nil
}

// drillFilter selects the events feeding f (chdb.DrillFilter): for a flow
// the keys whose state falls in asOf's year, for a stock the keys not
// ended. units nil: every unit's events.
func drillFilter(f events.Feeding, units []string, asOf registry.Date, find Find) chdb.DrillFilter {
	q := chdb.DrillFilter{
		Types: f.Types, Entity: f.Entity, KeyField: f.Key, KeyIsNumber: f.KeyIsNumber(), AgencyScoped: f.Scope == events.ScopeAgency,
		Units: units, AsOf: asOf.String(), ID: find.ID, Key: find.Key,
	}
	switch {
	case f.Period == events.PeriodOccurred:
		q.Year = asOf.Year()
	case f.Period == events.PeriodNone:
		q.Removes = f.Removes
	}
	return q
}

// contributors lists the events of f read at m (all, or limit from
// offset), from e.Drills when it has them, and their total when it was
// read with them (a page read from the drill-down tables; -1 otherwise:
// drillCount), each with its contribution to ind (restored once per
// read, not per request). A page of the tables read at an earlier commit
// is carried over to m when the commits since did not move a row deciding
// it (carry). The rows are shared with the cache: read only.
func (e *Engine) contributors(ctx context.Context, m mark, ind catalog.Indicator, f chdb.DrillFilter, all bool, offset, limit int) ([]Contributor, int64, error) {
	pageKey := drillPageKey(ind.Code, f, all, offset, limit)
	c, err := e.Drills.get(ctx, drillKey(m, ind.Code, f, all, offset, limit), func(ctx context.Context) (drillEntry, error) {
		if !all && limit > 0 {
			if prev, ok := e.Drills.before(pageKey, m.watermark); ok && prev.total >= 0 {
				c, ok, err := e.carry(ctx, prev, f, offset, limit)
				if err != nil {
					return drillEntry{}, err
				}
				if ok {
					e.Drills.keep(pageKey, c)
					return c, nil
				}
			}
		}
		rows, total, err := e.listRows(ctx, f, all, offset, limit)
		if err != nil {
			return drillEntry{}, fmt.Errorf("drill-down: %w", err)
		}
		out := make([]Contributor, 0, len(rows))
		for _, r := range rows {
			c := Contributor{ID: r.ID, Type: r.Type, Agency: r.Agency, OccurredAt: r.OccurredAt, Supersedes: r.Supersedes, Key: r.Key, Data: json.RawMessage(r.Data)}
			ev, err := events.Restore(c.ID, c.Type, c.Agency, c.OccurredAt, c.Supersedes, c.Data)
			if err != nil {
				return drillEntry{}, fmt.Errorf("drill-down: stored event %s: %w", c.ID, err)
			}
			c.Numerator, c.Denominator, _ = ev.Contribution(ind.Code)
			if ind.Kind == catalog.KindReportedMinRatio {
				c.Numerator, c.Denominator = minPart(ev, ind.Code)
			}
			out = append(out, c)
		}
		c := drillEntry{rows: out, total: total, at: *f.UpTo}
		if total >= 0 {
			e.Drills.keep(pageKey, c)
		}
		return c, nil
	})
	if err != nil {
		return c.rows, -1, err
	}
	return c.rows, c.total, nil
}

// carry returns prev, a page of f (limit rows from offset) read from the
// drill-down tables at an earlier commit, as the page at f.UpTo, with its
// total moved by the changes of the commits in between
// (chdb.DB.DrillLogSince, admitted as a light read: a few rows of
// cds.drill_log per commit, shared by the pages carried over the same
// commits: DrillCache.logSince), when they moved no row at or before its last
// one, so that the list up to it is the same at both commits, and: the
// page was full (its rows are then the same), or it was not and the new
// total says no row joined it after its last, or it was empty and still
// is. ok is false when the page must be read again: a row deciding it
// moved, or the log cannot say (not reaching back to prev's commit, a
// refill). err is the request's end: shed, or its context done.
func (e *Engine) carry(ctx context.Context, prev drillEntry, f chdb.DrillFilter, offset, limit int) (c drillEntry, ok bool, err error) {
	var last *chdb.DrillRow
	if n := len(prev.rows); n > 0 {
		r := prev.rows[n-1]
		last = &chdb.DrillRow{ID: r.ID, Agency: r.Agency, OccurredAt: r.OccurredAt}
	}
	var moves chdb.DrillMoves
	l, err := e.Drills.logSince(ctx, e.Store.db, f, prev.at)
	if err == nil {
		moves = l.Moves(last)
	}
	total := prev.total + moves.Total
	switch {
	case errors.Is(err, admission.ErrShed) || ctx.Err() != nil:
		return drillEntry{}, false, err
	case err != nil || moves.Page || total < 0:
		return drillEntry{}, false, nil
	case len(prev.rows) < limit && total > int64(offset+len(prev.rows)): // rows joined the page
		return drillEntry{}, false, nil
	}
	e.Drills.carried.Add(1)
	return drillEntry{rows: prev.rows, total: total, at: *f.UpTo}, true, nil
}

// drillCount counts the events of f read at m, from e.Drills when it has
// the count, else from cds.events: a page comes without its total only
// when it was read from cds.events because the drill-down tables could not
// answer at m (listRows), and they would not answer the count either.
func (e *Engine) drillCount(ctx context.Context, m mark, f chdb.DrillFilter) (uint64, error) {
	c, err := e.Drills.get(ctx, drillKey(m, "", f, true, -1, -1), func(ctx context.Context) (drillEntry, error) {
		n, err := admission.HoldValue(ctx, admission.Heavy, func(ctx context.Context) (uint64, error) {
			return e.Store.db.DrillCount(ctx, f)
		})
		return drillEntry{total: int64(n), at: m.watermark}, err
	})
	return uint64(max(c.total, 0)), err
}

// latestReports keeps the report of the latest year <= year (two years for a
// growth), newest first. Keys of reported figures are years.
func latestReports(rows []Contributor, year int, two bool) []Contributor {
	var keep []Contributor
	for _, r := range rows {
		if y, err := strconv.Atoi(r.Key[strings.LastIndex(r.Key, "/")+1:]); err == nil && y <= year {
			keep = append(keep, r)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Key > keep[j].Key })
	n := 1
	if two {
		n = 2
	}
	if len(keep) > n {
		keep = keep[:n]
	}
	return keep
}

func page(rows []Contributor, offset, limit int) []Contributor {
	if offset >= len(rows) {
		return nil
	}
	return rows[offset:min(len(rows), offset+limit)]
}

// minPart is the part (sector) of ev with the smallest ratio, chosen by the
// same rule as the score (minSector).
func minPart(ev *events.Event, indicator string) (num, den float64) {
	parts := map[string]events.Amount{}
	for _, c := range ev.Contributions() {
		if c.Indicator == indicator {
			parts[c.Dim] = events.Amount{Num: c.Num, Den: c.Den, N: 1}
		}
	}
	_, c, _ := minSector(parts)
	return c.Num, c.Den
}
