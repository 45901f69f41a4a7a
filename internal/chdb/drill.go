package chdb

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DrillFilter says which events of cds.events a drill-down lists: per
// natural key, its latest valid event (by occurred_at, then cityHash64(id))
// up to AsOf, leaving out retractions and events superseded by a correction
// of the same agency, then filtered on that latest event.
type DrillFilter struct {
	Types        []string // the event types feeding the indicator
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
	where     string // filter on the latest event
	whereArgs []any
}

func (db *DB) drillQuery(f DrillFilter) drillQuery {
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
	latest := func(col string) string { return "argMax(" + col + ", (occurred_at, cityHash64(id))) AS ev_" + col }
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s AS key, %s, %s, %s, max(occurred_at) AS at, %s, %s\n", keyExpr,
		latest("id"), latest("type"), latest("agency"), latest("supersedes"), latest("data"))
	fmt.Fprintf(&b, "  FROM %s\n  WHERE type IN ? AND retraction = 0 AND toDate(occurred_at) <= toDate(?)\n", table)
	q.innerArgs = append(q.innerArgs, Set(f.Types), f.AsOf)
	if f.Units != nil {
		b.WriteString("    AND agency IN ?\n")
		q.innerArgs = append(q.innerArgs, Set(f.Units))
	}
	if f.UpTo != nil {
		b.WriteString("    AND seq <= ?\n")
		q.innerArgs = append(q.innerArgs, *f.UpTo)
	}
	fmt.Fprintf(&b, "    AND (agency, id) NOT IN (SELECT agency, supersedes FROM %s WHERE supersedes != ''", table)
	if f.UpTo != nil {
		b.WriteString(" AND seq <= ?")
		q.innerArgs = append(q.innerArgs, *f.UpTo)
	}
	b.WriteString(")\n  GROUP BY key")
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

// text returns the listing query and its arguments.
func (q drillQuery) text() (string, []any) {
	return "SELECT ev_id AS id, ev_type AS type, ev_agency AS agency, at AS occurred_at, ev_supersedes AS supersedes, key, ev_data AS data FROM (\n" +
		q.inner + "\n) WHERE " + q.where + "\nORDER BY occurred_at, id", q.args()
}

// DrillSQL is the listing query of f with its arguments written in, for
// analysts to run as it is.
func (db *DB) DrillSQL(f DrillFilter) string { return Inline(db.drillQuery(f).text()) }

// DrillRow is one event a drill-down lists: the latest event of its key.
type DrillRow struct {
	ID, Type, Agency, Supersedes string
	OccurredAt                   time.Time
	Key                          string // the natural key
	Data                         string // the data object as JSON text
}

// DrillRows lists the events of f by occurred_at then id: all of them, or
// limit from offset.
func (db *DB) DrillRows(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]DrillRow, error) {
	sql, args := db.drillQuery(f).text()
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
		if err := rows.Scan(&r.ID, &r.Type, &r.Agency, &r.OccurredAt, &r.Supersedes, &r.Key, &r.Data); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DrillCount counts the events of f.
func (db *DB) DrillCount(ctx context.Context, f DrillFilter) (uint64, error) {
	q := db.drillQuery(f)
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM (\n"+q.inner+"\n) WHERE "+q.where, q.args()...).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}
