package scores

import (
	"fmt"
	"sync"

	"github.com/bacgiang/cds/internal/chdb"
)

// DefaultDrillCacheSize is how many drill-down answers a DrillCache keeps.
const DefaultDrillCacheSize = 256

// DrillCache keeps the pages and totals of drill-downs by the commit they
// were read at (the commit markers: docs/design.md's exactness holds for
// as long as they do not move), so that the next pages of a drill-down
// cost one listing query and no count, and a repeated request none.
// Entries are few and small (a page of at most MaxDrillLimit rows, or a
// count); the oldest go first.
type DrillCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]drillEntry
	order   []string // keys, oldest first
	hits    uint64
	misses  uint64
}

type drillEntry struct {
	rows  []Contributor
	total uint64
}

// NewDrillCache returns a cache of size entries (DefaultDrillCacheSize when
// size <= 0).
func NewDrillCache(size int) *DrillCache {
	if size <= 0 {
		size = DefaultDrillCacheSize
	}
	return &DrillCache{size: size, entries: map[string]drillEntry{}}
}

// Stats returns the entries held and the hits and misses so far.
func (c *DrillCache) Stats() (entries int, hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.hits, c.misses
}

// drillKey names what a drill-down read at m: its filter (with UpTo) and
// the page asked (page < 0 for the total).
func drillKey(m mark, f chdb.DrillFilter, all bool, offset, limit int) string {
	f.UpTo = nil
	return fmt.Sprintf("%q|%d|%#v|%t|%d|%d", m.key, m.watermark, f, all, offset, limit)
}

func (c *DrillCache) get(key string) (drillEntry, bool) {
	if c == nil {
		return drillEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	return e, ok
}

func (c *DrillCache) put(key string, e drillEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return
	}
	for len(c.order) >= c.size {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	c.entries[key] = e
	c.order = append(c.order, key)
}
