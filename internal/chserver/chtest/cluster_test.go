package chtest

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/zkserver/zktest"
)

// TestClusterReplicates checks the generated replica configuration: a row
// inserted into a ReplicatedMergeTree on one replica reaches the other, and
// each server has its own {replica} macro and knows the cluster.
func TestClusterReplicates(t *testing.T) {
	zk := zktest.Start(t)
	c := StartCluster(t, zk.Addr(), "cds_test", 2)
	ctx := context.Background()
	for i, addr := range c.Addrs() {
		conn := Open(t, addr)
		var replica string
		if err := conn.QueryRow(ctx, "SELECT substitution FROM system.macros WHERE macro = 'replica'").Scan(&replica); err != nil {
			t.Fatalf("replica %d macros: %v", i+1, err)
		}
		if want := []string{"r1", "r2"}[i]; replica != want {
			t.Errorf("replica %d: {replica} = %q, want %q", i+1, replica, want)
		}
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = 'cds_test'").Scan(&n); err != nil || n != 2 {
			t.Errorf("replica %d: system.clusters has %d rows of cds_test (err %v), want 2", i+1, n, err)
		}
		if err := conn.Exec(ctx, "CREATE TABLE default.t (x UInt32) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/default/t', '{replica}') ORDER BY x"); err != nil {
			t.Fatalf("replica %d: create: %v", i+1, err)
		}
	}
	first := Open(t, c.Addrs()[0])
	if err := first.Exec(ctx, "INSERT INTO default.t SELECT toUInt32(number + 1) FROM system.numbers LIMIT 3"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	second := Open(t, c.Addrs()[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n uint64
		if err := second.QueryRow(ctx, "SELECT count() FROM default.t").Scan(&n); err != nil {
			t.Fatalf("count on replica 2: %v", err)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 2 has %d rows 30 s after the insert on replica 1, want 3", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
