package scores

import (
	"context"
	"sync"
)

// markReads coalesces the reads of the commit markers of concurrent
// requests, as a group commit does writes: a read starts only once the one
// in flight has ended, and answers every request that arrived before it
// started. Each request still gets the markers as they were after it
// arrived, never older, and 32 readers make at most one read in flight
// instead of 32. Its zero value is ready to use.
type markReads struct {
	mu       sync.Mutex
	inFlight *markRead // the read running, nil when none
	next     *markRead // the read that starts when inFlight ends
	joined   int       // requests that joined a next read run by another (tests watch it)
}

// markRead is one read of the markers; done is closed when m and err are
// set.
type markRead struct {
	done chan struct{}
	m    mark
	err  error
}

// read returns the markers read by shared in a read that started after
// the call: one it shares with the requests that arrived while another was
// in flight, and that the first of them runs. If the shared read fails (the
// request running it went away, say), it reads on its own, by alone.
func (g *markReads) read(ctx context.Context, shared, alone func(context.Context) (mark, error)) (mark, error) {
	g.mu.Lock()
	if r := g.next; r != nil {
		g.joined++
		g.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return mark{}, ctx.Err()
		}
		if r.err == nil {
			return r.m, nil
		}
		return alone(ctx)
	}
	r := &markRead{done: make(chan struct{})}
	g.next = r
	before := g.inFlight
	g.mu.Unlock()
	if before != nil {
		select {
		case <-before.done:
		case <-ctx.Done():
		}
	}
	g.mu.Lock()
	g.next = nil
	if err := ctx.Err(); err != nil {
		g.mu.Unlock()
		r.err = err
		close(r.done)
		return mark{}, err
	}
	g.inFlight = r
	g.mu.Unlock()
	r.m, r.err = shared(ctx)
	g.mu.Lock()
	g.inFlight = nil
	g.mu.Unlock()
	close(r.done)
	return r.m, r.err
}
