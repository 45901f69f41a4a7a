// Package admission bounds the requests that read ClickHouse at the same
// time: a fixed number run, a few more wait a short while in a queue, and
// the rest are shed at once so that the server answers 503 with
// Retry-After instead of letting the connection pool's acquire time out
// (docs/operations.md, "Reads under load").
package admission

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Class is what a request costs. Heavy requests (drill-downs, CSV exports)
// have a smaller share of the slots of their own, so that they cannot take
// every slot from the score reads.
type Class int

// The classes of requests.
const (
	Light Class = iota // score reads, league tables, silence, board pages
	Heavy              // drill-downs and CSV exports
)

func (c Class) String() string {
	if c == Heavy {
		return "heavy"
	}
	return "light"
}

// ErrShed is returned by Acquire when a request is not admitted: the queue
// of its class is full, or it waited Config.Wait for a slot.
var ErrShed = errors.New("admission: too many requests in progress")

// Config sizes the slots and queues.
type Config struct {
	// Slots is how many requests run at once, each of either class;
	// default 4.
	Slots int
	// HeavySlots is how many of Slots heavy requests may hold at once;
	// default max(1, Slots/4). It is at most Slots.
	HeavySlots int
	// Queue is how many light requests may wait for a slot; default
	// 8 × Slots. Heavy requests wait in a queue of 2 × HeavySlots.
	Queue int
	// Wait is the longest a request waits in the queue; default 2s.
	Wait time.Duration
	// RetryAfter is what a shed request is told to wait; default 1s.
	RetryAfter time.Duration
}

func (c Config) withDefaults() Config {
	if c.Slots <= 0 {
		c.Slots = 4
	}
	if c.HeavySlots <= 0 {
		c.HeavySlots = max(1, c.Slots/4)
	}
	c.HeavySlots = min(c.HeavySlots, c.Slots)
	if c.Queue <= 0 {
		c.Queue = 8 * c.Slots
	}
	if c.Wait <= 0 {
		c.Wait = 2 * time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	return c
}

// Controller admits requests into the slots. Its zero value is not usable:
// call New.
type Controller struct {
	cfg    Config
	slots  chan struct{} // a token per running request
	heavy  chan struct{} // a token per running heavy request
	queued [2]atomic.Int64
	limit  [2]int64 // queue length per class

	inFlight *prometheus.GaugeVec
	waiting  *prometheus.GaugeVec
	shed     *prometheus.CounterVec
	waits    *prometheus.HistogramVec
}

// New returns a controller; its metrics (cds_api_reads_*) are registered
// on reg when reg is not nil.
func New(cfg Config, reg prometheus.Registerer) *Controller {
	cfg = cfg.withDefaults()
	c := &Controller{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.Slots),
		heavy: make(chan struct{}, cfg.HeavySlots),
		limit: [2]int64{int64(cfg.Queue), int64(2 * cfg.HeavySlots)},
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cds_api_reads_in_flight",
			Help: "Requests reading ClickHouse now, by class (light: scores, silence, pages; heavy: drill-downs, CSV)."}, []string{"class"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cds_api_reads_queued",
			Help: "Requests waiting for a read slot now, by class."}, []string{"class"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cds_api_reads_shed_total",
			Help: "Requests answered 503 with Retry-After because every read slot was taken and the queue was full or waited too long, by class."}, []string{"class"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cds_api_reads_wait_seconds",
			Help:    "Time admitted requests waited for a read slot, by class.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}}, []string{"class"}),
	}
	for _, cl := range []Class{Light, Heavy} {
		c.inFlight.WithLabelValues(cl.String())
		c.waiting.WithLabelValues(cl.String())
		c.shed.WithLabelValues(cl.String())
	}
	if reg != nil {
		reg.MustRegister(c.inFlight, c.waiting, c.shed, c.waits)
	}
	return c
}

// Config returns the controller's settings, defaults filled in.
func (c *Controller) Config() Config { return c.cfg }

// Acquire waits for a slot of class cl: at once if one is free, else in the
// class's queue for at most Config.Wait. It returns the function that
// gives the slot back, or ErrShed, or ctx's error if ctx ends first.
func (c *Controller) Acquire(ctx context.Context, cl Class) (release func(), err error) {
	start := time.Now()
	var timer *time.Timer
	// wait takes a token from sem, queueing when none is free.
	wait := func(sem chan struct{}) error {
		select {
		case sem <- struct{}{}:
			return nil
		default:
		}
		if timer == nil {
			if c.queued[cl].Add(1) > c.limit[cl] {
				c.queued[cl].Add(-1)
				return ErrShed
			}
			c.waiting.WithLabelValues(cl.String()).Inc()
			timer = time.NewTimer(c.cfg.Wait - time.Since(start))
		}
		select {
		case sem <- struct{}{}:
			return nil
		case <-timer.C:
			return ErrShed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
			c.queued[cl].Add(-1)
			c.waiting.WithLabelValues(cl.String()).Dec()
		}
		if errors.Is(err, ErrShed) {
			c.shed.WithLabelValues(cl.String()).Inc()
		}
	}()
	if cl == Heavy {
		if err := wait(c.heavy); err != nil {
			return nil, err
		}
	}
	if err := wait(c.slots); err != nil {
		if cl == Heavy {
			<-c.heavy
		}
		return nil, err
	}
	c.waits.WithLabelValues(cl.String()).Observe(time.Since(start).Seconds())
	c.inFlight.WithLabelValues(cl.String()).Inc()
	var once atomic.Bool
	return func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		c.inFlight.WithLabelValues(cl.String()).Dec()
		<-c.slots
		if cl == Heavy {
			<-c.heavy
		}
	}, nil
}

// RetryAfter is the value of the Retry-After header of a shed request:
// whole seconds, at least 1.
func (c *Controller) RetryAfter() string {
	return RetryAfterHeader(c.cfg.RetryAfter)
}

// RetryAfterHeader is the value of a Retry-After header for d: whole
// seconds, rounded up, at least 1.
func RetryAfterHeader(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// perRead is what Defer puts in a request's context: the controller whose
// slots its reads take one at a time.
type perRead struct{ c *Controller }

type perReadKey struct{}

// heldKey marks a context whose read already holds a slot.
type heldKey struct{}

// Defer returns ctx marked so that its request takes a slot only around
// each of its reads of ClickHouse that goes through Hold, instead of for
// its whole life: a request answered from a cache, or waiting for the read
// another request runs for the same answer, then holds none, and the
// slots go to the reads that work (docs/operations.md, "Reads under
// load").
func (c *Controller) Defer(ctx context.Context) context.Context {
	return context.WithValue(ctx, perReadKey{}, perRead{c: c})
}

// Hold runs read holding a slot of class cl when ctx was marked by Defer,
// and at once otherwise (a request admitted whole, or no request: a
// background job). Reads nested in read run at once. It returns ErrShed,
// or ctx's error, when no slot was given in time.
func Hold(ctx context.Context, cl Class, read func(context.Context) error) error {
	p, ok := ctx.Value(perReadKey{}).(perRead)
	if !ok || ctx.Value(heldKey{}) != nil {
		return read(ctx)
	}
	release, err := p.c.Acquire(ctx, cl)
	if err != nil {
		return err
	}
	defer release()
	return read(context.WithValue(ctx, heldKey{}, true))
}

// Await waits for done on behalf of a request marked by Defer that found
// another request reading the answer it needs: at most Config.Wait, as it
// would wait for a slot, then it is shed (ErrShed, counted in class cl). A
// context not marked waits until done or its end.
func Await(ctx context.Context, cl Class, done <-chan struct{}) error {
	p, ok := ctx.Value(perReadKey{}).(perRead)
	if !ok || ctx.Value(heldKey{}) != nil {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	timer := time.NewTimer(p.c.cfg.Wait)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		p.c.shed.WithLabelValues(cl.String()).Inc()
		return ErrShed
	}
}
