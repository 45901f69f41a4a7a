package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/registry"
)

// tick is how often Run looks at the simulated clock when it has nothing due.
const tick = 10 * time.Millisecond

// Simulator publishes the events of a Generator over NATS as the agencies of
// the registry would, on a simulated clock.
type Simulator struct {
	cfg   Config
	gen   *Generator
	creds *credentials.File
	url   string
	log   *slog.Logger

	connectSlots chan struct{} // bounds concurrent NATS connects (each costs a bcrypt check)

	mu      sync.Mutex
	started time.Time // real time Run started; zero before
	stopped time.Time // real time Run returned; zero while it runs

	senders map[string]*sender // owned by Run
	stats   counters
}

// counters back Stats.
type counters struct {
	generated, published, duplicates, retried, dropped, skipped, errors atomic.Uint64
	through                                                             atomic.Int64 // Stats.Through, Unix nanoseconds
}

// Stats counts what a Simulator has done. After Run returns,
// Generated = Published + Dropped + Skipped.
type Stats struct {
	Generated  uint64 // events handed to publishers: every event due by the simulated clock
	Published  uint64 // events acknowledged by JetStream, each once
	Duplicates uint64 // of Published, acknowledged as duplicates: a retry of a send that had landed
	Retried    uint64 // sends repeated with the same id after a failure
	Dropped    uint64 // events given up: retries exhausted, queue full while the agency cannot reach the server, or not acknowledged when Run stopped
	Skipped    uint64 // events of agencies that have no credentials
	Errors     uint64 // asynchronous errors the server reported, such as permission violations
	// Through is the simulated time up to which every event has been handed
	// to a publisher; it trails Now when publishing falls behind.
	Through time.Time
}

// New returns a Simulator of the units of reg that publishes to the NATS
// server at natsURL with the agencies' credentials from creds. Agencies
// without credentials are logged and skipped. A nil logger discards logs.
func New(cfg Config, reg *registry.Registry, creds *credentials.File, natsURL string, logger *slog.Logger) (*Simulator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch {
	case creds == nil:
		return nil, errors.New("simulate: no credentials")
	case natsURL == "":
		return nil, errors.New("simulate: no NATS URL")
	}
	gen, err := NewGenerator(reg, cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logger = logger.With("component", "simulate")
	s := &Simulator{
		cfg:          cfg,
		gen:          gen,
		creds:        creds,
		url:          natsURL,
		log:          logger,
		connectSlots: make(chan struct{}, maxConcurrentConnects),
		senders:      make(map[string]*sender),
	}
	s.stats.through.Store(cfg.Start.UnixNano())
	if missing := missingCredentials(reg, creds); len(missing) > 0 {
		logger.Warn("agencies without credentials are not simulated", "agencies", missing)
	}
	return s, nil
}

// missingCredentials lists the units that would publish but have no NATS password.
func missingCredentials(reg *registry.Registry, creds *credentials.File) []string {
	var out []string
	for _, u := range reg.Units() {
		if profiles[u.Level] == nil {
			continue
		}
		if creds.Agencies[u.Code].NATSPassword == "" {
			out = append(out, u.Code)
		}
	}
	return out
}

// Seed returns the seed of the simulation (random when Config.Seed was zero);
// running again with it reproduces the same events and ids.
func (s *Simulator) Seed() uint64 { return s.gen.Seed() }

// Now returns the current simulated time, in province time. Before Run it is
// Config.Start; after Run it stays where Run stopped. Safe for concurrent use.
func (s *Simulator) Now() time.Time {
	s.mu.Lock()
	started, stopped := s.started, s.stopped
	s.mu.Unlock()
	if started.IsZero() {
		return s.cfg.Start
	}
	real := stopped
	if real.IsZero() {
		real = s.cfg.Clock()
	}
	return s.simulated(real.Sub(started))
}

// simulated returns the simulated time after elapsed real time.
func (s *Simulator) simulated(elapsed time.Duration) time.Time {
	if elapsed <= 0 {
		return s.cfg.Start
	}
	sim := float64(elapsed) / float64(time.Second) * float64(s.cfg.Speed)
	if sim >= float64(s.cfg.End.Sub(s.cfg.Start)) {
		return s.cfg.End
	}
	return s.cfg.Start.Add(time.Duration(sim))
}

// Published returns the number of events acknowledged by JetStream.
func (s *Simulator) Published() uint64 { return s.stats.published.Load() }

// Stats returns the counters. Safe for concurrent use.
func (s *Simulator) Stats() Stats {
	c := &s.stats
	return Stats{
		Generated:  c.generated.Load(),
		Published:  c.published.Load(),
		Duplicates: c.duplicates.Load(),
		Retried:    c.retried.Load(),
		Dropped:    c.dropped.Load(),
		Skipped:    c.skipped.Load(),
		Errors:     c.errors.Load(),
		Through:    time.Unix(0, c.through.Load()).In(s.cfg.Start.Location()),
	}
}

// Run advances the simulated clock and publishes each event when the clock
// reaches its occurred_at, until ctx is done. Past Config.End it idles. On
// return it has waited briefly for outstanding acknowledgements and closed
// its connections. It returns nil when ctx is cancelled; it may be called
// once.
func (s *Simulator) Run(ctx context.Context) error {
	s.mu.Lock()
	if !s.started.IsZero() {
		s.mu.Unlock()
		return errors.New("simulate: Run called twice")
	}
	s.started = s.cfg.Clock()
	s.mu.Unlock()

	// Senders stop only after the loop below has stopped handing them events,
	// so what is left in their queues is known and counted.
	sendCtx, stopSenders := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		s.mu.Lock()
		s.stopped = s.cfg.Clock()
		s.mu.Unlock()
		stopSenders()
		wg.Wait()
		st := s.Stats()
		s.log.Info("simulation stopped", "at", s.Now().Format(time.RFC3339), "generated", st.Generated,
			"published", st.Published, "retried", st.Retried, "dropped", st.Dropped, "skipped", st.Skipped)
	}()
	s.log.Info("simulation started", "start", s.cfg.Start.Format(time.RFC3339), "end", s.cfg.End.Format(time.RFC3339),
		"speed", s.cfg.Speed.String()+"/s", "rate", s.cfg.Rate, "seed", s.gen.Seed(), "nats", s.url)

	next, last := registry.DateOf(s.cfg.Start), registry.DateOf(s.cfg.End)
	var queue []Event
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		now := s.Now()
		for len(queue) > 0 && !queue[0].OccurredAt.After(now) {
			if !s.dispatch(ctx, sendCtx, &wg, &queue[0]) {
				return nil
			}
			queue = queue[1:]
		}
		if len(queue) == 0 && !next.After(last) && !next.Start().After(now) {
			if ctx.Err() != nil {
				return nil
			}
			queue = s.gen.Day(next)
			if next == last {
				queue = slices.DeleteFunc(queue, func(e Event) bool { return e.OccurredAt.After(s.cfg.End) })
			}
			if next.Day() == 1 {
				st := s.Stats()
				s.log.Info("simulated month", "month", fmt.Sprintf("%04d-%02d", next.Year(), next.Month()),
					"published", st.Published, "dropped", st.Dropped, "connections", len(s.senders))
			}
			next = next.AddDays(1)
			continue
		}
		s.stats.through.Store(now.UnixNano())
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// dispatch hands e to the sender of its publisher, starting the sender on
// first use. It waits a little when the sender's queue is full, then drops
// the event; it drops at once when the sender cannot reach the server. It returns
// false when ctx is done.
func (s *Simulator) dispatch(ctx, sendCtx context.Context, wg *sync.WaitGroup, e *Event) bool {
	s.stats.generated.Add(1)
	p, ok := s.senders[e.Publisher]
	if !ok {
		password := s.creds.Agencies[e.Publisher].NATSPassword
		if password != "" {
			p = newSender(s, e.Publisher, password)
			wg.Go(func() { p.run(sendCtx) })
		}
		s.senders[e.Publisher] = p // nil: no credentials
	}
	if p == nil {
		s.stats.skipped.Add(1)
		return true
	}
	select {
	case p.queue <- e:
		return true
	default:
	}
	if p.down.Load() {
		p.drop(e, "queue full while the agency cannot reach the server")
		return true
	}
	t := time.NewTimer(queueWait)
	defer t.Stop()
	select {
	case p.queue <- e:
	case <-t.C:
		p.drop(e, "queue full")
	case <-ctx.Done():
		s.stats.dropped.Add(1) // due, but Run stopped before it could be handed over
		return false
	}
	return true
}

// acked counts an acknowledgement.
func (s *Simulator) acked(ack *jetstream.PubAck) {
	s.stats.published.Add(1)
	if ack != nil && ack.Duplicate {
		s.stats.duplicates.Add(1)
	}
}
