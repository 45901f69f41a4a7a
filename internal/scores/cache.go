package scores

import (
	"container/list"
	"context"
	"sync"

	"github.com/bacgiang/cds/internal/admission"
)

// flightCache is the one cache of this package's answers that are exact
// for as long as the commit markers they were read at do not move: the
// snapshot pairs of a Store (their key holds the marks) and the drill-down
// pages and totals of a DrillCache (likewise). It keeps the most recently
// used entries, at most max, and lets concurrent requests for the same key
// wait for one read (single flight): just after a commit every request of
// a busy morning misses at once, and without it each of them would run the
// same query on ClickHouse.
type flightCache[K comparable, V any] struct {
	mu  sync.Mutex
	max int
	// class is the admission class of its reads: a request admitted per
	// read waits for another's read as long as it would for a slot of that
	// class (admission.Await).
	class   admission.Class
	lru     *list.List // of *cacheEntry[K, V], most recently used first
	entries map[K]*list.Element
	flights map[K]*flight[V]
	hits    uint64 // requests served without a read of their own
	misses  uint64 // reads run
}

type cacheEntry[K comparable, V any] struct {
	key K
	val V
}

// flight is a read in progress; done is closed when val and err are set.
type flight[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func newFlightCache[K comparable, V any](max int, class admission.Class) *flightCache[K, V] {
	return &flightCache[K, V]{max: max, class: class, lru: list.New(), entries: map[K]*list.Element{}, flights: map[K]*flight[V]{}}
}

// get returns the value of key, reading it with read on a miss. read also
// returns the key its value is kept under, which may differ from key (a
// snapshot pair read at newer marks than asked, because a commit came in
// between, is kept under the marks it was read at, never under older
// ones). A request that finds a read of the same key in progress waits
// for it, a request admitted per read no longer than for a read slot
// (admission.Await); if that read fails (its request went away, say), it
// reads on its own.
func (c *flightCache[K, V]) get(ctx context.Context, key K, read func(context.Context) (V, K, error)) (V, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		c.hits++
		c.mu.Unlock()
		return el.Value.(*cacheEntry[K, V]).val, nil
	}
	if f, ok := c.flights[key]; ok {
		c.hits++
		c.mu.Unlock()
		if err := admission.Await(ctx, c.class, f.done); err != nil {
			var zero V
			return zero, err
		}
		if f.err == nil {
			return f.val, nil
		}
		c.mu.Lock()
		c.misses++
		c.mu.Unlock()
		v, _, err := read(ctx)
		return v, err
	}
	f := &flight[V]{done: make(chan struct{})}
	c.flights[key] = f
	c.misses++
	c.mu.Unlock()

	v, at, err := read(ctx)
	f.val, f.err = v, err
	c.mu.Lock()
	delete(c.flights, key)
	if err == nil {
		c.put(at, v)
	}
	c.mu.Unlock()
	close(f.done)
	return v, err
}

// put adds or refreshes an entry in front, evicting the least recently
// used beyond max. The caller holds mu.
func (c *flightCache[K, V]) put(key K, v V) {
	if el, ok := c.entries[key]; ok {
		el.Value.(*cacheEntry[K, V]).val = v
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry[K, V]{key: key, val: v})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.entries, el.Value.(*cacheEntry[K, V]).key)
	}
}

// stats reports the entries held, the requests served from the cache (or
// from a read another request ran) and the reads run.
func (c *flightCache[K, V]) stats() (entries int, hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.hits, c.misses
}
