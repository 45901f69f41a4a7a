package main

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/credentials"
)

// runRepublish publishes ClickHouse's events into the events stream: the
// way back after the log was lost (docs/projector.md).
func runRepublish(ctx context.Context, args []string) error {
	fs, c := newFlags("republish")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cds republish [flags]")
		fmt.Fprintln(fs.Output(), "Publishes every event of cds.events, in the old log's order, into CDS_EVENTS (Nats-Msg-Id = its id),")
		fmt.Fprintln(fs.Output(), "after the JetStream store was lost. Stop the projectors first; then run cds rebuild.")
		fs.PrintDefaults()
	}
	if err := c.parse(fs, args); err != nil {
		return err
	}
	f, err := credentials.LoadFile(c.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("republish: admin credentials: %w", err)
	}
	url := c.cfg.NATSClientURL()
	nc, err := nats.Connect(url, nats.Name("cds-republish"), nats.UserInfo(f.Admin.User, f.Admin.Password))
	if err != nil {
		return fmt.Errorf("republish: connect %s as %s: %w", url, f.Admin.User, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return err
	}
	ch, err := app.OpenClickHouse(ctx, c.cfg, true)
	if err != nil {
		return err
	}
	defer ch.Close()
	n, err := app.Republish(ctx, ch.DB, js, func(n int) {
		if n%100000 < 4096 {
			fmt.Fprintf(os.Stderr, "republish: %d events\n", n)
		}
	})
	if err != nil {
		return err
	}
	fmt.Printf("republished %d events from %s.events into the event log; now run cds rebuild\n", n, ch.DB.Name)
	return nil
}
