package chdb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The copy of cds.events' latest events, cds.event_lasts
// (migrations/0022_event_lasts.sql; docs/design.md, "Silence"): per agency
// and type, the latest occurred_at per year, month and day, so that
// silence reads a few rows per agency and type instead of every event.
// The projector writes each batch's rows and the table's marker in one
// INSERT before its commit marker (InsertLasts); its recovery refills the
// table from cds.events when the marker is not the committed position or
// rows above it are there (LastsState, RefillLasts).

// ErrLastsBehind is returned by LastEventsAt when cds.event_lasts'
// marker is before the commit read: batches committed since have no rows
// there yet (an upgrade created the table empty, a part was lost). The
// caller reads cds.events instead (LastEvents).
var ErrLastsBehind = errors.New("chdb: cds.event_lasts is behind the commit read")

// The grains of cds.event_lasts: the marker, then the buckets of a year, a
// month and a day.
const (
	lastsMarker uint8 = iota
	lastsYear
	lastsMonth
	lastsDay
)

// lastsKey is a row of cds.event_lasts but its at and seq.
type lastsKey struct {
	grain       uint8
	bucket      uint32
	agency, typ string
}

// lastsVal is a row's at (unix seconds), seq and first_seq.
type lastsVal struct {
	at         uint32
	seq, first uint64
}

// LastsColumns are the rows of cds.event_lasts that rows of cds.events make,
// and the table's marker. Its zero value is ready to use.
type LastsColumns struct {
	rows map[lastsKey]lastsVal
	mark uint64 // the marker's sequence, 0 for none
}

// Add adds the rows that c, rows of cds.events, make.
func (l *LastsColumns) Add(c *EventColumns) {
	if l.rows == nil {
		l.rows = make(map[lastsKey]lastsVal, 3*c.Len()/4+1)
	}
	for i := range c.Len() {
		at := uint32(c.OccurredAt[i].Unix()) // the second stored, as DateTime keeps it
		day := drillDay(at)
		year, month := dayStarts(day)
		for _, k := range []lastsKey{{lastsYear, year, c.Agency[i], c.Type[i]}, {lastsMonth, month, c.Agency[i], c.Type[i]}, {lastsDay, day, c.Agency[i], c.Type[i]}} {
			v, ok := l.rows[k]
			if !ok {
				v = lastsVal{at: at, seq: c.Seq[i], first: c.Seq[i]}
			}
			v.at, v.seq, v.first = max(v.at, at), max(v.seq, c.Seq[i]), min(v.first, c.Seq[i])
			l.rows[k] = v
		}
	}
}

// AddMarker sets the table's marker: the commit of seq.
func (l *LastsColumns) AddMarker(seq uint64) { l.mark = seq }

// Len is the number of rows in l, its marker included.
func (l *LastsColumns) Len() int {
	n := len(l.rows)
	if l.mark != 0 {
		n++
	}
	return n
}

// Reset empties l and keeps its room.
func (l *LastsColumns) Reset() {
	clear(l.rows)
	l.mark = 0
}

// dayStarts returns the first day of the year and of the month of day
// (days since 1970-01-01).
func dayStarts(day uint32) (year, month uint32) {
	y, m, _ := time.Unix(int64(day)*86400, 0).UTC().Date()
	return daysOf(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)), daysOf(time.Date(y, m, 1, 0, 0, 0, 0, time.UTC))
}

func daysOf(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

const insertLastsSQL = "INSERT INTO %s (grain, bucket, agency, type, at, seq, first_seq)"

// InsertLasts writes l into cds.event_lasts in one INSERT (one part: a
// batch's rows and its marker land together) under queryID (see
// InsertEvents), the marker last. Nothing is sent for no rows.
func (db *DB) InsertLasts(ctx context.Context, queryID string, l *LastsColumns) error {
	n := l.Len()
	if n == 0 {
		return nil
	}
	grain, bucket := make([]uint8, 0, n), make([]uint32, 0, n)
	agency, typ := make([]string, 0, n), make([]string, 0, n)
	at, seq, first := make([]time.Time, 0, n), make([]uint64, 0, n), make([]uint64, 0, n)
	add := func(k lastsKey, v lastsVal) {
		grain, bucket, agency, typ = append(grain, k.grain), append(bucket, k.bucket), append(agency, k.agency), append(typ, k.typ)
		at, seq, first = append(at, time.Unix(int64(v.at), 0)), append(seq, v.seq), append(first, v.first)
	}
	for k, v := range l.rows {
		add(k, v)
	}
	if l.mark != 0 {
		add(lastsKey{grain: lastsMarker}, lastsVal{seq: l.mark, first: l.mark})
	}
	if err := db.insertColumns(ctx, queryID, fmt.Sprintf(insertLastsSQL, db.Table("event_lasts")),
		[]any{grain, bucket, agency, typ, at, seq, first}); err != nil {
		return fmt.Errorf("insert cds.event_lasts: %w", err)
	}
	return nil
}

// LastsState reads the commit cds.event_lasts' marker says it reflects (0
// for none) and counts its rows of sequences above seq (an unfinished
// batch's, or a refill's at a later commit), in one query.
func (db *DB) LastsState(ctx context.Context, seq uint64) (mark, above uint64, err error) {
	q := "SELECT maxIf(seq, grain = 0), countIf(grain != 0 AND seq > ?) FROM " + db.Table("event_lasts")
	if err := db.QueryRow(ctx, q, seq).Scan(&mark, &above); err != nil {
		return 0, 0, fmt.Errorf("read the marker of cds.event_lasts: %w", err)
	}
	return mark, above, nil
}

// lastsRefillSQL fills cds.event_lasts (%[1]s) from cds.events (%[2]s) up
// to a sequence: the latest occurred_at and the largest and smallest
// sequence per agency, type and day, then per year and month of those.
// %[3]s is the day of occurred_at.
const lastsRefillSQL = `INSERT INTO %[1]s (grain, bucket, agency, type, at, seq, first_seq)
SELECT grain, multiIf(grain = 1, year, grain = 2, month, day) AS bucket, agency, type, max(last) AS at, max(s) AS seq, min(f) AS first_seq
FROM (
  SELECT agency, type, %[3]s AS day, toUInt32(toStartOfYear(occurred_at)) AS year, toUInt32(toStartOfMonth(occurred_at)) AS month,
         max(occurred_at) AS last, max(seq) AS s, min(seq) AS f
  FROM %[2]s
  WHERE seq <= ?
  GROUP BY agency, type, day, year, month
)
ARRAY JOIN [1, 2, 3] AS grain
GROUP BY grain, bucket, agency, type`

// RefillLasts empties cds.event_lasts and fills it from the rows of
// cds.events up to seq, its marker last, so that a reader trusts the table
// only once every row is in. Nothing else may write cds.events or the
// table meanwhile (the projector calls it in its recovery).
func (db *DB) RefillLasts(ctx context.Context, seq uint64) error {
	if err := db.truncate(ctx, "event_lasts"); err != nil {
		return err
	}
	if seq == 0 {
		return nil
	}
	q := fmt.Sprintf(lastsRefillSQL, db.Table("event_lasts"), db.Table("events"), drillDaySQL("occurred_at"))
	if err := db.Exec(ctx, q, seq); err != nil {
		return fmt.Errorf("fill cds.event_lasts from cds.events: %w", err)
	}
	var l LastsColumns
	l.AddMarker(seq)
	if err := db.InsertLasts(ctx, "", &l); err != nil {
		return fmt.Errorf("mark cds.event_lasts at seq %d: %w", seq, err)
	}
	return nil
}

// lastsReadSQL reads, per agency and type, the latest occurred_at on or
// before a day at commit C from cds.event_lasts: the years before the
// day's year, the months of its year before its month, the days of its
// month up to it, and the marker (empty agency and type). Per key of the
// table: ok_at, the latest at of its rows of sequences up to C; amb, 1
// when a row above C is as late or later and either was made of events
// up to C as well (first_seq: a refill's) or is in a merged part (one whose
// name spans more than one block: all_<min>_<max>_<level>), where it may
// have replaced a row up to C: the key is read from cds.events, from its
// bucket amb_from on. A row of events all above C in a part never merged
// replaced nothing: it is left out. Per agency and type: the latest ok_at,
// whether some rows were up to C, whether a key was ambiguous and the
// earliest such bucket, and the largest seq (the marker's, for the empty
// agency and type).
const lastsReadSQL = `SELECT agency, type, max(ok_at), toUInt64(sum(ok_n)), max(amb), min(amb_from), max(s)
FROM (
  SELECT grain, bucket, agency, type,
         maxIf(at, seq <= ?) AS ok_at, countIf(seq <= ?) AS ok_n,
         maxIf(at, seq > ? AND mixed) AS over_at, countIf(seq > ? AND mixed) AS over_n,
         toUInt8(over_n > 0 AND (ok_n = 0 OR over_at >= ok_at)) AS amb,
         if(amb = 1, bucket, 4294967295) AS amb_from, max(seq) AS s
  FROM (
    SELECT grain, bucket, agency, type, at, seq, splitByChar('_', _part) AS name, first_seq <= ? OR name[2] != name[3] AS mixed
    FROM %s
    WHERE grain = 0 OR (grain = 1 AND bucket < ?) OR (grain = 2 AND bucket >= ? AND bucket < ?) OR (grain = 3 AND bucket >= ? AND bucket <= ?)
  )
  GROUP BY grain, bucket, agency, type
)
GROUP BY agency, type`

// lastsPatchSQL reads the latest occurred_at per agency and type from the
// rows of cds.events of some agencies and types, from a time on, up to a
// day and a commit: the keys of cds.event_lasts it could not trust.
const lastsPatchSQL = `SELECT agency, type, max(occurred_at) FROM %s
WHERE agency IN ? AND type IN ? AND occurred_at >= toDateTime(?) AND toDate(occurred_at) <= toDate(?) AND seq <= ?
GROUP BY agency, type`

// LastEventsAt returns what LastEvents returns for day and seq, from
// cds.event_lasts: per agency and type, the latest occurred_at on or
// before day of the events folded up to stream sequence seq (a commit).
// Keys whose rows it cannot trust at seq are read from cds.events from
// their earliest bucket on; patched counts the agencies and types read so.
// It returns ErrLastsBehind when the table's marker is before seq.
func (db *DB) LastEventsAt(ctx context.Context, day string, seq uint64) (last map[string]map[string]time.Time, patched int, err error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return nil, 0, fmt.Errorf("latest events: day: %w", err)
	}
	dn := daysOf(d)
	year, month := dayStarts(dn)
	last = map[string]map[string]time.Time{}
	if seq == 0 {
		return last, 0, nil // nothing committed
	}
	rows, err := db.Query(ctx, fmt.Sprintf(lastsReadSQL, db.Table("event_lasts")), seq, seq, seq, seq, seq, year, year, month, month, dn)
	if err != nil {
		return nil, 0, fmt.Errorf("latest events from cds.event_lasts: %w", err)
	}
	defer rows.Close()
	var (
		mark          uint64
		agencies, tps []string
		from          uint32 = 1<<32 - 1
		seenA, seenT         = map[string]bool{}, map[string]bool{}
	)
	for rows.Next() {
		var (
			agency, typ string
			at          time.Time
			n, s        uint64
			amb         uint8
			ambFrom     uint32
		)
		if err := rows.Scan(&agency, &typ, &at, &n, &amb, &ambFrom, &s); err != nil {
			return nil, 0, fmt.Errorf("latest events from cds.event_lasts: %w", err)
		}
		if agency == "" && typ == "" {
			mark = s
			continue
		}
		if n > 0 {
			if last[agency] == nil {
				last[agency] = map[string]time.Time{}
			}
			last[agency][typ] = at
		}
		if amb == 1 {
			patched++
			from = min(from, ambFrom)
			if !seenA[agency] {
				seenA[agency] = true
				agencies = append(agencies, agency)
			}
			if !seenT[typ] {
				seenT[typ] = true
				tps = append(tps, typ)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("latest events from cds.event_lasts: %w", err)
	}
	if mark < seq {
		return nil, 0, fmt.Errorf("%w: marker at seq %d, commit %d", ErrLastsBehind, mark, seq)
	}
	if patched == 0 {
		return last, 0, nil
	}
	// Every event these read is up to day and seq: a latest of its agency
	// and type, taken with the others whatever bucket it is in.
	since := int64(from)*86400 - zoneOffset
	if err := db.readLastEvents(ctx, fmt.Sprintf(lastsPatchSQL, db.Table("events")), last, Set(agencies), Set(tps), since, day, seq); err != nil {
		return nil, 0, err
	}
	return last, patched, nil
}
