// Package cluster inspects a running cds cluster from outside: where the
// event stream's leader and replicas are, how many events each ClickHouse
// replica holds and how far its replication queue lags, and which projector
// holds the lease (docs/cluster.md).
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector"
)

// ConnectAdmin connects to the NATS servers of urls (comma-separated) as
// the admin user of <dataDir>/credentials.json, reconnecting for ever.
func ConnectAdmin(urls, dataDir string) (*nats.Conn, error) {
	f, err := credentials.LoadFile(dataDir)
	if err != nil {
		return nil, fmt.Errorf("cluster: admin credentials: %w", err)
	}
	nc, err := nats.Connect(urls,
		nats.Name("cds-cluster"),
		nats.UserInfo(f.Admin.User, f.Admin.Password),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect nats %s as %s: %w", urls, f.Admin.User, err)
	}
	return nc, nil
}

// Peer is one replica of a stream as its leader sees it.
type Peer struct {
	Name    string
	Current bool          // caught up with the leader
	Offline bool          // not reachable
	Lag     uint64        // operations behind the leader
	Active  time.Duration // since the leader last heard from it
}

// Stream is where a JetStream stream lives and how full it is.
type Stream struct {
	Name     string
	Leader   string // server name of the leader; "" when there is none (no quorum)
	Replicas []Peer // the followers
	Msgs     uint64
	LastSeq  uint64
}

// StreamInfo returns the placement and size of the stream name.
func StreamInfo(ctx context.Context, js jetstream.JetStream, name string) (Stream, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return Stream{}, fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	info := s.CachedInfo()
	out := Stream{Name: name, Msgs: info.State.Msgs, LastSeq: info.State.LastSeq}
	if c := info.Cluster; c != nil {
		out.Leader = c.Leader
		for _, p := range c.Replicas {
			out.Replicas = append(out.Replicas, Peer{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Active: p.Active})
		}
	}
	return out, nil
}

// Lease is the projector lease of one database and stream.
type Lease struct {
	Key      string
	Holder   string // host/pid/random id of the holding process
	Epoch    uint64
	Released bool // given up by a clean shutdown
	Age      time.Duration
}

// Pid returns the process id in Holder, or 0.
func (l Lease) Pid() int {
	parts := strings.Split(l.Holder, "/")
	if len(parts) < 3 {
		return 0
	}
	var pid int
	if _, err := fmt.Sscanf(parts[len(parts)-2], "%d", &pid); err != nil {
		return 0
	}
	return pid
}

// Database returns the database named in the key (lease.<database>.<stream>).
func (l Lease) Database() string {
	parts := strings.Split(l.Key, ".")
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

// Leases returns every key of the projector's lease bucket.
func Leases(ctx context.Context, js jetstream.JetStream) ([]Lease, error) {
	kv, err := js.KeyValue(ctx, projector.LeaseBucket)
	if err != nil {
		return nil, fmt.Errorf("cluster: lease bucket %s: %w", projector.LeaseBucket, err)
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: lease keys: %w", err)
	}
	var out []Lease
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("cluster: lease %s: %w", k, err)
		}
		var v struct {
			Holder   string `json:"holder"`
			Epoch    uint64 `json:"epoch"`
			Released bool   `json:"released"`
		}
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return nil, fmt.Errorf("cluster: lease %s: %w", k, err)
		}
		out = append(out, Lease{Key: k, Holder: v.Holder, Epoch: v.Epoch, Released: v.Released, Age: time.Since(e.Created())})
	}
	return out, nil
}

// Hosts splits a ClickHouse address (host:port, or a DSN naming several
// hosts) into one chdb.Config per host, with the DSN's user, password and
// database; password, when set, wins over the DSN's.
func Hosts(addr, password string) ([]chdb.Config, error) {
	if !strings.Contains(addr, "://") {
		return []chdb.Config{{Addr: addr, Password: password}}, nil
	}
	opts, err := clickhouse.ParseDSN(addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: clickhouse address %s: not a valid DSN", chdb.Redact(addr))
	}
	if password == "" {
		password = opts.Auth.Password
	}
	var out []chdb.Config
	for _, h := range opts.Addr {
		out = append(out, chdb.Config{Addr: h, User: opts.Auth.Username, Password: password, Database: opts.Auth.Database})
	}
	return out, nil
}

// Replica is what one ClickHouse replica holds.
type Replica struct {
	Addr      string
	Err       error  // the replica could not be read
	Events    uint64 // rows of cds.events
	Distinct  uint64 // distinct event ids among them
	Watermark uint64 // the sum of the projector's commit markers (chdb.DB.Watermark)
	// Replicated is false when cds.events is not a replicated table.
	Replicated bool
	Queue      uint64        // replication tasks waiting (system.replicas.queue_size)
	Delay      time.Duration // how far the replica is behind (system.replicas.absolute_delay)
	Readonly   bool          // lost its ZooKeeper session: refuses inserts
}

// ReadReplica reads what the replica of cfg holds. A replica that cannot
// be reached is reported in Replica.Err, not as an error.
func ReadReplica(ctx context.Context, cfg chdb.Config) Replica {
	r := Replica{Addr: cfg.Addr}
	cfg.DialTimeout = 2 * time.Second
	cfg.MaxConns = 2
	db, err := chdb.Open(ctx, cfg)
	if err != nil {
		r.Err = err
		return r
	}
	defer db.Close()
	if r.Events, r.Distinct, err = db.CountEvents(ctx); err != nil {
		r.Err = fmt.Errorf("%s: %w", cfg.Addr, err)
		return r
	}
	if r.Watermark, err = db.Watermark(ctx); err != nil {
		r.Err = fmt.Errorf("watermark on %s: %w", cfg.Addr, err)
		return r
	}
	st, ok, err := db.ReadEventsReplication(ctx)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", cfg.Addr, err)
		return r
	}
	r.Replicated, r.Queue, r.Delay, r.Readonly = ok, st.Queue, st.Delay, st.Readonly
	return r
}

// Health is the state of a cluster at one moment.
type Health struct {
	Stream    Stream
	StreamErr error
	Leases    []Lease
	LeaseErr  error
	Replicas  []Replica
}

// Read reads the health of the cluster whose NATS js and ClickHouse hosts
// are given. Parts that cannot be read are reported in Health, not as an
// error.
func Read(ctx context.Context, js jetstream.JetStream, hosts []chdb.Config) Health {
	var h Health
	h.Stream, h.StreamErr = StreamInfo(ctx, js, natsserver.EventsStream)
	h.Leases, h.LeaseErr = Leases(ctx, js)
	for _, c := range hosts {
		h.Replicas = append(h.Replicas, ReadReplica(ctx, c))
	}
	return h
}
