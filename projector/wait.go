package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// awaitPubAck waits for the PubAck of a dead letter, like await but
// without polling.
func (p *Projector) awaitPubAck(ctx context.Context, f jetstream.PubAckFuture) error {
	const what = "the PubAck of a dead letter from CDS_DLQ"
	start := time.Now()
	g := p.m.waiting.WithLabelValues(what)
	defer g.Set(0)
	tick := time.NewTicker(waitLogEvery)
	defer tick.Stop()
	limit := time.NewTimer(pubAckLimit)
	defer limit.Stop()
	for {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return fmt.Errorf("dead-letter publish: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-limit.C:
			return fmt.Errorf("%s: still waiting after %s", what, pubAckLimit)
		case <-tick.C:
			g.Set(time.Since(start).Seconds())
			p.log.Warn("still waiting", "for", what, "waited", time.Since(start).Round(time.Second), "limit", pubAckLimit)
		}
	}
}
