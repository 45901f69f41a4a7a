package scores

import (
	"context"
	"fmt"

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
type DrillCache struct {
	c *flightCache[string, drillEntry]
}

// drillEntry is a page (rows, and its total when it was read with the
// page, -1 otherwise) or a total alone.
type drillEntry struct {
	rows  []Contributor
	total int64
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
	return &DrillCache{c: newFlightCache[string, drillEntry](size, admission.Drill)}
}

// Stats returns the entries held, the requests answered without a read of
// their own (from an entry, or from a read another request ran) and the
// reads run.
func (c *DrillCache) Stats() (entries int, hits, misses uint64) { return c.c.stats() }

// drillKey names what a drill-down read at m: its filter (with UpTo) and
// the page asked (page < 0 for the total).
func drillKey(m mark, f chdb.DrillFilter, all bool, offset, limit int) string {
	f.UpTo = nil
	return fmt.Sprintf("%q|%d|%#v|%t|%d|%d", m.key, m.watermark, f, all, offset, limit)
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
