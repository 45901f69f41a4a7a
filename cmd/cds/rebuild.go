package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bacgiang/cds/app"
)

func runRebuild(ctx context.Context, args []string) error {
	fs, c := newFlags("rebuild")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if c.cfg.NATSURL == "" {
		c.cfg.NATSURL = "nats://" + c.cfg.NATSAddr
	}
	st, err := app.Rebuild(ctx, c.cfg, true, func(done, total uint64) {
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		fmt.Fprintf(os.Stderr, "rebuild: %d / %d (%.1f%%)\n", done, total, pct)
	})
	if err != nil {
		return err
	}
	rate := float64(st.Events) / st.Duration.Seconds()
	fmt.Printf("rebuilt: %d events in %s (%.0f events/s)\n", st.Events, st.Duration.Round(1e6), rate)
	return nil
}
