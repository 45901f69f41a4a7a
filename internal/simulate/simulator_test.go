package simulate

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/registry"
)

// fakeClock is a real clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestSimulatedClock(t *testing.T) {
	clock := newFakeClock()
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, events.Zone)
	s, err := New(Config{Start: start, End: start.Add(10 * 24 * time.Hour), Clock: clock.now}, registry.Sample(), &credentials.File{}, "nats://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Now(); !got.Equal(start) {
		t.Errorf("Now before Run = %s, want the start %s", got, start)
	}
	tests := []struct {
		real time.Duration
		want time.Time
	}{
		{0, start},
		{-time.Second, start},
		{time.Second, start.Add(24 * time.Hour)},
		{1500 * time.Millisecond, start.Add(36 * time.Hour)},
		{9 * time.Second, start.Add(9 * 24 * time.Hour)},
		{11 * time.Second, start.Add(10 * 24 * time.Hour)},
		{time.Hour, start.Add(10 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		if got := s.simulated(tt.real); !got.Equal(tt.want) {
			t.Errorf("after %s: %s, want %s", tt.real, got, tt.want)
		}
	}
	if _, off := s.simulated(time.Second).Zone(); off != 7*3600 {
		t.Errorf("simulated time is in a zone with offset %d, want +07:00", off)
	}
}

// province is an embedded NATS server with the sample registry's agencies
// as users, as `cds up` would set it up.
type province struct {
	reg   *registry.Registry
	cfg   natsserver.Config
	srv   *natsserver.Server
	creds *credentials.File
	js    jetstream.JetStream // the admin's
}

func newProvince(t *testing.T, streams bool) *province {
	t.Helper()
	reg := registry.Sample()
	creds, hashes, err := credentials.Ensure(t.TempDir(), reg.Codes())
	if err != nil {
		t.Fatal(err)
	}
	reportsFor := map[string][]string{}
	for _, u := range reg.Units() {
		if len(u.ReportsFor) > 0 {
			reportsFor[u.Code] = u.ReportsFor
		}
	}
	p := &province{reg: reg, creds: creds,
		cfg: natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: t.TempDir(), Hashes: hashes, ReportsFor: reportsFor}}
	p.start(t)
	if streams {
		p.ensureStreams(t)
	}
	return p
}

// start starts the server; after a restart it listens on the same port.
func (p *province) start(t *testing.T) {
	t.Helper()
	srv, err := natsserver.Start(testContext(t), p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Addr = u.Host
	p.srv, p.js = srv, natstest.JetStream(t, srv.ClientURL(), nats.UserInfo(p.creds.Admin.User, p.creds.Admin.Password))
}

func (p *province) ensureStreams(t *testing.T) {
	t.Helper()
	if err := natsserver.EnsureStreams(testContext(t), p.js, natsserver.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return nil
}

// running is a Simulator whose Run goroutine the test owns.
type running struct {
	*Simulator
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, s *Simulator) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Simulator: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	// The simulated clock counts from the real time Run starts.
	waitFor(t, 5*time.Second, "Run to start", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.started.IsZero()
	})
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// storedEvent is a message of CDS_EVENTS.
type storedEvent struct {
	subject, msgID string
	event          *events.Event
}

// readStream reads every message of CDS_EVENTS as the admin.
func (p *province) readStream(t *testing.T) []storedEvent {
	t.Helper()
	ctx := testContext(t)
	stream, err := p.js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []storedEvent
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			e, err := events.Decode(msg.Data())
			if err != nil {
				t.Errorf("message on %s does not decode: %v: %s", msg.Subject(), err, msg.Data())
				continue
			}
			out = append(out, storedEvent{subject: msg.Subject(), msgID: msg.Headers().Get(jetstream.MsgIDHeader), event: e})
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestSimulatorPublishes runs the province from a week before the districts
// end to a few days after, and checks what reached the stream against what
// the generator produces for the same Config.
func TestSimulatorPublishes(t *testing.T) {
	p := newProvince(t, true)
	clock := newFakeClock()
	cfg := Config{
		Start: time.Date(2025, 6, 24, 0, 0, 0, 0, events.Zone),
		End:   time.Date(2025, 7, 3, 12, 0, 0, 0, events.Zone),
		Seed:  11,
		Clock: clock.now,
	}
	s, err := New(cfg, p.reg, p.creds, p.srv.ClientURL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)

	// Half a simulated day first: only that much is published.
	clock.advance(500 * time.Millisecond)
	noon := cfg.Start.Add(12 * time.Hour)
	waitFor(t, 20*time.Second, "the first half day to be acknowledged", func() bool {
		st := s.Stats()
		return st.Through.Equal(noon) && st.Published == st.Generated
	})
	for _, e := range p.readStream(t) {
		if e.event.OccurredAt.After(noon) {
			t.Fatalf("event %s at %s published before the simulated clock reached it (%s)", e.event.ID, e.event.OccurredAt, noon)
		}
	}

	// Then the rest, all at once: the simulator catches up.
	clock.advance(time.Hour)
	waitFor(t, 30*time.Second, "the clock to reach the end and every event to be acknowledged", func() bool {
		st := s.Stats()
		return st.Through.Equal(cfg.End) && st.Published+st.Dropped == st.Generated
	})
	// The server's own gate (natsserver, gate.go) is a client too.
	if got, max := p.srv.Inner().NumClients(), 80+1+1; got > max {
		t.Errorf("%d client connections, want at most one per agency, the admin and the gate (%d)", got, max)
	}
	r.stop(t)

	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.Dropped != 0 || st.Skipped != 0 || st.Errors != 0 || st.Generated != st.Published {
		t.Errorf("stats %+v: want every generated event published, no drops or errors", st)
	}
	waitFor(t, 5*time.Second, "the simulator's connections to close", func() bool { return p.srv.Inner().NumClients() == 2 })

	// The stream holds exactly the generator's events, each once, on its
	// subject, with its id as Nats-Msg-Id.
	gen, err := NewGenerator(p.reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Event{}
	for d := registry.DateOf(cfg.Start); !d.After(registry.DateOf(cfg.End)); d = d.AddDays(1) {
		for _, e := range gen.Day(d) {
			if !e.OccurredAt.After(cfg.End) {
				want[e.ID] = e
			}
		}
	}
	stored := p.readStream(t)
	if len(stored) != len(want) || uint64(len(stored)) != st.Published {
		t.Errorf("stream holds %d events, generator made %d, published %d", len(stored), len(want), st.Published)
	}
	districtsEnd := registry.NewDate(2025, 6, 30)
	byAgency := map[string]int{}
	for _, m := range stored {
		e := m.event
		w, ok := want[e.ID]
		switch {
		case !ok:
			t.Errorf("stream has event %s the generator did not make", e.ID)
			continue
		case m.msgID != e.ID:
			t.Errorf("event %s has Nats-Msg-Id %q", e.ID, m.msgID)
		case m.subject != w.Subject():
			t.Errorf("event %s on subject %s, want %s", e.ID, m.subject, w.Subject())
		}
		if err := events.CheckSubject(m.subject, e); err != nil {
			t.Errorf("event %s: %v", e.ID, err)
		}
		if !p.reg.MayReportFor(w.Publisher, e.Agency) {
			t.Errorf("event %s for %s published by %s", e.ID, e.Agency, w.Publisher)
		}
		u, _ := p.reg.Unit(e.Agency)
		if u.Level == registry.LevelDistrict && registry.DateOf(e.OccurredAt).After(districtsEnd) {
			t.Errorf("district %s emitted %s after its end: %s", e.Agency, e.Type, e.OccurredAt)
		}
		byAgency[e.Agency]++
		delete(want, e.ID)
	}
	for id := range want {
		t.Errorf("event %s never reached the stream", id)
	}
	if byAgency["bg"] == 0 {
		t.Error("no province-wide statistics on cds.events.bg.>")
	}
	var silent []string
	for _, u := range p.reg.InForce(registry.DateOf(cfg.Start)) {
		if u.Level != registry.LevelProvince && byAgency[u.Code] == 0 {
			silent = append(silent, u.Code)
		}
	}
	if len(silent) > 0 {
		t.Errorf("units that published nothing: %v", silent)
	}
}

// TestSimulatorRetries starts publishing before the stream exists: sends
// fail, are retried with the same id, and land once the stream is created.
func TestSimulatorRetries(t *testing.T) {
	p := newProvince(t, false)
	clock := newFakeClock()
	cfg := Config{Start: time.Date(2024, 3, 4, 0, 0, 0, 0, events.Zone), End: time.Date(2024, 3, 4, 12, 0, 0, 0, events.Zone), Seed: 5, Rate: 0.2, Clock: clock.now}
	s, err := New(cfg, p.reg, p.creds, p.srv.ClientURL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
	clock.advance(time.Hour)
	waitFor(t, 20*time.Second, "a failed send to be retried", func() bool { return s.Stats().Retried > 0 })
	p.ensureStreams(t)
	waitFor(t, 30*time.Second, "every event to be acknowledged or dropped", func() bool {
		st := s.Stats()
		return st.Through.Equal(cfg.End) && st.Published+st.Dropped == st.Generated
	})
	r.stop(t)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.Published == 0 {
		t.Fatal("nothing published after the stream was created")
	}
	ids := map[string]bool{}
	for _, m := range p.readStream(t) {
		if ids[m.event.ID] {
			t.Errorf("event %s stored twice", m.event.ID)
		}
		ids[m.event.ID] = true
	}
	if uint64(len(ids)) != st.Published {
		t.Errorf("stream holds %d events, %d acknowledged", len(ids), st.Published)
	}
}

// TestSimulatorServerRestart stops the server while agencies publish: their
// sends fail and are retried until it is back, and nothing is lost.
func TestSimulatorServerRestart(t *testing.T) {
	p := newProvince(t, true)
	clock := newFakeClock()
	cfg := Config{Start: time.Date(2024, 3, 4, 0, 0, 0, 0, events.Zone), End: time.Date(2024, 3, 5, 12, 0, 0, 0, events.Zone), Seed: 9, Rate: 0.5, Clock: clock.now}
	s, err := New(cfg, p.reg, p.creds, p.srv.ClientURL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
	clock.advance(500 * time.Millisecond)
	waitFor(t, 20*time.Second, "the first half day to be acknowledged", func() bool {
		st := s.Stats()
		return st.Through.Equal(cfg.Start.Add(12*time.Hour)) && st.Published == st.Generated
	})
	p.srv.Close()
	clock.advance(time.Hour) // the rest becomes due while the server is down
	waitFor(t, 20*time.Second, "a failed send to be retried", func() bool { return s.Stats().Retried > 0 })
	p.start(t)
	waitFor(t, 40*time.Second, "every event to be acknowledged or dropped", func() bool {
		st := s.Stats()
		return st.Through.Equal(cfg.End) && st.Published+st.Dropped == st.Generated
	})
	r.stop(t)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.Dropped != 0 {
		t.Errorf("%d events dropped over a short outage", st.Dropped)
	}
	ids := map[string]bool{}
	for _, m := range p.readStream(t) {
		if ids[m.event.ID] {
			t.Errorf("event %s stored twice", m.event.ID)
		}
		ids[m.event.ID] = true
	}
	if uint64(len(ids)) != st.Published {
		t.Errorf("stream holds %d events, %d acknowledged", len(ids), st.Published)
	}
}

func TestSimulatorWithoutServer(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{Start: time.Date(2024, 3, 4, 0, 0, 0, 0, events.Zone), Seed: 5, Rate: 0.1, Clock: clock.now}
	// Only bg-vietyen has credentials, and nothing listens at the address.
	creds := &credentials.File{Agencies: map[string]credentials.AgencySecret{"bg-vietyen": {NATSPassword: "x"}}}
	s, err := New(cfg, registry.Sample(), creds, "nats://127.0.0.1:1", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
	clock.advance(2 * time.Second)
	waitFor(t, 20*time.Second, "events to be skipped and dropped", func() bool {
		st := s.Stats()
		return st.Skipped > 0 && st.Generated > st.Skipped
	})
	began := time.Now()
	r.stop(t)
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Run took %s to stop with an unreachable server", d)
	}
	st := s.Stats()
	if st.Published != 0 || st.Generated != st.Dropped+st.Skipped {
		t.Errorf("stats %+v: want nothing published, everything dropped or skipped", st)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}
