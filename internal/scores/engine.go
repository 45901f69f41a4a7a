package scores

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// Engine scores units of a registry against a catalogue from a Store.
type Engine struct {
	Catalog  *catalog.Catalog
	Registry *registry.Registry
	Store    *Store
	// Now gives the default as_of; nil means time.Now.
	Now func() time.Time
	// Drills, when not nil, keeps drill-down pages and totals by commit
	// (drillcache.go).
	Drills *DrillCache

	// inds keeps Catalog's indicators (indicators).
	inds atomic.Pointer[catalogIndicators]
}

// catalogIndicators is a catalogue's indicators, as Catalog.Indicators
// copies them, and the codes of its own and of its reported indicators
// (of every level), in file order.
type catalogIndicators struct {
	cat           *catalog.Catalog
	inds          []catalog.Indicator
	own, reported []string
}

// indicators returns e.Catalog's indicators, in file order, copied once
// per catalogue rather than per call (Catalog.Indicators copies every
// indicator and its milestones: per request, and per unit of a silence
// answer, that was a tenth of the API's CPU under 32 readers and much of
// its garbage). Shared: read only.
func (e *Engine) indicators() []catalog.Indicator { return e.catalogIndicators().inds }

func (e *Engine) catalogIndicators() *catalogIndicators {
	if c := e.inds.Load(); c != nil && c.cat == e.Catalog {
		return c
	}
	c := &catalogIndicators{cat: e.Catalog, inds: e.Catalog.Indicators()}
	c.own, c.reported = splitCodes(c.inds)
	e.inds.Store(c)
	return c
}

// snapCodes returns the codes of the own and reported indicators whose
// cells the snapshot pair of a score of inds (a level's indicators) is
// read with. shared (a Store with a cache): those of every level, so that
// one pair per commit and as_of serves every level's scores, and after a
// commit the league tables, the unit scores and the drill-downs' scores
// wait for one read of the cells instead of one per set of indicators (the
// province's and the other levels': two in the shipped catalogue, whose
// province set holds the others). Else inds' own, the fewest rows.
func (e *Engine) snapCodes(inds []catalog.Indicator, shared bool) (own, reported []string) {
	if shared {
		c := e.catalogIndicators()
		return c.own, c.reported
	}
	return splitCodes(inds)
}

// splitCodes returns the codes of inds' own and of their reported
// indicators, in inds' order.
func splitCodes(inds []catalog.Indicator) (own, reported []string) {
	for _, ind := range inds {
		if ind.Kind.Reported() {
			reported = append(reported, ind.Code)
		} else {
			own = append(own, ind.Code)
		}
	}
	return own, reported
}

// Query selects what to score.
type Query struct {
	AsOf      registry.Date // zero: today (province time)
	Milestone int           // 0: the next milestone on or after AsOf
}

// LevelScores is the answer for every unit of one level.
type LevelScores struct {
	Level     string       `json:"level"`
	Milestone int          `json:"milestone"`
	AsOf      string       `json:"as_of"`
	Catalog   string       `json:"catalog_version"`
	Units     []*UnitScore `json:"units"`
}

func (e *Engine) resolve(q Query) (Query, error) {
	if q.AsOf.IsZero() {
		now := time.Now
		if e.Now != nil {
			now = e.Now
		}
		q.AsOf = registry.DateOf(now())
	}
	if q.Milestone == 0 {
		y, ok := e.Catalog.NextMilestone(q.AsOf)
		if !ok {
			ms := e.Catalog.Milestones()
			y = ms[len(ms)-1]
		}
		q.Milestone = y
	}
	for _, y := range e.Catalog.Milestones() {
		if y == q.Milestone {
			return q, nil
		}
	}
	return q, fmt.Errorf("%w: %d (the catalogue has %v)", ErrUnknownMilestone, q.Milestone, e.Catalog.Milestones())
}

// Level scores every unit of a level in force at q.AsOf, ranked.
func (e *Engine) Level(ctx context.Context, level registry.Level, q Query) (*LevelScores, error) {
	if !level.Valid() {
		return nil, fmt.Errorf("%w: %q (expected one of %v)", ErrUnknownLevel, level, registry.Levels())
	}
	q, err := e.resolve(q)
	if err != nil {
		return nil, err
	}
	units, _, err := e.score(ctx, level, q)
	if err != nil {
		return nil, err
	}
	return &LevelScores{Level: string(level), Milestone: q.Milestone, AsOf: q.AsOf.String(), Catalog: e.Catalog.Version(), Units: units}, nil
}

// Unit scores one unit, ranked among the units of its level.
func (e *Engine) Unit(ctx context.Context, code string, q Query) (*UnitScore, error) {
	s, _, err := e.unitAt(ctx, code, q)
	return s, err
}

// unitAt is Unit and the commit markers its score was read at.
func (e *Engine) unitAt(ctx context.Context, code string, q Query) (*UnitScore, mark, error) {
	u, ok := e.Registry.Unit(code)
	if !ok {
		return nil, mark{}, fmt.Errorf("%w: %q", ErrUnknownUnit, code)
	}
	q, err := e.resolve(q)
	if err != nil {
		return nil, mark{}, err
	}
	if !u.InForce(q.AsOf) {
		to := u.ValidTo.String()
		if to == "" {
			to = "open"
		}
		return nil, mark{}, fmt.Errorf("%w: %s is valid from %s to %s, as_of is %s", ErrUnitNotInForce, code, u.ValidFrom, to, q.AsOf)
	}
	units, m, err := e.score(ctx, u.Level, q)
	if err != nil {
		return nil, mark{}, err
	}
	for _, s := range units {
		if s.Unit == code {
			return s, m, nil
		}
	}
	return nil, mark{}, fmt.Errorf("%w: %s", ErrUnitNotInForce, code)
}

// score computes and ranks all units of a level, at the commit markers it
// returns; once per level, as_of and milestone for a snapshot pair of the
// Store's cache (levels.go). The scores are shared: read only.
func (e *Engine) score(ctx context.Context, level registry.Level, q Query) ([]*UnitScore, mark, error) {
	var inds []catalog.Indicator
	for _, ind := range e.indicators() {
		if ind.AppliesTo(level) {
			inds = append(inds, ind)
		}
	}
	own, reported := e.snapCodes(inds, e.Store.cache != nil)
	// Both snapshots come from one scan of the cells (or from the cache).
	baseDate := e.Catalog.BaselineDate()
	pair, err := e.Store.snapshots(ctx, q.AsOf, baseDate, own, reported)
	if err != nil {
		return nil, mark{}, err
	}
	units := pair.ranked.get(rankedKey{level: level, asOf: q.AsOf, milestone: q.Milestone}, func() []*UnitScore {
		return e.rank(level, q, inds, pair)
	})
	return units, pair.at, nil
}

// rank computes and ranks the units of level in force at q.AsOf from the
// snapshots of pair.
func (e *Engine) rank(level registry.Level, q Query, inds []catalog.Indicator, pair snapPair) []*UnitScore {
	baseDate := e.Catalog.BaselineDate()
	now, base := pair.snaps[0], pair.snaps[1]
	inForce := e.Registry.InForce(q.AsOf)
	inForceBase := e.Registry.InForce(baseDate)
	var out []*UnitScore
	for _, u := range inForce {
		if u.Level != level {
			continue
		}
		var own, ownBase map[string]bool
		if u.Parent != "" {
			own, ownBase = setOf(e.ownUnits(u, q.AsOf)), setOf(e.ownUnits(u, baseDate))
		}
		s := &UnitScore{Unit: u.Code, Name: u.Name, Level: string(u.Level), Milestone: q.Milestone, AsOf: q.AsOf.String()}
		for _, ind := range inds {
			ms, hasTarget := ind.Milestone(q.Milestone)
			fNow := compute(ind, own, now, inForce)
			fBase := compute(ind, ownBase, base, inForceBase)
			if !hasTarget {
				s.Indicators = append(s.Indicators, untargeted(ind, q.Milestone, fNow))
				continue
			}
			s.Indicators = append(s.Indicators, judge(ind, ms, u.Level, baseDate, q.AsOf, fNow, fBase))
		}
		s.Composite = composite(s.Indicators)
		out = append(out, s)
	}
	rankAll(out)
	return out
}

// ownUnits returns the units whose events are unit's own at d: the unit and,
// recursively, the units merged into it (their successor is unit) that are no
// longer in force at d. Their numerators and denominators are re-summed with
// the unit's, so a merged unit's history continues in its successor, and
// before the merger each unit stands alone.
func (e *Engine) ownUnits(u registry.Unit, d registry.Date) []string {
	out := []string{u.Code}
	for i := 0; i < len(out); i++ {
		for _, p := range e.Registry.Predecessors(out[i]) {
			if pu, ok := e.Registry.Unit(p); ok && !pu.InForce(d) && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
