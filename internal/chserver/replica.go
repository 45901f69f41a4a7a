package chserver

import (
	"fmt"
	"net"
	"strconv"
)

// Replica makes a managed server one replica of a named ClickHouse cluster
// whose replicated tables keep their metadata in ZooKeeper (docs/projector.md, "Replicated ClickHouse").
type Replica struct {
	// Cluster names the cluster in remote_servers (the --clickhouse-cluster
	// setting): a plain identifier.
	Cluster string
	// Name is the {replica} macro: unique among the replicas of a shard.
	Name string
	// Shard is the {shard} macro; default "1".
	Shard string
	// ZooKeeper lists the ZooKeeper servers, host:port; at least one.
	ZooKeeper []string
	// Hosts lists the native addresses (host:port) of every replica of the
	// cluster, this one included, for remote_servers.
	Hosts []string
	// InterserverAddr is where the other replicas fetch this one's parts
	// (interserver_http_host and interserver_http_port): a host they can
	// reach. Default: the host of Config.TCPAddr and its port + 9 (9009
	// for 9000, ClickHouse's own default), unless that host is a wildcard.
	InterserverAddr string
}

// InterserverDefault returns the interserver address Replica defaults to for
// a server whose native address is tcpAddr: same host, port + 9.
func InterserverDefault(tcpAddr string) (string, error) {
	host, port, err := splitAddr(tcpAddr)
	if err != nil {
		return "", err
	}
	if host == "0.0.0.0" || host == "::" {
		return "", fmt.Errorf("interserver address: the native address %s listens on every interface; name the host the other replicas reach this one by (--clickhouse-interserver host:port)", tcpAddr)
	}
	if port+9 > 65535 {
		return "", fmt.Errorf("interserver address: native port %d + 9 is out of range", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port+9)), nil
}

// withDefaults checks r and fills its defaults for a server on tcpAddr.
func (r Replica) withDefaults(tcpAddr string) (Replica, error) {
	if !identifier.MatchString(r.Cluster) {
		return r, fmt.Errorf("replica: cluster name %q: want a plain identifier (letters, digits, _)", r.Cluster)
	}
	if r.Shard == "" {
		r.Shard = "1"
	}
	if r.Name == "" {
		return r, fmt.Errorf("replica: the replica name ({replica} macro) is required")
	}
	if len(r.ZooKeeper) == 0 {
		return r, fmt.Errorf("replica: no ZooKeeper server (host:port) given")
	}
	for _, z := range r.ZooKeeper {
		if _, _, err := splitAddr(z); err != nil {
			return r, fmt.Errorf("replica: zookeeper %w", err)
		}
	}
	if len(r.Hosts) == 0 {
		return r, fmt.Errorf("replica: the cluster's replica addresses (host:port of each native port) are required")
	}
	for _, h := range r.Hosts {
		if _, _, err := splitAddr(h); err != nil {
			return r, fmt.Errorf("replica: cluster host %w", err)
		}
	}
	if r.InterserverAddr == "" {
		var err error
		if r.InterserverAddr, err = InterserverDefault(tcpAddr); err != nil {
			return r, fmt.Errorf("replica: %w", err)
		}
	}
	if _, _, err := splitAddr(r.InterserverAddr); err != nil {
		return r, fmt.Errorf("replica: interserver %w", err)
	}
	return r, nil
}

// replicaConfig renders the elements config.xml needs for r: the
// interserver HTTP endpoint, ZooKeeper, the cluster in remote_servers (one
// shard, internal_replication: the replicated tables copy the data, not the
// Distributed engine), and the {shard} and {replica} macros. Every element
// exists in ClickHouse 18.16 and in current releases.
func replicaConfig(r Replica) (nodes []node, macros []node) {
	ihost, iport, _ := splitAddr(r.InterserverAddr)
	zk := el("zookeeper")
	for _, z := range r.ZooKeeper {
		h, p, _ := splitAddr(z)
		zk.kids = append(zk.kids, el("node", leaf("host", h), num("port", int64(p))))
	}
	// A killed replica stays "active" in ZooKeeper until its session
	// expires; the projector waits that long before it trusts that the
	// replica's writes are over (docs/projector.md, "Replicated ClickHouse"), hence 10 s rather
	// than ClickHouse's 30 s.
	zk.kids = append(zk.kids, num("session_timeout_ms", 10000))
	shard := el("shard", leaf("internal_replication", "true"))
	for _, h := range r.Hosts {
		hh, p, _ := splitAddr(h)
		shard.kids = append(shard.kids, el("replica", leaf("host", hh), num("port", int64(p))))
	}
	nodes = []node{
		num("interserver_http_port", int64(iport)),
		leaf("interserver_http_host", ihost),
		zk,
		el("remote_servers", el(r.Cluster, shard)),
	}
	macros = []node{leaf("shard", r.Shard), leaf("replica", r.Name)}
	return nodes, macros
}
