package scores

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// Silent is a unit that emitted nothing for an indicator in the window.
type Silent struct {
	Unit      string     `json:"unit"`
	Level     string     `json:"level"`
	Indicator string     `json:"indicator"`
	LastEvent *time.Time `json:"last_event_at"` // latest occurred_at up to as_of, null if never
}

// Silence lists, for as_of and a window of days, every unit in force and
// indicator applying to its level for which the unit emitted no event of a
// feeding type with occurred_at in (as_of - days, as_of]. For the province,
// events of any unit count. A missing report must not look like a good score.
type Silence struct {
	AsOf   string   `json:"as_of"`
	Days   int      `json:"days"`
	Since  string   `json:"since"` // first day of the window
	Checks int      `json:"checks"`
	Silent []Silent `json:"silent"`
}

// Silence reports silent units; level filters the units when not empty.
func (e *Engine) Silence(ctx context.Context, q Query, days int, level registry.Level) (*Silence, error) {
	if days < 1 {
		return nil, fmt.Errorf("%w: days must be at least 1, got %d", ErrInvalidQuery, days)
	}
	if level != "" && !level.Valid() {
		return nil, fmt.Errorf("%w: %q (expected one of %v)", ErrUnknownLevel, level, registry.Levels())
	}
	q, err := e.resolve(q)
	if err != nil {
		return nil, err
	}
	lasts, err := e.Store.lastEvents(ctx, q.AsOf)
	if err != nil {
		return nil, fmt.Errorf("silence: %w", err)
	}
	return lasts.silent.get(silenceKey{days: days, level: level}, func() *Silence {
		return e.silence(lasts.last, q.AsOf, days, level)
	}), nil
}

// silence computes Silence's answer from the latest events per agency and
// type up to asOf.
func (e *Engine) silence(last lastEvents, asOf registry.Date, days int, level registry.Level) *Silence {
	since := asOf.AddDays(1 - days)
	out := &Silence{AsOf: asOf.String(), Days: days, Since: since.String(), Silent: []Silent{}}
	inds := e.indicators()
	for _, u := range e.Registry.InForce(asOf) {
		if level != "" && u.Level != level {
			continue
		}
		var agencies []string // nil = every agency (the province)
		if u.Parent != "" {
			agencies = e.ownUnits(u, asOf)
		}
		for _, ind := range inds {
			if !ind.AppliesTo(u.Level) {
				continue
			}
			f, ok := events.FeedingOf(ind.Code)
			if !ok {
				continue
			}
			out.Checks++
			latest, found := latestOf(last, agencies, f.Types)
			if found && !registry.DateOf(latest).Before(since) {
				continue
			}
			s := Silent{Unit: u.Code, Level: string(u.Level), Indicator: ind.Code}
			if found {
				s.LastEvent = &latest
			}
			out.Silent = append(out.Silent, s)
		}
	}
	return out
}

func latestOf(last map[string]map[string]time.Time, agencies []string, types []string) (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(byType map[string]time.Time) {
		for _, t := range types {
			if at, ok := byType[t]; ok && (!found || at.After(best)) {
				best, found = at, true
			}
		}
	}
	if agencies == nil {
		for _, byType := range last {
			consider(byType)
		}
	} else {
		for _, a := range agencies {
			consider(last[a])
		}
	}
	return best, found
}

// lastEvents is agency → type → the latest occurred_at on or before a day
// (chdb.DB.LastEvents).
type lastEvents = map[string]map[string]time.Time

// lastsEntry is the latest events of a day at one commit, as the Store
// keeps them, and the silence answers computed from them (shared: read
// only), by window and level: under a steady flow of commits every
// request between two commits would otherwise compute the same answer, a
// walk of every unit in force and indicator (the province's over every
// agency).
type lastsEntry struct {
	last   lastEvents
	silent *memo[silenceKey, *Silence] // nil: nothing kept
}

// silenceKey is what a silence answer was computed for, besides its day.
type silenceKey struct {
	days  int
	level registry.Level
}

// lastKey is what lastEvents were read for: the day, at the commit markers
// read just before.
type lastKey struct {
	mark mark
	day  registry.Date
}

// lastCacheSize is how many days' latest events a Store keeps.
const lastCacheSize = 8

// lastEvents reads the latest events per agency and type up to day at the
// commit of the commit markers read after the call (or of the Store's pin),
// from the cache while the markers have not moved since they were read,
// else by readLastEvents, one read for concurrent requests.
func (s *Store) lastEvents(ctx context.Context, day registry.Date) (*lastsEntry, error) {
	m, err := s.markOrPin(ctx)
	if err != nil {
		return nil, err
	}
	// The markers m may come from their copy cds.rollup_marks (readMark):
	// the events are read at the commit cds.rollup's markers say now, which
	// is m's or a later one, and kept under them, so that an answer never
	// rests on the copy alone.
	read := func(ctx context.Context) (lastEvents, mark, error) {
		var at mark
		last, err := admission.HoldValue(ctx, admission.Light, func(ctx context.Context) (lastEvents, error) {
			var err error
			if at, err = s.markOfRollup(ctx, m); err != nil {
				return lastEvents{}, err
			}
			return s.readLastEvents(ctx, day, at.watermark)
		})
		return last, at, err
	}
	if s.lasts == nil {
		last, _, err := read(ctx)
		return &lastsEntry{last: last}, err
	}
	return s.lasts.get(ctx, lastKey{mark: m, day: day}, func(ctx context.Context) (*lastsEntry, lastKey, error) {
		last, at, err := read(ctx)
		return &lastsEntry{last: last, silent: &memo[silenceKey, *Silence]{}}, lastKey{mark: at, day: day}, err
	})
}

// markOfRollup returns m when it was read from cds.rollup (or is the
// Store's pin), else what cds.rollup's commit markers sum to now.
func (s *Store) markOfRollup(ctx context.Context, m mark) (mark, error) {
	if s.pinned != nil || !s.marksCopy.Load() && s.markCopyReads.Load() == 0 {
		return m, nil
	}
	rm, err := s.db.ReadMarks(ctx)
	if err != nil {
		return mark{}, err
	}
	return markOf(rm), nil
}

// silenceStats counts silence's reads of the latest events (SilenceStats).
type silenceStats struct {
	copies, patched, fallbacks atomic.Uint64
}

// SilenceStats reports silence's reads of the latest events per agency and
// type: those read from cds.event_lasts, those of them that read some
// agencies and types from cds.events (rows of a commit after the one read
// were there), and those read by the scan of cds.events because the copy
// was behind the commit (docs/operations.md).
func (s *Store) SilenceStats() (copies, patched, fallbacks uint64) {
	return s.silence.copies.Load(), s.silence.patched.Load(), s.silence.fallbacks.Load()
}

// readLastEvents reads the latest events per agency and type up to day of
// the events folded up to seq (a commit): from cds.event_lasts
// (chdb.DB.LastEventsAt), else, when the copy is behind the commit, by the
// scan of cds.events (chdb.DB.LastEvents), counted as a fallback. A Store
// of NewStoreScan always scans.
func (s *Store) readLastEvents(ctx context.Context, day registry.Date, seq uint64) (lastEvents, error) {
	if !s.scanOnly {
		last, patched, err := s.db.LastEventsAt(ctx, day.String(), seq)
		if !errors.Is(err, chdb.ErrLastsBehind) {
			if err == nil {
				s.silence.copies.Add(1)
				if patched > 0 {
					s.silence.patched.Add(1)
				}
			}
			return last, err
		}
		s.silence.fallbacks.Add(1)
	}
	return s.db.LastEvents(ctx, day.String(), seq)
}
