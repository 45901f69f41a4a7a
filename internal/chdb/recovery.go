package chdb

import (
	"context"
	"fmt"
	"slices"
)

// The statements of the projector's recovery and rewind (projector/doc.go):
// what it counts, deletes and waits for in cds.events, cds.fold_index and
// cds.rollup, and in the server's system tables.

// batchTables are the tables each batch writes before its commit marker,
// with the stream sequence of each row in column seq.
var batchTables = []string{"events", "fold_index"}

// projectionTables are the tables the projector writes.
var projectionTables = []string{"rollup", "events", "fold_index"}

func checkTable(table string, of []string) error {
	if !slices.Contains(of, table) {
		return fmt.Errorf("chdb: %q is not one of %v", table, of)
	}
	return nil
}

// RunningQueries counts the queries in system.processes, on any database,
// whose id starts with prefix.
func (db *DB) RunningQueries(ctx context.Context, prefix string) (uint64, error) {
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM system.processes WHERE substring(query_id, 1, ?) = ?", uint64(len(prefix)), prefix).Scan(&n); err != nil {
		return 0, fmt.Errorf("look for running inserts: %w", err)
	}
	return n, nil
}

// Fingerprint counts the rows of a batch table (events or fold_index) and
// sums their seq mod modulus.
func (db *DB) Fingerprint(ctx context.Context, table string, modulus uint64) (rows, sum uint64, err error) {
	if err := checkTable(table, batchTables); err != nil {
		return 0, 0, err
	}
	q := "SELECT count(), toUInt64(sum(seq % ?)) FROM " + db.Table(table)
	if err := db.QueryRow(ctx, q, modulus).Scan(&rows, &sum); err != nil {
		return 0, 0, fmt.Errorf("fingerprint cds.%s: %w", table, err)
	}
	return rows, sum, nil
}

// Count counts the rows of a table the projector writes.
func (db *DB) Count(ctx context.Context, table string) (uint64, error) {
	if err := checkTable(table, projectionTables); err != nil {
		return 0, err
	}
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count cds.%s: %w", table, err)
	}
	return n, nil
}

// CountProjections counts the rows of cds.rollup, cds.events and
// cds.fold_index together, in one query.
func (db *DB) CountProjections(ctx context.Context) (uint64, error) {
	var n uint64
	q := "SELECT (SELECT count() FROM " + db.Table("rollup") + ") + (SELECT count() FROM " + db.Table("events") +
		") + (SELECT count() FROM " + db.Table("fold_index") + ")"
	if err := db.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("count projections: %w", err)
	}
	return n, nil
}

// Truncate empties a table the projector writes; cds.rollup's copies
// (copies.go) and the drill-down tables (drilltable.go) are emptied with it, after it:
// its markers go first; cds.events' copy cds.event_lasts (lasts.go) with
// cds.events.
func (db *DB) Truncate(ctx context.Context, table string) error {
	if err := checkTable(table, projectionTables); err != nil {
		return err
	}
	if err := db.truncate(ctx, table); err != nil {
		return err
	}
	if table == "events" {
		// Its copy of the latest events (lasts.go): a maximum left over
		// would outlive the rows it was taken from.
		if err := db.truncate(ctx, "event_lasts"); err != nil {
			return err
		}
	}
	if table == "rollup" {
		if err := db.TruncateCopies(ctx); err != nil {
			return err
		}
		if err := db.truncateDrill(ctx); err != nil {
			return err
		}
	}
	return nil
}

// BatchTables are the tables whose rows above a sequence DeleteAbove
// removes: those each batch writes before its commit marker.
func BatchTables() []string { return slices.Clone(batchTables) }

// CountAbove counts the rows of a batch table with seq above mark.
func (db *DB) CountAbove(ctx context.Context, table string, mark uint64) (uint64, error) {
	if err := checkTable(table, batchTables); err != nil {
		return 0, err
	}
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table(table)+" WHERE seq > ?", mark).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unfinished rows of %s: %w", table, err)
	}
	return n, nil
}

// DeleteAbove starts the mutation that deletes the rows of a batch table
// with seq above mark (PendingDeletes says when it has finished).
func (db *DB) DeleteAbove(ctx context.Context, table string, mark uint64) error {
	if err := checkTable(table, batchTables); err != nil {
		return err
	}
	if err := db.Exec(ctx, "ALTER TABLE "+db.Table(table)+" DELETE WHERE seq > ?", mark); err != nil {
		return fmt.Errorf("delete unfinished rows of %s: %w", table, err)
	}
	return nil
}

// PendingDeletes counts the mutations of the batch tables not done yet.
func (db *DB) PendingDeletes(ctx context.Context) (uint64, error) {
	var left uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table IN ? AND is_done = 0", db.Name, Set(batchTables)).Scan(&left); err != nil {
		return 0, fmt.Errorf("wait for delete: %w", err)
	}
	return left, nil
}

// DropDatabase drops the whole database of db, every table of cds with
// it: for throwaway databases (cds bench).
func (db *DB) DropDatabase(ctx context.Context) error {
	if err := db.Exec(ctx, "DROP DATABASE IF EXISTS `"+db.Name+"`"); err != nil {
		return fmt.Errorf("drop database %s: %w", db.Name, err)
	}
	return nil
}
