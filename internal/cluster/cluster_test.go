package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/natsserver"
)

func TestHosts(t *testing.T) {
	tests := []struct {
		name, addr, password string
		want                 []chdb.Config
		wantErr              bool
	}{
		{name: "host:port", addr: "127.0.0.1:9000", password: "pw", want: []chdb.Config{{Addr: "127.0.0.1:9000", Password: "pw"}}},
		{name: "DSN of two", addr: "clickhouse://cds:secret@a:9000,b:9010/prov", want: []chdb.Config{
			{Addr: "a:9000", User: "cds", Password: "secret", Database: "prov"},
			{Addr: "b:9010", User: "cds", Password: "secret", Database: "prov"},
		}},
		{name: "password wins over the DSN's", addr: "clickhouse://cds:secret@a:9000/cds", password: "other", want: []chdb.Config{
			{Addr: "a:9000", User: "cds", Password: "other", Database: "cds"},
		}},
		{name: "bad DSN", addr: "clickhouse://a:9000/cds?dial_timeout=never", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Hosts(tt.addr, tt.password)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %t", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLease(t *testing.T) {
	l := Lease{Key: "lease.cds_bench.CDS_EVENTS", Holder: "host-1/4242/0badcafe"}
	if got := l.Pid(); got != 4242 {
		t.Errorf("Pid = %d, want 4242", got)
	}
	if got := l.Database(); got != "cds_bench" {
		t.Errorf("Database = %q, want cds_bench", got)
	}
	if got := (Lease{Holder: "garbage"}).Pid(); got != 0 {
		t.Errorf("Pid of a malformed holder = %d, want 0", got)
	}
}

func TestSettled(t *testing.T) {
	good := Health{
		Stream:   Stream{Leader: "nats-1", LastSeq: 120, Replicas: []Peer{{Name: "nats-2", Current: true}, {Name: "nats-3", Current: true}}},
		Replicas: []Replica{{Addr: "a", Events: 100, Distinct: 100, Watermark: 120, Replicated: true}, {Addr: "b", Events: 100, Distinct: 100, Watermark: 120, Replicated: true}},
	}
	if m := good.Settled(100); len(m) != 0 {
		t.Fatalf("settled cluster reported %v", m)
	}
	tests := []struct {
		name   string
		change func(h *Health)
		want   string
	}{
		{"no leader", func(h *Health) { h.Stream.Leader = "" }, "no leader"},
		{"follower behind", func(h *Health) { h.Stream.Replicas[1].Current = false }, "nats-3"},
		{"replica down", func(h *Health) { h.Replicas[1].Err = errors.New("refused") }, "b: refused"},
		{"replica behind", func(h *Health) { h.Replicas[1].Events, h.Replicas[1].Distinct = 90, 90 }, "b: 90 events"},
		{"doubled", func(h *Health) { h.Replicas[0].Events = 101 }, "a: 101 events (100 distinct)"},
		{"watermark behind", func(h *Health) { h.Replicas[0].Watermark = 110 }, "a: watermark 110"},
		{"queue", func(h *Health) { h.Replicas[1].Queue = 3 }, "b: replication queue 3"},
		{"stream unreadable", func(h *Health) { h.StreamErr = errors.New("no responders") }, "no responders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good
			h.Stream.Replicas = append([]Peer(nil), good.Stream.Replicas...)
			h.Replicas = append([]Replica(nil), good.Replicas...)
			tt.change(&h)
			m := h.Settled(100)
			if !strings.Contains(strings.Join(m, "; "), tt.want) {
				t.Errorf("Settled = %v, want a mention of %q", m, tt.want)
			}
		})
	}
}

// TestPublisherFailsOver publishes through a NATS cluster of three real
// nodes, one of which is shut down between two halves of the load: the
// windows sent to it are published again through the next node, and the
// stream, replicated on three, holds every message once.
func TestPublisherFailsOver(t *testing.T) {
	nodes := startNATSCluster(t, 3)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ClientURL())
	}
	pub, err := NewPublisher(urls, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pub.Window, pub.AckWait = 100, time.Second
	msgs := make([]*nats.Msg, 1200)
	for i := range msgs {
		m := nats.NewMsg("cds.events.bg-test.workfile.processed")
		m.Data = []byte(fmt.Sprintf(`{"n":%d}`, i))
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("m-%d", i))
		msgs[i] = m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := pub.Publish(ctx, msgs[:600], nil); err != nil {
		t.Fatal(err)
	}
	nodes[1].Close()
	var seen int
	last, err := pub.Publish(ctx, msgs[600:], func(n int) { seen = n })
	if err != nil {
		t.Fatal(err)
	}
	if seen != 600 {
		t.Errorf("progress reported %d, want 600", seen)
	}
	if pub.Retries == 0 {
		t.Error("no window was published again, though a node was down")
	}
	nc, err := nats.Connect(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := StreamInfo(ctx, js, natsserver.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if s.Msgs != uint64(len(msgs)) || s.LastSeq != last {
		t.Errorf("stream holds %d messages up to %d, want %d up to the last acknowledged %d", s.Msgs, s.LastSeq, len(msgs), last)
	}
	if s.Leader == "" || len(s.Replicas) != 2 {
		t.Errorf("stream placement: leader %q, followers %+v; want a leader and two followers", s.Leader, s.Replicas)
	}

	noID := nats.NewMsg("cds.events.bg-test.workfile.processed")
	if _, err := pub.Publish(ctx, []*nats.Msg{noID}, nil); !errors.Is(err, ErrNoMsgID) {
		t.Errorf("a message without Nats-Msg-Id: %v, want ErrNoMsgID", err)
	}
}

// startNATSCluster starts n embedded NATS nodes (no authentication) routed
// to each other and the event streams replicated on all of them.
func startNATSCluster(t *testing.T, n int) []*natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var listens, routes []string
	for range n {
		a := freeAddr(t)
		listens = append(listens, a)
		routes = append(routes, "nats-route://"+a)
	}
	dir := t.TempDir()
	nodes := make([]*natsserver.Server, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			s, err := natsserver.Start(ctx, natsserver.Config{
				Addr: "127.0.0.1:-1", StoreDir: filepath.Join(dir, fmt.Sprint(i)), ServerName: fmt.Sprintf("nats-%d", i+1),
				Cluster: natsserver.Cluster{Listen: listens[i], Routes: routes},
			})
			nodes[i] = s
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range nodes {
		t.Cleanup(func() { s.Close() })
	}
	nc, err := nats.Connect(nodes[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for {
		try, stop := context.WithTimeout(ctx, 5*time.Second)
		err := natsserver.EnsureStreams(try, js, natsserver.StreamConfig{Replicas: n})
		stop()
		if err == nil {
			return nodes
		}
		if ctx.Err() != nil {
			t.Fatalf("streams not placed on the cluster: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
