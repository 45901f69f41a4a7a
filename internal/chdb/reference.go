package chdb

import (
	"context"
	"time"
)

// The statements against the reference tables (migrations/0004 to 0009):
// the catalogue and the registry as loaded for analysts to join against.

// Loaded reports whether version of kind ("catalog" or "registry") was
// loaded before.
func (db *DB) Loaded(ctx context.Context, kind, version string) (bool, error) {
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table("reference_loads")+" WHERE kind = ? AND version = ?", kind, version).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// RecordLoad records a load of version of kind at.
func (db *DB) RecordLoad(ctx context.Context, kind, version string, at time.Time) error {
	b, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("reference_loads")+" (kind, version, loaded_at)")
	if err != nil {
		return err
	}
	if err := b.Append(kind, version, at); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}

// IndicatorRow is one row of cds.indicators.
type IndicatorRow struct {
	CatalogVersion, Code, NameVI, NameEN, Unit, Kind, Direction string
	Weight                                                      float64
	Levels, Feeds                                               []string
	LoadedAt                                                    time.Time
}

// TargetRow is one row of cds.targets.
type TargetRow struct {
	CatalogVersion, Indicator string
	Year                      uint16
	Deadline                  time.Time // a Date: 00:00 UTC of the day
	Level                     string
	Target                    float64
	Comparison                string
	Tolerance                 float64
	Direction                 string
	LoadedAt                  time.Time
}

// UnitRow is one row of cds.units.
type UnitRow struct {
	RegistryVersion, Code, Name, NameEN, Level, Parent string
	ValidFrom                                          time.Time  // a Date: 00:00 UTC of the day
	ValidTo                                            *time.Time // nil: still in force
	Successor                                          string
	LoadedAt                                           time.Time
}

// insertRows runs one INSERT of n rows, row i appended by add(b, i).
func (db *DB) insertRows(ctx context.Context, insert string, n int, add func(i int) []any) error {
	b, err := db.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := b.Append(add(i)...); err != nil {
			b.Abort()
			return err
		}
	}
	return b.Send()
}

// InsertIndicators writes rows into cds.indicators in one INSERT.
func (db *DB) InsertIndicators(ctx context.Context, rows []IndicatorRow) error {
	return db.insertRows(ctx, "INSERT INTO "+db.Table("indicators")+" (catalog_version, code, name_vi, name_en, unit, kind, direction, weight, levels, feeds, loaded_at)",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.CatalogVersion, r.Code, r.NameVI, r.NameEN, r.Unit, r.Kind, r.Direction, r.Weight, r.Levels, r.Feeds, r.LoadedAt}
		})
}

// InsertTargets writes rows into cds.targets in one INSERT.
func (db *DB) InsertTargets(ctx context.Context, rows []TargetRow) error {
	return db.insertRows(ctx, "INSERT INTO "+db.Table("targets")+" (catalog_version, indicator, year, deadline, level, target, comparison, tolerance, direction, loaded_at)",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.CatalogVersion, r.Indicator, r.Year, r.Deadline, r.Level, r.Target, r.Comparison, r.Tolerance, r.Direction, r.LoadedAt}
		})
}

// InsertUnits writes rows into cds.units in one INSERT.
func (db *DB) InsertUnits(ctx context.Context, rows []UnitRow) error {
	return db.insertRows(ctx, "INSERT INTO "+db.Table("units")+" (registry_version, code, name, name_en, level, parent, valid_from, valid_to, successor, loaded_at)",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.RegistryVersion, r.Code, r.Name, r.NameEN, r.Level, r.Parent, r.ValidFrom, r.ValidTo, r.Successor, r.LoadedAt}
		})
}
