package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/app"
)

func runRebuild(ctx context.Context, args []string) error {
	fs, c := newFlags("rebuild")
	c.foldFlag(fs)
	fromSeq := fs.Uint64("from-seq", 0, "refold the log from this stream sequence; the raw events below it are kept (0 = everything)")
	fromDate := fs.String("from-date", "", "refold from the first event the log stored on or after this date, YYYY-MM-DD in province time")
	force := fs.Bool("force", false, "do not check that the projector is stopped")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cds rebuild [--from-seq N | --from-date YYYY-MM-DD] [flags]")
		fmt.Fprintln(fs.Output(), "Recomputes cds.events and cds.rollup from the event log. Stop the projector first.")
		fs.PrintDefaults()
	}
	if err := c.parse(fs, args); err != nil {
		return err
	}
	c.cfg.NATSURL = c.cfg.NATSClientURL()
	opts := app.RebuildOptions{FromSeq: *fromSeq, Force: *force}
	if *fromDate != "" {
		if *fromSeq != 0 {
			return fmt.Errorf("rebuild: give --from-seq or --from-date, not both")
		}
		d, err := time.ParseInLocation(time.DateOnly, *fromDate, events.Zone)
		if err != nil {
			return fmt.Errorf("rebuild: --from-date: %w", err)
		}
		opts.FromDate = d
	}
	began := time.Now()
	opts.Progress = func(done, total uint64) {
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		fmt.Fprintf(os.Stderr, "rebuild: seq %d / %d (%.1f%%) after %s\n", done, total, pct, time.Since(began).Round(time.Second))
	}
	st, err := app.Rebuild(ctx, c.cfg, true, opts)
	if err != nil {
		return err
	}
	drain := st.Duration - st.Prepare
	rate := 0.0
	if drain > 0 {
		rate = float64(st.Events) / drain.Seconds()
	}
	fmt.Printf("rebuilt: seq %d to %d, %d events from the log in %s (%.0f events/s); preparing %s; total %s\n",
		st.From, st.Target, st.Events, drain.Round(time.Millisecond), rate, st.Prepare.Round(time.Millisecond), st.Duration.Round(time.Millisecond))
	return nil
}
