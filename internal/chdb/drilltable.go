package chdb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/events"
)

// The drill-down table, cds.drill (migrations/0017_drill.sql; docs/design.md,
// "The drill-down table"): one row per event that entered its key's
// timeline, with next_at, the occurred_at of the next valid event of the
// key. A drill-down page at as_of is the rows with occurred_at <= as_of <
// next_at: no grouping over the unit's events, no JSON. The projector
// writes the rows of each batch before its commit marker (projector/
// drill.go), with one marker row (entity '') whose seq is the commit; its
// recovery refills the table from cds.events (RefillDrill) when the marker
// is not the committed position or rows of an unfinished batch are there.

// DrillNoNext is next_at of the latest event of its key: the largest
// DateTime, 2106-02-07 06:28:15 UTC.
const DrillNoNext = 1<<32 - 1

// DrillColumns are rows of cds.drill, column-wise.
type DrillColumns struct {
	Entity, Agency     []string
	OccurredAt, NextAt []uint32 // unix seconds
	Tie, Seq           []uint64
	Removes            []uint8
}

// Add appends one row.
func (c *DrillColumns) Add(entity, agency string, at, next uint32, tie uint64, removes bool, seq uint64) {
	var r uint8
	if removes {
		r = 1
	}
	c.Entity, c.Agency = append(c.Entity, entity), append(c.Agency, agency)
	c.OccurredAt, c.NextAt = append(c.OccurredAt, at), append(c.NextAt, next)
	c.Tie, c.Seq, c.Removes = append(c.Tie, tie), append(c.Seq, seq), append(c.Removes, r)
}

// AddMarker appends the table's marker row: the commit of seq.
func (c *DrillColumns) AddMarker(seq uint64) { c.Add("", "", 0, 0, 0, false, seq) }

// Len is the number of rows in c.
func (c *DrillColumns) Len() int { return len(c.Entity) }

const insertDrillSQL = "INSERT INTO %s (entity, agency, occurred_at, tie, next_at, removes, seq)"

// InsertDrill writes c into cds.drill in one INSERT under queryID (see
// InsertEvents). Nothing is sent for no rows.
func (db *DB) InsertDrill(ctx context.Context, queryID string, c *DrillColumns) error {
	if c.Len() == 0 {
		return nil
	}
	at, next := make([]time.Time, len(c.OccurredAt)), make([]time.Time, len(c.NextAt))
	for i := range at {
		at[i], next[i] = time.Unix(int64(c.OccurredAt[i]), 0), time.Unix(int64(c.NextAt[i]), 0)
	}
	return db.insertColumns(ctx, queryID, fmt.Sprintf(insertDrillSQL, db.Table("drill")),
		[]any{c.Entity, c.Agency, at, c.Tie, next, c.Removes, c.Seq})
}

// DrillState reads the commit cds.drill's marker says it reflects (0 when
// it has none) and counts its rows written by sequences above seq (an
// unfinished batch), in one query.
func (db *DB) DrillState(ctx context.Context, seq uint64) (mark, above uint64, err error) {
	q := "SELECT maxIf(seq, entity = ''), countIf(seq > ?) FROM " + db.Table("drill")
	if err := db.QueryRow(ctx, q, seq).Scan(&mark, &above); err != nil {
		return 0, 0, fmt.Errorf("read the marker of cds.drill: %w", err)
	}
	return mark, above, nil
}

// drillMark reads the commit cds.drill's marker says it reflects.
func (db *DB) drillMark(ctx context.Context) (uint64, error) {
	var m uint64
	if err := db.QueryRow(ctx, "SELECT max(seq) FROM "+db.Table("drill")+" WHERE entity = ''").Scan(&m); err != nil {
		return 0, fmt.Errorf("read the marker of cds.drill: %w", err)
	}
	return m, nil
}

// drillRefillSQL fills the rows of one entity from cds.events up to a
// sequence: per natural key (%[3]s), its valid events sorted as the fold
// sorts a timeline, each with the occurred_at of the next one. Retracted
// and superseded events get no row: they never count. %[1]s is cds.drill,
// %[2]s cds.events.
const drillRefillSQL = `INSERT INTO %[1]s (entity, agency, occurred_at, tie, next_at, removes, seq)
SELECT ? AS entity, tupleElement(ev, 3) AS agency, tupleElement(ev, 1) AS occurred_at, tupleElement(ev, 2) AS tie,
       next_at, tupleElement(ev, 4) AS removes, ? AS seq
FROM (
  SELECT arraySort(groupArray((occurred_at, cityHash64(id), agency, toUInt8(type IN ?)))) AS evs,
         arrayPushBack(arrayPopFront(arrayMap(x -> tupleElement(x, 1), evs)), toDateTime(?)) AS nexts
  FROM %[2]s
  WHERE type IN ? AND retraction = 0 AND seq <= ?
    AND (agency, id) NOT IN (SELECT agency, supersedes FROM %[2]s WHERE supersedes != '' AND seq <= ?)
  GROUP BY %[3]s
)
ARRAY JOIN evs AS ev, nexts AS next_at`

// RefillDrill empties cds.drill and fills it from cds.events up to seq:
// the rows of every entity, then the marker of seq, so that a reader
// trusts the table only once every row is in. Nothing else may write
// cds.events or cds.drill meanwhile (the projector calls it in its
// recovery).
func (db *DB) RefillDrill(ctx context.Context, seq uint64) error {
	if err := db.Exec(ctx, "TRUNCATE TABLE "+db.Table("drill")); err != nil {
		return fmt.Errorf("truncate drill: %w", err)
	}
	if seq == 0 {
		return nil
	}
	for _, e := range drillEntities() {
		q := fmt.Sprintf(drillRefillSQL, db.Table("drill"), db.Table("events"), drillKeyExpr(e.keyIsNumber, e.scoped))
		if err := db.Exec(ctx, q, e.name, seq, Set(e.removes), uint32(DrillNoNext), Set(e.types), seq, seq, e.key); err != nil {
			return fmt.Errorf("fill cds.drill with entity %s from cds.events: %w", e.name, err)
		}
	}
	var c DrillColumns
	c.AddMarker(seq)
	if err := db.InsertDrill(ctx, "", &c); err != nil {
		return fmt.Errorf("mark cds.drill at seq %d: %w", seq, err)
	}
	return nil
}

// drillEntity is what the refill needs of an entity of events.Types.
type drillEntity struct {
	name, key           string
	keyIsNumber, scoped bool
	types, removes      []string
}

// drillEntities returns the entities of the event types, sorted by name.
func drillEntities() []drillEntity {
	by := map[string]*drillEntity{}
	var names []string
	for _, t := range events.Types() {
		e, ok := by[t.Entity]
		if !ok {
			f := events.Feeding{Key: t.Key}
			e = &drillEntity{name: t.Entity, key: t.Key, keyIsNumber: f.KeyIsNumber(), scoped: t.Scope == events.ScopeAgency}
			by[t.Entity] = e
			names = append(names, t.Entity)
		}
		e.types = append(e.types, t.Name)
		if t.Removes {
			e.removes = append(e.removes, t.Name)
		}
	}
	sort.Strings(names)
	out := make([]drillEntity, 0, len(names))
	for _, n := range names {
		out = append(out, *by[n])
	}
	return out
}

// drillKeyExpr is the natural key's expression in SQL, with one
// placeholder: the key field.
func drillKeyExpr(number, scoped bool) string {
	expr := "visitParamExtractString(data, ?)"
	if number {
		expr = "toString(visitParamExtractUInt(data, ?))"
	}
	if scoped {
		expr = "concat(agency, '/', " + expr + ")"
	}
	return expr
}

// ErrDrillMoved is returned by DrillTableRows and DrillTableCount when the
// marker of cds.drill is past the commit the filter is read at (UpTo): a
// commit landed meanwhile, or one is being written (its drill rows land
// before its commit marker). The caller reads the commit markers again.
var ErrDrillMoved = errors.New("cds.drill is past the commit read")

// ErrDrillBehind is returned by DrillTableRows and DrillTableCount when the
// marker of cds.drill is before the commit the filter is read at: the
// projector has not refilled it since an upgrade or a failed batch. The
// caller runs DrillRows.
var ErrDrillBehind = errors.New("cds.drill is behind the commit read")

// ErrDrillFilter is returned by DrillTableRows and DrillTableCount for a
// filter cds.drill does not answer: without Entity or UpTo, with ID or Key,
// or a province-wide key (not AgencyScoped) read for some units only,
// whose latest event DrillRows looks for among those units' events alone
// while the table follows the key's timeline over every agency (the two
// differ only for events of province types sent by units that do not
// report for the province, which the gate refuses). The caller runs
// DrillRows.
var ErrDrillFilter = errors.New("cds.drill answers drill-downs of one entity at a commit (Entity and UpTo), without ID or Key, and of province-wide keys for every unit only")

// drillTableWhere is the filter of f on cds.drill, after FINAL (a condition
// on next_at or removes must not be read before the versions are
// resolved), and its arguments.
func drillTableWhere(f DrillFilter) (string, []any, error) {
	if f.Entity == "" || f.UpTo == nil || f.ID != "" || f.Key != "" || (!f.AgencyScoped && f.Units != nil) {
		return "", nil, ErrDrillFilter
	}
	day, err := time.ParseInLocation("2006-01-02", f.AsOf, events.Zone)
	if err != nil {
		return "", nil, fmt.Errorf("drill-down as_of %q: %w", f.AsOf, err)
	}
	// Up to as_of's day in province time, and the next event after it.
	end := uint32(day.AddDate(0, 0, 1).Unix())
	var b strings.Builder
	b.WriteString("entity = ? AND occurred_at < toDateTime(?) AND next_at >= toDateTime(?)")
	args := []any{f.Entity, end, end}
	if f.Units != nil {
		b.WriteString(" AND agency IN ?")
		args = append(args, Set(f.Units))
	}
	switch {
	case f.Year != 0:
		b.WriteString(" AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)")
		args = append(args, uint32(time.Date(f.Year, 1, 1, 0, 0, 0, 0, events.Zone).Unix()), uint32(time.Date(f.Year+1, 1, 1, 0, 0, 0, 0, events.Zone).Unix()))
	case len(f.Removes) > 0:
		b.WriteString(" AND removes = 0")
	}
	return b.String(), args, nil
}

// noPrewhere keeps the conditions of a FINAL read in WHERE: moved to
// PREWHERE they would be read before the versions are resolved.
func noPrewhere(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_move_to_prewhere": 0}))
}

// atMark runs read between two reads of cds.drill's marker, and returns
// ErrDrillMoved or ErrDrillBehind unless both are the commit f is read at:
// a commit's rows and its marker land in one part, so a read that saw a
// later commit's rows sees its marker after.
func (db *DB) atMark(ctx context.Context, f DrillFilter, read func() error) error {
	for i := range 2 {
		m, err := db.drillMark(ctx)
		if err != nil {
			return err
		}
		if m > *f.UpTo {
			return fmt.Errorf("%w: marker at %d, read at %d", ErrDrillMoved, m, *f.UpTo)
		}
		if m < *f.UpTo {
			return fmt.Errorf("%w: marker at %d, read at %d", ErrDrillBehind, m, *f.UpTo)
		}
		if i == 0 {
			if err := read(); err != nil {
				return err
			}
		}
	}
	return nil
}

// DrillTableRows is DrillRows read from cds.drill: the rows of f by
// occurred_at then cityHash64(id) (all, or limit from offset), then their
// ids, types, keys and data from cds.events by their place in its order.
// It returns ErrDrillMoved or ErrDrillBehind when the table is not at
// f.UpTo.
func (db *DB) DrillTableRows(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]DrillRow, error) {
	where, args, err := drillTableWhere(f)
	if err != nil {
		return nil, err
	}
	q := "SELECT agency, toUnixTimestamp(occurred_at), tie FROM " + db.Table("drill") + " FINAL\nWHERE " + where +
		"\nORDER BY occurred_at, tie, agency"
	if !all {
		q += "\nLIMIT ?, ?"
		args = append(args, offset, limit)
	}
	var page []drillRef
	err = db.atMark(ctx, f, func() error {
		rows, err := db.Query(noPrewhere(ctx), q, args...)
		if err != nil {
			return fmt.Errorf("read cds.drill: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r drillRef
			if err := rows.Scan(&r.agency, &r.at, &r.tie); err != nil {
				return fmt.Errorf("read cds.drill: %w", err)
			}
			page = append(page, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return db.drillEvents(ctx, f, page)
}

// drillRef is a row of cds.drill: an event by agency, occurred_at and
// cityHash64 of its id.
type drillRef struct {
	agency string
	at     uint32
	tie    uint64
}

// drillEvents reads the events of page from cds.events, in page's order:
// by their agencies, types and span of occurred_at (a prefix of the
// table's key) and the hashes of their ids.
func (db *DB) drillEvents(ctx context.Context, f DrillFilter, page []drillRef) ([]DrillRow, error) {
	if len(page) == 0 {
		return nil, nil
	}
	agencies, ties := map[string]bool{}, clickhouse.GroupSet{Value: make([]any, 0, len(page))}
	lo, hi := page[0].at, page[0].at
	for _, r := range page {
		agencies[r.agency] = true
		ties.Value = append(ties.Value, r.tie)
		lo, hi = min(lo, r.at), max(hi, r.at)
	}
	q := "SELECT id, type, agency, occurred_at, supersedes, " + drillKeyExpr(f.KeyIsNumber, f.AgencyScoped) + " AS key, data, cityHash64(id) AS h FROM " + db.Table("events") +
		"\n  WHERE agency IN ? AND type IN ? AND occurred_at >= toDateTime(?) AND occurred_at <= toDateTime(?) AND h IN ? AND retraction = 0 AND seq <= ?"
	rows, err := db.Query(ctx, q, f.KeyField, Set(keys(agencies)), Set(f.Types), lo, hi, ties, *f.UpTo)
	if err != nil {
		return nil, fmt.Errorf("drill-down events: %w", err)
	}
	defer rows.Close()
	found := make(map[drillRef]DrillRow, len(page))
	for rows.Next() {
		var r DrillRow
		var h uint64
		if err := rows.Scan(&r.ID, &r.Type, &r.Agency, &r.OccurredAt, &r.Supersedes, &r.Key, &r.Data, &h); err != nil {
			return nil, fmt.Errorf("drill-down events: %w", err)
		}
		found[drillRef{r.Agency, uint32(r.OccurredAt.Unix()), h}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drill-down events: %w", err)
	}
	out := make([]DrillRow, 0, len(page))
	for _, p := range page {
		r, ok := found[p]
		if !ok {
			return nil, fmt.Errorf("drill-down: the event of %s at %d with id hash %d is in cds.drill but not in cds.events", p.agency, p.at, p.tie)
		}
		out = append(out, r)
	}
	return out, nil
}

// DrillTableCount is DrillCount read from cds.drill; ErrDrillMoved or
// ErrDrillBehind when the table is not at f.UpTo.
func (db *DB) DrillTableCount(ctx context.Context, f DrillFilter) (uint64, error) {
	where, args, err := drillTableWhere(f)
	if err != nil {
		return 0, err
	}
	var n uint64
	err = db.atMark(ctx, f, func() error {
		if err := db.QueryRow(noPrewhere(ctx), "SELECT count() FROM "+db.Table("drill")+" FINAL WHERE "+where, args...).Scan(&n); err != nil {
			return fmt.Errorf("count cds.drill: %w", err)
		}
		return nil
	})
	return n, err
}
