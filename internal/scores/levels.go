package scores

import (
	"sync"

	"github.com/bacgiang/cds/internal/registry"
)

// rankedMemo keeps the scores of the units of a level computed from one
// snapshot pair of a Store's cache, by level, as_of and milestone: they
// are a function of the pair (one commit) and of the Engine's catalogue
// and registry, so requests answered from the same pair share them
// instead of computing them again (a commune league table is thousands of
// indicator values: milliseconds of CPU per request, under 32 readers a
// share of the cores the reads need). It lives and goes with its pair's
// entry. A nil rankedMemo keeps nothing.
type rankedMemo struct {
	mu sync.Mutex
	m  map[rankedKey]*rankedFlight
}

// rankedKey is what a level's scores were computed for.
type rankedKey struct {
	level     registry.Level
	asOf      registry.Date
	milestone int
}

// rankedFlight is a computation in progress or done: done is closed when
// units is set.
type rankedFlight struct {
	done  chan struct{}
	units []*UnitScore
}

// get returns the scores of k, computed by compute once per memo:
// concurrent callers wait for the one computing them (a computation does
// not fail and takes no read).
func (r *rankedMemo) get(k rankedKey, compute func() []*UnitScore) []*UnitScore {
	if r == nil {
		return compute()
	}
	r.mu.Lock()
	if f, ok := r.m[k]; ok {
		r.mu.Unlock()
		<-f.done
		return f.units
	}
	if r.m == nil {
		r.m = map[rankedKey]*rankedFlight{}
	}
	f := &rankedFlight{done: make(chan struct{})}
	r.m[k] = f
	r.mu.Unlock()
	defer close(f.done)
	f.units = compute()
	return f.units
}
