package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bacgiang/cds/internal/natsserver"
)

// natsServerFlags registers the flags of the embedded NATS server's cluster
// (cds nats, cds up): docs/operations.md, "A NATS cluster". After parse,
// finish checks them into c.cfg.
type natsServerFlags struct {
	clusterName, clusterListen, routes string
}

func (c *common) natsServerFlags(fs *flag.FlagSet) *natsServerFlags {
	f := &natsServerFlags{}
	fs.StringVar(&c.cfg.NATSServerName, "server-name", env("CDS_NATS_SERVER_NAME", ""),
		"name of this NATS server, unique in its cluster and kept across restarts; required with --routes (CDS_NATS_SERVER_NAME)")
	fs.StringVar(&f.clusterName, "cluster-name", env("CDS_NATS_CLUSTER_NAME", ""),
		"NATS cluster name, the same on every node; empty = "+natsserver.DefaultClusterName+" when clustered (CDS_NATS_CLUSTER_NAME)")
	fs.StringVar(&f.clusterListen, "cluster-listen", env("CDS_NATS_CLUSTER_LISTEN", ""),
		"host:port where this node accepts the other nodes' routes; setting it (or --routes) makes a cluster node (CDS_NATS_CLUSTER_LISTEN)")
	fs.StringVar(&f.routes, "routes", env("CDS_NATS_ROUTES", ""),
		"the cluster's route URLs, nats-route://host:port,… (this node's own may be in the list) (CDS_NATS_ROUTES)")
	fs.IntVar(&c.cfg.NATSReplicas, "replicas", c.envInt("CDS_NATS_REPLICAS", 0),
		"replicas of CDS_EVENTS, CDS_DLQ and the key-value buckets (1 to 5); 0 = 3 when clustered, else 1 (CDS_NATS_REPLICAS)")
	fs.StringVar(&c.cfg.NATSSyncInterval, "sync-interval", env("CDS_NATS_SYNC_INTERVAL", ""),
		`JetStream fsync: "always" (before every PubAck) or an interval such as 1s; empty = always when clustered, else 1s (CDS_NATS_SYNC_INTERVAL)`)
	return f
}

// finish puts the cluster flags into c.cfg.
func (f *natsServerFlags) finish(c *common) error {
	routes, err := natsserver.ParseRoutes(f.routes)
	if err != nil {
		return fmt.Errorf("-routes: %w", err)
	}
	c.cfg.NATSCluster = natsserver.Cluster{Name: f.clusterName, Listen: f.clusterListen, Routes: routes}
	if _, err := natsserver.Replicas(c.cfg.NATSReplicas, c.cfg.NATSCluster.Enabled()); err != nil {
		return fmt.Errorf("-replicas: %w", err)
	}
	if _, _, err := natsserver.ParseSyncInterval(c.cfg.NATSSyncInterval, true); err != nil {
		return fmt.Errorf("-sync-interval: %w", err)
	}
	return nil
}

// envInt is a whole number from the environment, or def.
func (c *common) envInt(key string, def int) int {
	v, ok := os.LookupEnv(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q is not a whole number", key, v))
		return def
	}
	return n
}
