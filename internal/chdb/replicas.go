package chdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ReplicaInfo is one replica of a replicated table as ZooKeeper lists it.
type ReplicaInfo struct {
	// Name is the replica's {replica} macro.
	Name string
	// Addr is its native address: the interserver host it registered and
	// its tcp_port.
	Addr string
	// Active: its ZooKeeper session is alive (node is_active). A replica
	// whose session has expired can commit nothing more to the table.
	Active bool
}

// zooKeeperPath returns the ZooKeeper path of a replicated table of db, its
// macros expanded, as the connected server knows it.
func (db *DB) zooKeeperPath(ctx context.Context, table string) (string, error) {
	var path string
	err := db.QueryRow(ctx, "SELECT zookeeper_path FROM system.replicas WHERE database = ? AND table = ?", db.Name, table).Scan(&path)
	if err != nil {
		return "", fmt.Errorf("zookeeper path of %s.%s on %s: %w", db.Name, table, db.Addr, err)
	}
	return path, nil
}

// Replicas returns the replicas of table, read from ZooKeeper through the
// connected server (system.zookeeper).
func (db *DB) Replicas(ctx context.Context, table string) ([]ReplicaInfo, error) {
	path, err := db.zooKeeperPath(ctx, table)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, "SELECT name FROM system.zookeeper WHERE path = ?", path+"/replicas")
	if err != nil {
		return nil, fmt.Errorf("replicas of %s: %w", table, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("replicas of %s: %w", table, err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replicas of %s: %w", table, err)
	}
	out := make([]ReplicaInfo, 0, len(names))
	for _, n := range names {
		r := ReplicaInfo{Name: n}
		var host string
		err := db.QueryRow(ctx, "SELECT value FROM system.zookeeper WHERE path = ? AND name = 'host'", path+"/replicas/"+n).Scan(&host)
		if err != nil {
			return nil, fmt.Errorf("address of replica %s of %s: %w", n, table, err)
		}
		if r.Addr, err = replicaAddr(host); err != nil {
			return nil, fmt.Errorf("replica %s of %s: %w", n, table, err)
		}
		var active uint64
		err = db.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ? AND name = 'is_active'", path+"/replicas/"+n).Scan(&active)
		if err != nil {
			return nil, fmt.Errorf("is replica %s of %s active: %w", n, table, err)
		}
		r.Active = active > 0
		out = append(out, r)
	}
	return out, nil
}

// replicaAddr reads the native address out of a replica's host node
// ("host: h\nport: 9009\ntcp_port: 9000\n…", in 18.16 and later).
func replicaAddr(node string) (string, error) {
	var host, port string
	for _, line := range strings.Split(node, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "host":
			host = v
		case "tcp_port":
			port = v
		}
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("no host and tcp_port in its ZooKeeper host node %q", node)
	}
	return net.JoinHostPort(host, port), nil
}

// EachActiveReplica runs f with a connection to each replica of table that
// ZooKeeper lists as active, and fails if one of them cannot be reached:
// what f looks for (a running INSERT, an unfinished mutation) may be there.
// A replica whose session has expired is skipped: it can commit nothing.
func (db *DB) EachActiveReplica(ctx context.Context, table string, f func(r *DB) error) error {
	rs, err := db.Replicas(ctx, table)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if !r.Active {
			continue
		}
		c, err := db.OpenHost(ctx, r.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("replica %s is active in ZooKeeper but cannot be reached: %w", r.Name, err))
			continue
		}
		err = f(c)
		c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("replica %s (%s): %w", r.Name, r.Addr, err))
		}
	}
	return errors.Join(errs...)
}

// QuorumPending reports whether a quorum write into table has not reached
// its quorum yet (ZooKeeper node quorum/status): its part is on fewer
// replicas than the quorum and may still become visible, and 18.16
// refuses the next quorum write into the table until it does.
func (db *DB) QuorumPending(ctx context.Context, table string) (bool, error) {
	path, err := db.zooKeeperPath(ctx, table)
	if err != nil {
		return false, err
	}
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ? AND name = 'status'", path+"/quorum").Scan(&n); err != nil {
		return false, fmt.Errorf("quorum status of %s: %w", table, err)
	}
	return n > 0, nil
}

// RunningOnReplicas counts, on every replica that ZooKeeper lists as active
// for table, the queries in system.processes whose id starts with prefix;
// it fails while an active replica cannot be reached (its running INSERT
// may still commit).
func (db *DB) RunningOnReplicas(ctx context.Context, table, prefix string) (uint64, error) {
	var total uint64
	err := db.EachActiveReplica(ctx, table, func(r *DB) error {
		n, err := r.RunningQueries(ctx, prefix)
		total += n
		return err
	})
	return total, err
}

// Synced reports whether the connected replica holds every part of the
// given tables that ZooKeeper knows of: it has copied the whole replication
// log into its queue (log_pointer beyond log_max_index) and has no part
// left to fetch (inserts_in_queue). A part whose only copy is on a replica
// that is down keeps it unsynced until that replica returns. (Before the
// table's first log entry has been copied, log_pointer and log_max_index
// are both 0 as when the log is empty: that one entry is not waited for.)
func (db *DB) Synced(ctx context.Context, tables ...string) (bool, error) {
	var n uint64
	q := "SELECT count() FROM system.replicas WHERE database = ? AND has(?, table) AND (inserts_in_queue > 0 OR log_pointer <= log_max_index AND NOT (log_pointer = 0 AND log_max_index = 0))"
	if err := db.QueryRow(ctx, q, db.Name, tables).Scan(&n); err != nil {
		return false, fmt.Errorf("replication queue of %s: %w", db.Addr, err)
	}
	return n == 0, nil
}
