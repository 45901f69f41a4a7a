package scores

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/chdb"
)

// DefaultDrillCacheSize is how many drill-down answers a DrillCache keeps.
const DefaultDrillCacheSize = 256

// DrillCache keeps the pages and totals of drill-downs by the commit they
// were read at (the commit markers: docs/design.md's exactness holds for
// as long as they do not move), so that the next pages of a drill-down
// cost one listing query and no count, and a repeated request none.
// Concurrent requests for the same page or total wait for one read (the
// package's flightCache, as the snapshots of a Store). Entries are few
// and small (a page of at most MaxDrillLimit rows, or a count); the least
// recently used go first.
//
// A page is also kept as the latest read of its drill-down (latest), so
// that at a later commit it is carried over rather than read again when
// the commits in between did not move a row deciding it: their changes,
// read from cds.drill_log (chdb.DB.DrillSince, a few rows per commit),
// give the new total, and the rows are those of the earlier commit
// (docs/design.md, "The drill-down table"). Commits landing every 200 ms
// then cost a drill-down that read of the log, not a page read.
type DrillCache struct {
	c *flightCache[string, drillEntry]
	// logs keeps the changes of a drill-down's rows between two commits
	// (chdb.DB.DrillLogSince), so that its pages carried over the same
	// commits (the first and the next pages of a district, say) share
	// one read of the log.
	logs *flightCache[drillLogKey, *chdb.DrillLog]

	mu     sync.Mutex
	latest map[string]drillEntry // by drillPageKey: the page at its newest commit read
	max    int
	// carried counts the pages carried over to a later commit.
	carried atomic.Uint64
}

// drillEntry is a page (rows, and its total when it was read with the
// page, -1 otherwise) or a total alone, and the commit it is exact at.
type drillEntry struct {
	rows  []Contributor
	total int64
	at    uint64 // the commit read at (mark.watermark)
}

// NewDrillCache returns a cache of size entries (DefaultDrillCacheSize when
// size <= 0).
func NewDrillCache(size int) *DrillCache {
	if size <= 0 {
		size = DefaultDrillCacheSize
	}
	// Drill: a drill-down is read from the drill-down tables, a page's
	// worth of rows, unless they cannot answer at its commit; a wait for
	// another request's read is shed in the class of that read.
	return &DrillCache{c: newFlightCache[string, drillEntry](size, admission.Drill), logs: newFlightCache[drillLogKey, *chdb.DrillLog](drillLogCacheSize, admission.Light),
		latest: map[string]drillEntry{}, max: size}
}

// drillLogCacheSize is how many reads of cds.drill_log a DrillCache keeps:
// those of the last commits, a few per drill-down asked.
const drillLogCacheSize = 64

// drillLogKey names a read of cds.drill_log: the drill-down (drillPageKey
// of no page) and the commits after from up to to.
type drillLogKey struct {
	filter   string
	from, to uint64
}

// logSince returns the changes of f's rows by the commits after from up
// to *f.UpTo (chdb.DB.DrillLogSince, admitted as a light read: a few rows
// per commit), one read for the requests that ask for the same (without
// a cache, its own).
func (c *DrillCache) logSince(ctx context.Context, db *chdb.DB, f chdb.DrillFilter, from uint64) (*chdb.DrillLog, error) {
	read := func(ctx context.Context) (*chdb.DrillLog, error) {
		return admission.HoldValue(ctx, admission.Light, func(ctx context.Context) (*chdb.DrillLog, error) {
			return db.DrillLogSince(ctx, f, from)
		})
	}
	if c == nil || f.UpTo == nil {
		return read(ctx)
	}
	k := drillLogKey{filter: drillPageKey("", f, false, 0, 0), from: from, to: *f.UpTo}
	return c.logs.get(ctx, k, func(ctx context.Context) (*chdb.DrillLog, drillLogKey, error) {
		l, err := read(ctx)
		return l, k, err
	})
}

// Stats returns the entries held, the requests answered without a read of
// their own (from an entry, or from a read another request ran) and the
// reads run (pages carried over to a later commit included: Carried).
func (c *DrillCache) Stats() (entries int, hits, misses uint64) { return c.c.stats() }

// Carried returns how many pages were carried over to a later commit
// from an earlier one (with the changes of the commits in between read
// from cds.drill_log) instead of being read again.
func (c *DrillCache) Carried() uint64 {
	if c == nil {
		return 0
	}
	return c.carried.Load()
}

// LogReads returns how many reads of cds.drill_log the cache ran to
// carry pages over to a later commit (logSince).
func (c *DrillCache) LogReads() uint64 {
	if c == nil {
		return 0
	}
	_, _, n := c.logs.stats()
	return n
}

// drillKey names what a drill-down read at m: the indicator its rows'
// contributions are to ("" for a total), its filter (with UpTo) and the
// page asked (page < 0 for the total).
func drillKey(m mark, indicator string, f chdb.DrillFilter, all bool, offset, limit int) string {
	return fmt.Sprintf("%q|%d|%s", m.key, m.watermark, drillPageKey(indicator, f, all, offset, limit))
}

// drillPageKey names a page of a drill-down whatever the commit.
func drillPageKey(indicator string, f chdb.DrillFilter, all bool, offset, limit int) string {
	f.UpTo = nil
	return fmt.Sprintf("%q|%#v|%t|%d|%d", indicator, f, all, offset, limit)
}

// get returns the entry of key, read by read on a miss (always, without a
// cache).
func (c *DrillCache) get(ctx context.Context, key string, read func(context.Context) (drillEntry, error)) (drillEntry, error) {
	if c == nil {
		return read(ctx)
	}
	return c.c.get(ctx, key, func(ctx context.Context) (drillEntry, string, error) {
		e, err := read(ctx)
		return e, key, err
	})
}

// before returns the latest page of page (drillPageKey) read at a commit
// before at, if any.
func (c *DrillCache) before(page string, at uint64) (drillEntry, bool) {
	if c == nil {
		return drillEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.latest[page]
	return e, ok && e.at < at
}

// keep records e as the latest page of page unless a later one is kept.
// Beyond max pages it forgets one of them, any.
func (c *DrillCache) keep(page string, e drillEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.latest[page]; ok && old.at >= e.at {
		return
	}
	if _, ok := c.latest[page]; !ok && len(c.latest) >= c.max {
		for k := range c.latest {
			delete(c.latest, k)
			break
		}
	}
	c.latest[page] = e
}
