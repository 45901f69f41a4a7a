package chdb

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The statements against cds.fold_index (migrations/0010_fold_index.sql)
// that the projector's batches, state loads, lookups and rewinds run.

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

// ScanFoldIndexByHash hands fn the lookup and value of every row of
// cds.fold_index whose hash is one of hs (rows of other lookups with the
// same hash included: the caller keeps those it asked for), stopping at
// fn's first error.
func (db *DB) ScanFoldIndexByHash(ctx context.Context, hs []uint64, fn func(lookup, v string) error) error {
	set := make([]any, len(hs))
	for i, h := range hs {
		set[i] = h
	}
	return db.scanFoldIndex(ctx, "SELECT lookup, v FROM "+db.Table("fold_index")+" WHERE h IN ?", []any{clickhouse.GroupSet{Value: set}}, fn)
}

// ScanFoldIndexHashes hands fn the hash of every row of cds.fold_index
// (the column the projector's Bloom filter is loaded from).
func (db *DB) ScanFoldIndexHashes(ctx context.Context, fn func(h uint64)) error {
	rows, err := db.Query(ctx, "SELECT h FROM "+db.Table("fold_index"))
	if err != nil {
		return fmt.Errorf("load fold index: %w", err)
	}
	defer rows.Close()
	var h uint64
	for rows.Next() {
		if err := rows.Scan(&h); err != nil {
			return fmt.Errorf("load fold index: %w", err)
		}
		fn(h)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load fold index: %w", err)
	}
	return nil
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
