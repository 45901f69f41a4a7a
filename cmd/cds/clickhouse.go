package main

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/bacgiang/cds/internal/app"
)

// runClickHouse writes the configuration of one clickhouse-server (a
// replica when --clickhouse-cluster is set) and execs it: the process then
// is the server, so a supervisor's pid file and signals reach it directly.
func runClickHouse(_ context.Context, args []string) error {
	fs, c := newFlags("clickhouse")
	var rs app.ReplicaSettings
	fs.StringVar(&rs.ZooKeeper, "zookeeper", env("CDS_ZOOKEEPER", ""), "ZooKeeper servers host:port[,host:port] of the cluster's replicated tables (CDS_ZOOKEEPER)")
	fs.StringVar(&rs.Replica, "replica", env("CDS_CLICKHOUSE_REPLICA", ""), "this replica's name, the {replica} macro, unique in its shard (CDS_CLICKHOUSE_REPLICA)")
	fs.StringVar(&rs.Shard, "shard", env("CDS_CLICKHOUSE_SHARD", "1"), "the {shard} macro (CDS_CLICKHOUSE_SHARD)")
	fs.StringVar(&rs.ClusterHosts, "cluster-hosts", env("CDS_CLICKHOUSE_CLUSTER_HOSTS", ""), "native host:port of every replica of the cluster, this one included, comma-separated; empty = this one (CDS_CLICKHOUSE_CLUSTER_HOSTS)")
	fs.StringVar(&rs.Interserver, "clickhouse-interserver", env("CDS_CLICKHOUSE_INTERSERVER", ""), "host:port where the other replicas fetch this one's data (interserver HTTP); empty = the native host and port + 9, e.g. 9009 for 9000 (CDS_CLICKHOUSE_INTERSERVER)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	argv, err := app.ClickHouseCommand(c.cfg, rs)
	if err != nil {
		return err
	}
	c.cfg.Logger.Info("exec clickhouse-server", "tcp", c.cfg.ClickHouseTCP, "http", c.cfg.ClickHouseHTTP,
		"cluster", c.cfg.ClickHouseCluster, "replica", rs.Replica, "config", argv[len(argv)-1])
	if err := syscall.Exec(argv[0], argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", argv[0], err)
	}
	return nil
}
