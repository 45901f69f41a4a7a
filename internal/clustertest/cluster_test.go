//go:build linux

package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/cluster"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestCluster brings the local cluster up and runs two loads of ≥ 100k
// events each through its three NATS URLs. During the first, one NATS node
// (a follower of the event stream), the second ClickHouse replica and the
// active projector are killed with SIGKILL and started again a few seconds
// later; during the second, the stream's leader. After each, every replica
// must hold every event of the loads once, cells equal to the fold of its
// raw events and of the loads, and the watermark at the stream's last
// sequence; the stream must hold every message once.
//
// Knobs: CDS_CLUSTER_EVENTS (messages per load, default 106000),
// CDS_CLUSTER_SPAN (how long a load lasts, default 40s),
// CDS_CLUSTER_PORT_OFFSET (added to every port of the cluster).
func TestCluster(t *testing.T) {
	if os.Getenv("CDS_CLUSTER") != "1" {
		t.Skip("the local cluster: set CDS_CLUSTER=1 (make test-cluster)")
	}
	began := time.Now()
	n := envInt(t, "CDS_CLUSTER_EVENTS", 106000)
	span := envDuration(t, "CDS_CLUSTER_SPAN", 40*time.Second)
	c := up(t)
	reg := registry.Sample()

	load1 := projtest.Generate(1201, n, reg.Codes())
	if v := len(load1.IDs()); v < 100000 && n >= 106000 {
		t.Fatalf("the load has %d valid events, want ≥ 100000", v)
	}
	follower := func() string {
		s := c.stream(t)
		for _, p := range s.Replicas {
			if !p.Offline {
				return p.Name
			}
		}
		t.Fatalf("the stream has no follower: %+v", s)
		return ""
	}
	c.run(t, "faults", load1, span, []fault{
		{at: 0.15, name: follower, restartAfter: 4 * time.Second},
		{at: 0.35, name: func() string { return "clickhouse-2" }, restartAfter: 8 * time.Second},
		{at: 0.60, name: func() string { return c.activeProjector(t) }, restartAfter: 4 * time.Second},
	})
	all := &projtest.Load{Msgs: slices.Clone(load1.Msgs)}
	c.check(t, all)
	t.Logf("first run done after %s", time.Since(began).Round(time.Second))

	load2 := projtest.Generate(1202, n, reg.Codes())
	c.run(t, "leader", load2, span, []fault{
		{at: 0.30, name: func() string { return c.stream(t).Leader }, restartAfter: 4 * time.Second},
	})
	all.Msgs = append(all.Msgs, load2.Msgs...)
	c.check(t, all)
	t.Logf("both runs done after %s", time.Since(began).Round(time.Second))
}

// clusterEnv is the running cluster and an admin connection to it.
type clusterEnv struct {
	local *cluster.Local
	js    jetstream.JetStream
	creds *credentials.File
	// msgIDs counts the distinct Nats-Msg-Ids published: what the stream
	// must hold.
	msgIDs map[string]struct{}
	// why is what failed, repeated by the last cleanup at the very end of
	// the output, where CI's excerpt of a failed run shows it.
	why []string
}

// failf records what failed for the end of the output and fails the test
// at once.
func (c *clusterEnv) failf(t *testing.T, format string, args ...any) {
	t.Helper()
	c.why = append(c.why, fmt.Sprintf(format, args...))
	t.Fatalf(format, args...)
}

// errorf records what failed for the end of the output and fails the
// test, which goes on.
func (c *clusterEnv) errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	c.why = append(c.why, fmt.Sprintf(format, args...))
	t.Errorf(format, args...)
}

// up runs `deployments/cluster/local up` in a temporary directory and
// registers `down` (and, on failure, the ends of the logs) for the end.
func up(t *testing.T) *clusterEnv {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	l := &cluster.Local{Root: root, Dir: t.TempDir(), Offset: envInt(t, "CDS_CLUSTER_PORT_OFFSET", 0)}
	c := &clusterEnv{local: l, msgIDs: map[string]struct{}{}}
	t.Cleanup(func() { c.summary(t) }) // the last cleanup to run
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(l.Dir, "log", "*.log"))
			for _, f := range logs {
				b, _ := os.ReadFile(f)
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("--- %s (end)\n%s", filepath.Base(f), strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := l.Run(ctx, "down"); err != nil {
			t.Errorf("down: %v", err)
		} else {
			t.Logf("down:\n%s", out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := l.Run(ctx, "up")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	creds, err := credentials.LoadFile(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := cluster.ConnectAdmin(strings.Join(l.NATSURLs(), ","), l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c.js, c.creds = js, creds
	return c
}

// summary repeats, after the logs and the cluster's shutdown, what failed
// and the last warning or error each process logged: CI shows only the end
// of a failed run's output.
func (c *clusterEnv) summary(t *testing.T) {
	if !t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(c.local.Dir, "log", "*.log"))
	var last []string
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if l := lines[i]; strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") || strings.Contains(l, "<Error>") {
				last = append(last, fmt.Sprintf("%s: %.300s", filepath.Base(f), l))
				break
			}
		}
	}
	why := c.why
	if len(why) == 0 {
		why = []string{"see the failures above"}
	}
	t.Logf("TestCluster failed: %s\nthe last warning or error of each process:\n%s", strings.Join(why, "\n"), strings.Join(last, "\n"))
}

// fault is a process killed with SIGKILL once the load reaches the share
// at, and started again restartAfter later.
type fault struct {
	at           float64
	name         func() string // resolved at the time of the kill
	restartAfter time.Duration
}

// run publishes load through the three NATS URLs at an even pace over
// span, with every message carrying a Nats-Msg-Id, while the faults
// happen; it returns once the load is acknowledged and every fault's
// process started again.
func (c *clusterEnv) run(t *testing.T, name string, load *projtest.Load, span time.Duration, faults []fault) {
	t.Helper()
	msgs := c.natsMsgs(name, load)
	pub, err := cluster.NewPublisher(c.local.NATSURLs(), c.creds.Admin.User, c.creds.Admin.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	var published atomic.Int64
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		const chunk = 2000
		for i := 0; i < len(msgs); i += chunk {
			if wait := time.Until(start.Add(span * time.Duration(i) / time.Duration(len(msgs)))); wait > 0 {
				time.Sleep(wait)
			}
			j := min(i+chunk, len(msgs))
			if _, err := pub.Publish(ctx, msgs[i:j], nil); err != nil {
				done <- err
				return
			}
			published.Store(int64(j))
		}
		done <- nil
	}()

	var restarted []string
	for _, f := range faults {
		for published.Load() < int64(f.at*float64(len(msgs))) {
			time.Sleep(20 * time.Millisecond)
		}
		victim := f.name()
		if err := c.local.Kill(victim); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: kill -9 %s at %d of %d messages", name, victim, published.Load(), len(msgs))
		time.Sleep(f.restartAfter)
		if err := c.local.Start(ctx, victim); err != nil {
			t.Fatal(err)
		}
		restarted = append(restarted, victim)
		t.Logf("%s: %s started again at %d of %d messages", name, victim, published.Load(), len(msgs))
	}
	if err := <-done; err != nil {
		c.failf(t, "%s: publish: %v", name, err)
	}
	t.Logf("%s: %d messages published in %s through %d URLs, %d windows retried through the next URL; restarted: %s",
		name, len(msgs), time.Since(start).Round(time.Millisecond), len(c.local.NATSURLs()), pub.Retries, strings.Join(restarted, ", "))
}

// natsMsgs turns a load into NATS messages that all carry a Nats-Msg-Id:
// the event id for valid events, a fresh one for the duplicates (stored
// again, for the projector to drop) and the invalid events.
func (c *clusterEnv) natsMsgs(run string, load *projtest.Load) []*nats.Msg {
	out := make([]*nats.Msg, len(load.Msgs))
	for i, m := range load.Msgs {
		id := m.MsgID
		if id == "" {
			id = fmt.Sprintf("%s-%d", run, i)
		}
		nm := nats.NewMsg(m.Subject)
		nm.Data = m.Data
		nm.Header.Set(jetstream.MsgIDHeader, id)
		out[i] = nm
		c.msgIDs[id] = struct{}{}
	}
	return out
}

// check waits until the cluster has settled for load (every replica up,
// holding its events once, the watermark at the stream's end), then checks
// every replica exact with projtest.Check and the stream's count.
func (c *clusterEnv) check(t *testing.T, load *projtest.Load) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	want := uint64(len(load.IDs()))
	start := time.Now()
	h, err := cluster.Settle(ctx, c.js, c.local.ClickHouseHosts(), want)
	if err != nil {
		c.failf(t, "%v", err)
	}
	t.Logf("settled %s after the load: stream leader %s, %d messages; replicas %s",
		time.Since(start).Round(time.Millisecond), h.Stream.Leader, h.Stream.Msgs, replicaSummary(h.Replicas))
	if h.Stream.Msgs != uint64(len(c.msgIDs)) {
		c.errorf(t, "the stream holds %d messages, want %d (one per Nats-Msg-Id)", h.Stream.Msgs, len(c.msgIDs))
	}
	for _, cfg := range c.local.ClickHouseHosts() {
		db, err := chdb.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := projtest.Check(ctx, db, load, h.Stream.LastSeq)
		db.Close()
		if err != nil {
			c.failf(t, "replica %s: %v", cfg.Addr, err)
		}
		if !r.OK() {
			c.errorf(t, "replica %s: %s", cfg.Addr, r)
		} else {
			t.Logf("replica %s exact: %s", cfg.Addr, r)
		}
	}
}

// stream returns the event stream's placement.
func (c *clusterEnv) stream(t *testing.T) cluster.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		s, err := cluster.StreamInfo(ctx, c.js, natsserver.EventsStream)
		if err == nil && s.Leader != "" {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("stream info: %v (leader %q)", err, s.Leader)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// activeProjector returns the name of the projector that holds the lease.
func (c *clusterEnv) activeProjector(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		leases []cluster.Lease
		err    error
	)
	for ctx.Err() == nil {
		if leases, err = cluster.Leases(ctx, c.js); err == nil {
			for _, l := range leases {
				if name := c.local.NameOfPid(l.Pid()); !l.Released && slices.Contains(cluster.Projectors, name) && c.local.Alive(name) {
					return name
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no running projector of %s holds the lease after 30s: %+v, %v", strings.Join(cluster.Projectors, ", "), leases, err)
	return ""
}

func replicaSummary(rs []cluster.Replica) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %d events", r.Addr, r.Events))
	}
	return strings.Join(parts, ", ")
}

func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: want an integer", key, v)
	}
	return n
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: want a duration such as 40s", key, v)
	}
	return d
}
