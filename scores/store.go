package scores

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/chdb"
	"github.com/bacgiang/cds/fold"
	"github.com/bacgiang/cds/registry"
)

// Store reads rollup cells from ClickHouse.
type Store struct {
	db *chdb.DB
}

// NewStore returns a Store on db.
func NewStore(db *chdb.DB) *Store { return &Store{db: db} }

// snapshot is the state of every indicator at the end of one day.
type snapshot struct {
	day registry.Date
	// own holds, per indicator and unit, the stock at day and the flow of
	// day's calendar year up to day.
	own map[string]map[string]fold.Amount
	// reported holds, per indicator, reported year and dimension, the figures
	// known at day, for years up to day's year, summed over units.
	reported map[string]map[int]map[string]fold.Amount
}

// ownSQL sums each unit's cells: stocks (period 0) and the flow of the year.
// Flow cells always carry a year >= 2000, stock cells 0, so one filter serves
// both.
const ownSQL = `SELECT indicator, unit, sum(num), sum(den), toInt64(sum(n))
FROM %s
WHERE indicator IN ? AND day <= ? AND period IN (0, ?)
GROUP BY indicator, unit`

// reportedSQL sums the province-wide reported figures per year and dimension.
const reportedSQL = `SELECT indicator, period, dim, sum(num), sum(den), toInt64(sum(n))
FROM %s
WHERE indicator IN ? AND day <= ? AND period <= ? AND period > 0
GROUP BY indicator, period, dim
HAVING sum(n) > 0`

// set binds a list for IN; a plain slice would bind as an Array literal.
func set(codes []string) clickhouse.GroupSet {
	vs := make([]any, len(codes))
	for i, c := range codes {
		vs[i] = c
	}
	return clickhouse.GroupSet{Value: vs}
}

func (s *Store) snapshot(ctx context.Context, day registry.Date, ownCodes, reportedCodes []string) (*snapshot, error) {
	snap := &snapshot{day: day, own: map[string]map[string]fold.Amount{}, reported: map[string]map[int]map[string]fold.Amount{}}
	d := day.Start()
	dayArg := d.Format("2006-01-02")
	year := uint16(day.Year())
	if len(ownCodes) > 0 {
		rows, err := s.db.Query(ctx, fmt.Sprintf(ownSQL, s.db.Table("rollup")), set(ownCodes), dayArg, year)
		if err != nil {
			return nil, fmt.Errorf("read cells at %s: %w", day, err)
		}
		for rows.Next() {
			var ind, unit string
			var a fold.Amount
			if err := rows.Scan(&ind, &unit, &a.Num, &a.Den, &a.N); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read cells at %s: %w", day, err)
			}
			if snap.own[ind] == nil {
				snap.own[ind] = map[string]fold.Amount{}
			}
			snap.own[ind][unit] = a
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read cells at %s: %w", day, err)
		}
	}
	if len(reportedCodes) > 0 {
		rows, err := s.db.Query(ctx, fmt.Sprintf(reportedSQL, s.db.Table("rollup")), set(reportedCodes), dayArg, year)
		if err != nil {
			return nil, fmt.Errorf("read reported figures at %s: %w", day, err)
		}
		for rows.Next() {
			var ind, dim string
			var period uint16
			var a fold.Amount
			if err := rows.Scan(&ind, &period, &dim, &a.Num, &a.Den, &a.N); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read reported figures at %s: %w", day, err)
			}
			if snap.reported[ind] == nil {
				snap.reported[ind] = map[int]map[string]fold.Amount{}
			}
			if snap.reported[ind][int(period)] == nil {
				snap.reported[ind][int(period)] = map[string]fold.Amount{}
			}
			snap.reported[ind][int(period)][dim] = a
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read reported figures at %s: %w", day, err)
		}
	}
	return snap, nil
}
