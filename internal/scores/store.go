package scores

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// DefaultCacheSize is how many snapshot pairs a Store keeps.
const DefaultCacheSize = 32

// Store reads rollup cells from ClickHouse.
//
// A snapshot sums every cell up to its day. day is the last column of
// cds.rollup's key, so reading one from it scans the cells of every day;
// a Store reads them from its copy cds.rollup_sums instead: the years
// before the day's year summed per year, the months of its year before its
// month summed per month and the days of its month (docs/design.md, "Score
// snapshots"), a small share of the rows. It reads the two snapshots a
// score needs and the commit markers of cds.rollup and of each grain of the
// copy in one query, uses the copy only when their markers agree with
// cds.rollup's, and else scans cds.rollup (counted: ReadStats).
//
// It keeps the pairs it read keyed by what the commit markers of cds.rollup
// sum to: the last stream sequence folded and the projector's fingerprints
// of the rows it wrote (see projector/doc.go). Every commit moves them in
// the same single-part insert as its cells, and the cells are a function of
// the events folded, so an entry is exact for as long as the markers say
// what they said when it was read. Each request reads the markers first:
// from their copy cds.rollup_marks (a few rows per part) while the Store
// trusts it, else from cds.rollup (they sort first in its key: a granule
// of 8,192 rows per part). Every read of a snapshot pair from the copies
// reads cds.rollup_marks too, and the Store trusts it from then on if it
// summed to what cds.rollup's markers did, and stops trusting it if not
// (docs/design.md, "Score snapshots"). An entry is kept only under markers
// that cds.rollup's said in the query that read it. This relies on the
// projector (and cds rebuild) being the only writers of cds.rollup, as
// projector/doc.go requires.
type Store struct {
	db    *chdb.DB
	cache *snapCache // nil: no cache
	// marks coalesces the reads of the commit markers (marks.go).
	marks markReads
	// lasts keeps the latest events per agency and type (silence.go) by
	// the commit markers read before them; nil when cache is.
	lasts *flightCache[lastKey, *lastsEntry]
	// pinned, when set, is the mark the cache is looked up with instead of
	// reading the markers: a Store of Engine.Preloaded (preload.go).
	pinned *mark
	// scanOnly reads every snapshot by the scan of cds.rollup (NewStoreScan).
	scanOnly bool
	// copyReads counts the snapshot pairs read from the copies of
	// cds.rollup, fallbacks those read by the scan because the copies
	// disagreed with cds.rollup's markers.
	copyReads, fallbacks atomic.Uint64
	// markReads counts the reads of the commit markers (readMark),
	// markCopyReads those of them from cds.rollup_marks.
	markReads, markCopyReads atomic.Uint64
	// marksCopy is set while the Store reads the commit markers from their
	// copy cds.rollup_marks: the last read of a snapshot pair from the
	// copies found it summed to what cds.rollup's markers did.
	marksCopy atomic.Bool
	drill     drillStats   // drilltable.go
	silence   silenceStats // silence.go
}

// NewStore returns a Store on db with a cache of DefaultCacheSize entries.
func NewStore(db *chdb.DB) *Store { return NewStoreCache(db, DefaultCacheSize) }

// NewStoreCache returns a Store on db that keeps up to size snapshot pairs;
// size 0 turns the cache off.
func NewStoreCache(db *chdb.DB, size int) *Store {
	s := &Store{db: db}
	if size > 0 {
		s.cache = newSnapCache(size)
		s.lasts = newFlightCache[lastKey, *lastsEntry](lastCacheSize, admission.Light)
	}
	return s
}

// NewStoreScan returns a Store on db without a cache that reads every
// snapshot pair by the scan of cds.rollup, never from its copies: the
// baseline cds bench measures the copies against.
func NewStoreScan(db *chdb.DB) *Store { return &Store{db: db, scanOnly: true} }

// ReadStats reports the snapshot pairs read from the copies of cds.rollup
// and those read by the scan of cds.rollup because the copies disagreed
// with its commit markers (docs/operations.md).
func (s *Store) ReadStats() (copies, fallbacks uint64) {
	return s.copyReads.Load(), s.fallbacks.Load()
}

// MarkReads reports the reads of the commit markers the Store ran: one per
// request, those of concurrent requests coalesced (marks.go); and those of
// them read from their copy cds.rollup_marks, not from cds.rollup.
func (s *Store) MarkReads() (all, fromCopy uint64) {
	return s.markReads.Load(), s.markCopyReads.Load()
}

// snapshot is the state of every indicator at the end of one day.
// Snapshots may be shared between requests: read only.
type snapshot struct {
	day registry.Date
	// own holds, per indicator and unit, the stock at day and the flow of
	// day's calendar year up to day.
	own map[string]map[string]events.Amount
	// reported holds, per indicator, reported year and dimension, the figures
	// known at day, for years up to day's year, summed over units.
	reported map[string]map[int]map[string]events.Amount
}

// mark is what the commit-marker rows of cds.rollup sum to, as
// chdb.Marks.Key encodes them (chdb owns the layout), and the last stream
// sequence folded that they say: equal marks, same commits.
type mark struct {
	key       string
	watermark uint64
}

func markOf(m chdb.Marks) mark { return mark{key: m.Key(), watermark: m.Watermark()} }

// readMark reads what the commit markers sum to now (after the call:
// one read for the requests that came while another was in flight).
// The shared read takes no read slot: it is one at a time per Store (the
// coalescing of markReads) and small (the marker rows of cds.rollup), and
// every request, those answered from the caches too, waits for it; queued
// behind the snapshot and drill-down reads it would add a wait for a slot
// to every answer. A request reading alone (the shared read failed) takes
// a light slot.
func (s *Store) readMark(ctx context.Context) (mark, error) {
	read := func(ctx context.Context) (mark, error) {
		s.markReads.Add(1)
		readMarks := s.db.ReadMarks
		if s.marksCopy.Load() {
			s.markCopyReads.Add(1)
			readMarks = s.db.ReadMarksCopy
		}
		m, err := readMarks(ctx)
		if err != nil {
			return mark{}, err
		}
		return markOf(m), nil
	}
	alone := func(ctx context.Context) (mark, error) { return admission.HoldValue(ctx, admission.Light, read) }
	return s.marks.read(ctx, read, alone)
}

// markOrPin returns the Store's pin when it has one, else the commit
// markers read after the call (readMark).
func (s *Store) markOrPin(ctx context.Context) (mark, error) {
	if s.pinned != nil {
		return *s.pinned, nil
	}
	return s.readMark(ctx)
}

// Marks returns what the commit markers sum to now, as the Store's own
// reads see them (readMark: read after the call, in the read shared by
// the requests that came meanwhile, which takes no read slot): their key
// (equal keys, same commits) and the sequence folded they say.
func (s *Store) Marks(ctx context.Context) (key string, watermark uint64, err error) {
	m, err := s.readMark(ctx)
	return m.key, m.watermark, err
}

// snapPair is the snapshots at two days and the commit markers they were
// read at: the scores computed from them are those of that commit.
type snapPair struct {
	snaps [2]*snapshot
	at    mark
	// ranked keeps the scores computed from the pair (levels.go); nil
	// for a pair not cached.
	ranked *rankedMemo
}

// codesKey is the part of a snapshot pair's cache key that names its
// indicators: the own codes, then the reported ones.
func codesKey(own, reported []string) string {
	return strings.Join(own, ",") + ";" + strings.Join(reported, ",")
}

// snapshots returns the snapshots at days a and b for the own and reported
// indicators, from the cache when the commit markers have not moved since
// they were read, and the markers they were read at (read after the call,
// or later when a commit came in while they were read).
func (s *Store) snapshots(ctx context.Context, a, b registry.Date, ownCodes, reportedCodes []string) (snapPair, error) {
	if s.cache == nil {
		return s.read(ctx, a, b, ownCodes, reportedCodes)
	}
	m, err := s.markOrPin(ctx)
	if err != nil {
		return snapPair{}, err
	}
	q := snapQuery{a: a, b: b, codes: codesKey(ownCodes, reportedCodes)}
	return s.cache.get(ctx, snapKey{mark: m, q: q}, func(ctx context.Context) (snapPair, snapKey, error) {
		p, err := s.read(ctx, a, b, ownCodes, reportedCodes)
		p.ranked = &rankedMemo{}
		return p, snapKey{mark: p.at, q: q}, err
	})
}

// copyAttempts is how many times read asks the copies of cds.rollup before
// it scans cds.rollup: a commit landing during the query makes their
// markers disagree for a moment, a lost part of a copy until the
// projector's recovery refills them.
const copyAttempts = 2

// read reads the snapshots at a and b and the markers they go with, in
// one query: from the copies of cds.rollup (chdb.DB.SnapshotCopies) while
// their commit markers agree with cds.rollup's, else by the scan of
// cds.rollup (chdb.DB.SnapshotCells), which it counts as a fallback.
func (s *Store) read(ctx context.Context, a, b registry.Date, ownCodes, reportedCodes []string) (snapPair, error) {
	return admission.HoldValue(ctx, admission.Light, func(ctx context.Context) (snapPair, error) {
		pair, m, err := s.readHeld(ctx, a, b, ownCodes, reportedCodes)
		return snapPair{snaps: pair, at: m}, err
	})
}

// readHeld is read once it holds a read slot (admission.Hold).
func (s *Store) readHeld(ctx context.Context, a, b registry.Date, ownCodes, reportedCodes []string) ([2]*snapshot, mark, error) {
	if !s.scanOnly {
		for range copyAttempts {
			pair, m, err := s.readWith(a, b, ownCodes, func(lo, hi registry.Date, fn func(chdb.SnapshotCell, bool)) (chdb.Marks, error) {
				marks, marksCopy, err := s.db.SnapshotCopies(ctx, lo.String(), hi.String(), lo.Year(), hi.Year(), ownCodes, reportedCodes, fn)
				if err == nil || errors.Is(err, chdb.ErrCopiesDisagree) {
					s.marksCopy.Store(marksCopy)
				}
				return marks, err
			})
			if !errors.Is(err, chdb.ErrCopiesDisagree) {
				if err == nil {
					s.copyReads.Add(1)
				}
				return pair, m, err
			}
		}
		s.fallbacks.Add(1)
	}
	return s.readWith(a, b, ownCodes, func(lo, hi registry.Date, fn func(chdb.SnapshotCell, bool)) (chdb.Marks, error) {
		return s.db.SnapshotCells(ctx, lo.String(), hi.String(), lo.Year(), hi.Year(), ownCodes, reportedCodes, fn)
	})
}

// readWith builds the snapshots at a and b from the cells scan hands its
// callback, split at the earlier day.
func (s *Store) readWith(a, b registry.Date, ownCodes []string, scan func(lo, hi registry.Date, fn func(chdb.SnapshotCell, bool)) (chdb.Marks, error)) ([2]*snapshot, mark, error) {
	lo, hi := a, b
	if hi.Before(lo) {
		lo, hi = hi, lo
	}
	snapLo, snapHi := newSnapshot(lo), newSnapshot(hi)
	own := make(map[string]bool, len(ownCodes))
	for _, c := range ownCodes {
		own[c] = true
	}
	// Reported figures are summed over units first and kept only where the
	// sum of n is positive (a retracted report leaves n = 0).
	marks, err := scan(lo, hi, func(c chdb.SnapshotCell, uptoLo bool) {
		if own[c.Indicator] {
			if uptoLo {
				snapLo.addOwn(c.Indicator, c.Unit, c.Period, c.Amount)
			}
			snapHi.addOwn(c.Indicator, c.Unit, c.Period, c.Amount)
			return
		}
		if uptoLo {
			snapLo.addReported(c.Indicator, c.Period, c.Dim, c.Amount)
		}
		snapHi.addReported(c.Indicator, c.Period, c.Dim, c.Amount)
	})
	if errors.Is(err, chdb.ErrCopiesDisagree) {
		return [2]*snapshot{}, mark{}, err
	}
	if err != nil {
		return [2]*snapshot{}, mark{}, fmt.Errorf("read cells at %s and %s: %w", lo, hi, err)
	}
	snapLo.dropUnreported()
	snapHi.dropUnreported()
	if a == lo {
		return [2]*snapshot{snapLo, snapHi}, markOf(marks), nil
	}
	return [2]*snapshot{snapHi, snapLo}, markOf(marks), nil
}

func newSnapshot(day registry.Date) *snapshot {
	return &snapshot{day: day, own: map[string]map[string]events.Amount{}, reported: map[string]map[int]map[string]events.Amount{}}
}

// addOwn adds a cell of an own indicator: the stock, or the flow of the
// snapshot's year.
func (s *snapshot) addOwn(ind, unit string, period uint16, c events.Amount) {
	if period != 0 && int(period) != s.day.Year() {
		return
	}
	if s.own[ind] == nil {
		s.own[ind] = map[string]events.Amount{}
	}
	a := s.own[ind][unit]
	s.own[ind][unit] = events.Amount{Num: a.Num + c.Num, Den: a.Den + c.Den, N: a.N + c.N}
}

// addReported adds a cell of a reported indicator for a year up to the
// snapshot's year, summed over units.
func (s *snapshot) addReported(ind string, period uint16, dim string, c events.Amount) {
	if period == 0 || int(period) > s.day.Year() {
		return
	}
	years := s.reported[ind]
	if years == nil {
		years = map[int]map[string]events.Amount{}
		s.reported[ind] = years
	}
	if years[int(period)] == nil {
		years[int(period)] = map[string]events.Amount{}
	}
	a := years[int(period)][dim]
	years[int(period)][dim] = events.Amount{Num: a.Num + c.Num, Den: a.Den + c.Den, N: a.N + c.N}
}

// dropUnreported removes reported figures whose states sum to zero: no
// report counts for that year and dimension.
func (s *snapshot) dropUnreported() {
	for ind, years := range s.reported {
		for y, dims := range years {
			for d, a := range dims {
				if a.N <= 0 {
					delete(dims, d)
				}
			}
			if len(dims) == 0 {
				delete(years, y)
			}
		}
		if len(years) == 0 {
			delete(s.reported, ind)
		}
	}
}

// snapQuery is what a snapshot pair was read for.
type snapQuery struct {
	a, b  registry.Date
	codes string // own codes ";" reported codes
}

type snapKey struct {
	mark mark
	q    snapQuery
}

// snapCache is the snapshot pairs' flightCache (cache.go).
type snapCache = flightCache[snapKey, snapPair]

func newSnapCache(max int) *snapCache {
	return newFlightCache[snapKey, snapPair](max, admission.Light)
}

// CacheStats reports the snapshot cache: entries held, requests served
// from it (or from a read another request ran) and reads run.
func (s *Store) CacheStats() (entries int, hits, misses uint64) {
	if s.cache == nil {
		return 0, 0, 0
	}
	return s.cache.stats()
}
