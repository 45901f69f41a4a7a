package simulate

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Limits of the publishing side.
const (
	maxConcurrentConnects = 4                      // NATS connects in progress at once
	queueSize             = 1024                   // events waiting per agency
	queueWait             = time.Second            // how long dispatch waits on a full queue
	maxInFlight           = 256                    // unacknowledged publishes per connection
	ackTimeout            = 5 * time.Second        // a PubAck not received by then is a failed send (also ends sends buffered while disconnected)
	connectTimeout        = 5 * time.Second        // per connect attempt
	maxTries              = 10                     // sends of one event before it is dropped: ~30 s of trying
	retryBackoff          = 200 * time.Millisecond // doubled per try, up to maxRetryWait
	maxRetryWait          = 5 * time.Second        // between sends of one event
	maxBackoff            = 30 * time.Second       // between connect attempts
	settleTimeout         = 3 * time.Second        // wait for outstanding acks when stopping
)

// sender publishes the events of one agency over its own NATS connection, as
// the agency's system would. Its goroutine owns the connection.
type sender struct {
	sim      *Simulator
	agency   string
	password string
	log      *slog.Logger
	queue    chan *Event
	down     atomic.Bool // the agency cannot reach the server at the moment

	drops atomic.Uint64 // events this agency dropped, for logging every so often

	nc *nats.Conn
	js jetstream.JetStream
}

// inflight is one event being published.
type inflight struct {
	ev    *Event
	data  []byte
	fut   jetstream.PubAckFuture
	tries int
	due   time.Time // when a failed send is tried again
}

func newSender(s *Simulator, agency, password string) *sender {
	return &sender{
		sim:      s,
		agency:   agency,
		password: password,
		log:      s.log.With("agency", agency),
		queue:    make(chan *Event, queueSize),
	}
}

// run publishes queued events with at most maxInFlight unacknowledged or
// waiting to be retried, and retries failed sends after a backoff, until ctx
// is done. Then it waits up to settleTimeout for outstanding
// acknowledgements, counts what is left as dropped, and closes the
// connection.
func (p *sender) run(ctx context.Context) {
	var (
		pending []*inflight // sent, oldest first
		waiting []*inflight // failed, to be sent again at their due time
	)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer func() {
		retry.Stop()
		p.settle(pending, len(waiting))
		if p.nc != nil {
			p.nc.Close()
		}
	}()
	for {
		now := time.Now()
		var due []*inflight
		waiting = slices.DeleteFunc(waiting, func(f *inflight) bool {
			if f.due.After(now) {
				return false
			}
			due = append(due, f)
			return true
		})
		for _, f := range due {
			if p.send(ctx, f) {
				pending = append(pending, f)
			} else if !f.due.IsZero() {
				waiting = append(waiting, f)
			}
		}
		var retryC <-chan time.Time
		if len(waiting) > 0 {
			next := slices.MinFunc(waiting, func(a, b *inflight) int { return a.due.Compare(b.due) }).due
			retry.Reset(max(time.Until(next), 0))
			retryC = retry.C
		}
		var queue <-chan *Event
		if len(pending)+len(waiting) < maxInFlight {
			queue = p.queue
		}
		var ok <-chan *jetstream.PubAck
		var failed <-chan error
		if len(pending) > 0 {
			ok, failed = pending[0].fut.Ok(), pending[0].fut.Err()
		}
		select {
		case <-ctx.Done():
			return
		case <-retryC:
		case e := <-queue:
			if f := (&inflight{ev: e}); p.send(ctx, f) {
				pending = append(pending, f)
			} else if !f.due.IsZero() {
				waiting = append(waiting, f)
			}
		case ack := <-ok:
			pending = pending[1:]
			p.sim.acked(ack)
			p.down.Store(false)
		case err := <-failed:
			f := pending[0]
			pending = pending[1:]
			if p.failed(f, err) {
				waiting = append(waiting, f)
			}
		}
	}
}

// send publishes f asynchronously, connecting first if needed, and reports
// whether f is now in flight. When it is not, f is either scheduled for
// another try (f.due is set) or dropped.
func (p *sender) send(ctx context.Context, f *inflight) bool {
	f.due = time.Time{}
	if f.data == nil {
		b, err := json.Marshal(f.ev)
		if err != nil {
			p.drop(f.ev, "encode: "+err.Error())
			return false
		}
		f.data = b
	}
	if err := p.connect(ctx); err != nil {
		p.sim.stats.dropped.Add(1) // stopping: counted, not worth a warning
		return false
	}
	msg := nats.NewMsg(f.ev.Subject())
	msg.Header.Set(jetstream.MsgIDHeader, f.ev.ID)
	msg.Data = f.data
	f.tries++
	fut, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		p.failed(f, err)
		return false
	}
	f.fut = fut
	return true
}

// failed decides after a failed send of f whether to try again: it counts
// the retry and sets f.due after a backoff, or drops the event after
// maxTries. The same id is sent again, so JetStream keeps one copy if an
// earlier try did land.
func (p *sender) failed(f *inflight, err error) bool {
	if f.tries >= maxTries {
		p.drop(f.ev, err.Error())
		return false
	}
	if p.nc != nil && p.nc.IsClosed() {
		p.nc, p.js = nil, nil
	}
	p.down.Store(p.nc == nil || !p.nc.IsConnected())
	p.sim.stats.retried.Add(1)
	p.log.Debug("publish failed, retrying", "id", f.ev.ID, "type", f.ev.Type, "try", f.tries, "err", err)
	f.due = time.Now().Add(min(retryBackoff<<(f.tries-1), maxRetryWait))
	return true
}

// connect makes sure the connection is open, dialling until it succeeds or
// ctx is done.
func (p *sender) connect(ctx context.Context) error {
	if p.nc != nil && !p.nc.IsClosed() {
		return nil
	}
	p.nc, p.js = nil, nil
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		err := p.dial(ctx)
		if err == nil {
			if p.down.Swap(false) {
				p.log.Info("agency connected again")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.down.Store(true)
		if attempt == 1 || attempt%10 == 0 {
			p.log.Warn("agency cannot connect to NATS", "attempt", attempt, "err", err)
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// dial opens the agency's connection, a few agencies at a time.
func (p *sender) dial(ctx context.Context) error {
	select {
	case p.sim.connectSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sim.connectSlots }()

	nc, err := nats.Connect(p.sim.url,
		nats.Name("cds-simulate "+p.agency),
		nats.UserInfo(p.agency, p.password),
		nats.CustomInboxPrefix("_INBOX."+p.agency),
		nats.Timeout(connectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			p.sim.stats.errors.Add(1)
			p.log.Warn("nats error", "err", err)
		}),
	)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxInFlight),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
	)
	if err != nil {
		nc.Close()
		return err
	}
	p.nc, p.js = nc, js
	return nil
}

// settle waits for the outstanding acknowledgements of pending and counts
// them; what is not acknowledged in time, and what is still queued, counts as
// dropped.
func (p *sender) settle(pending []*inflight, waiting int) {
	deadline := time.NewTimer(settleTimeout)
	defer deadline.Stop()
	unsent := uint64(waiting)
wait:
	for i, f := range pending {
		select {
		case ack := <-f.fut.Ok():
			p.sim.acked(ack)
		case <-f.fut.Err():
			unsent++
		case <-deadline.C:
			unsent += uint64(len(pending) - i)
			break wait
		}
	}
	unsent += uint64(len(p.queue))
	if unsent > 0 {
		p.sim.stats.dropped.Add(unsent)
		p.log.Info("events not sent when the simulation stopped", "events", unsent)
	}
}

// drop counts an event given up, and logs the first and every hundredth.
func (p *sender) drop(e *Event, reason string) {
	p.sim.stats.dropped.Add(1)
	if n := p.drops.Add(1); n == 1 || n%100 == 0 {
		p.log.Warn("event dropped", "id", e.ID, "type", e.Type, "reason", reason, "dropped", n)
	}
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
