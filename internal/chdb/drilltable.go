package chdb

import (
	"context"
	"fmt"
	"sort"
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
// Before them each commit writes its changes to cds.drill_log (0021): the
// rows it wrote with their next_at before it. A read pinned at commit C
// (the commit its score was read at) reads the tables at whatever commit
// M their markers are and takes back the changes of the commits after C
// (drilllog.go), so it stays at C while commits land.

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
	Before             []uint32 // next_at before the commit (cds.drill_log)
	days               map[drillDayKey]int64
	mark, prev         uint64 // the marker's commit and the one before (AddMarker)
	scratch            drillScratch
}

// drillScratch is what the inserts of a DrillColumns derive from it,
// column-wise: kept with it for the next batch's (the projector reuses a
// written batch's columns), not made for every insert.
type drillScratch struct {
	unix           []int64 // the times as the DateTime columns take them, three columns' worth
	prev           []uint64
	entity, agency []string // cds.drill_days'
	day, next      []uint32
	removes        []uint8
	n              []int64
}

// unixTimes returns the times of cols (unix seconds) as int64, one slice
// per column, in c's scratch: valid until the next call.
func (c *DrillColumns) unixTimes(cols ...[]uint32) [][]int64 {
	total := 0
	for _, col := range cols {
		total += len(col)
	}
	if cap(c.scratch.unix) < total {
		c.scratch.unix = make([]int64, total)
	}
	buf := c.scratch.unix[:total]
	out := make([][]int64, len(cols))
	for i, col := range cols {
		out[i], buf = buf[:len(col):len(col)], buf[len(col):]
		for j, x := range col {
			out[i][j] = int64(x)
		}
	}
	return out
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
	c.Before = append(c.Before, before)
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
	c.Before = append(c.Before, 0)
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
	c.Before = c.Before[:0]
	clear(c.days)
	c.mark, c.prev = 0, 0
	clear(c.scratch.entity)
	clear(c.scratch.agency)
}

const (
	insertDrillSQL     = "INSERT INTO %s (entity, agency, occurred_at, tie, next_at, removes, seq)"
	insertDrillDaysSQL = "INSERT INTO %s (entity, agency, day, next_day, removes, n)"
)

// InsertDrill writes c as one commit's changes into cds.drill_log
// (insertDrillLog, when c has a marker), then into cds.drill_list in one
// INSERT under queryID (see InsertEvents), then its deltas and marker
// (when c has one) into cds.drill_days in one INSERT. Nothing is sent for
// no rows.
func (db *DB) InsertDrill(ctx context.Context, queryID string, c *DrillColumns) error {
	if c.Len() == 0 {
		return nil
	}
	if c.mark != 0 {
		if err := db.insertDrillLog(ctx, queryID, c); err != nil {
			return err
		}
	}
	return db.insertDrillTables(ctx, queryID, c)
}

// insertDrillTables writes c into cds.drill_list and cds.drill_days.
func (db *DB) insertDrillTables(ctx context.Context, queryID string, c *DrillColumns) error {
	t := c.unixTimes(c.OccurredAt, c.NextAt)
	if err := db.insertColumns(ctx, queryID, fmt.Sprintf(insertDrillSQL, db.Table("drill_list")),
		[]any{c.Entity, c.Agency, t[0], c.Tie, t[1], c.Removes, c.Seq}); err != nil {
		return err
	}
	d := &c.scratch
	clear(d.entity)
	clear(d.agency)
	d.entity, d.agency, d.day, d.next, d.removes, d.n = d.entity[:0], d.agency[:0], d.day[:0], d.next[:0], d.removes[:0], d.n[:0]
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
// rows of cds.drill_list and cds.drill_log written by sequences above seq
// (an unfinished batch), in one query.
func (db *DB) DrillState(ctx context.Context, seq uint64) (mark, above uint64, err error) {
	var days uint64
	q := "SELECT " + db.drillMarksSQL() + ", (SELECT countIf(seq > ?) FROM " + db.Table("drill_list") + ") + (SELECT count() FROM " + db.Table("drill_log") + " WHERE seq > ?)" // the log's key starts with seq
	if err := db.QueryRow(ctx, q, seq, seq).Scan(&mark, &days, &above); err != nil {
		return 0, 0, fmt.Errorf("read the markers of cds.drill_list and cds.drill_days: %w", err)
	}
	if days != mark {
		mark = 0
	}
	return mark, above, nil
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

// RefillDrill empties cds.drill_list, cds.drill_days and cds.drill_log
// and fills the first two from cds.events up to seq (the log gets nothing:
// a reader pinned before seq reads cds.events): the rows of every entity, their counts per
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
	// No changes in cds.drill_log: a read pinned before seq reads from
	// cds.events.
	if err := db.insertDrillTables(ctx, "", &c); err != nil {
		return fmt.Errorf("mark cds.drill_list and cds.drill_days at seq %d: %w", seq, err)
	}
	return nil
}

// truncateDrill empties cds.drill_list, cds.drill_days and cds.drill_log.
func (db *DB) truncateDrill(ctx context.Context) error {
	for _, t := range []string{"drill_list", "drill_days", "drill_log"} {
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
// table's key) and the hashes of their ids. That span of a page of every
// agency is a granule of each agency's events (hundreds of thousands of
// rows): their occurred_at is read first (PREWHERE, 4 bytes a row) and
// kept at the page's seconds only, so that the other columns, data above
// all, are read of the granules holding the page's rows, not decoded for
// every row (docs/design.md, "The drill-down table").
func (db *DB) drillEvents(ctx context.Context, f DrillFilter, page []drillRef) ([]DrillRow, error) {
	if len(page) == 0 {
		return nil, nil
	}
	agencies, seconds := map[string]bool{}, map[uint32]bool{}
	ties := clickhouse.GroupSet{Value: make([]any, 0, len(page))}
	lo, hi := page[0].at, page[0].at
	for _, r := range page {
		agencies[r.agency], seconds[r.at] = true, true
		ties.Value = append(ties.Value, r.tie)
		lo, hi = min(lo, r.at), max(hi, r.at)
	}
	at := clickhouse.GroupSet{Value: make([]any, 0, len(seconds))}
	for s := range seconds {
		at.Value = append(at.Value, s)
	}
	q := "SELECT id, type, agency, occurred_at, supersedes, " + drillKeyExpr(f.KeyIsNumber, f.AgencyScoped) + " AS key, data, cityHash64(id) AS h FROM " + db.Table("events") +
		"\n  PREWHERE toUInt32(occurred_at) IN ?" +
		"\n  WHERE agency IN ? AND type IN ? AND occurred_at >= toDateTime(?) AND occurred_at <= toDateTime(?) AND h IN ? AND retraction = 0 AND seq <= ?"
	rows, err := db.Query(ctx, q, f.KeyField, at, Set(keys(agencies)), Set(f.Types), lo, hi, ties, *f.UpTo)
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
