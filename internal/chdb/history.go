package chdb

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The statements against the score history (migrations/0011 to 0014):
// the refresher's inserts and deletions, the board's trend reads.

const (
	historyColumns = "as_of, milestone, unit, level, indicator, kind, numerator, denominator, value, target, expected, baseline, attainment, status, weight, period, catalog_version, registry_version, version, computed_at"
	unitColumns    = "as_of, milestone, unit, name, level, composite, rank, ranked, met, on_track, at_risk, off_track, no_data, catalog_version, registry_version, version, computed_at"
)

// HistoryRow is one row of cds.score_history: an indicator of a unit
// scored at a date for a milestone.
type HistoryRow struct {
	AsOf                                                      time.Time // a Date: 00:00 UTC of the day
	Milestone                                                 uint16
	Unit, Level, Indicator, Kind                              string
	Numerator, Denominator, Value, Target, Expected, Baseline *float64
	Attainment                                                float64
	Status                                                    string
	Weight                                                    float64
	Period, CatalogVersion, RegistryVersion                   string
	Version                                                   uint64
	ComputedAt                                                time.Time
}

// HistoryUnitRow is one row of cds.score_history_units: a unit's composite,
// rank and status counts at a date for a milestone.
type HistoryUnitRow struct {
	AsOf                                   time.Time // a Date: 00:00 UTC of the day
	Milestone                              uint16
	Unit, Name, Level                      string
	Composite                              float64
	Rank, Ranked                           uint32
	Met, OnTrack, AtRisk, OffTrack, NoData uint16
	CatalogVersion, RegistryVersion        string
	Version                                uint64
	ComputedAt                             time.Time
}

// HistoryBatch is one INSERT into each score-history table, in the making.
type HistoryBatch struct {
	hist, units driver.Batch
}

// NewHistoryBatch prepares the two INSERTs.
func (db *DB) NewHistoryBatch(ctx context.Context) (*HistoryBatch, error) {
	hist, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("score_history")+" ("+historyColumns+")")
	if err != nil {
		return nil, fmt.Errorf("insert score history: %w", err)
	}
	units, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("score_history_units")+" ("+unitColumns+")")
	if err != nil {
		hist.Abort()
		return nil, fmt.Errorf("insert score history units: %w", err)
	}
	return &HistoryBatch{hist: hist, units: units}, nil
}

// AddIndicator appends a row of cds.score_history.
func (b *HistoryBatch) AddIndicator(r HistoryRow) error {
	if err := b.hist.Append(r.AsOf, r.Milestone, r.Unit, r.Level, r.Indicator, r.Kind,
		r.Numerator, r.Denominator, r.Value, r.Target, r.Expected, r.Baseline,
		r.Attainment, r.Status, r.Weight, r.Period, r.CatalogVersion, r.RegistryVersion, r.Version, r.ComputedAt); err != nil {
		return fmt.Errorf("insert score history: %w", err)
	}
	return nil
}

// AddUnit appends a row of cds.score_history_units.
func (b *HistoryBatch) AddUnit(r HistoryUnitRow) error {
	if err := b.units.Append(r.AsOf, r.Milestone, r.Unit, r.Name, r.Level, r.Composite, r.Rank, r.Ranked,
		r.Met, r.OnTrack, r.AtRisk, r.OffTrack, r.NoData, r.CatalogVersion, r.RegistryVersion, r.Version, r.ComputedAt); err != nil {
		return fmt.Errorf("insert score history units: %w", err)
	}
	return nil
}

// Send sends the indicator rows, then the units'. A failure of the first
// aborts the second.
func (b *HistoryBatch) Send() error {
	if err := b.hist.Send(); err != nil {
		b.units.Abort()
		return fmt.Errorf("insert score history: %w", err)
	}
	if err := b.units.Send(); err != nil {
		return fmt.Errorf("insert score history units: %w", err)
	}
	return nil
}

// Abort drops both INSERTs.
func (b *HistoryBatch) Abort() {
	b.hist.Abort()
	b.units.Abort()
}

// deleteHistory deletes rows of both tables with an ALTER … DELETE
// mutation (ClickHouse applies it in the background); cond has one ?.
func (db *DB) deleteHistory(ctx context.Context, cond string, arg any) error {
	for _, t := range []string{"score_history", "score_history_units"} {
		if err := db.Exec(ctx, "ALTER TABLE "+db.Table(t)+" DELETE WHERE "+cond, arg); err != nil {
			return fmt.Errorf("delete score history rows where %s: %w", Inline(cond, []any{arg}), err)
		}
	}
	return nil
}

// DeleteHistoryBelow deletes the score-history rows of versions below version.
func (db *DB) DeleteHistoryBelow(ctx context.Context, version uint64) error {
	return db.deleteHistory(ctx, "version < ?", version)
}

// DeleteHistoryAt deletes the score-history rows of day (YYYY-MM-DD).
func (db *DB) DeleteHistoryAt(ctx context.Context, day string) error {
	return db.deleteHistory(ctx, "as_of = toDate(?)", day)
}

// TrendRow is one stored point of a unit's trend.
type TrendRow struct {
	Indicator, AsOf         string // AsOf: YYYY-MM-DD
	Value, Target, Expected *float64
	Status                  string
}

// trendSQL reads the latest version of a unit's rows up to a date.
const trendSQL = `SELECT indicator, toString(as_of), value, target, expected, status
FROM %s FINAL
WHERE milestone = ? AND level = ? AND unit = ? AND as_of <= toDate(?)
ORDER BY indicator, as_of`

// HistoryTrend returns the score-history rows of unit (of level) for
// milestone up to day asOf (YYYY-MM-DD), by indicator and date.
func (db *DB) HistoryTrend(ctx context.Context, milestone uint16, level, unit, asOf string) ([]TrendRow, error) {
	rows, err := db.Query(ctx, fmt.Sprintf(trendSQL, db.Table("score_history")), milestone, level, unit, asOf)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TrendRow
	for rows.Next() {
		var r TrendRow
		if err := rows.Scan(&r.Indicator, &r.AsOf, &r.Value, &r.Target, &r.Expected, &r.Status); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
