package chdb

import (
	"context"
	"fmt"
)

// The statements against cds.fold_index (migrations/0010_fold_index.sql)
// that the projector's batches, rewinds and local fold store run. The
// running projector reads its lookups from its local store (package
// foldstore), which it fills from here.

// InsertFoldIndex writes index rows, given column-wise (h: the hash of
// lookup), into cds.fold_index in one INSERT under queryID. Nothing is
// sent for no rows.
func (db *DB) InsertFoldIndex(ctx context.Context, queryID string, h []uint64, lookup []string, seq []uint64, v []string) error {
	if len(h) == 0 {
		return nil
	}
	return db.insertColumns(ctx, queryID, "INSERT INTO "+db.Table("fold_index")+" (h, lookup, seq, v)", []any{h, lookup, seq, v})
}

// ScanFoldIndexKeys hands fn the lookup and value of every key row
// (lookup "k:…") of cds.fold_index whose hash is in [lo, hi], stopping at
// fn's first error.
func (db *DB) ScanFoldIndexKeys(ctx context.Context, lo, hi uint64, fn func(lookup, v string) error) error {
	return db.scanFoldIndex(ctx, "SELECT lookup, v FROM "+db.Table("fold_index")+" WHERE h >= ? AND h <= ? AND substring(lookup, 1, 2) = 'k:'", []any{lo, hi}, fn)
}

// scanFoldIndex runs q, a SELECT of lookup and v from cds.fold_index, and
// hands each row to fn, stopping at fn's first error.
func (db *DB) scanFoldIndex(ctx context.Context, q string, args []any, fn func(lookup, v string) error) error {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read fold index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var lookup, v string
		if err := rows.Scan(&lookup, &v); err != nil {
			return fmt.Errorf("read fold index: %w", err)
		}
		if err := fn(lookup, v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read fold index: %w", err)
	}
	return nil
}

// ScanFoldIndexSeqs hands fn the lookup and value of every row of
// cds.fold_index written by stream sequences in (from, to], stopping at
// fn's first error.
func (db *DB) ScanFoldIndexSeqs(ctx context.Context, from, to uint64, fn func(lookup, v string) error) error {
	return db.scanFoldIndex(ctx, "SELECT lookup, v FROM "+db.Table("fold_index")+" WHERE seq > ? AND seq <= ?", []any{from, to}, fn)
}

// FoldIndexFingerprintUpTo counts the rows of cds.fold_index written by
// stream sequences up to seq and sums their seq mod modulus (as
// Fingerprint does for the whole table).
func (db *DB) FoldIndexFingerprintUpTo(ctx context.Context, seq, modulus uint64) (rows, sum uint64, err error) {
	q := "SELECT count(), toUInt64(sum(seq % ?)) FROM " + db.Table("fold_index") + " WHERE seq <= ?"
	if err := db.QueryRow(ctx, q, modulus, seq).Scan(&rows, &sum); err != nil {
		return 0, 0, fmt.Errorf("fingerprint cds.fold_index up to seq %d: %w", seq, err)
	}
	return rows, sum, nil
}
