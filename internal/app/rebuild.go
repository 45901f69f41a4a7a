package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector"
)

// RebuildOptions says what to rebuild.
type RebuildOptions struct {
	// FromSeq refolds the log from this stream sequence: the raw events
	// below it are kept and the cells recomputed from them. 0 or 1 refolds
	// everything.
	FromSeq uint64
	// FromDate, when not zero, refolds from the first event the log stored
	// at or after this instant (it overrides FromSeq).
	FromDate time.Time
	// Force skips the check that the live projector is stopped.
	Force bool
	// Progress, if not nil, is called about once a second with the
	// watermark and the target sequence.
	Progress func(done, total uint64)
}

// RebuildStats reports a rebuild.
type RebuildStats struct {
	From, Target uint64        // refolded stream sequences From..Target
	Events       uint64        // Target - From + 1: messages read from the log
	Prepare      time.Duration // connecting, emptying the projections or recomputing the cells below From
	Duration     time.Duration // the whole rebuild
}

// Rebuild recomputes the projections (cds.events and cds.rollup; other
// tables of the database are left alone) from the event log, up to the
// stream's last sequence when it started. The live projector must be
// stopped: Rebuild refuses to run while the projector's consumer has a
// client pulling from it, unless Force.
func Rebuild(ctx context.Context, cfg Config, managedClickHouse bool, opts RebuildOptions) (RebuildStats, error) {
	start := time.Now()
	reg, _, err := cfg.Domain()
	if err != nil {
		return RebuildStats{}, err
	}
	nc, err := ConnectService(cfg.NATSURL, cfg.DataDir, credentials.ServiceProjector, "cds-rebuild", cfg.Logger)
	if err != nil {
		return RebuildStats{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return RebuildStats{}, err
	}
	st, err := js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		return RebuildStats{}, fmt.Errorf("rebuild: %w", err)
	}
	target := st.CachedInfo().State.LastSeq
	from := opts.FromSeq
	if !opts.FromDate.IsZero() {
		if from, err = firstSeqAt(ctx, st, opts.FromDate); err != nil {
			return RebuildStats{}, fmt.Errorf("rebuild: %w", err)
		}
	}

	ch, err := OpenClickHouse(ctx, cfg, managedClickHouse)
	if err != nil {
		return RebuildStats{}, err
	}
	defer ch.Close()
	if !opts.Force {
		if err := projectorStopped(ctx, js, ch.DB.Name); err != nil {
			return RebuildStats{}, err
		}
	}
	// The projector's local fold store is rewound with the projections
	// (emptied by a rebuild from the start), and filled as the log is
	// refolded.
	p, err := projector.New(projector.Config{FoldDir: cfg.FoldStoreDir()}, projector.Deps{JetStream: js, DB: ch.DB, Units: reg, Logger: cfg.logger().With("component", "rebuild")})
	if err != nil {
		return RebuildStats{}, err
	}
	defer p.Close()
	if from, err = p.Rewind(ctx, from); err != nil {
		return RebuildStats{}, fmt.Errorf("rebuild: %w", err)
	}
	stats := RebuildStats{From: from, Target: target, Prepare: time.Since(start)}
	if target >= from {
		stats.Events = target - from + 1
		if _, err := Drain(ctx, p, target, opts.Progress); err != nil {
			return stats, fmt.Errorf("rebuild: %w", err)
		}
	}
	stats.Duration = time.Since(start)
	return stats, nil
}

// projectorStopped fails when a client pulls from the consumer of the
// projector of database.
func projectorStopped(ctx context.Context, js jetstream.JetStream, database string) error {
	c, err := js.Consumer(ctx, natsserver.EventsStream, projector.ConsumerName(database))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rebuild: projector consumer: %w", err)
	}
	if c.CachedInfo().NumWaiting > 0 {
		return errors.New("rebuild: the projector is running (its consumer has pull requests waiting); stop it first (or --force)")
	}
	return nil
}

// firstSeqAt returns the sequence of the first message the stream stored at
// or after t, or last+1 when there is none. Stream times grow with the
// sequence, so it is a binary search.
func firstSeqAt(ctx context.Context, st jetstream.Stream, t time.Time) (uint64, error) {
	state := st.CachedInfo().State
	lo, hi := state.FirstSeq, state.LastSeq+1 // answer in [lo, hi]
	if state.Msgs == 0 {
		return hi, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := st.GetMsg(ctx, mid)
		if err != nil {
			return 0, fmt.Errorf("find the first event stored at %s: seq %d: %w", t.Format(time.RFC3339), mid, err)
		}
		if m.Time.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// Drain runs p until its watermark reaches target.
func Drain(ctx context.Context, p *projector.Projector, target uint64, progress func(done, total uint64)) (RebuildStats, error) {
	start := time.Now()
	from := p.Watermark()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for p.Watermark() < target {
		select {
		case <-ctx.Done():
			return RebuildStats{}, ctx.Err()
		case err := <-done:
			done <- err
			return RebuildStats{}, fmt.Errorf("projector stopped at %d of %d: %v", p.Watermark(), target, err)
		case <-tick.C:
			if progress != nil && time.Since(last) >= time.Second {
				progress(p.Watermark(), target)
				last = time.Now()
			}
		}
	}
	if progress != nil {
		progress(p.Watermark(), target)
	}
	return RebuildStats{From: from + 1, Target: target, Events: target - from, Duration: time.Since(start)}, nil
}
