package main

import (
	"context"

	"github.com/bacgiang/cds/app"
)

func runNATS(ctx context.Context, args []string) error {
	fs, c := newFlags("nats")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	sys, err := app.Start(ctx, c.cfg, app.Parts{NATS: true})
	if err != nil {
		return err
	}
	c.cfg.Logger.Info("embedded NATS JetStream running", "url", sys.NATSURL(), "credentials", credentialsPath(c.cfg))
	return serveUntilDone(ctx, sys)
}

func runProjector(ctx context.Context, args []string) error {
	fs, c := newFlags("projector")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if c.cfg.NATSURL == "" {
		c.cfg.NATSURL = "nats://" + c.cfg.NATSAddr
	}
	sys, err := app.Start(ctx, c.cfg, app.Parts{Projector: true})
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, sys)
}

func runServe(ctx context.Context, args []string) error {
	fs, c := newFlags("serve")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if c.cfg.NATSURL == "" {
		c.cfg.NATSURL = "nats://" + c.cfg.NATSAddr
	}
	sys, err := app.Start(ctx, c.cfg, app.Parts{API: true})
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, sys)
}

func credentialsPath(cfg app.Config) string { return cfg.DataDir + "/credentials.json" }
