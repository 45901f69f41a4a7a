package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/simulate"
)

func runUp(ctx context.Context, args []string) error {
	fs, c := newFlags("up")
	c.foldFlag(fs)
	sim := fs.Bool("simulate", false, "run the simulated province: every unit publishes events over NATS with its own credentials")
	simStart := fs.String("sim-start", "2021-06-11", "simulated start date (province time)")
	simSpeed := fs.Duration("sim-speed", simulate.DefaultSpeed, "simulated time per real second")
	simRate := fs.Float64("sim-rate", 1, "scale of the simulated event volume")
	c.historyFlag(fs)
	nf := c.natsServerFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if err := nf.finish(c); err != nil {
		return err
	}
	parts := app.Parts{NATS: c.cfg.NATSURL == "", Projector: true, API: true, ManagedClickHouse: true}
	if *sim {
		d, err := registry.ParseDate(*simStart)
		if err != nil {
			return fmt.Errorf("-sim-start: %w", err)
		}
		// The clock stops at the real date: later events would be "far in the future".
		seed, err := app.SimulationSeed(c.cfg.DataDir)
		if err != nil {
			return err
		}
		parts.Simulate = &simulate.Config{Start: d.Start(), Speed: *simSpeed, Rate: *simRate, End: time.Now(), Seed: seed}
	}
	sys, err := app.Start(ctx, c.cfg, parts)
	if err != nil {
		return err
	}
	banner(sys)
	if sys.Sim != nil {
		go reportSimulation(ctx, sys)
	}
	return serveUntilDone(ctx, sys)
}

func banner(sys *app.System) {
	cfg := sys.Config
	api := "http://" + sys.API.Addr()
	asOf := "2025-06-30"
	fmt.Printf(`
cds is up.
  board        %[1]s/?milestone=2025&as_of=%[2]s   (open in a browser; &lang=en for English)
  API          %[1]s   (GET /v1/units, /v1/indicators, /v1/scores, /v1/scores/{unit}, POST /v1/events)
  scores       %[1]s/v1/scores?milestone=2025&level=district&as_of=%[2]s
  one unit     %[1]s/v1/scores/bg-vietyen?milestone=2025&as_of=%[2]s
  health       %[1]s/healthz      metrics %[1]s/metrics
  NATS         %[3]s   (agency users and passwords: %[4]s)
  ClickHouse   %[5]s
`, api, asOf, sys.NATSURL(), filepath.Join(cfg.DataDir, "credentials.json"), clickhouseHint(sys))
}

func clickhouseHint(sys *app.System) string {
	if sys.CH.Server == nil {
		// An external server: its address with any password masked.
		return fmt.Sprintf("%s (user %s, database %s)", sys.CH.DB.Addr, sys.CH.DB.User, sys.CH.DB.Name)
	}
	host, port, err := net.SplitHostPort(sys.CH.Server.Addr())
	if err != nil {
		return fmt.Sprintf("%s (database %s)", sys.CH.Server.Addr(), sys.CH.DB.Name)
	}
	if !sys.CH.Server.Managed() {
		// The Debian service cds adopted keeps its own users.
		return fmt.Sprintf("clickhouse-client --host %s --port %s --database %s", host, port, sys.CH.DB.Name)
	}
	// The analyst's read-only user, its password kept off the command line
	// (docs/operations.md, "Credentials and read access").
	return fmt.Sprintf("clickhouse-client --host %s --port %s --database %s   as the read-only user analyst:\n"+
		"               password in %s (docs/operations.md, \"Credentials and read access\")", host, port, sys.CH.DB.Name, filepath.Join(sys.Config.DataDir, app.AnalystPasswordFile))
}

// reportSimulation prints, every 10 s, the simulated date and the board's
// URL whose as_of matches it.
func reportSimulation(ctx context.Context, sys *app.System) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d := registry.DateOf(sys.Sim.Now())
			fmt.Printf("simulated %s: %d events published, %d folded; board http://%s/?level=%s&as_of=%s\n",
				d, sys.Sim.Published(), sys.Proj.Watermark(), sys.API.Addr(), levelWithUnits(sys.Registry, d), d)
		}
	}
}

// levelWithUnits is the level a demo link shows on day d: the districts
// while they exist (they end on 2025-06-30, docs/design.md), then the
// communes, so that the link always lists units.
func levelWithUnits(reg *registry.Registry, d registry.Date) registry.Level {
	for _, u := range reg.InForce(d) {
		if u.Level == registry.LevelDistrict {
			return registry.LevelDistrict
		}
	}
	return registry.LevelCommune
}
