package main

import (
	"context"
	"os"

	"github.com/bacgiang/cds/internal/bench"
)

func runBench(ctx context.Context, args []string) error {
	fs, c := newFlags("bench")
	n := fs.Int("events", 1000000, "events queued before the projector drains them (score queries run with them loaded)")
	rate := fs.Int("freshness-rate", 5000, "events/s of the steady load for the freshness figures")
	dur := fs.Duration("freshness-for", 0, "how long the steady load lasts (0 = 10s)")
	queries := fs.Int("queries", 200, "requests per score endpoint")
	baseline := fs.String("baseline", "", "another cds binary whose projector drains the same queue first, for a before/after pair in one run")
	drainOnly := fs.Bool("drain-only", false, "stop after the drain: no HTTP ingest, freshness, queries, pages or rebuild")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	return bench.Run(ctx, bench.Config{Events: *n, ClickHouseAddr: c.cfg.ClickHouseAddr, FreshnessRate: *rate, FreshnessFor: *dur,
		Queries: *queries, Baseline: *baseline, DrainOnly: *drainOnly, Out: os.Stdout, Progress: os.Stderr})
}
