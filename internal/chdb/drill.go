package chdb

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// DrillFilter says which events of cds.events a drill-down lists: per
// natural key, its latest valid event (by occurred_at, then cityHash64(id))
// up to AsOf, leaving out retractions and events superseded by a correction
// of the same agency, then filtered on that latest event.
type DrillFilter struct {
	Types        []string // the event types feeding the indicator
	Entity       string   // their entity (events.TypeSpec.Entity): what cds.drill_list is read by
	KeyField     string   // the data field of the natural key
	KeyIsNumber  bool     // the key field is a number
	AgencyScoped bool     // the natural key is agency/key
	Units        []string // the agencies whose events count; nil: every agency
	AsOf         string   // YYYY-MM-DD, province time
	// UpTo, when not nil, keeps the events folded up to that stream
	// sequence (a committed snapshot); the SQL shown to analysts has none.
	UpTo    *uint64
	Year    int      // not 0: only keys whose latest event occurred in Year (a flow)
	Removes []string // only keys whose latest event is of none of these types (a stock)
	ID      string   // not "": only that event
	Key     string   // not "": only that natural key
}

// drillQuery is a drill-down query, with ? placeholders and their
// arguments in order.
type drillQuery struct {
	inner     string // one row per natural key: its latest valid event
	innerArgs []any
	// key is the natural key's expression, with one placeholder (the
	// key field); from, the FROM and WHERE of the valid events read, with
	// fromArgs.
	key       string
	from      string
	fromArgs  []any
	where     string // filter on the latest event
	whereArgs []any
}

// drillShape says how drillQuery writes the query.
type drillShape struct {
	// data carries the latest event's data through the aggregation (the
	// query analysts run, and the query before issue 14); without it the
	// listing leaves data out and DrillRows reads it for the page alone.
	data bool
	// yearBound reads, for a flow (Year), only the events from 1 January
	// of Year: a key whose latest event falls in Year has that event among
	// them, and no event after as_of counts, so its latest event is the
	// same (docs/analysts.md, "The drill-down's query").
	yearBound bool
	// ownSupersedes looks for correcting events among Units' only: an event
	// superseded by another agency's does not leave the list anyway.
	ownSupersedes bool
	// oneArgMax takes the latest event's columns with one argMax of a
	// tuple (without data only).
	oneArgMax bool
}

// currentShape is the query the API runs; analystShape the one it shows.
var (
	currentShape  = drillShape{yearBound: true, ownSupersedes: true, oneArgMax: true}
	analystShape  = drillShape{data: true, yearBound: true, ownSupersedes: true}
	baselineShape = drillShape{data: true}
)

func (db *DB) drillQuery(f DrillFilter, shape drillShape) drillQuery {
	var q drillQuery
	table := db.Table("events")
	keyExpr := "visitParamExtractString(data, ?)"
	if f.KeyIsNumber {
		keyExpr = "toString(visitParamExtractUInt(data, ?))"
	}
	if f.AgencyScoped {
		keyExpr = "concat(agency, '/', " + keyExpr + ")"
	}
	q.innerArgs = append(q.innerArgs, f.KeyField)
	// Aliases differ from the columns: an alias named like a column would
	// replace it inside the other aggregates.
	var b strings.Builder
	if shape.oneArgMax {
		// One aggregate of the latest event's columns: a tuple comparison
		// per row instead of one per column.
		fmt.Fprintf(&b, "SELECT key, tupleElement(ev, 1) AS ev_id, tupleElement(ev, 2) AS ev_type, tupleElement(ev, 3) AS ev_agency, at, tupleElement(ev, 4) AS ev_supersedes FROM (\n"+
			"SELECT %s AS key, argMax((id, type, agency, supersedes), (occurred_at, cityHash64(id))) AS ev, max(occurred_at) AS at", keyExpr)
	} else {
		latest := func(col string) string { return "argMax(" + col + ", (occurred_at, cityHash64(id))) AS ev_" + col }
		fmt.Fprintf(&b, "SELECT %s AS key, %s, %s, %s, max(occurred_at) AS at, %s", keyExpr,
			latest("id"), latest("type"), latest("agency"), latest("supersedes"))
		if shape.data {
			b.WriteString(", " + latest("data"))
		}
	}
	fromAt := b.Len()
	fmt.Fprintf(&b, "\n  FROM %s\n  WHERE type IN ? AND retraction = 0 AND toDate(occurred_at) <= toDate(?)\n", table)
	q.innerArgs = append(q.innerArgs, Set(f.Types), f.AsOf)
	if f.Year != 0 && shape.yearBound {
		b.WriteString("    AND toDate(occurred_at) >= toDate(?)\n")
		q.innerArgs = append(q.innerArgs, fmt.Sprintf("%04d-01-01", f.Year))
	}
	if f.Units != nil {
		b.WriteString("    AND agency IN ?\n")
		q.innerArgs = append(q.innerArgs, Set(f.Units))
	}
	if f.UpTo != nil {
		b.WriteString("    AND seq <= ?\n")
		q.innerArgs = append(q.innerArgs, *f.UpTo)
	}
	fmt.Fprintf(&b, "    AND (agency, id) NOT IN (SELECT agency, supersedes FROM %s WHERE supersedes != ''", table)
	if f.Units != nil && shape.ownSupersedes {
		b.WriteString(" AND agency IN ?")
		q.innerArgs = append(q.innerArgs, Set(f.Units))
	}
	if f.UpTo != nil {
		b.WriteString(" AND seq <= ?")
		q.innerArgs = append(q.innerArgs, *f.UpTo)
	}
	b.WriteString(")")
	q.key, q.from, q.fromArgs = keyExpr, b.String()[fromAt:], q.innerArgs[1:]
	b.WriteString("\n  GROUP BY key")
	if shape.oneArgMax {
		b.WriteString("\n)")
	}
	q.inner = b.String()
	switch {
	case f.Year != 0:
		q.where = "toYear(at) = ?"
		q.whereArgs = append(q.whereArgs, f.Year)
	case len(f.Removes) > 0:
		q.where = "ev_type NOT IN ?"
		q.whereArgs = append(q.whereArgs, Set(f.Removes))
	default:
		q.where = "1"
	}
	if f.ID != "" {
		q.where += " AND ev_id = ?"
		q.whereArgs = append(q.whereArgs, f.ID)
	}
	if f.Key != "" {
		q.where += " AND key = ?"
		q.whereArgs = append(q.whereArgs, f.Key)
	}
	return q
}

// args returns the arguments of the query's placeholders, in order.
func (q drillQuery) args() []any { return append(append([]any(nil), q.innerArgs...), q.whereArgs...) }

// text returns the listing query and its arguments; with data, the
// events' data is its last column.
func (q drillQuery) text(data bool) (string, []any) {
	cols := "ev_id AS id, ev_type AS type, ev_agency AS agency, at AS occurred_at, ev_supersedes AS supersedes, key"
	if data {
		cols += ", ev_data AS data"
	}
	return "SELECT " + cols + " FROM (\n" + q.inner + "\n) WHERE " + q.where + "\nORDER BY occurred_at, cityHash64(id), agency, id", q.args()
}

// DrillSQL is the listing query of f with its arguments written in, for
// analysts to run as it is.
func (db *DB) DrillSQL(f DrillFilter) string {
	return Inline(db.drillQuery(f, analystShape).text(true))
}

// DrillRow is one event a drill-down lists: the latest event of its key.
type DrillRow struct {
	ID, Type, Agency, Supersedes string
	OccurredAt                   time.Time
	Key                          string // the natural key
	Data                         string // the data object as JSON text
}

// DrillRows lists the events of f by occurred_at then cityHash64(id) (the
// order of a key's timeline, and of cds.drill_list), then agency: all of them, or
// limit from offset. The listing carries no data; the data of the rows it
// returns is read afterwards by their place in the table's order.
func (db *DB) DrillRows(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]DrillRow, error) {
	out, err := db.drillRows(ctx, f, currentShape, all, offset, limit)
	if err != nil {
		return nil, err
	}
	if err := db.drillData(ctx, out); err != nil {
		return nil, fmt.Errorf("drill-down data: %w", err)
	}
	return out, nil
}

// BaselineDrillRows is DrillRows with the query of before issue 14: every
// event of the types read, data carried through the aggregation. It
// answers the same rows; cds bench times the two on the same data.
func (db *DB) BaselineDrillRows(ctx context.Context, f DrillFilter, offset, limit int) ([]DrillRow, error) {
	return db.drillRows(ctx, f, baselineShape, false, offset, limit)
}

func (db *DB) drillRows(ctx context.Context, f DrillFilter, shape drillShape, all bool, offset, limit int) ([]DrillRow, error) {
	sql, args := db.drillQuery(f, shape).text(shape.data)
	if !all {
		sql += "\nLIMIT ?, ?"
		args = append(args, offset, limit)
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DrillRow
	for rows.Next() {
		var r DrillRow
		dest := []any{&r.ID, &r.Type, &r.Agency, &r.OccurredAt, &r.Supersedes, &r.Key}
		if shape.data {
			dest = append(dest, &r.Data)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// drillData fills in the data of rows, read by their agencies, types,
// span of occurred_at (a prefix of the table's key: a few granules for a
// page) and ids.
func (db *DB) drillData(ctx context.Context, rows []DrillRow) error {
	if len(rows) == 0 {
		return nil
	}
	agencies, types, ids := map[string]bool{}, map[string]bool{}, map[string]bool{}
	lo, hi := rows[0].OccurredAt, rows[0].OccurredAt
	for _, r := range rows {
		agencies[r.Agency], types[r.Type], ids[r.ID] = true, true, true
		if r.OccurredAt.Before(lo) {
			lo = r.OccurredAt
		}
		if r.OccurredAt.After(hi) {
			hi = r.OccurredAt
		}
	}
	q := "SELECT agency, id, data FROM " + db.Table("events") +
		"\n  WHERE agency IN ? AND type IN ? AND occurred_at >= toDateTime(?) AND occurred_at <= toDateTime(?) AND id IN ? AND retraction = 0"
	res, err := db.Query(ctx, q, Set(keys(agencies)), Set(keys(types)), uint32(lo.Unix()), uint32(hi.Unix()), Set(keys(ids)))
	if err != nil {
		return err
	}
	defer res.Close()
	data := make(map[[2]string]string, len(rows))
	for res.Next() {
		var agency, id, d string
		if err := res.Scan(&agency, &id, &d); err != nil {
			return err
		}
		data[[2]string{agency, id}] = d
	}
	if err := res.Err(); err != nil {
		return err
	}
	for i := range rows {
		d, ok := data[[2]string{rows[i].Agency, rows[i].ID}]
		if !ok {
			return fmt.Errorf("event %s of %s not found in %s", rows[i].ID, rows[i].Agency, db.Table("events"))
		}
		rows[i].Data = d
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DrillCount counts the events of f.
//
// For a flow of as_of's year, with no id or key to find, it counts the
// keys instead: the events it reads (the year's up to as_of) all fall in
// the year, so every key among them has its latest event there, and no
// latest event needs to be found.
func (db *DB) DrillCount(ctx context.Context, f DrillFilter) (uint64, error) {
	q := db.drillQuery(f, currentShape)
	sql := "SELECT count() FROM (\n" + q.inner + "\n) WHERE " + q.where
	args := q.args()
	if f.Year != 0 && strings.HasPrefix(f.AsOf, fmt.Sprintf("%04d-", f.Year)) && f.ID == "" && f.Key == "" {
		sql, args = db.keyCount(f)
	}
	var n uint64
	if err := db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}

// keyCount counts the keys of f's valid events of its year up to as_of.
func (db *DB) keyCount(f DrillFilter) (string, []any) {
	q := db.drillQuery(f, currentShape)
	return "SELECT uniqExact(" + q.key + ")" + q.from, append([]any{f.KeyField}, q.fromArgs...)
}
