package main

import (
	"context"
	"os"

	"github.com/bacgiang/cds/bench"
)

func runBench(ctx context.Context, args []string) error {
	fs, c := newFlags("bench")
	n := fs.Int("events", 100000, "events queued before the projector drains them")
	batch := fs.Int("batch", 0, "projector batch size (0 = default)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	return bench.Run(ctx, bench.Config{Events: *n, BatchMax: *batch, ClickHouseAddr: c.cfg.ClickHouseAddr, Out: os.Stdout, Progress: os.Stderr})
}
