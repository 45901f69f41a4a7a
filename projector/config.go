package projector

import (
	"fmt"
	"time"
)

// Config tunes the projector. The zero value is usable.
type Config struct {
	Stream    string        // default CDS_EVENTS
	Consumer  string        // durable consumer name, default ConsumerName(the database)
	BatchMax  int           // events per batch, default 5000
	BatchWait time.Duration // longest wait to fill a batch after its first event, default 200ms
	AckWait   time.Duration // consumer AckWait, default 5m (above the longest write)
	MaxFuture time.Duration // occurred_at may be this far past the time the stream received the event, default 24h
	RetryMin  time.Duration // first backoff after a failure, default 500ms
	RetryMax  time.Duration // longest backoff, default 30s
	// ShutdownGrace bounds how long Run, once its context is cancelled, keeps
	// writing the batch in hand before it abandons it (which is safe: the
	// next start redoes it). Default 30s.
	ShutdownGrace time.Duration
	// FoldCache is the fewest ids, superseded marks and timelines a
	// generation of the fold state holds in memory before it is retired;
	// the state keeps two generations, each spanning at least 2 batches.
	// Default 50000.
	FoldCache int
	// FoldDir is the directory of the local fold store (package foldstore,
	// a subdirectory per database and stream): a cache of cds.fold_index
	// that a restart finds at the commit it left. "" keeps the store in
	// memory, refilled from cds.fold_index at every start.
	FoldDir string
	// HeapBudget, when positive, makes the projector set the Go runtime's
	// soft memory limit (debug.SetMemoryLimit) to HeapBudget plus what the
	// local fold store does not hold yet of the memory it may take outside
	// the Go heap (foldstore.Options.Memory, which the process's budget
	// sets aside for it), less a margin, re-read after every batch, and to
	// HeapBudget alone at the start and before a recovery fills the store.
	// It changes a process-wide setting: for a process that runs the
	// projector alone (cds projector). Zero: leave it alone.
	HeapBudget int64
	// MemoryBudget, when positive with HeapBudget, is the whole process's
	// budget: the soft limit is also kept within MemoryBudget less the
	// resident memory measured outside the Go runtime (the store's C
	// allocations with their allocator's overhead, the filter, the
	// binary's pages) and a margin, down to MinHeapLimit. Zero: HeapBudget's
	// rule alone.
	MemoryBudget int64
	// LeaseTTL is how long a projector that stopped renewing the lease
	// (killed, frozen, cut off from NATS) keeps it: a standby takes over
	// once it has seen no renewal for LeaseTTL, the holder renews every
	// LeaseTTL/4 and stops writing when less than LeaseTTL/3 is left.
	// Default 6s: a takeover within about 8s of a kill, plus recovery.
	LeaseTTL time.Duration
	// NoDeadLetter skips publishing invalid events to the dead-letter stream
	// (they are still skipped and counted). For benchmarks; a rebuild does
	// not need it: the projector never publishes a dead letter that CDS_DLQ
	// already holds for the same stream sequence.
	NoDeadLetter bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Stream == "" {
		c.Stream = "CDS_EVENTS"
	}
	// Batches of 5,000 and generations of 50,000 items bound the live heap
	// (three batches in flight, two generations):
	// with 20,000 and 100,000 it was about 145 MB at 9M events, at the soft
	// limit that cds projector sets (HeapBudget), and the garbage collector
	// took about 70% of the projector's CPU; with 10,000 and 50,000 the
	// live heap still reached the soft limit from about 1.7M events on,
	// and batches of 5,000 drained 5M events 1.23 times as fast, with 0.59
	// times the projector's CPU per event and 1.30 times ClickHouse's
	// (docs/performance.md, "The projector's live heap").
	if c.BatchMax == 0 {
		c.BatchMax = 5000
	}
	if c.BatchWait == 0 {
		c.BatchWait = 200 * time.Millisecond
	}
	if c.AckWait == 0 {
		c.AckWait = 5 * time.Minute
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = 24 * time.Hour
	}
	if c.RetryMin == 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.FoldCache == 0 {
		c.FoldCache = 50000
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 6 * time.Second
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	// One batch's cells and its commit marker must fit in one INSERT block
	// that ClickHouse writes as one part: see doc.go.
	if c.BatchMax < 1 || c.BatchMax > 200000 {
		return c, fmt.Errorf("projector config: BatchMax %d: expected 1 to 200000", c.BatchMax)
	}
	return c, nil
}

// ConsumerName is the durable consumer of the projector of a database:
// cds-projector for the default database cds, cds-projector-<database>
// for another (database names are letters, digits and underscores:
// chdb.ValidDatabase). Each database has its own, as it has its own lease:
// recovery deletes and recreates its consumer, so two databases folding
// one stream (a second database rebuilt beside the live one, a database
// per province) must not share one (docs/projector.md, "Active and
// standby").
func ConsumerName(database string) string {
	if database == "" || database == "cds" {
		return "cds-projector"
	}
	return "cds-projector-" + database
}
