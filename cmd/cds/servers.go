package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/foldstore"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector"
)

func runNATS(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "config" {
		return runNATSConfig(os.Stdout, args[1:])
	}
	if len(args) > 0 && args[0] == "streams" {
		return runNATSStreams(ctx, args[1:])
	}
	fs, c := newFlags("nats")
	nf := c.natsServerFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if err := nf.finish(c); err != nil {
		return err
	}
	sys, err := app.Start(ctx, c.cfg, app.Parts{NATS: true})
	if err != nil {
		return err
	}
	c.cfg.Logger.Info("embedded NATS JetStream running", "url", sys.NATSURL(), "credentials", credentialsPath(c.cfg))
	return serveUntilDone(ctx, sys)
}

// runNATSConfig prints the accounts, users and permissions of the embedded
// server as a nats-server configuration block, for operators who run their
// own nats-server (docs/operations.md, "Your own nats-server"). Like cds
// nats, it creates the credentials of the registry's agencies that have none.
func runNATSConfig(w io.Writer, args []string) error {
	fs, c := newFlags("nats config")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	reg, _, err := c.cfg.Domain()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	_, hashes, err := credentials.Ensure(c.cfg.DataDir, reg.Codes())
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return natsserver.WriteConfig(w, hashes, app.ReportsFor(reg))
}

// runNATSStreams creates or updates the streams and the lease bucket on the
// NATS server or cluster of --nats, as the projector's user: for a
// nats-server that cds does not run (docs/operations.md, "Your own
// nats-server"). It waits until the cluster can place them.
func runNATSStreams(ctx context.Context, args []string) error {
	fs, c := newFlags("nats streams")
	replicas := fs.Int("replicas", c.envInt("CDS_NATS_REPLICAS", 1), "replicas of CDS_EVENTS, CDS_DLQ and the key-value buckets, 1 to 5 (CDS_NATS_REPLICAS)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *replicas < 1 || *replicas > natsserver.MaxReplicas {
		return fmt.Errorf("-replicas %d: expected 1 to %d", *replicas, natsserver.MaxReplicas)
	}
	nc, err := app.ConnectService(c.cfg.NATSClientURL(), c.cfg.DataDir, credentials.ServiceProjector, "cds-streams", nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	return app.EnsureLog(ctx, nc, c.cfg.DuplicateWindow, *replicas, true, c.cfg.Logger)
}

// minProjectorHeap is the least Go heap a projector's memory budget must
// leave: three batches of events in flight (projector.Config.BatchMax)
// and two generations of the fold state.
const minProjectorHeap = projector.MinHeapLimit

// projectorUnheaped is what a projector's budget keeps for the resident
// memory that neither the Go heap's soft limit nor the fold store's cache
// and memtables count: the binary's pages (about 42 MB resident) and
// Pebble's own allocations besides its cache and memtables (its table
// readers, iterators, the memtable being flushed). Without it the process
// ran about 50 MB over its budget (docs/performance.md, "Where the
// projector's memory is"). What this estimate misses is not lent: the
// projector also keeps its soft limit within the whole budget less the
// memory it measures outside the Go runtime (projector.Config.MemoryBudget;
// docs/performance.md, "The projector's memory against its budget").
const projectorUnheaped = 48 << 20

func runProjector(ctx context.Context, args []string) error {
	fs, c := newFlags("projector")
	c.foldFlag(fs)
	// 256 MiB for the process: the local fold store's cache, memtables and
	// filter (outside the Go heap) and a bounded fold state (recent batches in
	// memory, the rest in the store).
	memMB := fs.Int("memory-limit-mb", int(c.envNumber("CDS_PROJECTOR_MEMORY_MB", 256)),
		"memory budget in MiB: the local fold store's block cache, memtables and filter ("+strconv.Itoa(int(foldstore.Options{}.Memory()>>20))+" MiB) and "+strconv.Itoa(projectorUnheaped>>20)+" MiB for the binary's pages and Pebble's tables come out of it, and the projector keeps the Go runtime's soft memory limit at the rest plus what the store does not hold yet of its share, and within the budget less the resident memory measured outside the Go runtime (down to "+strconv.Itoa(minProjectorHeap>>20)+" MiB), so that the garbage collector works harder near it instead of letting the process outgrow it; 0 = no limit; GOMEMLIMIT, when set, wins (CDS_PROJECTOR_MEMORY_MB)")
	fs.DurationVar(&c.cfg.ProjectorLeaseTTL, "lease-ttl", c.envDuration("CDS_PROJECTOR_LEASE_TTL", 0),
		"how long a stopped projector keeps the lease before a standby (another cds projector) takes over; 0 = 6s (CDS_PROJECTOR_LEASE_TTL)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *memMB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The fold state's memory is bounded (package fold, "The index"),
		// so a soft limit keeps the process near its live heap.
		store := foldstore.Options{}.Memory()
		if least := store + projectorUnheaped + minProjectorHeap; int64(*memMB)<<20 < least {
			return fmt.Errorf("--memory-limit-mb=%d: want at least %d (the fold store takes %d MiB, the binary and Pebble's tables %d, the Go heap at least %d)",
				*memMB, least>>20, store>>20, projectorUnheaped>>20, minProjectorHeap>>20)
		}
		c.cfg.ProjectorHeap = int64(*memMB)<<20 - store - projectorUnheaped
		c.cfg.ProjectorMemory = int64(*memMB) << 20
	}
	c.cfg.NATSURL = c.cfg.NATSClientURL()
	sys, err := app.Start(ctx, c.cfg, app.Parts{Projector: true})
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, sys)
}

func runServe(ctx context.Context, args []string) error {
	fs, c := newFlags("serve")
	c.historyFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	c.cfg.NATSURL = c.cfg.NATSClientURL()
	sys, err := app.Start(ctx, c.cfg, app.Parts{API: true})
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, sys)
}

// foldFlag registers --fold-dir, for the commands that run a projector.
func (c *common) foldFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.cfg.FoldDir, "fold-dir", env("CDS_FOLD_DIR", ""), "directory of the projector's local fold store, a cache of cds.fold_index; empty = <data>/foldstate (CDS_FOLD_DIR)")
}

// historyFlag registers --history-interval, for the commands that run the API.
func (c *common) historyFlag(fs *flag.FlagSet) {
	d := c.envDuration("CDS_HISTORY_INTERVAL", 0)
	fs.DurationVar(&c.cfg.HistoryInterval, "history-interval", d, "how often the score history (cds.score_history) is brought up to date; 0 = 10s; negative = not in this process (CDS_HISTORY_INTERVAL)")
}

func credentialsPath(cfg app.Config) string { return cfg.DataDir + "/credentials.json" }
