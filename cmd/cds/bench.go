package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bacgiang/cds/internal/bench"
	"github.com/bacgiang/cds/internal/cluster"
	"github.com/bacgiang/cds/internal/clusterbench"
)

func runBench(ctx context.Context, args []string) error {
	fs, c := newFlags("bench")
	n := fs.Int("events", 1000000, "events queued before the projector drains them (score queries run with them loaded)")
	rate := fs.Int("freshness-rate", 5000, "events/s of the steady load for the freshness figures")
	dur := fs.Duration("freshness-for", 0, "how long the steady load lasts (0 = 10s)")
	queries := fs.Int("queries", 200, "requests per score endpoint")
	baseline := fs.String("baseline", "", "another cds binary whose projector drains the same queue first, for a before/after pair in one run")
	drainOnly := fs.Bool("drain-only", false, "stop after the drain: no HTTP ingest, freshness, queries, pages or rebuild")
	skipRebuild := fs.Bool("skip-rebuild", false, "leave out the rebuild (the last step: a second drain of the whole stream), e.g. for a run at 20M events (docs/performance.md)")
	readers := fs.Int("readers", 32, "concurrent readers of the mixed-readers step")
	readersFor := fs.Duration("readers-for", 30*time.Second, "how long the mixed readers read")
	queryLog := fs.Bool("query-log", false, "turn on the managed ClickHouse's system.query_log and print, after the mixed readers, its queries per kind: count, rows read, CPU (docs/performance.md)")
	clusterDir := fs.String("cluster", "", "measure the running local cluster of deployments/cluster/local whose directory this is (.cluster) against a single node started in the same run, instead: it publishes into the cluster's stream and kills and restarts its processes (docs/cluster.md, \"Figures\"); run from the repository root")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *clusterDir != "" {
		events := 0 // clusterbench's default unless --events is given
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "events" {
				events = *n
			}
		})
		return benchCluster(ctx, *clusterDir, events)
	}
	return bench.Run(ctx, bench.Config{Events: *n, ClickHouseAddr: c.cfg.ClickHouseAddr, FreshnessRate: *rate, FreshnessFor: *dur,
		Queries: *queries, Baseline: *baseline, DrainOnly: *drainOnly, SkipRebuild: *skipRebuild, PprofAddr: c.cfg.PprofAddr, Readers: *readers, ReadersFor: *readersFor, QueryLog: *queryLog, Out: os.Stdout, Progress: os.Stderr})
}

// benchCluster runs the cluster figures of docs/cluster.md, "Figures":
// events is the size of the drain load, 0 for the default.
func benchCluster(ctx context.Context, dir string, events int) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	offset := 0
	if v := os.Getenv("CDS_CLUSTER_PORT_OFFSET"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("CDS_CLUSTER_PORT_OFFSET=%q: want a whole number", v)
		}
	}
	return clusterbench.Run(ctx, clusterbench.Config{
		Local:  &cluster.Local{Root: root, Dir: abs, Offset: offset},
		Events: events, Out: os.Stdout, Progress: os.Stderr,
	})
}
