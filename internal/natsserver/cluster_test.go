package natsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
)

// testCluster is a NATS cluster of real cds servers in this process, each
// with its own JetStream store, sharing one set of credentials (as the
// nodes of a deployment read the same credentials file).
type testCluster struct {
	tb    testing.TB
	dir   string // credentials data directory
	creds *credentials.File
	cfgs  []Config
	nodes []*Server // nil while a node is stopped
}

// newTestCluster starts n nodes on free ports; base gives the settings
// other than the addresses, names, stores and users.
func newTestCluster(tb testing.TB, n int, base Config) *testCluster {
	tb.Helper()
	dir := tb.TempDir()
	f, h, err := credentials.Ensure(dir, testAgencies)
	if err != nil {
		tb.Fatal(err)
	}
	ports := freePorts(tb, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	c := &testCluster{tb: tb, dir: dir, creds: f, nodes: make([]*Server, n)}
	for i := range n {
		cfg := base
		cfg.Addr = "127.0.0.1:-1"
		cfg.StoreDir = tb.TempDir()
		cfg.Hashes = h
		cfg.ServerName = fmt.Sprintf("n%d", i+1)
		cfg.Cluster = Cluster{Listen: "127.0.0.1:" + strconv.Itoa(ports[i]), Routes: routes}
		c.cfgs = append(c.cfgs, cfg)
	}
	tb.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	for i := range n {
		c.start(i)
	}
	return c
}

// freePorts returns n ports that were free a moment ago (the route ports
// must be known before the nodes start, since each node is given all).
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

func (c *testCluster) start(i int) {
	c.tb.Helper()
	s, err := Start(testContext(c.tb), c.cfgs[i])
	if err != nil {
		c.tb.Fatalf("start node %d: %v", i+1, err)
	}
	c.nodes[i] = s
	// A node started again listens where it did, as a deployed one does:
	// the clients' URL lists stay true.
	c.cfgs[i].Addr = strings.TrimPrefix(s.ClientURL(), "nats://")
}

func (c *testCluster) stop(i int) {
	if c.nodes[i] != nil {
		c.nodes[i].Close()
		c.nodes[i] = nil
	}
}

// urls is the comma-separated client URL list of the running nodes.
func (c *testCluster) urls() string {
	var out []string
	for _, s := range c.nodes {
		if s != nil {
			out = append(out, s.ClientURL())
		}
	}
	return strings.Join(out, ",")
}

// admin connects as the admin user to the running nodes, and reconnects to
// another when its node stops.
func (c *testCluster) admin(tb testing.TB) *conn {
	tb.Helper()
	reconnect := func(o *nats.Options) error { o.AllowReconnect = true; return nil }
	return mustConnect(tb, c.urls(), nats.UserInfo(c.creds.Admin.User, c.creds.Admin.Password), reconnect,
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
}

// agency connects as agency code to node i only.
func (c *testCluster) agency(tb testing.TB, i int, code string) *conn {
	tb.Helper()
	return mustConnect(tb, c.nodes[i].ClientURL(), agencyOptions(code, c.creds.Agencies[code].NATSPassword)...)
}

// ensureStreams creates the streams with replicas, trying again until the
// cluster has a JetStream leader and enough nodes, as app.StartNATS does.
func (c *testCluster) ensureStreams(tb testing.TB, js jetstream.JetStream, replicas int) {
	tb.Helper()
	ctx := testContext(tb)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := EnsureStreams(actx, js, StreamConfig{Replicas: replicas})
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("streams with %d replicas: %v", replicas, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leader returns the index of the node that leads stream, waiting for one.
func (c *testCluster) leader(tb testing.TB, stream string) int {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range c.nodes {
			if s != nil && s.Inner().JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("no leader of %s", stream)
	return -1
}

// waitReplicas waits until stream has a leader and replicas-1 current
// followers (raising the replicas of a stream takes a moment).
func (c *testCluster) waitReplicas(tb testing.TB, js jetstream.JetStream, stream string, replicas int) {
	tb.Helper()
	ctx := testContext(tb)
	var info *jetstream.StreamInfo
	for {
		st, err := js.Stream(ctx, stream)
		if err == nil {
			info = st.CachedInfo()
			if info.Config.Replicas == replicas && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == replicas-1 {
				current := 0
				for _, r := range info.Cluster.Replicas {
					if r.Current {
						current++
					}
				}
				if current == replicas-1 {
					return
				}
			}
		}
		if ctx.Err() != nil {
			tb.Fatalf("%s: %+v, %v; want %d current replicas", stream, info, err, replicas)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storedMsgs returns how many messages node i's replica of stream holds.
func (c *testCluster) storedMsgs(tb testing.TB, i int, stream string) uint64 {
	tb.Helper()
	jsz, err := c.nodes[i].Inner().Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range jsz.AccountDetails {
		for _, st := range a.Streams {
			if st.Name == stream {
				return st.State.Msgs
			}
		}
	}
	return 0
}

// waitStored waits until every running node's replica of stream holds want messages.
func (c *testCluster) waitStored(tb testing.TB, stream string, want uint64) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []uint64
		all := true
		for i, s := range c.nodes {
			if s == nil {
				continue
			}
			n := c.storedMsgs(tb, i, stream)
			got = append(got, n)
			all = all && n == want
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s on the running nodes holds %v messages, want %d on each", stream, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterLog: in a three-node cluster the streams are created with
// three replicas (and an existing stream with one is raised to three); an
// event published through any node passes exactly one gate and is stored
// once, on every node; each node's gate limits the agencies connected to
// it; an agency added while the cluster runs publishes through every node.
func TestClusterLog(t *testing.T) {
	c := newTestCluster(t, 3, Config{Limits: Limits{Rate: 0.001, Burst: 5}})
	admin := c.admin(t)
	js := mustJetStream(t, admin)
	ctx := testContext(t)

	c.ensureStreams(t, js, 1)
	c.ensureStreams(t, js, 3)
	for _, name := range []string{EventsStream, DeadLetterStream} {
		c.waitReplicas(t, js, name, 3)
	}

	t.Run("each message passes one gate", func(t *testing.T) {
		// No Nats-Msg-Id: were a message handled by two gates, JetStream
		// would store it twice.
		for i := range c.nodes {
			a := c.agency(t, i, "bg-vietyen")
			m := nats.NewMsg("cds.events.bg-vietyen.workfile.processed")
			m.Data = []byte(`{"node":` + strconv.Itoa(i) + `}`)
			if _, err := a.RequestMsg(m, 5*time.Second); err != nil {
				t.Fatalf("publish through node %d: %v", i+1, err)
			}
		}
		c.waitStored(t, EventsStream, 3)
		// No PubAck arrives twice: the agency's inbox sees one reply per request.
		a := c.agency(t, 1, "bg-ctk")
		sub, err := a.SubscribeSync("_INBOX.bg-ctk.once")
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg("cds.events.bg-ctk.workfile.processed")
		m.Reply = "_INBOX.bg-ctk.once"
		m.Data = []byte(`{}`)
		if err := a.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("PubAck: %v", err)
		}
		if extra, err := sub.NextMsg(300 * time.Millisecond); err == nil {
			t.Errorf("a second PubAck arrived: %s", extra.Data)
		}
		c.waitStored(t, EventsStream, 4)
	})

	t.Run("the limit holds per node", func(t *testing.T) {
		// Burst 5 and a rate that refills nothing during the test: each
		// node's gate lets 5 through for the agencies connected to it.
		for i := range 2 {
			ajs := mustJetStream(t, c.agency(t, i, "bg-yenthe"))
			stored, refused := 0, 0
			for k := range 8 {
				_, err := ajs.Publish(ctx, "cds.events.bg-yenthe.workfile.processed", []byte(`{}`), jetstream.WithMsgID(fmt.Sprintf("lim-%d-%d", i, k)))
				var apiErr *jetstream.APIError
				switch {
				case err == nil:
					stored++
				case errors.As(err, &apiErr) && apiErr.Code == 429:
					refused++
				default:
					t.Fatalf("node %d publish %d: %v", i+1, k, err)
				}
			}
			if stored != 5 || refused != 3 {
				t.Errorf("through node %d: %d stored, %d refused; want 5 and 3 (the node's own bucket)", i+1, stored, refused)
			}
			if got := c.nodes[i].Refused()["bg-yenthe"]; got != 3 {
				t.Errorf("node %d counts %d refused, want 3", i+1, got)
			}
		}
	})

	t.Run("an agency added at runtime publishes through every node", func(t *testing.T) {
		if _, err := credentials.Add(c.dir, "bg-tanyen-new"); err != nil {
			t.Fatal(err)
		}
		h, err := credentials.LoadHashes(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		f, err := credentials.LoadFile(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range c.nodes {
			if err := s.ReloadUsers(h); err != nil {
				t.Fatalf("node %d: %v", i+1, err)
			}
		}
		before := c.storedMsgs(t, 0, EventsStream)
		for i, s := range c.nodes {
			a := mustConnect(t, s.ClientURL(), agencyOptions("bg-tanyen-new", f.Agencies["bg-tanyen-new"].NATSPassword)...)
			ack, err := mustJetStream(t, a).Publish(ctx, "cds.events.bg-tanyen-new.workfile.processed", []byte(`{}`),
				jetstream.WithMsgID(fmt.Sprintf("new-%d", i)))
			if err != nil || ack.Duplicate {
				t.Fatalf("new agency through node %d: %+v, %v", i+1, ack, err)
			}
		}
		c.waitStored(t, EventsStream, before+3)
	})
}

// TestClusterLeaderFailover: the node leading CDS_EVENTS is stopped; a new
// leader is elected, a publisher connected to every node goes on, and the
// events it publishes again with the same Nats-Msg-Id are not stored twice.
// The stopped node, started again, catches up.
func TestClusterLeaderFailover(t *testing.T) {
	c := newTestCluster(t, 3, Config{})
	js := mustJetStream(t, c.admin(t))
	ctx := testContext(t)
	c.ensureStreams(t, js, 3)

	publish := func(from, to int) {
		t.Helper()
		for k := from; k < to; k++ {
			publishRetrying(t, ctx, js, "cds.events.bg-vietyen.workfile.processed", fmt.Sprintf("ev-%d", k))
		}
	}
	publish(0, 100)
	old := c.leader(t, EventsStream)
	c.stop(old)
	// The publisher does not know which of its PubAcks were lost: it sends
	// the last 50 again, then 100 new ones.
	publish(50, 200)
	now := c.leader(t, EventsStream)
	if now == old {
		t.Fatalf("node %d still leads", old+1)
	}
	c.waitStored(t, EventsStream, 200)

	c.start(old)
	c.waitStored(t, EventsStream, 200)
}

// publishRetrying publishes one event with its id as Nats-Msg-Id until it
// gets a PubAck, as an agency system retries.
func publishRetrying(tb testing.TB, ctx context.Context, js jetstream.JetStream, subject, id string) *jetstream.PubAck {
	tb.Helper()
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := js.Publish(actx, subject, []byte(`{"id":"`+id+`"}`), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return ack
		}
		if ctx.Err() != nil {
			tb.Fatalf("publish %s: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
