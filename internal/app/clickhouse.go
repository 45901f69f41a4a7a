package app

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bacgiang/cds/internal/chserver"
)

// ServiceUser is the ClickHouse user the cds services connect as to a
// replica run by cds clickhouse (the DSN clickhouse://cds@host:port,…); its
// password is CDS_CLICKHOUSE_PASSWORD.
const ServiceUser = "cds"

// ReplicaSettings are the settings of cds clickhouse besides Config: one
// clickhouse-server, a replica of the cluster Config.ClickHouseCluster.
type ReplicaSettings struct {
	ZooKeeper    string // --zookeeper / CDS_ZOOKEEPER: host:port[,host:port]
	Replica      string // --replica / CDS_CLICKHOUSE_REPLICA: the {replica} macro
	Shard        string // --shard: the {shard} macro
	ClusterHosts string // --cluster-hosts: every replica's native host:port, comma-separated
	Interserver  string // --clickhouse-interserver: where the other replicas fetch parts
}

// ClickHouseCommand writes the configuration of the clickhouse-server that
// cds clickhouse runs in the foreground, under <data>/clickhouse as the
// managed server of cds up (with the same analyst user and password file),
// plus the user ServiceUser and, when cfg.ClickHouseCluster is set, the
// replica's settings. It returns the server's command line.
func ClickHouseCommand(cfg Config, rs ReplicaSettings) ([]string, error) {
	pw, err := analystPassword(cfg.DataDir, cfg.AnalystPassword)
	if err != nil {
		return nil, err
	}
	sc := chserver.Config{
		Dir:             filepath.Join(cfg.DataDir, "clickhouse"),
		TCPAddr:         cfg.ClickHouseTCP,
		HTTPAddr:        cfg.ClickHouseHTTP,
		AnalystPassword: pw,
		ServiceUser:     ServiceUser,
		ServicePassword: cfg.ClickHousePassword,
	}
	if cfg.ClickHouseCluster != "" {
		zk := splitList(rs.ZooKeeper)
		if len(zk) == 0 {
			return nil, fmt.Errorf("cds clickhouse: --clickhouse-cluster %s needs --zookeeper host:port[,host:port] (CDS_ZOOKEEPER)", cfg.ClickHouseCluster)
		}
		if rs.Replica == "" {
			return nil, fmt.Errorf("cds clickhouse: --clickhouse-cluster %s needs --replica NAME (CDS_CLICKHOUSE_REPLICA), unique in its shard", cfg.ClickHouseCluster)
		}
		hosts := splitList(rs.ClusterHosts)
		if len(hosts) == 0 {
			hosts = []string{cfg.ClickHouseTCP}
		}
		sc.Replica = &chserver.Replica{
			Cluster:         cfg.ClickHouseCluster,
			Name:            rs.Replica,
			Shard:           rs.Shard,
			ZooKeeper:       zk,
			Hosts:           hosts,
			InterserverAddr: rs.Interserver,
		}
	} else if rs.ZooKeeper != "" || rs.Replica != "" || rs.ClusterHosts != "" {
		return nil, fmt.Errorf("cds clickhouse: --zookeeper, --replica and --cluster-hosts need --clickhouse-cluster NAME (CDS_CLICKHOUSE_CLUSTER)")
	}
	return chserver.Foreground(sc)
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
