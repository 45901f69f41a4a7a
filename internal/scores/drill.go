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
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/fold"
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

// MaxDrillLimit caps a page of the drill-down.
const MaxDrillLimit = 1000

// Events lists the events that count in indicator for unit at q.AsOf:
// for each natural key, its latest event (by occurred_at, then cityHash64(id)) up to
// as_of, leaving out retractions and events superseded by a correction of the
// same agency; for a flow only keys whose state falls in as_of's year, for a
// stock only keys not ended, for a reported figure the report(s) used.
func (e *Engine) Events(ctx context.Context, unit, indicator string, q Query, offset, limit int) (*Drill, error) {
	ind, ok := e.Catalog.Indicator(indicator)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownIndicator, indicator)
	}
	feeding, ok := events.FeedingOf(indicator)
	if !ok {
		return nil, fmt.Errorf("%w: %q is fed by no event type", ErrUnknownIndicator, indicator)
	}
	score, err := e.Unit(ctx, unit, q)
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
	if d.Limit <= 0 || d.Limit > MaxDrillLimit {
		d.Limit = 100
	}
	asOf, _ := registry.ParseDate(score.AsOf)
	u, _ := e.Registry.Unit(unit)
	var units []string
	if u.Parent != "" {
		units = e.ownUnits(u, asOf)
	}
	qb := drillQuery(e.Store.db.Table("events"), feeding, units, asOf)
	d.SQL = qb.text()

	reported := ind.Kind != catalog.KindFlowRatio && ind.Kind != catalog.KindStockRatio && ind.Kind != catalog.KindCount
	rows, err := e.Store.contributors(ctx, qb, reported, d.Offset, d.Limit)
	if err != nil {
		return nil, err
	}
	if reported {
		rows = latestReports(rows, asOf.Year(), ind.Kind == catalog.KindReportedGrowth)
		d.Total = uint64(len(rows))
		rows = page(rows, d.Offset, d.Limit)
	} else if d.Total, err = e.Store.count(ctx, qb); err != nil {
		return nil, err
	}
	for _, r := range rows {
		ev, err := events.Restore(r.ID, r.Type, r.Agency, r.OccurredAt, r.Supersedes, r.Data)
		if err != nil {
			return nil, fmt.Errorf("drill-down: stored event %s: %w", r.ID, err)
		}
		r.Numerator, r.Denominator, _ = ev.Contribution(indicator)
		if ind.Kind == catalog.KindReportedMinRatio {
			r.Numerator, r.Denominator = minPart(ev, indicator)
		}
		d.Events = append(d.Events, r)
	}
	if d.Events == nil {
		d.Events = []Contributor{}
	}
	return d, nil
}

// query is a drill-down query.
type query struct {
	inner string // one row per natural key: its latest valid event
	where string // filter on the latest event
}

func drillQuery(table string, f events.Feeding, units []string, asOf registry.Date) query {
	keyExpr := "visitParamExtractString(data, '" + f.Key + "')"
	if f.KeyIsNumber() {
		keyExpr = "toString(visitParamExtractUInt(data, '" + f.Key + "'))"
	}
	if f.Scope == events.ScopeAgency {
		keyExpr = "concat(agency, '/', " + keyExpr + ")"
	}
	// Aliases differ from the columns: an alias named like a column would
	// replace it inside the other aggregates.
	latest := func(col string) string { return "argMax(" + col + ", (occurred_at, cityHash64(id))) AS ev_" + col }
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s AS key, %s, %s, %s, max(occurred_at) AS at, %s, %s\n", keyExpr,
		latest("id"), latest("type"), latest("agency"), latest("supersedes"), latest("data"))
	fmt.Fprintf(&b, "  FROM %s\n  WHERE type IN %s AND retraction = 0 AND toDate(occurred_at) <= toDate('%s')\n", table, list(f.Types), asOf)
	if units != nil {
		fmt.Fprintf(&b, "    AND agency IN %s\n", list(units))
	}
	fmt.Fprintf(&b, "    AND (agency, id) NOT IN (SELECT agency, supersedes FROM %s WHERE supersedes != '')\n  GROUP BY key", table)
	q := query{inner: b.String()}
	switch f.Period {
	case events.PeriodOccurred:
		q.where = "toYear(at) = " + strconv.Itoa(asOf.Year())
	case events.PeriodNone:
		q.where = "1"
		if len(f.Removes) > 0 {
			q.where = "ev_type NOT IN " + list(f.Removes)
		}
	default:
		q.where = "1"
	}
	return q
}

func (q query) text() string {
	return "SELECT ev_id AS id, ev_type AS type, ev_agency AS agency, at AS occurred_at, ev_supersedes AS supersedes, key, ev_data AS data FROM (\n" +
		q.inner + "\n) WHERE " + q.where + "\nORDER BY occurred_at, id"
}

// list renders a list of codes as a SQL tuple; codes are checked identifiers
// (registry and type-table codes), quoted defensively.
func list(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

func (s *Store) contributors(ctx context.Context, q query, all bool, offset, limit int) ([]Contributor, error) {
	sql := q.text()
	if !all {
		sql += fmt.Sprintf("\nLIMIT %d, %d", offset, limit)
	}
	rows, err := s.db.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("drill-down: %w", err)
	}
	defer rows.Close()
	var out []Contributor
	for rows.Next() {
		var c Contributor
		var data string
		if err := rows.Scan(&c.ID, &c.Type, &c.Agency, &c.OccurredAt, &c.Supersedes, &c.Key, &data); err != nil {
			return nil, fmt.Errorf("drill-down: %w", err)
		}
		c.Data = json.RawMessage(data)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) count(ctx context.Context, q query) (uint64, error) {
	var n uint64
	if err := s.db.QueryRow(ctx, "SELECT count() FROM (\n"+q.inner+"\n) WHERE "+q.where).Scan(&n); err != nil {
		return 0, fmt.Errorf("drill-down count: %w", err)
	}
	return n, nil
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
	parts := map[string]fold.Amount{}
	for _, c := range ev.Contributions() {
		if c.Indicator == indicator {
			parts[c.Dim] = fold.Amount{Num: c.Num, Den: c.Den, N: 1}
		}
	}
	_, c, _ := minSector(parts)
	return c.Num, c.Den
}
