package chdb

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The statements against cds.events (migrations/0001_events.sql): the
// projector's inserts, the reads of the board, the silence report and cds
// republish. The drill-down's are in drill.go.

// EventColumns are rows of cds.events, column-wise, in the table's order.
type EventColumns struct {
	ID, Type, Agency, Supersedes, Data []string
	V, Retraction                      []uint8
	OccurredAt, ReceivedAt             []time.Time
	Seq                                []uint64
}

// Reset empties c and keeps its columns' room for the next rows; the
// strings are dropped (they hold a batch's bytes).
func (c *EventColumns) Reset() {
	for _, col := range [][]string{c.ID, c.Type, c.Agency, c.Supersedes, c.Data} {
		clear(col)
	}
	c.ID, c.Type, c.Agency, c.Supersedes, c.Data = c.ID[:0], c.Type[:0], c.Agency[:0], c.Supersedes[:0], c.Data[:0]
	c.V, c.Retraction = c.V[:0], c.Retraction[:0]
	c.OccurredAt, c.ReceivedAt, c.Seq = c.OccurredAt[:0], c.ReceivedAt[:0], c.Seq[:0]
}

// Grow empties c and gives each column room for n rows.
func (c *EventColumns) Grow(n int) {
	c.ID, c.Type, c.Agency = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	c.Supersedes, c.Data = make([]string, 0, n), make([]string, 0, n)
	c.V, c.Retraction = make([]uint8, 0, n), make([]uint8, 0, n)
	c.OccurredAt, c.ReceivedAt = make([]time.Time, 0, n), make([]time.Time, 0, n)
	c.Seq = make([]uint64, 0, n)
}

// Len is the number of rows in c.
func (c *EventColumns) Len() int { return len(c.ID) }

const insertEventsSQL = "INSERT INTO %s (id, type, v, agency, occurred_at, supersedes, retraction, data, seq, received_at)"

// InsertEvents writes c into cds.events in one INSERT under queryID (the
// projector's query ids: it waits for them in system.processes, see
// RunningQueries). Nothing is sent for no rows.
func (db *DB) InsertEvents(ctx context.Context, queryID string, c *EventColumns) error {
	if c.Len() == 0 {
		return nil
	}
	return db.insertColumns(ctx, queryID, fmt.Sprintf(insertEventsSQL, db.Table("events")),
		[]any{c.ID, c.Type, c.V, c.Agency, c.OccurredAt, c.Supersedes, c.Retraction, c.Data, c.Seq, c.ReceivedAt})
}

// insertColumns runs one INSERT of whole columns under queryID ("" for the
// server's own).
func (db *DB) insertColumns(ctx context.Context, queryID, insert string, cols []any) error {
	if queryID != "" {
		ctx = clickhouse.Context(ctx, clickhouse.WithQueryID(queryID))
	}
	b, err := db.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	// Spare buffers for the columns: the appends allocate nothing
	// (columns.go).
	lent := lendBuffers(b.Columns(), cols)
	defer keepBuffers(lent)
	if err := AppendColumns(b, cols); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}

// StoredEvent is one row of cds.events as cds republish reads it.
type StoredEvent struct {
	ID, Type, Agency, Supersedes, Data string
	V                                  uint8
	OccurredAt                         time.Time // to the second, as stored
}

// ScanEvents hands every row of cds.events to fn in stream order (seq),
// stopping at fn's first error.
func (db *DB) ScanEvents(ctx context.Context, fn func(StoredEvent) error) error {
	rows, err := db.Query(ctx, "SELECT id, type, v, agency, toUnixTimestamp(occurred_at), supersedes, data FROM "+db.Table("events")+" ORDER BY seq")
	if err != nil {
		return fmt.Errorf("read cds.events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e StoredEvent
		var at uint32
		if err := rows.Scan(&e.ID, &e.Type, &e.V, &e.Agency, &at, &e.Supersedes, &e.Data); err != nil {
			return fmt.Errorf("read cds.events: %w", err)
		}
		e.OccurredAt = time.Unix(int64(at), 0)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read cds.events: %w", err)
	}
	return nil
}

// lastFoldedSQL reads the newest folded event, at or below the projector's
// position: rows above it are an unfinished batch (projector/doc.go).
const lastFoldedSQL = `SELECT toInt64(max(received_at)), toInt64(max(occurred_at)), count() FROM %s WHERE seq <= ?`

// LastFolded returns the latest received_at and occurred_at of the events
// folded up to stream sequence seq; ok is false when there are none.
func (db *DB) LastFolded(ctx context.Context, seq uint64) (received, occurred time.Time, ok bool, err error) {
	var rec, occ int64
	var n uint64
	if err := db.QueryRow(ctx, fmt.Sprintf(lastFoldedSQL, db.Table("events")), seq).Scan(&rec, &occ, &n); err != nil {
		return time.Time{}, time.Time{}, false, fmt.Errorf("last folded event: %w", err)
	}
	if n == 0 {
		return time.Time{}, time.Time{}, false, nil
	}
	return time.Unix(rec, 0), time.Unix(occ, 0), true, nil
}

// changedSQL gives the earliest occurred_at among the events folded in a
// range of stream sequences and the events they supersede.
const changedSQL = `SELECT toInt64(min(occurred_at)), count() FROM %[1]s
WHERE (seq > ? AND seq <= ?)
   OR id IN (SELECT supersedes FROM %[1]s WHERE seq > ? AND seq <= ? AND supersedes != '')`

// EarliestChanged returns the earliest occurred_at among the events folded
// at stream sequences in (from, to] and the events they supersede; ok is
// false when there are none.
func (db *DB) EarliestChanged(ctx context.Context, from, to uint64) (at time.Time, ok bool, err error) {
	var minAt int64
	var n uint64
	if err := db.QueryRow(ctx, fmt.Sprintf(changedSQL, db.Table("events")), from, to, from, to).Scan(&minAt, &n); err != nil {
		return time.Time{}, false, fmt.Errorf("events folded since %d: %w", from, err)
	}
	if n == 0 {
		return time.Time{}, false, nil
	}
	return time.Unix(minAt, 0), true, nil
}

const lastEventsSQL = `SELECT agency, type, max(occurred_at) FROM %s WHERE toDate(occurred_at) <= toDate(?) AND seq <= ? GROUP BY agency, type`

// LastEvents returns, per agency and event type, the latest occurred_at on
// or before day (YYYY-MM-DD, province time) of the events folded up to
// stream sequence seq (a commit: rows above it are an unfinished batch),
// by a scan of cds.events. LastEventsAt reads the same from its copy.
func (db *DB) LastEvents(ctx context.Context, day string, seq uint64) (map[string]map[string]time.Time, error) {
	last := map[string]map[string]time.Time{} // agency → type → last occurred_at
	if err := db.readLastEvents(ctx, fmt.Sprintf(lastEventsSQL, db.Table("events")), last, day, seq); err != nil {
		return nil, err
	}
	return last, nil
}

// readLastEvents runs q, which selects agency, type and an occurred_at,
// and keeps in last the latest occurred_at per agency and type.
func (db *DB) readLastEvents(ctx context.Context, q string, last map[string]map[string]time.Time, args ...any) error {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("latest events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var agency, typ string
		var at time.Time
		if err := rows.Scan(&agency, &typ, &at); err != nil {
			return fmt.Errorf("latest events: %w", err)
		}
		if last[agency] == nil {
			last[agency] = map[string]time.Time{}
		}
		if prev, ok := last[agency][typ]; !ok || at.After(prev) {
			last[agency][typ] = at
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("latest events: %w", err)
	}
	return nil
}
