package projector

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/zkserver/zktest"
	"github.com/bacgiang/cds/projector/projtest"
)

// newReplicatedHarness is newHarness with ClickHouse as a cluster of n
// replicas on one ZooKeeper: h.db names them all (the DSN), with the
// cluster name, so the tables are replicated and writes are quorum writes.
func newReplicatedHarness(tb testing.TB, n int) (*harness, *chtest.Cluster) {
	tb.Helper()
	h := newHarnessOpts(tb, harnessOpts{noClickHouse: true})
	zk := zktest.Start(tb)
	c := chtest.StartCluster(tb, zk.Addr(), "cds_test", n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := chdb.Open(ctx, chdb.Config{Addr: c.DSN("cds"), Cluster: c.Name, DialTimeout: time.Second, ReadTimeout: 90 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	h.db = db
	return h, c
}

// checkEachReplica fails the test unless every replica of c holds exactly
// load, waiting for a replica that is still catching up.
func checkEachReplica(tb testing.TB, h *harness, c *chtest.Cluster, load *projtest.Load) {
	tb.Helper()
	ctx := context.Background()
	for i, addr := range c.Addrs() {
		r, err := h.db.OpenHost(ctx, addr)
		if err != nil {
			tb.Fatalf("replica %d: %v", i+1, err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			rep, err := projtest.Check(ctx, r, load, h.lastSeq(tb))
			if err != nil {
				tb.Fatalf("replica %d: %v", i+1, err)
			}
			if rep.OK() {
				tb.Logf("replica %d exact: %s", i+1, rep)
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("replica %d does not hold the load exactly 60 s after the fold caught up: %s", i+1, rep)
			}
			time.Sleep(200 * time.Millisecond) // polling interval: the replica fetches parts in the background
		}
		r.Close()
	}
}

// TestReplicaKilledMidLoad: three ClickHouse replicas (quorum 2). The
// projector folds through replica 1; replica 1 is killed with SIGKILL; the
// projector fails over to another replica and carries on; replica 1
// restarts and catches up; every replica then holds every event exactly
// once and every cell exact.
func TestReplicaKilledMidLoad(t *testing.T) {
	h, c := newReplicatedHarness(t, 3)
	load := projtest.Generate(12, 20000, registry.Sample().Codes())
	wait := loadInBackground(t, h, load)
	r := h.start(t, Config{BatchMax: 2000})
	waitFor(t, 90*time.Second, "a fold under way", func() bool { return r.p.Watermark() >= 4000 })
	c.Kill(0)
	down := r.p.Watermark()
	t.Logf("replica 1 killed at watermark %d", down)
	waitFor(t, 90*time.Second, "the fold to carry on without replica 1", func() bool { return r.p.Watermark() >= down+4000 })
	t.Logf("watermark %d with replica 1 down", r.p.Watermark())
	c.Restart(0)
	last := wait()
	waitFor(t, 90*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= last })
	checkEachReplica(t, h, c, load)
	t.Logf("failures by stage: recover %v, consume %v, write %v; recoveries %v",
		metric(t, r.reg, "cds_projector_failures_total", "stage", "recover"),
		metric(t, r.reg, "cds_projector_failures_total", "stage", "consume"),
		metric(t, r.reg, "cds_projector_failures_total", "stage", "write"),
		metric(t, r.reg, "cds_projector_recoveries_total"))
}
