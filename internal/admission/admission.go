// Package admission bounds the requests that read ClickHouse at the same
// time: a fixed number run, a few more wait a short while in a queue, and
// the rest are shed at once so that the server answers 503 with
// Retry-After instead of letting the connection pool's acquire time out
// (docs/operations.md, "Reads under load"). Requests, or each read of a
// request admitted per read, are light, drill or heavy (Class); drill and
// heavy ones hold at most a share of the slots each.
package admission

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Class is what a request, or one read of a request admitted per read
// (Controller.Defer), costs. Drill and Heavy reads each have a capped share
// of the slots (Config.DrillSlots, Config.HeavySlots), so that neither the
// drill-downs nor the heavy requests can take every slot from the score
// reads: light reads always keep Slots − DrillSlots − HeavySlots slots
// (when that is positive) and take the shares' slots when they are free.
type Class int

// The classes of requests and reads.
const (
	// Light: score reads (a lone read of the commit markers, snapshots),
	// silence, the board's pages other than the drill-down page.
	Light Class = iota
	// Drill: a drill-down's page or total read from the drill-down tables
	// (cds.drill_list, cds.drill_days): a page's worth of rows, as a
	// score's read costs, but asked by as many readers as the scores are.
	Drill
	// Heavy: a drill-down read from cds.events, CSV exports.
	Heavy
	nClasses
)

func (c Class) String() string {
	switch c {
	case Heavy:
		return "heavy"
	case Drill:
		return "drill"
	}
	return "light"
}

// ErrShed is returned by Acquire when a request is not admitted: the queue
// of its class is full, the reads queued ahead of it would keep it longer
// than Config.QueueDelay, or it waited Config.Wait for a slot.
var ErrShed = errors.New("admission: too many requests in progress")

// Config sizes the slots and queues.
type Config struct {
	// Slots is how many requests (or reads) run at once, of any class;
	// default 4.
	Slots int
	// HeavySlots is how many of Slots heavy requests may hold at once;
	// default max(1, Slots/4). It is at most Slots.
	HeavySlots int
	// DrillSlots is how many of Slots drill reads may hold at once;
	// default max(1, Slots/4). It is at most Slots. Light reads keep
	// Slots − DrillSlots − HeavySlots of their own.
	DrillSlots int
	// Queue is how many light requests may wait for a slot; default
	// 8 × Slots. Drill reads wait in a queue of 8 × DrillSlots (each
	// drill-down of a busy board waits its turn rather than being shed),
	// heavy requests in one of 2 × HeavySlots.
	Queue int
	// QueueDelay is the longest a request is expected to wait: one that
	// finds no slot is shed at once when the requests queued ahead of it,
	// each holding its slot for the recent mean of its class, would keep
	// it waiting longer (an answer that late is worth less than a 503
	// with Retry-After now, and its wait would add to every later one);
	// default 200ms.
	QueueDelay time.Duration
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
	if c.DrillSlots <= 0 {
		c.DrillSlots = max(1, c.Slots/4)
	}
	c.DrillSlots = min(c.DrillSlots, c.Slots)
	if c.Queue <= 0 {
		c.Queue = 8 * c.Slots
	}
	if c.QueueDelay <= 0 {
		c.QueueDelay = 200 * time.Millisecond
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
	slots  chan struct{}           // a token per running request or read
	share  [nClasses]chan struct{} // a token per running read of a capped class; nil for Light
	queued [nClasses]atomic.Int64
	limit  [nClasses]int64 // queue length per class
	width  [nClasses]int64 // slots a class's queue drains into: its share, or every slot
	// hold is the mean time a read of each class holds its slot, in
	// nanoseconds: an exponentially weighted mean of the last few
	// (holdWeight), 0 before the first.
	hold [nClasses]atomic.Int64

	inFlight *prometheus.GaugeVec
	waiting  *prometheus.GaugeVec
	shed     *prometheus.CounterVec
	waits    *prometheus.HistogramVec
	// The series of each class, resolved once (New) rather than per read.
	classInFlight, classWaiting [nClasses]prometheus.Gauge
	classShed                   [nClasses]prometheus.Counter
}

// New returns a controller; its metrics (cds_api_reads_*) are registered
// on reg when reg is not nil.
func New(cfg Config, reg prometheus.Registerer) *Controller {
	cfg = cfg.withDefaults()
	c := &Controller{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.Slots),
		share: [nClasses]chan struct{}{
			Drill: make(chan struct{}, cfg.DrillSlots),
			Heavy: make(chan struct{}, cfg.HeavySlots),
		},
		limit: [nClasses]int64{Light: int64(cfg.Queue), Drill: int64(8 * cfg.DrillSlots), Heavy: int64(2 * cfg.HeavySlots)},
		width: [nClasses]int64{Light: int64(cfg.Slots), Drill: int64(cfg.DrillSlots), Heavy: int64(cfg.HeavySlots)},
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cds_api_reads_in_flight",
			Help: "Requests or reads reading ClickHouse now, by class (light: scores, silence, pages; drill: drill-down pages and totals from the drill-down tables; heavy: drill-downs from cds.events, CSV)."}, []string{"class"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cds_api_reads_queued",
			Help: "Requests waiting for a read slot now, by class."}, []string{"class"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cds_api_reads_shed_total",
			Help: "Reads or requests shed because every read slot was taken and the queue was full or waited too long (most answered 503 with Retry-After), by class."}, []string{"class"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cds_api_reads_wait_seconds",
			Help:    "Time admitted requests waited for a read slot, by class.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}}, []string{"class"}),
	}
	for cl := range nClasses {
		c.classInFlight[cl] = c.inFlight.WithLabelValues(cl.String())
		c.classWaiting[cl] = c.waiting.WithLabelValues(cl.String())
		c.classShed[cl] = c.shed.WithLabelValues(cl.String())
	}
	if reg != nil {
		reg.MustRegister(c.inFlight, c.waiting, c.shed, c.waits)
	}
	return c
}

// Config returns the controller's settings, defaults filled in.
func (c *Controller) Config() Config { return c.cfg }

// Acquire waits for a slot of class cl: at once if one is free, else in the
// class's queue for at most Config.Wait. A drill or heavy read first takes
// a token of its class's share, then a slot, so that it never holds a slot
// beyond the share. It returns the function that gives the slot back, or
// ErrShed, or ctx's error if ctx ends first.
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
			if n := c.queued[cl].Add(1); n > c.limit[cl] || c.expectedWait(cl, n) > c.cfg.QueueDelay {
				c.queued[cl].Add(-1)
				return ErrShed
			}
			c.classWaiting[cl].Inc()
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
			c.classWaiting[cl].Dec()
		}
		if errors.Is(err, ErrShed) {
			c.classShed[cl].Inc()
		}
	}()
	share := c.share[cl]
	if share != nil {
		if err := wait(share); err != nil {
			return nil, err
		}
	}
	if err := wait(c.slots); err != nil {
		if share != nil {
			<-share
		}
		return nil, err
	}
	c.waits.WithLabelValues(cl.String()).Observe(time.Since(start).Seconds())
	c.classInFlight[cl].Inc()
	var once atomic.Bool
	held := time.Now()
	return func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		c.observeHold(cl, time.Since(held))
		c.classInFlight[cl].Dec()
		<-c.slots
		if share != nil {
			<-share
		}
	}, nil
}

// holdWeight is the weight of the newest hold in Controller.hold's mean:
// 1/8, about the last eight reads.
const holdWeight = 8

// observeHold adds a read of class cl that held its slot for d to the
// class's mean hold time.
func (c *Controller) observeHold(cl Class, d time.Duration) {
	for {
		old := c.hold[cl].Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/holdWeight
		}
		if c.hold[cl].CompareAndSwap(old, next) {
			return
		}
	}
}

// expectedWait is how long the n-th request queued in class cl is
// expected to wait: n reads at the class's mean hold time, over the slots
// its queue drains into. 0 before any read of the class was timed.
func (c *Controller) expectedWait(cl Class, n int64) time.Duration {
	return time.Duration(n * c.hold[cl].Load() / c.width[cl])
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

// HoldValue is Hold for a read that returns a value: it runs read holding
// a slot of class cl when ctx was marked by Defer and returns what it read.
func HoldValue[T any](ctx context.Context, cl Class, read func(context.Context) (T, error)) (T, error) {
	var v T
	err := Hold(ctx, cl, func(ctx context.Context) error {
		var err error
		v, err = read(ctx)
		return err
	})
	return v, err
}

// RetryAfterOf is the Retry-After header for a read of a request marked by
// Defer that was shed: its controller's (Controller.RetryAfter), "1" for a
// context not marked.
func RetryAfterOf(ctx context.Context) string {
	if p, ok := ctx.Value(perReadKey{}).(perRead); ok {
		return p.c.RetryAfter()
	}
	return RetryAfterHeader(0)
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
		p.c.classShed[cl].Inc()
		return ErrShed
	}
}
