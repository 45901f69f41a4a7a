package chdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/zkserver/zktest"
)

// openTwoReplicas starts ZooKeeper and two replicas of cluster cds_test for
// t, and opens database cds on both; the context lasts two minutes and
// everything ends with t.
func openTwoReplicas(t *testing.T) (context.Context, *chtest.Cluster, *DB) {
	t.Helper()
	zk := zktest.Start(t)
	c := chtest.StartCluster(t, zk.Addr(), "cds_test", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db, err := Open(ctx, Config{Addr: c.DSN("cds"), Cluster: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return ctx, c, db
}

// TestMigrateCluster: with a cluster name, every table of every migration
// is created replicated on each replica of the DSN (views too), a second
// Migrate applies nothing, and a quorum write without deduplication on one
// replica is read, with sequential consistency, on the other: the settings
// of WriteContext and ConsistentContext are ones 18.16 accepts.
func TestMigrateCluster(t *testing.T) {
	ctx, c, db := openTwoReplicas(t)
	if db.Quorum() != 2 {
		t.Errorf("quorum of 2 replicas = %d, want 2", db.Quorum())
	}
	ms, _ := Migrations()
	applied, err := db.Migrate(ctx)
	if err != nil || len(applied) != len(ms) {
		t.Fatalf("migrate: applied %v, %v; want all %d", applied, err, len(ms))
	}
	if again, err := db.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v; want nothing", again, err)
	}
	for i, h := range c.Addrs() {
		r, err := db.OpenHost(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for _, tc := range []struct{ table, engine string }{
			{"events", "ReplicatedMergeTree"},
			{"rollup", "ReplicatedSummingMergeTree"},
			{"fold_index", "ReplicatedMergeTree"},
			{"units", "ReplicatedReplacingMergeTree"},
			{"score_history", "ReplicatedReplacingMergeTree"},
			{"cells", "View"},
			{"rollup_sums", "ReplicatedSummingMergeTree"},
			{"rollup_sums_view", "MaterializedView"},
			{"schema_migrations", "MergeTree"},
		} {
			var got string
			if err := r.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = 'cds' AND name = ?", tc.table).Scan(&got); err != nil || got != tc.engine {
				t.Errorf("replica %d: table %s engine %q (%v), want %s", i+1, tc.table, got, err, tc.engine)
			}
		}
	}

	// The same block twice: both kept (no deduplication), and seen on the
	// other replica at once after the quorum write.
	first, err := db.OpenHost(ctx, c.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for range 2 {
		b, err := first.PrepareBatch(first.WriteContext(ctx, true), "INSERT INTO "+first.Table("rollup")+" (indicator, unit, period, dim, day, num, den, n)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append("#watermark", "CDS_EVENTS", uint16(0), "", time.Unix(0, 0), 1.0, 1.0, int64(5)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatalf("quorum insert: %v", err)
		}
	}
	second, err := db.OpenHost(ctx, c.Addrs()[1])
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var n int64
	if err := second.QueryRow(second.ConsistentContext(ctx), "SELECT sum(n) FROM "+second.Table("rollup")).Scan(&n); err != nil || n != 10 {
		t.Fatalf("replica 2 reads sum(n) = %d (%v), want 10: both identical blocks, written with quorum", n, err)
	}
	// The copies of cds.rollup: filled by the views of the replica written
	// to, replicated to the other, whose views a fetched part does not fire
	// (the copies hold each block once, not twice, on both replicas).
	for _, r := range []*DB{first, second} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			agree, err := r.CopiesAgree(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if agree {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s: the copies of cds.rollup never agreed with it", r.Addr)
			}
			time.Sleep(50 * time.Millisecond) // polling replication, not synchronisation
		}
		for g := uint8(1); g <= 3; g++ {
			if err := r.QueryRow(ctx, "SELECT sum(n) FROM "+r.Table("rollup_sums")+" WHERE grain = ?", g).Scan(&n); err != nil || n != 10 {
				t.Errorf("replica %s: sum(n) of rollup_sums, grain %d = %d (%v), want 10", r.Addr, g, n, err)
			}
		}
	}
	for _, r := range []*DB{first, second} {
		var ptr, max uint64
		if err := r.QueryRow(ctx, "SELECT log_pointer, log_max_index FROM system.replicas WHERE database = 'cds' AND table = 'rollup'").Scan(&ptr, &max); err != nil {
			t.Fatal(err)
		}
		synced, err := r.Synced(ctx, "rollup", "events")
		if err != nil || !synced {
			t.Errorf("replica %s after quorum writes: synced %v (%v), log_pointer %d, log_max_index %d; want synced", r.Addr, synced, err, ptr, max)
		}
	}
	if err := first.Truncate(ctx, "rollup"); err != nil {
		t.Fatalf("truncate a replicated table: %v", err)
	}
	if err := first.RefillCopies(ctx); err != nil {
		t.Fatalf("refill the replicated copies: %v", err)
	}
}

// TestReplicasFromZooKeeper: Replicas lists both replicas with their native
// addresses, active; no quorum write is pending; EachActiveReplica reaches
// both; once one is killed and its session has expired it is inactive and
// skipped.
func TestReplicasFromZooKeeper(t *testing.T) {
	ctx, c, db := openTwoReplicas(t)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := db.Replicas(ctx, "rollup")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Addr != c.Addrs()[0] && rs[1].Addr != c.Addrs()[0] {
		t.Fatalf("replicas %+v, want r1 and r2 at %v", rs, c.Addrs())
	}
	for _, r := range rs {
		if !r.Active {
			t.Errorf("replica %+v inactive, want active", r)
		}
	}
	if pending, err := db.QuorumPending(ctx, "rollup"); err != nil || pending {
		t.Errorf("quorum pending %v, %v; want false", pending, err)
	}
	seen := 0
	if err := db.EachActiveReplica(ctx, "rollup", func(*DB) error { seen++; return nil }); err != nil || seen != 2 {
		t.Fatalf("each active replica: %d seen, %v; want 2", seen, err)
	}

	c.Kill(1)
	if err := db.EachActiveReplica(ctx, "rollup", func(*DB) error { return nil }); err == nil {
		t.Log("replica 2's session had already expired")
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		seen = 0
		err := db.EachActiveReplica(ctx, "rollup", func(*DB) error { seen++; return nil })
		if err == nil && seen == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("40 s after the kill: %d replicas seen, %v; want replica 2 inactive and skipped", seen, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPinFailsOver: a pinned DB refuses calls before Repin, then talks to
// the first replica; with that one killed, Repin moves it to the next; a
// replica refused by usable is passed over.
func TestPinFailsOver(t *testing.T) {
	zk := zktest.Start(t)
	c := chtest.StartCluster(t, zk.Addr(), "cds_test", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := Open(ctx, Config{Addr: c.DSN("cds"), Cluster: c.Name, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := db.Pin()
	defer p.Close()
	if err := p.Ping(ctx); err == nil {
		t.Fatal("a pinned DB answered before Repin")
	}
	addrs := c.Addrs()
	if got, err := p.Repin(ctx, nil); err != nil || got != addrs[0] || p.Replica() != addrs[0] {
		t.Fatalf("Repin = %q, %v (Replica %q); want the first replica %s", got, err, p.Replica(), addrs[0])
	}
	c.Kill(0)
	if got, err := p.Repin(ctx, nil); err != nil || got != addrs[1] {
		t.Fatalf("after killing replica 1, Repin = %q, %v; want %s", got, err, addrs[1])
	}
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("ping through the pinned DB after failover: %v", err)
	}
	refuse := func(*DB) error { return errors.New("not this one") }
	if _, err := p.Repin(ctx, refuse); err == nil || !strings.Contains(err.Error(), "no usable replica") {
		t.Fatalf("Repin with every replica refused: %v, want no usable replica", err)
	}
}
