package chdb

import (
	"context"
	"fmt"
)

// The statements against cds.fold_index (migrations/0010_fold_index.sql)
// that the projector's batches and rewinds run. The running projector's
// lookups by hash are still in projector/index.go, whose read path is
// being replaced by a local store.

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
	rows, err := db.Query(ctx, "SELECT lookup, v FROM "+db.Table("fold_index")+" WHERE h >= ? AND h <= ? AND substring(lookup, 1, 2) = 'k:'", lo, hi)
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
