package history

import (
	"context"
	"errors"
	"fmt"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// Point is one date of an indicator's trend (the board's TrendPoint).
type Point struct {
	AsOf                    registry.Date
	Value, Target, Expected *float64
	Status                  string
}

// Store reads the score history.
type Store struct {
	db     *chdb.DB
	engine *scores.Engine
}

// NewStore returns a Store that reads db and scores with engine the dates
// the history does not hold (an as_of that is neither a month-end nor the
// day of the last refresh).
func NewStore(db *chdb.DB, engine *scores.Engine) *Store {
	return &Store{db: db, engine: engine}
}

// UnitTrends returns, per indicator code, the month-end points (from the catalogue baseline to asOf, plus asOf) of unit's scores for milestone.
//
// The month-ends come from cds.score_history; the point at asOf too when the
// history holds it, else the engine scores it (a unit not in force at asOf
// has no point there). An unknown unit is scores.ErrUnknownUnit.
func (s *Store) UnitTrends(ctx context.Context, unit string, milestone int, asOf registry.Date) (map[string][]Point, error) {
	u, ok := s.engine.Registry.Unit(unit)
	if !ok {
		return nil, fmt.Errorf("%w: %q", scores.ErrUnknownUnit, unit)
	}
	rows, err := s.db.HistoryTrend(ctx, uint16(milestone), string(u.Level), unit, asOf.String())
	if err != nil {
		return nil, fmt.Errorf("read score history of %s: %w", unit, err)
	}
	out := map[string][]Point{}
	haveAsOf := false
	for _, r := range rows {
		p := Point{Value: r.Value, Target: r.Target, Expected: r.Expected, Status: r.Status}
		if p.AsOf, err = registry.ParseDate(r.AsOf); err != nil {
			return nil, fmt.Errorf("read score history of %s: %w", unit, err)
		}
		// Skip an earlier "today" whose deletion has not run yet.
		if p.AsOf != asOf && !isMonthEnd(p.AsOf) {
			continue
		}
		haveAsOf = haveAsOf || p.AsOf == asOf
		out[r.Indicator] = append(out[r.Indicator], p)
	}
	if haveAsOf {
		return out, nil
	}
	score, err := s.engine.Unit(ctx, unit, scores.Query{AsOf: asOf, Milestone: milestone})
	if errors.Is(err, scores.ErrUnitNotInForce) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trend of %s at %s: %w", unit, asOf, err)
	}
	// The stored points are all before asOf.
	for _, ind := range score.Indicators {
		out[ind.Code] = append(out[ind.Code], Point{AsOf: asOf, Value: ind.Value, Target: ind.Target, Expected: ind.Expected, Status: ind.Status})
	}
	return out, nil
}
