package chtest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bacgiang/cds/internal/chserver"
)

// Cluster is a ClickHouse cluster of one shard started by StartCluster:
// replicas on free loopback ports sharing one ZooKeeper. Replicas can be
// killed and restarted on the same ports and data.
type Cluster struct {
	tb testing.TB
	// Name is the cluster's name (remote_servers, --clickhouse-cluster).
	Name    string
	configs []chserver.Config

	mu      sync.Mutex
	servers []*chserver.Server // nil while a replica is down
}

// StartCluster starts n replicas named r1…rn of the cluster name, with
// ZooKeeper at zkAddr, and stops them in tb.Cleanup.
func StartCluster(tb testing.TB, zkAddr, name string, n int) *Cluster {
	tb.Helper()
	ports := freePorts(tb, 3*n)
	c := &Cluster{tb: tb, Name: name, servers: make([]*chserver.Server, n)}
	hosts := make([]string, n)
	for i := range n {
		hosts[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i]))
	}
	for i := range n {
		c.configs = append(c.configs, chserver.Config{
			Dir:      tb.TempDir(),
			TCPAddr:  hosts[i],
			HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i+1])),
			NoAdopt:  true,
			Replica: &chserver.Replica{
				Cluster:         name,
				Name:            "r" + strconv.Itoa(i+1),
				ZooKeeper:       []string{zkAddr},
				Hosts:           hosts,
				InterserverAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i+2])),
			},
		})
	}
	tb.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.servers {
			if s != nil {
				if err := s.Close(); err != nil {
					tb.Errorf("chtest: %v", err)
				}
			}
		}
	})
	for i := range n {
		c.Restart(i)
	}
	return c
}

// Addrs returns the native addresses of the replicas, up or down.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.configs))
	for i, cfg := range c.configs {
		out[i] = cfg.TCPAddr
	}
	return out
}

// DSN returns a clickhouse-go DSN naming every replica and database db.
func (c *Cluster) DSN(db string) string {
	return "clickhouse://default@" + strings.Join(c.Addrs(), ",") + "/" + db
}

// Server returns replica i's server, nil while it is down.
func (c *Cluster) Server(i int) *chserver.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// Kill stops replica i with SIGKILL.
func (c *Cluster) Kill(i int) {
	c.tb.Helper()
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s == nil {
		c.tb.Fatalf("chtest: kill replica %d: not running", i+1)
	}
	if err := s.Kill(); err != nil {
		c.tb.Fatalf("chtest: kill replica %d: %v", i+1, err)
	}
}

// Restart starts replica i again on its ports and data.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	s, err := chserver.Start(context.Background(), c.configs[i])
	if err != nil {
		c.tb.Fatalf("chtest: start replica %d: %v", i+1, err)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}
