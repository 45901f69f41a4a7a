package natsserver

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterName is the name of the NATS cluster when Cluster.Name is empty.
const DefaultClusterName = "cds"

// MaxReplicas is the largest replica count JetStream allows for a stream.
const MaxReplicas = 5

// ClusterReplicas is the replica count of the streams and buckets in a
// cluster unless told otherwise: three nodes keep every acknowledged event
// when any one of them is lost, and keep accepting events with one down.
const ClusterReplicas = 3

// Cluster makes the embedded server a node of a NATS cluster whose JetStream
// replicates the streams (docs/operations.md, "A NATS cluster"). The zero
// value is a single server.
type Cluster struct {
	// Name of the cluster, the same on every node; "" = DefaultClusterName.
	Name string
	// Listen is host:port where the node accepts the routes of the other
	// nodes. Required in a cluster; port 0 or -1 picks a free one.
	Listen string
	// Routes are the other nodes' route URLs, nats-route://host:port. A list
	// that also names this node is fine (nats-server ignores a route to
	// itself), so every node may be given the same list.
	Routes []string
}

// Enabled reports whether c describes a cluster node.
func (c Cluster) Enabled() bool { return c.Listen != "" || len(c.Routes) > 0 }

// ParseRoutes splits a comma-separated list of route URLs
// (nats-route://host:port,…) and checks each one.
func ParseRoutes(s string) ([]string, error) {
	var out []string
	for r := range strings.SplitSeq(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if _, err := parseRoute(r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRoute(r string) (*url.URL, error) {
	u, err := url.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("natsserver: route %q: %w", r, err)
	}
	if u.Scheme != "nats-route" && u.Scheme != "nats" {
		return nil, fmt.Errorf("natsserver: route %q: expected nats-route://host:port", r)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("natsserver: route %q: expected nats-route://host:port", r)
	}
	return u, nil
}

// apply sets the cluster options of o; serverName is required in a cluster,
// since JetStream knows its peers by name.
func (c Cluster) apply(o *server.Options, serverName string) error {
	if !c.Enabled() {
		return nil
	}
	if serverName == "" {
		return errors.New("natsserver: a cluster node needs a server name (--server-name), unique in the cluster")
	}
	if c.Listen == "" {
		return errors.New("natsserver: a cluster node needs a route listen address (--cluster-listen host:port)")
	}
	host, port, err := splitAddr(c.Listen)
	if err != nil {
		return fmt.Errorf("natsserver: cluster listen: %w", err)
	}
	name := c.Name
	if name == "" {
		name = DefaultClusterName
	}
	o.Cluster.Name, o.Cluster.Host, o.Cluster.Port = name, host, port
	for _, r := range c.Routes {
		u, err := parseRoute(r)
		if err != nil {
			return err
		}
		o.Routes = append(o.Routes, u)
	}
	return nil
}

// ParseSyncInterval reads a --sync-interval value: "always" (fsync every
// message before its PubAck) or a duration such as "1s". "" gives the
// default: always in a cluster, DefaultSyncInterval on a single server.
func ParseSyncInterval(s string, clustered bool) (always bool, interval time.Duration, err error) {
	switch s = strings.TrimSpace(s); s {
	case "":
		if clustered {
			return true, 0, nil
		}
		return false, DefaultSyncInterval, nil
	case "always":
		return true, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("natsserver: sync interval %q: expected \"always\" or a positive duration such as 1s", s)
	}
	return false, d, nil
}

// Replicas returns the replica count of the streams and buckets: n when
// given (1 to MaxReplicas), else ClusterReplicas in a cluster and 1 on a
// single server.
func Replicas(n int, clustered bool) (int, error) {
	switch {
	case n < 0 || n > MaxReplicas:
		return 0, fmt.Errorf("natsserver: replicas %d: expected 1 to %d", n, MaxReplicas)
	case n > 0:
		return n, nil
	case clustered:
		return ClusterReplicas, nil
	}
	return 1, nil
}
