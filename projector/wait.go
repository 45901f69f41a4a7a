package projector

import (
	"context"
	"fmt"
	"time"
)

// Bounds of the projector's waits. Past one, the attempt fails and Run
// retries it from the watermark with backoff.
const (
	// quiesceLimit: an INSERT of a dead attempt leaving system.processes
	// (a batch of 200,000 rows on a loaded server takes seconds, not minutes).
	quiesceLimit = 10 * time.Minute
	// mutationLimit: the ALTER DELETE of an unfinished batch.
	mutationLimit = 10 * time.Minute
	// pubAckLimit: the PubAcks of a batch's dead letters from CDS_DLQ.
	pubAckLimit = time.Minute
	// waitLogEvery: how often a wait logs what it waits for.
	waitLogEvery = 10 * time.Second
)

// await polls done every 20 ms until it reports true, ctx ends, or limit
// passes (an error naming what). Every waitLogEvery it logs what it waits
// for; cds_projector_waiting_seconds{what} shows how long the current wait
// has lasted (0 when none).
func (p *Projector) await(ctx context.Context, what string, limit time.Duration, done func() (bool, error)) error {
	start := time.Now()
	logged := start
	g := p.m.waiting.WithLabelValues(what)
	defer g.Set(0)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		waited := time.Since(start)
		g.Set(waited.Seconds())
		if waited > limit {
			return fmt.Errorf("%s: still waiting after %s", what, limit)
		}
		if time.Since(logged) >= waitLogEvery {
			p.log.Warn("still waiting", "for", what, "waited", waited.Round(time.Second), "limit", limit)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
