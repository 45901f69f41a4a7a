package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// harness is a real NATS JetStream server and a real clickhouse-server,
// with the streams and the schema in place.
type harness struct {
	js       jetstream.JetStream
	nc       *nats.Conn
	db       *chdb.DB
	ns       *natsserver.Server
	natsAddr string // host:port, kept across restarts
	storeDir string
	ch       *chserver.Server
	units    events.Units
}

type harnessOpts struct {
	streams natsserver.StreamConfig
	// noClickHouse: the caller connects h.db (newReplicatedHarness).
	noClickHouse bool
}

func newHarness(tb testing.TB) *harness { return newHarnessOpts(tb, harnessOpts{}) }

func newHarnessOpts(tb testing.TB, o harnessOpts) *harness {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registry.Sample()
	h := &harness{storeDir: tb.TempDir(), units: reg}
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: h.storeDir})
	if err != nil {
		tb.Fatal(err)
	}
	h.ns = ns
	h.natsAddr = strings.TrimPrefix(ns.ClientURL(), "nats://")
	tb.Cleanup(func() { h.ns.Close() })
	js := natstest.JetStream(tb, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	h.nc, h.js = js.Conn(), js
	if err := natsserver.EnsureStreams(ctx, js, o.streams); err != nil {
		tb.Fatal(err)
	}
	if o.noClickHouse {
		return h
	}
	h.ch = chtest.Start(tb)
	db, err := chdb.Open(ctx, chdb.Config{Addr: h.ch.Addr(), ReadTimeout: 30 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	h.db = db
	return h
}

func (h *harness) publish(tb testing.TB, subject, body string, msgID bool) uint64 {
	tb.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(body)
	if msgID {
		var id string
		if i := strings.Index(body, `"id":"`); i >= 0 {
			id = body[i+6:]
			id = id[:strings.Index(id, `"`)]
		}
		m.Header.Set(jetstream.MsgIDHeader, id)
	}
	ack, err := h.js.PublishMsg(context.Background(), m)
	if err != nil {
		tb.Fatalf("publish: %v", err)
	}
	return ack.Sequence
}

// running is a projector running in a goroutine.
type running struct {
	p    *Projector
	reg  *prometheus.Registry
	stop func()
}

// start runs a projector with cfg (BatchWait 20ms unless set).
func (h *harness) start(tb testing.TB, cfg Config) *running {
	tb.Helper()
	if cfg.BatchWait == 0 {
		cfg.BatchWait = 20 * time.Millisecond
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 500 * time.Millisecond
	}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Deps{JetStream: h.js, DB: h.db, Units: h.units, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	}
	tb.Cleanup(stop)
	return &running{p: p, reg: reg, stop: stop}
}

// run starts a projector and waits until it has folded up to seq; the
// returned func stops it.
func (h *harness) run(tb testing.TB, seq uint64) (*Projector, func()) {
	tb.Helper()
	r := h.start(tb, Config{})
	waitFor(tb, 30*time.Second, fmt.Sprintf("watermark %d", seq), func() bool { return r.p.Watermark() >= seq })
	return r.p, r.stop
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func (h *harness) count(tb testing.TB, q string, args ...any) float64 {
	tb.Helper()
	var v float64
	if err := h.db.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return v
}

func (h *harness) lastSeq(tb testing.TB) uint64 {
	tb.Helper()
	s, err := h.js.Stream(context.Background(), natsserver.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// check fails the test unless ClickHouse holds exactly load.
func (h *harness) check(tb testing.TB, load *projtest.Load) *projtest.Report {
	tb.Helper()
	r, err := projtest.Check(context.Background(), h.db, load, h.lastSeq(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if !r.OK() {
		tb.Fatalf("ClickHouse does not hold the load exactly: %s", r)
	}
	tb.Logf("exact: %s", r)
	return r
}

// restartNATS stops the NATS server and starts it again on the same port
// and store.
func (h *harness) restartNATS(tb testing.TB) {
	tb.Helper()
	h.ns.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: h.natsAddr, StoreDir: h.storeDir})
	if err != nil {
		tb.Fatalf("restart nats: %v", err)
	}
	h.ns = ns
}

// killClickHouse kills clickhouse-server with SIGKILL; startClickHouse
// starts it again on the same directory and ports.
func (h *harness) killClickHouse(tb testing.TB) {
	tb.Helper()
	if err := h.ch.Kill(); err != nil {
		tb.Fatal(err)
	}
}

func (h *harness) startClickHouse(tb testing.TB) {
	tb.Helper()
	old := h.ch
	srv, err := chserver.Start(context.Background(), chserver.Config{Dir: old.Dir(), TCPAddr: old.Addr(), HTTPAddr: old.HTTPAddr(), NoAdopt: true})
	if err != nil {
		tb.Fatalf("restart clickhouse: %v", err)
	}
	h.ch = srv
	tb.Cleanup(func() { srv.Close() })
}

// metric returns the value of a counter or gauge (summed over labels
// matching the given label=value pairs).
func metric(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

const subj = "cds.events.bg-vietyen.workfile.processed"

// hscv returns numerator and denominator of bg-vietyen's HSCV for 2025 up to
// 2025-06-30, straight from the cells, and the raw row count.
func (h *harness) hscv(tb testing.TB) (num, den, raw float64) {
	num = h.count(tb, "SELECT sum(num) FROM cds.cells WHERE indicator='HSCV' AND unit='bg-vietyen' AND period=2025 AND day <= '2025-06-30'")
	den = h.count(tb, "SELECT sum(den) FROM cds.cells WHERE indicator='HSCV' AND unit='bg-vietyen' AND period=2025 AND day <= '2025-06-30'")
	raw = h.count(tb, "SELECT toFloat64(count()) FROM cds.events")
	return
}
