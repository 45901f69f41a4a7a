package scores

import (
	"sync"

	"github.com/bacgiang/cds/internal/registry"
)

// memo keeps answers computed from one entry of a Store's caches (a
// snapshot pair, the latest events of a day): they are a function of the
// entry (one commit) and of the Engine's catalogue and registry, so
// requests answered from the same entry share them instead of computing
// them again. It lives and goes with its entry. A nil memo keeps nothing.
type memo[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*memoFlight[V]
}

// memoFlight is a computation in progress or done: done is closed when v
// is set.
type memoFlight[V any] struct {
	done chan struct{}
	v    V
}

// get returns the value of k, computed by compute once per memo:
// concurrent callers wait for the one computing it (a computation does
// not fail and takes no read). Once the memo holds memoMax keys, others
// are computed and not kept.
func (r *memo[K, V]) get(k K, compute func() V) V {
	if r == nil {
		return compute()
	}
	r.mu.Lock()
	if f, ok := r.m[k]; ok {
		r.mu.Unlock()
		<-f.done
		return f.v
	}
	if len(r.m) >= memoMax {
		r.mu.Unlock()
		return compute()
	}
	if r.m == nil {
		r.m = map[K]*memoFlight[V]{}
	}
	f := &memoFlight[V]{done: make(chan struct{})}
	r.m[k] = f
	r.mu.Unlock()
	defer close(f.done)
	f.v = compute()
	return f.v
}

// memoMax is the most answers a memo keeps: what they are keyed by is
// mostly bounded (levels, milestones), but a silence window is any number
// of days a client asks for, and an entry can live for hours when no
// commit comes.
const memoMax = 64

// rankedMemo keeps the scores of the units of a level computed from one
// snapshot pair, by level, as_of and milestone (a commune league table is
// thousands of indicator values: milliseconds of CPU per request, under
// 32 readers a share of the cores the reads need).
type rankedMemo = memo[rankedKey, []*UnitScore]

// rankedKey is what a level's scores were computed for.
type rankedKey struct {
	level     registry.Level
	asOf      registry.Date
	milestone int
}
