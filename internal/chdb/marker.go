package chdb

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The commit markers of cds.rollup are rows of one reserved indicator that
// the projector (and cds rebuild) write in the same insert as the cells of a
// commit; SummingMergeTree sums them like any cell (projector/doc.go). This
// file is the one statement of their layout: the projector writes and reads
// its position through these names, the scores cache keys snapshots on them.
const (
	// MarkerIndicator is the indicator of every marker row.
	MarkerIndicator = "#watermark"
	// MarkerIndexSuffix, appended to the stream name, is the unit of the
	// marker rows fingerprinting cds.fold_index.
	MarkerIndexSuffix = "#fold_index"
	// MarkerIndexedEventsDim is the dim of the index marker row that counts
	// the raw rows of batches that also wrote their index rows.
	MarkerIndexedEventsDim = "events"
	// MarkerLastSuffix, appended to the stream name, is the unit of the
	// marker rows of the hash of the last message folded.
	MarkerLastSuffix = "#last"
	// MarkerLeaseSuffix, appended to the stream name, is the unit of the
	// marker rows of each commit's lease token (dim: the token).
	MarkerLeaseSuffix = "#lease"
)

// MarkSum is what the marker rows of one unit sum to.
type MarkSum struct {
	N        int64
	Num, Den float64
}

// Marks are the marker sums per marker unit.
type Marks map[string]MarkSum

// Add adds one marker row (or partial sum) of unit.
func (m Marks) Add(unit string, s MarkSum) {
	c := m[unit]
	m[unit] = MarkSum{N: c.N + s.N, Num: c.Num + s.Num, Den: c.Den + s.Den}
}

// Key encodes m as "unit n num den;…", sorted by unit: equal keys mean the
// markers have not moved, so nothing was committed in between.
func (m Marks) Key() string {
	units := make([]string, 0, len(m))
	for u := range m {
		units = append(units, u)
	}
	sort.Strings(units)
	var b strings.Builder
	for _, u := range units {
		s := m[u]
		fmt.Fprintf(&b, "%s %d %s %s;", u, s.N, strconv.FormatFloat(s.Num, 'g', -1, 64), strconv.FormatFloat(s.Den, 'g', -1, 64))
	}
	return b.String()
}

// watermarkSQL sums n over the marker rows: only the events stream's unit
// carries n, the last stream sequence folded.
const watermarkSQL = `SELECT toInt64(sum(n)) FROM %s WHERE indicator = ?`

// Watermark returns the last stream sequence folded, as the commit markers
// of cds.rollup say (0 before the first commit).
func (db *DB) Watermark(ctx context.Context) (uint64, error) {
	var n int64
	if err := db.QueryRow(ctx, fmt.Sprintf(watermarkSQL, db.Table("rollup")), MarkerIndicator).Scan(&n); err != nil {
		return 0, fmt.Errorf("read watermark: %w", err)
	}
	return uint64(max(n, 0)), nil
}

// markSQL reads the commit markers; they sort first in the table's key.
const markSQL = `SELECT unit, toInt64(sum(n)), sum(num), sum(den) FROM %s WHERE indicator = ? GROUP BY unit`

// ReadMarks reads what the commit markers of cds.rollup sum to now.
func (db *DB) ReadMarks(ctx context.Context) (Marks, error) {
	return db.readMarks(ctx, "read commit markers", fmt.Sprintf(markSQL, db.Table("rollup")), MarkerIndicator)
}

// readMarks runs query, which returns per unit what its markers sum to
// (unit, n, num, den), into Marks; what names the read in its errors.
func (db *DB) readMarks(ctx context.Context, what, query string, args ...any) (Marks, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	m := Marks{}
	for rows.Next() {
		var unit string
		var s MarkSum
		if err := rows.Scan(&unit, &s.N, &s.Num, &s.Den); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		m.Add(unit, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return m, nil
}

// markCopySQL reads the commit markers from their copy cds.rollup_marks
// (migration 0023), summed per unit as markSQL does.
const markCopySQL = `SELECT unit, toInt64(sum(n)), sum(num), sum(den) FROM %s GROUP BY unit`

// ReadMarksCopy reads what the commit markers sum to now from their copy
// cds.rollup_marks: a few rows per part where ReadMarks reads a granule of
// every part of cds.rollup. The copy is filled within each commit's INSERT,
// after cds.rollup's part; it is right only while a read of both finds
// them equal (SnapshotCopies reports it), which is the caller's to check.
func (db *DB) ReadMarksCopy(ctx context.Context) (Marks, error) {
	return db.readMarks(ctx, "read the copy of the commit markers", fmt.Sprintf(markCopySQL, db.Table("rollup_marks")))
}

// Watermark is the last stream sequence folded, as m says: the sum of n
// over the marker units, as DB.Watermark reads it (only the stream's unit
// carries n).
func (m Marks) Watermark() uint64 {
	var n int64
	for _, s := range m {
		n += s.N
	}
	return uint64(max(n, 0))
}

// StreamMarks is what the marker rows of one stream sum to, as the
// projector writes them (projector/batch.go, cellColumns.marker): unsigned
// sums kept in Float64 columns, which the projector checks are whole.
type StreamMarks struct {
	Seq     int64   // the stream unit's n: the last sequence folded
	Rows    float64 // the stream unit's num: raw rows of cds.events
	Sum     float64 // the stream unit's den: their seq fingerprint
	IdxN    int64   // the index unit's n: always 0
	IdxRows float64 // rows of cds.fold_index (the index unit, dim '')
	IdxSum  float64 // their seq fingerprint
	Indexed float64 // raw rows of batches that wrote index rows (dim MarkerIndexedEventsDim)
	Hash    float64 // the last unit's num: the hash of the last message folded
	HashSeq float64 // the last unit's den: the sequence that hash is of
}

// ReadStreamMarks reads the commit markers of stream in one query.
func (db *DB) ReadStreamMarks(ctx context.Context, stream string) (StreamMarks, error) {
	q := "SELECT toInt64(sumIf(n, unit = ?)), sumIf(num, unit = ?), sumIf(den, unit = ?), " +
		"toInt64(sumIf(n, unit = ?)), sumIf(num, unit = ? AND dim = ''), sumIf(den, unit = ? AND dim = ''), sumIf(num, unit = ? AND dim = ?), " +
		"sumIf(num, unit = ?), sumIf(den, unit = ?) FROM " + db.Table("rollup") + " WHERE indicator = ? AND unit IN (?, ?, ?)"
	main, idx, last := stream, stream+MarkerIndexSuffix, stream+MarkerLastSuffix
	var m StreamMarks
	err := db.QueryRow(ctx, q, main, main, main, idx, idx, idx, idx, MarkerIndexedEventsDim, last, last, MarkerIndicator, main, idx, last).
		Scan(&m.Seq, &m.Rows, &m.Sum, &m.IdxN, &m.IdxRows, &m.IdxSum, &m.Indexed, &m.Hash, &m.HashSeq)
	if err != nil {
		return StreamMarks{}, fmt.Errorf("read watermark: %w", err)
	}
	return m, nil
}

// LeaseSums returns the commits counted by the lease marker rows of stream
// per lease token, for the tokens whose count is not zero.
func (db *DB) LeaseSums(ctx context.Context, stream string) (map[string]float64, error) {
	rows, err := db.Query(ctx, "SELECT dim, sum(num) FROM "+db.Table("rollup")+" WHERE indicator = ? AND unit = ? GROUP BY dim",
		MarkerIndicator, stream+MarkerLeaseSuffix)
	if err != nil {
		return nil, fmt.Errorf("read lease markers: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var tok string
		var n float64
		if err := rows.Scan(&tok, &n); err != nil {
			return nil, fmt.Errorf("read lease markers: %w", err)
		}
		if n != 0 {
			out[tok] = n
		}
	}
	return out, rows.Err()
}
