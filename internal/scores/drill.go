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

	"github.com/ClickHouse/clickhouse-go/v2"

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

// maxSnapshotTries bounds how often Events starts again because a commit
// came in while it read.
const maxSnapshotTries = 10

// Events lists the events that count in indicator for unit at q.AsOf:
// for each natural key, its latest event (by occurred_at, then cityHash64(id)) up to
// as_of, leaving out retractions and events superseded by a correction of the
// same agency; for a flow only keys whose state falls in as_of's year, for a
// stock only keys not ended, for a reported figure the report(s) used.
//
// The page and its score come from the same commit: the commit markers are
// read once, the score is computed at them (and the markers read again to
// check that no commit came in between, else it starts again), and the
// events are those of cds.events up to the markers' watermark.
func (e *Engine) Events(ctx context.Context, unit, indicator string, q Query, offset, limit int) (*Drill, error) {
	return e.FindEvents(ctx, unit, indicator, q, Find{}, offset, limit)
}

// FindEvents is Events narrowed to one event id or one natural key (find).
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
	score, m, err := e.scoreAtOneCommit(ctx, unit, q)
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
	table := e.Store.db.Table("events")
	d.SQL = inline(drillQuery(table, feeding, units, asOf, find, nil).text())
	watermark := m.watermark()
	qb := drillQuery(table, feeding, units, asOf, find, &watermark)

	reported := ind.Kind.Reported()
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

// scoreAtOneCommit scores unit at the commit markers it returns: it reads
// them, scores with the snapshots cached under them (or read afresh), and
// reads them again; a commit in between makes it start again.
func (e *Engine) scoreAtOneCommit(ctx context.Context, unit string, q Query) (*UnitScore, mark, error) {
	if e.Store.pinned != nil {
		score, err := e.Unit(ctx, unit, q)
		return score, *e.Store.pinned, err
	}
	for try := 1; ; try++ {
		m, err := e.Store.readMark(ctx)
		if err != nil {
			return nil, "", err
		}
		at := *e
		at.Store = &Store{db: e.Store.db, cache: e.Store.cache, pinned: &m}
		if e.Store.cache == nil {
			at.Store = e.Store
		}
		score, err := at.Unit(ctx, unit, q)
		if err != nil {
			return nil, "", err
		}
		again, err := e.Store.readMark(ctx)
		if err != nil {
			return nil, "", err
		}
		if again == m {
			return score, m, nil
		}
		if try == maxSnapshotTries {
			return nil, "", fmt.Errorf("drill-down: %d commits came in while reading the score; try again", try)
		}
	}
}

// watermark is the last stream sequence folded at m: the sum of n over the
// marker units (projector/doc.go: the index markers add 0).
func (m mark) watermark() uint64 {
	var w uint64
	for _, entry := range strings.Split(string(m), ";") {
		f := strings.Fields(entry)
		if len(f) < 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			w += n
		}
	}
	return w
}

// query is a drill-down query, with ? placeholders and their arguments in
// order.
type query struct {
	inner     string // one row per natural key: its latest valid event
	innerArgs []any
	where     string // filter on the latest event
	whereArgs []any
}

// drillQuery builds the query of the events feeding f. A non-nil upTo
// keeps the events of cds.events folded up to that stream sequence (the
// committed snapshot); the SQL shown to analysts has none.
func drillQuery(table string, f events.Feeding, units []string, asOf registry.Date, find Find, upTo *uint64) query {
	var q query
	keyExpr := "visitParamExtractString(data, ?)"
	if f.KeyIsNumber() {
		keyExpr = "toString(visitParamExtractUInt(data, ?))"
	}
	if f.Scope == events.ScopeAgency {
		keyExpr = "concat(agency, '/', " + keyExpr + ")"
	}
	q.innerArgs = append(q.innerArgs, f.Key)
	// Aliases differ from the columns: an alias named like a column would
	// replace it inside the other aggregates.
	latest := func(col string) string { return "argMax(" + col + ", (occurred_at, cityHash64(id))) AS ev_" + col }
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s AS key, %s, %s, %s, max(occurred_at) AS at, %s, %s\n", keyExpr,
		latest("id"), latest("type"), latest("agency"), latest("supersedes"), latest("data"))
	fmt.Fprintf(&b, "  FROM %s\n  WHERE type IN ? AND retraction = 0 AND toDate(occurred_at) <= toDate(?)\n", table)
	q.innerArgs = append(q.innerArgs, set(f.Types), asOf.String())
	if units != nil {
		b.WriteString("    AND agency IN ?\n")
		q.innerArgs = append(q.innerArgs, set(units))
	}
	if upTo != nil {
		b.WriteString("    AND seq <= ?\n")
		q.innerArgs = append(q.innerArgs, *upTo)
	}
	fmt.Fprintf(&b, "    AND (agency, id) NOT IN (SELECT agency, supersedes FROM %s WHERE supersedes != ''", table)
	if upTo != nil {
		b.WriteString(" AND seq <= ?")
		q.innerArgs = append(q.innerArgs, *upTo)
	}
	b.WriteString(")\n  GROUP BY key")
	q.inner = b.String()
	switch {
	case f.Period == events.PeriodOccurred:
		q.where = "toYear(at) = ?"
		q.whereArgs = append(q.whereArgs, asOf.Year())
	case f.Period == events.PeriodNone && len(f.Removes) > 0:
		q.where = "ev_type NOT IN ?"
		q.whereArgs = append(q.whereArgs, set(f.Removes))
	default:
		q.where = "1"
	}
	if find.ID != "" {
		q.where += " AND ev_id = ?"
		q.whereArgs = append(q.whereArgs, find.ID)
	}
	if find.Key != "" {
		q.where += " AND key = ?"
		q.whereArgs = append(q.whereArgs, find.Key)
	}
	return q
}

// args returns the arguments of the query's placeholders, in order.
func (q query) args() []any { return append(append([]any(nil), q.innerArgs...), q.whereArgs...) }

// text returns the listing query and its arguments.
func (q query) text() (string, []any) {
	return "SELECT ev_id AS id, ev_type AS type, ev_agency AS agency, at AS occurred_at, ev_supersedes AS supersedes, key, ev_data AS data FROM (\n" +
		q.inner + "\n) WHERE " + q.where + "\nORDER BY occurred_at, id", q.args()
}

// inline renders a query with its arguments written in, for analysts to
// run as it is. The drill-down's SQL has no ? but its placeholders.
func inline(sql string, args []any) string {
	var b strings.Builder
	i := 0
	for _, r := range sql {
		if r != '?' || i >= len(args) {
			b.WriteRune(r)
			continue
		}
		b.WriteString(literal(args[i]))
		i++
	}
	return b.String()
}

// literal writes v as ClickHouse SQL.
func literal(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x) + "'"
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case clickhouse.GroupSet:
		q := make([]string, len(x.Value))
		for i, v := range x.Value {
			q[i] = literal(v)
		}
		return "(" + strings.Join(q, ", ") + ")"
	}
	return fmt.Sprint(v)
}

func (s *Store) contributors(ctx context.Context, q query, all bool, offset, limit int) ([]Contributor, error) {
	sql, args := q.text()
	if !all {
		sql += "\nLIMIT ?, ?"
		args = append(args, offset, limit)
	}
	rows, err := s.db.Query(ctx, sql, args...)
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
	if err := s.db.QueryRow(ctx, "SELECT count() FROM (\n"+q.inner+"\n) WHERE "+q.where, q.args()...).Scan(&n); err != nil {
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
