// Package clusterbench measures the local cluster of deployments/cluster/local
// against a single node started in the same run: the projector's drain rate
// as a ratio of the single node's, the NATS stream leader's failover time,
// the projector's takeover time and a ClickHouse replica's catch-up time
// (cds bench --cluster; docs/cluster.md, "Figures").
package clusterbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/bench"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/cluster"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// Config says what to measure.
type Config struct {
	Local    *cluster.Local // the running local cluster
	Events   int            // messages of the drain load; default 200,000
	Binary   string         // the cds binary for the single node's projector; default this executable
	Out      io.Writer
	Progress io.Writer // progress lines; nil = none
}

func (c Config) withDefaults() (Config, error) {
	if c.Local == nil {
		return c, errors.New("clusterbench: no cluster")
	}
	if c.Events == 0 {
		c.Events = 200000
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, err
		}
		c.Binary = exe
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	return c, nil
}

type env struct {
	bench.Printer
	cfg   Config
	reg   *registry.Registry
	creds *credentials.File
	js    jetstream.JetStream // the cluster's, as admin
	load  []*nats.Msg
	procs []*exec.Cmd
}

// Run measures and prints the figures. It drives the cluster's own
// projectors (projector-a, projector-b) through the script, so the loads it
// publishes end up in the cluster's database: run it on a cluster that can
// be thrown away. Both projectors run again at the end.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	e := &env{cfg: cfg, reg: registry.Sample(), Printer: bench.Printer{Name: "bench cluster", Out: cfg.Out, Progress: cfg.Progress}}
	if e.creds, err = credentials.LoadFile(cfg.Local.Dir); err != nil {
		return fmt.Errorf("clusterbench: is the cluster up? %w", err)
	}
	nc, err := cluster.ConnectAdmin(strings.Join(cfg.Local.NATSURLs(), ","), cfg.Local.Dir)
	if err != nil {
		return err
	}
	defer nc.Close()
	if e.js, err = jetstream.New(nc); err != nil {
		return err
	}
	seed := uint64(time.Now().UnixNano())
	e.load = messages(projtest.Generate(seed, cfg.Events, e.reg.Codes()), "bench"+strconv.FormatUint(seed, 36))
	fmt.Fprintf(cfg.Out, "messages: %d\n", len(e.load))

	for _, p := range cluster.Projectors {
		if _, err := cfg.Local.Run(ctx, "stop", p); err != nil {
			return err
		}
	}
	defer func() {
		for _, p := range cluster.Projectors {
			if _, err := cfg.Local.Run(context.Background(), "start", p); err != nil {
				e.Progressf("starting %s again: %v", p, err)
			}
		}
	}()
	defer e.stopAll()

	single, err := e.singleDrain(ctx)
	if err != nil {
		return fmt.Errorf("single node: %w", err)
	}
	steps := []struct {
		name string
		run  func(context.Context, float64) error
	}{
		{"cluster drain", e.clusterDrain},
		{"projector takeover", e.takeover},
		{"nats leader failover", e.leaderFailover},
		{"replica catch-up", e.replicaCatchUp},
	}
	for _, s := range steps {
		if err := s.run(ctx, single); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// messages turns a load into NATS messages that all carry a Nats-Msg-Id.
func messages(load *projtest.Load, prefix string) []*nats.Msg {
	out := make([]*nats.Msg, len(load.Msgs))
	for i, m := range load.Msgs {
		id := m.MsgID
		if id == "" {
			id = prefix + "-" + strconv.Itoa(i)
		}
		nm := nats.NewMsg(m.Subject)
		nm.Data = m.Data
		nm.Header.Set(jetstream.MsgIDHeader, id)
		out[i] = nm
	}
	return out
}

// singleDrain runs the single node of cds up on free ports (one NATS
// server with an R1 stream, one managed clickhouse-server), publishes the
// load, and times one cds projector process draining it.
func (e *env) singleDrain(ctx context.Context) (float64, error) {
	e.Progressf("single node: %d messages", len(e.load))
	dir, err := os.MkdirTemp("", "cds-bench-single-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	acfg := app.Defaults()
	acfg.DataDir, acfg.NATSAddr = dir, "127.0.0.1:-1"
	ns, err := app.StartNATS(ctx, acfg, e.reg)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	tcp, err := freeAddr()
	if err != nil {
		return 0, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	srv, err := chserver.Start(ctx, chserver.Config{Dir: filepath.Join(dir, "clickhouse"), TCPAddr: tcp, HTTPAddr: httpAddr, NoAdopt: true})
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	creds, err := credentials.LoadFile(dir)
	if err != nil {
		return 0, err
	}
	pub, err := cluster.NewPublisher([]string{ns.ClientURL()}, creds.Admin.User, creds.Admin.Password)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	start := time.Now()
	last, err := pub.Publish(ctx, e.load, nil)
	if err != nil {
		return 0, err
	}
	single := rate(len(e.load), time.Since(start))
	e.Figure("single_publish_events_per_s", single, "events/s")

	db, err := chdb.Open(ctx, chdb.Config{Addr: srv.Addr()})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	p, err := e.start(ctx, "single", "projector", "--nats", ns.ClientURL(), "--clickhouse", srv.Addr(), "--data", dir, "--log", "warn")
	if err != nil {
		return 0, err
	}
	start = time.Now()
	if err := waitWatermark(ctx, db, last, 10*time.Minute); err != nil {
		return 0, err
	}
	drain := rate(int(last), time.Since(start))
	e.Figure("single_drain_events_per_s", drain, "events/s")
	return drain, e.stop(p)
}

// clusterDrain publishes the load through the three NATS URLs with the
// cluster's projectors stopped, then times projector-a draining what the
// stream holds beyond the database's watermark.
func (e *env) clusterDrain(ctx context.Context, single float64) error {
	e.Progressf("cluster: %d messages through %d URLs", len(e.load), len(e.cfg.Local.NATSURLs()))
	db, err := e.open(ctx, "")
	if err != nil {
		return err
	}
	defer db.Close()
	from, err := db.Watermark(ctx)
	if err != nil {
		return err
	}
	pub, err := cluster.NewPublisher(e.cfg.Local.NATSURLs(), e.creds.Admin.User, e.creds.Admin.Password)
	if err != nil {
		return err
	}
	defer pub.Close()
	start := time.Now()
	if _, err := pub.Publish(ctx, e.load, nil); err != nil {
		return err
	}
	e.Figure("cluster_publish_events_per_s", rate(len(e.load), time.Since(start)), "events/s")
	s, err := cluster.StreamInfo(ctx, e.js, natsserver.EventsStream)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := e.cfg.Local.Start(ctx, cluster.Projectors[0]); err != nil {
		return err
	}
	if err := waitWatermark(ctx, db, s.LastSeq, 15*time.Minute); err != nil {
		return err
	}
	drain := rate(int(s.LastSeq-from), time.Since(start))
	e.Figure("cluster_drain_events_per_s", drain, "events/s")
	e.Figure("cluster_drain_vs_single", drain/single, "")
	return nil
}

// takeover starts projector-b beside the active projector-a, publishes a
// steady trickle, kills the lease holder with SIGKILL and times until the
// other holds the lease and the watermark moves again.
func (e *env) takeover(ctx context.Context, _ float64) error {
	if err := e.cfg.Local.Start(ctx, cluster.Projectors[1]); err != nil {
		return err
	}
	db, err := e.open(ctx, "")
	if err != nil {
		return err
	}
	defer db.Close()
	// Give the standby time to start and wait for the lease.
	time.Sleep(3 * time.Second)
	stopTrickle := e.trickle(ctx, "takeover", 200)
	defer stopTrickle()
	time.Sleep(time.Second)
	active := e.cfg.Local.NameOfPid(e.holder(ctx))
	standby := cluster.Projectors[0]
	if active == standby {
		standby = cluster.Projectors[1]
	} else if active != cluster.Projectors[1] {
		return fmt.Errorf("the lease holder (pid %d) is neither %v", e.holder(ctx), cluster.Projectors)
	}
	standbyPid, err := e.cfg.Local.Pid(standby)
	if err != nil {
		return err
	}
	before, err := db.Watermark(ctx)
	if err != nil {
		return err
	}
	killed := time.Now()
	if err := e.cfg.Local.Kill(active); err != nil {
		return err
	}
	e.Progressf("killed the active projector %s at watermark %d", active, before)
	for {
		w, err := db.Watermark(ctx)
		if err == nil && w > before && e.holder(ctx) == standbyPid {
			break
		}
		if time.Since(killed) > 2*time.Minute {
			return fmt.Errorf("no takeover within 2 minutes (watermark %d, was %d)", w, before)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.Figure("projector_takeover_ms", ms(time.Since(killed)), "ms")
	return e.cfg.Local.Start(ctx, active)
}

// holder returns the pid of the cds database's lease holder, or 0.
func (e *env) holder(ctx context.Context) int {
	leases, err := cluster.Leases(ctx, e.js)
	if err != nil {
		return 0
	}
	for _, l := range leases {
		if l.Database() == chdb.DefaultDatabase && !l.Released {
			return l.Pid()
		}
	}
	return 0
}

// leaderFailover kills the event stream's leader with SIGKILL and times
// until a publish through a surviving node is acknowledged and a new
// leader is named; then the node is started again and its catch-up timed.
func (e *env) leaderFailover(ctx context.Context, _ float64) error {
	s, err := cluster.StreamInfo(ctx, e.js, natsserver.EventsStream)
	if err != nil {
		return err
	}
	leader := s.Leader
	var urls []string
	for i, n := range cluster.NATSNodes {
		if n != leader {
			urls = append(urls, e.cfg.Local.NATSURLs()[i])
		}
	}
	if len(urls) == len(cluster.NATSNodes) {
		return fmt.Errorf("the stream's leader %q is not one of %v", leader, cluster.NATSNodes)
	}
	pub, err := cluster.NewPublisher(urls, e.creds.Admin.User, e.creds.Admin.Password)
	if err != nil {
		return err
	}
	defer pub.Close()
	pub.Window, pub.AckWait = 1, 250*time.Millisecond
	probe := messages(projtest.Generate(uint64(time.Now().UnixNano()), 400, e.reg.Codes()), "failover")
	killed := time.Now()
	if err := e.cfg.Local.Kill(leader); err != nil {
		return err
	}
	e.Progressf("killed the stream leader %s", leader)
	var acked time.Duration
	for i := 0; ; i++ {
		if i == len(probe) {
			return errors.New("no acknowledgement after 400 probes")
		}
		if _, err := pub.Publish(ctx, probe[i:i+1], nil); err != nil {
			return err
		}
		if acked == 0 {
			acked = time.Since(killed)
		}
		ns, err := cluster.StreamInfo(ctx, e.js, natsserver.EventsStream)
		if err == nil && ns.Leader != "" && ns.Leader != leader {
			e.Figure("nats_leader_failover_ms", ms(acked), "ms")
			e.Figure("nats_new_leader_ms", ms(time.Since(killed)), "ms")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	restarted := time.Now()
	if err := e.cfg.Local.Start(ctx, leader); err != nil {
		return err
	}
	for {
		ns, err := cluster.StreamInfo(ctx, e.js, natsserver.EventsStream)
		if err == nil && current(ns, leader) {
			break
		}
		if time.Since(restarted) > 3*time.Minute {
			return fmt.Errorf("%s not current 3 minutes after its restart", leader)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.Figure("nats_node_restart_to_current_ms", ms(time.Since(restarted)), "ms")
	return nil
}

func current(s cluster.Stream, node string) bool {
	if s.Leader == node {
		return true
	}
	for _, p := range s.Replicas {
		if p.Name == node {
			return p.Current && !p.Offline
		}
	}
	return false
}

// replicaCatchUp kills the second ClickHouse replica with SIGKILL,
// publishes a share of the load while it is down, then starts it again and
// times until it holds as many events of the bench's database as the first
// replica, with the watermark at the stream's end.
func (e *env) replicaCatchUp(ctx context.Context, _ float64) error {
	name := cluster.ClickHouseReplicas[1]
	// With two replicas the quorum is both: the projector's writes wait
	// for the killed one. It comes back well within the quorum timeout
	// (chdb.QuorumTimeout), as after a quick restart; a longer absence
	// fails the pending write and sends the projector into recovery.
	down := time.Duration(chdb.QuorumTimeout) * time.Millisecond / 3
	killed := time.Now()
	if err := e.cfg.Local.Kill(name); err != nil {
		return err
	}
	e.Progressf("killed %s", name)
	behind := messages(projtest.Generate(uint64(time.Now().UnixNano()), e.cfg.Events/4, e.reg.Codes()), "catchup")
	pub, err := cluster.NewPublisher(e.cfg.Local.NATSURLs(), e.creds.Admin.User, e.creds.Admin.Password)
	if err != nil {
		return err
	}
	defer pub.Close()
	last, err := pub.Publish(ctx, behind, nil)
	if err != nil {
		return err
	}
	hosts := e.cfg.Local.ClickHouseHosts()
	time.Sleep(time.Until(killed.Add(down)))
	restarted := time.Now()
	if _, err := e.cfg.Local.Run(ctx, "start", name); err != nil {
		return err
	}
	for {
		a := cluster.ReadReplica(ctx, hosts[0])
		b := cluster.ReadReplica(ctx, hosts[1])
		if a.Err == nil && b.Err == nil && a.Watermark == last && b.Watermark == last && a.Events == b.Events && b.Queue == 0 {
			break
		}
		if time.Since(restarted) > 10*time.Minute {
			return fmt.Errorf("%s did not catch up in 10 minutes: %+v vs %+v", name, b, a)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.Figure("clickhouse_replica_catchup_ms", ms(time.Since(restarted)), "ms")
	e.Figure("clickhouse_replica_down_ms", ms(restarted.Sub(killed)), "ms")
	e.Figure("clickhouse_replica_catchup_events", float64(len(behind)), "messages published while down")
	return nil
}

// trickle publishes n messages a second through the cluster until the
// returned function is called.
func (e *env) trickle(ctx context.Context, prefix string, n int) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub, err := cluster.NewPublisher(e.cfg.Local.NATSURLs(), e.creds.Admin.User, e.creds.Admin.Password)
		if err != nil {
			e.Progressf("trickle: %v", err)
			return
		}
		defer pub.Close()
		msgs := messages(projtest.Generate(uint64(time.Now().UnixNano()), n*300, e.reg.Codes()), prefix)
		pub.Window = max(1, n/10)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(msgs) && ctx.Err() == nil; i += pub.Window {
			if _, err := pub.Publish(ctx, msgs[i:min(i+pub.Window, len(msgs))], nil); err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// open connects to the cluster's database on addr, or through every replica.
func (e *env) open(ctx context.Context, addr string) (*chdb.DB, error) {
	if addr == "" {
		addr = e.cfg.Local.ClickHouseDSN()
	}
	return chdb.Open(ctx, chdb.Config{Addr: addr})
}

// start runs the cds binary; its output goes to <cluster>/log/bench-NAME.log.
func (e *env) start(_ context.Context, name string, args ...string) (*exec.Cmd, error) {
	f, err := os.OpenFile(filepath.Join(e.cfg.Local.Dir, "log", "bench-"+name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(e.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait() }()
	e.procs = append(e.procs, cmd)
	return cmd, nil
}

// stop ends p with SIGTERM.
func (e *env) stop(p *exec.Cmd) error {
	if err := p.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	for i := 0; i < 600 && syscall.Kill(p.Process.Pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (e *env) stopAll() {
	for _, p := range e.procs {
		_ = e.stop(p)
	}
}

func waitWatermark(ctx context.Context, db *chdb.DB, target uint64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		w, err := db.Watermark(ctx)
		if err == nil && w >= target {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("watermark %d, want %d after %s (%v)", w, target, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
