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

// The drill-down tables (docs/design.md, "The drill-down table"):
// cds.drill_list (migrations/0019_drill_list.sql), one row per event that
// entered its key's timeline, with next_at, the occurred_at of the next
// valid event of the key, ordered by (entity, occurred_at, tie, agency);
// and cds.drill_days (0020), those rows counted per (entity, agency, day,
// next_day, removes). A drill-down page at as_of is the rows with
// occurred_at <= as_of < next_at: its total is a sum over cds.drill_days,
// no FINAL; its page reads the counts per day, finds the days that hold
// rows offset to offset+limit, and reads only those days of
// cds.drill_list under FINAL. The projector writes the rows and the
// counts' deltas of each batch before its commit marker (projector/
// drill.go), each table with its marker at the commit in the same INSERT;
// its recovery refills both from cds.events (RefillDrill) when a marker is
// not the committed position or rows of an unfinished batch are there.

// DrillNoNext is next_at of the latest event of its key: the largest
// DateTime, 2106-02-07 06:28:15 UTC.
const DrillNoNext = 1<<32 - 1

// zoneOffset is the offset of province time (events.Zone, a fixed zone)
// from UTC, in seconds.
var zoneOffset = func() int64 {
	_, off := time.Unix(0, 0).In(events.Zone).Zone()
	return int64(off)
}()

// drillDay is the day of unix second at in province time, counted from
// 1970-01-01: cds.drill_days' day and next_day.
func drillDay(at uint32) uint32 { return uint32((int64(at) + zoneOffset) / 86400) }

// drillDaySQL is drillDay in SQL, of a DateTime expression.
func drillDaySQL(expr string) string {
	return fmt.Sprintf("toUInt32(intDiv(toUInt64(%s) + %d, 86400))", expr, zoneOffset)
}

// DrillColumns are rows of cds.drill_list, column-wise, and the deltas of
// cds.drill_days they make.
type DrillColumns struct {
	Entity, Agency     []string
	OccurredAt, NextAt []uint32 // unix seconds
	Tie, Seq           []uint64
	Removes            []uint8
	days               map[drillDayKey]int64
	mark, prev         uint64 // the marker's commit and the one before (AddMarker)
}

// drillDayKey is a row of cds.drill_days but its count.
type drillDayKey struct {
	entity, agency string
	day, next      uint32
	removes        uint8
}

// Add appends one row: the entry at of entity and agency, whose next entry
// is at next and was at before (at for an entry not in its timeline
// before), so that cds.drill_days moves its count from (at, before) to
// (at, next).
func (c *DrillColumns) Add(entity, agency string, at, next, before uint32, tie uint64, removes bool, seq uint64) {
	var r uint8
	if removes {
		r = 1
	}
	c.Entity, c.Agency = append(c.Entity, entity), append(c.Agency, agency)
	c.OccurredAt, c.NextAt = append(c.OccurredAt, at), append(c.NextAt, next)
	c.Tie, c.Seq, c.Removes = append(c.Tie, tie), append(c.Seq, seq), append(c.Removes, r)
	day, was, now := drillDay(at), drillDay(before), drillDay(next)
	if was == now {
		return
	}
	if c.days == nil {
		c.days = map[drillDayKey]int64{}
	}
	// A row whose next_at is on its own day (or before) never counts.
	// Counted for its agency, and for every agency (agency '').
	for _, a := range []string{agency, ""} {
		if was > day {
			c.days[drillDayKey{entity, a, day, was, r}]--
		}
		if now > day {
			c.days[drillDayKey{entity, a, day, now, r}]++
		}
	}
}

// AddMarker appends the tables' markers: the commit of seq, which
// continues the commit of prev (the tables' marker before it; 0 for empty
// tables).
func (c *DrillColumns) AddMarker(seq, prev uint64) {
	c.Entity, c.Agency = append(c.Entity, ""), append(c.Agency, "")
	c.OccurredAt, c.NextAt = append(c.OccurredAt, 0), append(c.NextAt, 0)
	c.Tie, c.Seq, c.Removes = append(c.Tie, 0), append(c.Seq, seq), append(c.Removes, 0)
	c.mark, c.prev = seq, prev
}

// Len is the number of rows of cds.drill_list in c.
func (c *DrillColumns) Len() int { return len(c.Entity) }

// Reset empties c and keeps the room of its columns and counts, for the
// rows of another batch (the projector reuses a written batch's).
func (c *DrillColumns) Reset() {
	clear(c.Entity)
	clear(c.Agency)
	c.Entity, c.Agency = c.Entity[:0], c.Agency[:0]
	c.OccurredAt, c.NextAt = c.OccurredAt[:0], c.NextAt[:0]
	c.Tie, c.Seq, c.Removes = c.Tie[:0], c.Seq[:0], c.Removes[:0]
	clear(c.days)
	c.mark, c.prev = 0, 0
}

const (
	insertDrillSQL     = "INSERT INTO %s (entity, agency, occurred_at, tie, next_at, removes, seq)"
	insertDrillDaysSQL = "INSERT INTO %s (entity, agency, day, next_day, removes, n)"
)

// InsertDrill writes c into cds.drill_list in one INSERT under queryID
// (see InsertEvents), then its deltas and marker (when c has one) into
// cds.drill_days in one INSERT. Nothing is sent for no rows.
func (db *DB) InsertDrill(ctx context.Context, queryID string, c *DrillColumns) error {
	if c.Len() == 0 {
		return nil
	}
	at, next := unixTimes(c.OccurredAt), unixTimes(c.NextAt)
	if err := db.insertColumns(ctx, queryID, fmt.Sprintf(insertDrillSQL, db.Table("drill_list")),
		[]any{c.Entity, c.Agency, at, c.Tie, next, c.Removes, c.Seq}); err != nil {
		return err
	}
	n := len(c.days) + 1
	var d struct {
		entity, agency []string
		day, next      []uint32
		removes        []uint8
		n              []int64
	}
	d.entity, d.agency = make([]string, 0, n), make([]string, 0, n)
	d.day, d.next, d.removes = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint8, 0, n)
	d.n = make([]int64, 0, n)
	add := func(k drillDayKey, v int64) {
		d.entity, d.agency = append(d.entity, k.entity), append(d.agency, k.agency)
		d.day, d.next, d.removes = append(d.day, k.day), append(d.next, k.next), append(d.removes, k.removes)
		d.n = append(d.n, v)
	}
	for k, v := range c.days {
		if v != 0 {
			add(k, v)
		}
	}
	if c.mark != 0 {
		// The marker moves by the commit's distance from the last: its
		// rows sum to the commit (a merge keeps one row).
		add(drillDayKey{}, int64(c.mark)-int64(c.prev))
	}
	if len(d.n) == 0 {
		return nil
	}
	qid := queryID
	if qid != "" {
		qid += "-days"
	}
	return db.insertColumns(ctx, qid, fmt.Sprintf(insertDrillDaysSQL, db.Table("drill_days")),
		[]any{d.entity, d.agency, d.day, d.next, d.removes, d.n})
}

// DrillState reads the commit the drill-down tables' markers say they
// reflect (0 when either has none, or when the two differ) and counts the
// rows of cds.drill_list written by sequences above seq (an unfinished
// batch), in one query.
func (db *DB) DrillState(ctx context.Context, seq uint64) (mark, above uint64, err error) {
	var days uint64
	q := "SELECT " + db.drillMarksSQL() + ", (SELECT countIf(seq > ?) FROM " + db.Table("drill_list") + ")"
	if err := db.QueryRow(ctx, q, seq).Scan(&mark, &days, &above); err != nil {
		return 0, 0, fmt.Errorf("read the markers of cds.drill_list and cds.drill_days: %w", err)
	}
	if days != mark {
		mark = 0
	}
	return mark, above, nil
}

// drillMarks reads the commits the markers of cds.drill_list and
// cds.drill_days say they reflect, in one query.
func (db *DB) drillMarks(ctx context.Context) (list, days uint64, err error) {
	if err := db.QueryRow(ctx, "SELECT "+db.drillMarksSQL()).Scan(&list, &days); err != nil {
		return 0, 0, fmt.Errorf("read the markers of cds.drill_list and cds.drill_days: %w", err)
	}
	return list, days, nil
}

// drillMarksSQL selects the markers of cds.drill_list (the latest seq of
// its marker rows) and cds.drill_days (the sum of its marker rows).
func (db *DB) drillMarksSQL() string {
	return "(SELECT max(seq) FROM " + db.Table("drill_list") + " WHERE entity = ''), (SELECT toUInt64(sum(n)) FROM " + db.Table("drill_days") + " WHERE entity = '')"
}

// drillRefillSQL fills the rows of one entity from cds.events up to a
// sequence: per natural key (%[3]s), its valid events sorted as the fold
// sorts a timeline, each with the occurred_at of the next one. Retracted
// and superseded events get no row: they never count. %[1]s is
// cds.drill_list, %[2]s cds.events.
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

// drillDaysRefillSQL counts the rows of cds.drill_list (%[2]s) into
// cds.drill_days (%[1]s): those that can count at some as_of, whose
// next_at is on a later day than their occurred_at. %[3]s and %[4]s are
// their days, %[5]s the agency they are counted under (the row's, or the
// empty one for every agency).
const drillDaysRefillSQL = `INSERT INTO %[1]s (entity, agency, day, next_day, removes, n)
SELECT entity, %[5]s AS a, %[3]s AS day, %[4]s AS next_day, removes, toInt64(count()) AS n
FROM %[2]s FINAL
WHERE entity != ''
GROUP BY entity, a, day, next_day, removes
HAVING next_day > day`

// RefillDrill empties cds.drill_list and cds.drill_days and fills them
// from cds.events up to seq: the rows of every entity, their counts per
// day, then the markers of seq, so that a reader trusts the tables only
// once every row is in. Nothing else may write cds.events or the drill
// tables meanwhile (the projector calls it in its recovery).
func (db *DB) RefillDrill(ctx context.Context, seq uint64) error {
	if err := db.truncateDrill(ctx); err != nil {
		return err
	}
	if seq == 0 {
		return nil
	}
	for _, e := range drillEntities() {
		q := fmt.Sprintf(drillRefillSQL, db.Table("drill_list"), db.Table("events"), drillKeyExpr(e.keyIsNumber, e.scoped))
		if err := db.Exec(ctx, q, e.name, seq, Set(e.removes), uint32(DrillNoNext), Set(e.types), seq, seq, e.key); err != nil {
			return fmt.Errorf("fill cds.drill_list with entity %s from cds.events: %w", e.name, err)
		}
	}
	for _, agency := range []string{"agency", "''"} {
		q := fmt.Sprintf(drillDaysRefillSQL, db.Table("drill_days"), db.Table("drill_list"), drillDaySQL("occurred_at"), drillDaySQL("next_at"), agency)
		if err := db.Exec(ctx, q); err != nil {
			return fmt.Errorf("count cds.drill_list into cds.drill_days: %w", err)
		}
	}
	var c DrillColumns
	c.AddMarker(seq, 0) // the tables were emptied
	if err := db.InsertDrill(ctx, "", &c); err != nil {
		return fmt.Errorf("mark cds.drill_list and cds.drill_days at seq %d: %w", seq, err)
	}
	return nil
}

// truncateDrill empties cds.drill_list and cds.drill_days.
func (db *DB) truncateDrill(ctx context.Context) error {
	for _, t := range []string{"drill_list", "drill_days"} {
		if err := db.truncate(ctx, t); err != nil {
			return err
		}
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

// ErrDrillMoved is returned by DrillTableRows and DrillTableCount when a
// marker of the drill-down tables is past the commit the filter is read at
// (UpTo): a commit landed meanwhile, or one is being written (its drill
// rows land before its commit marker). The caller reads the commit
// markers again.
var ErrDrillMoved = errors.New("the drill-down tables are past the commit read")

// ErrDrillBehind is returned by DrillTableRows and DrillTableCount when a
// marker of the drill-down tables is before the commit the filter is read
// at: the projector has not refilled them since an upgrade or a failed
// batch. The caller runs DrillRows.
var ErrDrillBehind = errors.New("the drill-down tables are behind the commit read")

// ErrDrillFilter is returned by DrillTableRows and DrillTableCount for a
// filter the drill-down tables do not answer: without Entity or UpTo, with
// ID or Key, or a province-wide key (not AgencyScoped) read for some units
// only, whose latest event DrillRows looks for among those units' events
// alone while the tables follow the key's timeline over every agency (the
// two differ only for events of province types sent by units that do not
// report for the province, which the gate refuses). The caller runs
// DrillRows.
var ErrDrillFilter = errors.New("the drill-down tables answer drill-downs of one entity at a commit (Entity and UpTo), without ID or Key, and of province-wide keys for every unit only")

// drillWhere is the filter of f on cds.drill_list (list: after FINAL, a
// condition on next_at or removes must not be read before the versions
// are resolved) and on cds.drill_days (days), with their arguments.
type drillWhere struct {
	list, days         string
	listArgs, daysArgs []any
}

// drillTableWhere is the filter of f on the drill-down tables.
func drillTableWhere(f DrillFilter) (drillWhere, error) {
	if f.Entity == "" || f.UpTo == nil || f.ID != "" || f.Key != "" || (!f.AgencyScoped && f.Units != nil) {
		return drillWhere{}, ErrDrillFilter
	}
	day, err := time.ParseInLocation("2006-01-02", f.AsOf, events.Zone)
	if err != nil {
		return drillWhere{}, fmt.Errorf("drill-down as_of %q: %w", f.AsOf, err)
	}
	// Up to as_of's day in province time, and the next event after it: in
	// days, day <= as_of < next_day.
	end := uint32(day.AddDate(0, 0, 1).Unix())
	asOf := drillDay(end) - 1
	var l, d strings.Builder
	l.WriteString("entity = ? AND occurred_at < toDateTime(?) AND next_at >= toDateTime(?)")
	d.WriteString("entity = ? AND day <= ? AND next_day > ?")
	w := drillWhere{listArgs: []any{f.Entity, end, end}, daysArgs: []any{f.Entity, asOf, asOf}}
	if f.Units != nil {
		l.WriteString(" AND agency IN ?")
		d.WriteString(" AND agency IN ? AND agency != ''") // no units: none
		w.listArgs, w.daysArgs = append(w.listArgs, Set(f.Units)), append(w.daysArgs, Set(f.Units))
	} else {
		d.WriteString(" AND agency = ''")
	}
	switch {
	case f.Year != 0:
		from, to := uint32(time.Date(f.Year, 1, 1, 0, 0, 0, 0, events.Zone).Unix()), uint32(time.Date(f.Year+1, 1, 1, 0, 0, 0, 0, events.Zone).Unix())
		l.WriteString(" AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)")
		d.WriteString(" AND day >= ? AND day < ?")
		w.listArgs, w.daysArgs = append(w.listArgs, from, to), append(w.daysArgs, drillDay(from), drillDay(to))
	case len(f.Removes) > 0:
		l.WriteString(" AND removes = 0")
		d.WriteString(" AND removes = 0")
	}
	w.list, w.days = l.String(), d.String()
	return w, nil
}

// noPrewhere keeps the conditions of a FINAL read in WHERE: moved to
// PREWHERE they would be read before the versions are resolved.
func noPrewhere(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_move_to_prewhere": 0}))
}

// atMark runs read between two reads of the drill-down tables' markers,
// and returns ErrDrillMoved or ErrDrillBehind unless all four are the
// commit f is read at: a commit's rows and its marker land in one part of
// each table, so a read that saw a later commit's rows sees its marker
// after.
func (db *DB) atMark(ctx context.Context, f DrillFilter, read func() error) error {
	for i := range 2 {
		list, days, err := db.drillMarks(ctx)
		if err != nil {
			return err
		}
		for _, m := range []uint64{list, days} {
			if m > *f.UpTo {
				return fmt.Errorf("%w: marker at %d, read at %d", ErrDrillMoved, m, *f.UpTo)
			}
			if m < *f.UpTo {
				return fmt.Errorf("%w: marker at %d, read at %d", ErrDrillBehind, m, *f.UpTo)
			}
		}
		if i == 0 {
			if err := read(); err != nil {
				return err
			}
		}
	}
	return nil
}

// DrillTableRows is DrillRows read from the drill-down tables: the rows of
// f by occurred_at then cityHash64(id) (all, or limit from offset), then
// their ids, types, keys and data from cds.events by their place in its
// order. A page reads the counts per day of cds.drill_days, then only the
// days holding rows offset to offset+limit of cds.drill_list. It returns
// ErrDrillMoved or ErrDrillBehind when the tables are not at f.UpTo.
func (db *DB) DrillTableRows(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]DrillRow, error) {
	page, err := db.drillTableRefs(ctx, f, all, offset, limit)
	if err != nil {
		return nil, err
	}
	return db.drillEvents(ctx, f, page)
}

// drillTableRefs reads the rows of DrillTableRows from the drill-down
// tables.
func (db *DB) drillTableRefs(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]drillRef, error) {
	w, err := drillTableWhere(f)
	if err != nil {
		return nil, err
	}
	var page []drillRef
	err = db.atMark(ctx, f, func() error {
		where, args := w.list, w.listArgs
		if !all {
			if limit <= 0 {
				return nil
			}
			from, to, skip, ok, err := db.drillWindow(ctx, w, offset, limit)
			if err != nil || !ok {
				return err
			}
			where += " AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)"
			args = append(append(args[:len(args):len(args)], from, to), skip, limit)
		}
		q := "SELECT agency, toUnixTimestamp(occurred_at), tie FROM " + db.Table("drill_list") + " FINAL\nWHERE " + where +
			"\nORDER BY occurred_at, tie, agency"
		if !all {
			q += "\nLIMIT ?, ?"
		}
		rows, err := db.Query(noPrewhere(ctx), q, args...)
		if err != nil {
			return fmt.Errorf("read cds.drill_list: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r drillRef
			if err := rows.Scan(&r.agency, &r.at, &r.tie); err != nil {
				return fmt.Errorf("read cds.drill_list: %w", err)
			}
			page = append(page, r)
		}
		return rows.Err()
	})
	return page, err
}

// drillWindow finds, from the counts per day of cds.drill_days, the days
// that hold rows offset to offset+limit-1 of w: the unix seconds from and
// to bounding their occurred_at, and how many of the window's rows come
// before offset. ok is false when the listing has offset rows or fewer.
func (db *DB) drillWindow(ctx context.Context, w drillWhere, offset, limit int) (from, to uint32, skip int, ok bool, err error) {
	q := "SELECT day, sum(n) AS c FROM " + db.Table("drill_days") + " WHERE " + w.days + " GROUP BY day HAVING c != 0 ORDER BY day"
	rows, err := db.Query(ctx, q, w.daysArgs...)
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("read cds.drill_days: %w", err)
	}
	defer rows.Close()
	var before int64
	first, last := uint32(0), uint32(0)
	for rows.Next() {
		var day uint32
		var c int64
		if err := rows.Scan(&day, &c); err != nil {
			return 0, 0, 0, false, fmt.Errorf("read cds.drill_days: %w", err)
		}
		if before+c <= int64(offset) {
			before += c
			continue
		}
		if !ok {
			first, skip, ok = day, offset-int(before), true
		}
		last = day
		if before += c; before >= int64(offset+limit) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, false, fmt.Errorf("read cds.drill_days: %w", err)
	}
	return drillDayStart(first), drillDayStart(last + 1), skip, ok, nil
}

// drillDayStart is the unix second at which day (drillDay) begins.
func drillDayStart(day uint32) uint32 { return uint32(int64(day)*86400 - zoneOffset) }

// drillRef is a row of cds.drill_list: an event by agency, occurred_at and
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
			return nil, fmt.Errorf("drill-down: the event of %s at %d with id hash %d is in cds.drill_list but not in cds.events", p.agency, p.at, p.tie)
		}
		out = append(out, r)
	}
	return out, nil
}

// DrillTableCount is DrillCount read from cds.drill_days: a sum of its
// counts, no FINAL. ErrDrillMoved or ErrDrillBehind when the drill-down
// tables are not at f.UpTo.
func (db *DB) DrillTableCount(ctx context.Context, f DrillFilter) (uint64, error) {
	w, err := drillTableWhere(f)
	if err != nil {
		return 0, err
	}
	var n int64
	err = db.atMark(ctx, f, func() error {
		if err := db.QueryRow(ctx, "SELECT sum(n) FROM "+db.Table("drill_days")+" WHERE "+w.days, w.daysArgs...).Scan(&n); err != nil {
			return fmt.Errorf("count cds.drill_days: %w", err)
		}
		return nil
	})
	if n < 0 {
		return 0, fmt.Errorf("count cds.drill_days: %d rows", n)
	}
	return uint64(n), err
}

// unixTimes turns unix seconds into times.
func unixTimes(s []uint32) []time.Time {
	out := make([]time.Time, len(s))
	for i, x := range s {
		out[i] = time.Unix(int64(x), 0)
	}
	return out
}
