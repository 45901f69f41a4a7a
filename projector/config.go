package projector

import (
	"fmt"
	"time"
)

// Config tunes the projector. The zero value is usable.
type Config struct {
	Stream         string        // default CDS_EVENTS
	Consumer       string        // durable consumer name, default cds-projector
	DeadLetterPref string        // dead-letter subject prefix, default cds.dlq.
	BatchMax       int           // events per batch, default 20000
	BatchWait      time.Duration // longest wait to fill a batch after its first event, default 200ms
	AckWait        time.Duration // consumer AckWait, default 5m (above the longest write)
	MaxFuture      time.Duration // occurred_at may be this far past the time the stream received the event, default 24h
	RetryMin       time.Duration // first backoff after a failure, default 500ms
	RetryMax       time.Duration // longest backoff, default 30s
	// NoDeadLetter skips publishing invalid events to the dead-letter stream
	// (they are still skipped and counted). A rebuild sets it: the live
	// projector dead-lettered them already.
	NoDeadLetter bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Stream == "" {
		c.Stream = "CDS_EVENTS"
	}
	if c.Consumer == "" {
		c.Consumer = "cds-projector"
	}
	if c.DeadLetterPref == "" {
		c.DeadLetterPref = "cds.dlq."
	}
	if c.BatchMax == 0 {
		c.BatchMax = 20000
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
	if c.BatchMax < 1 || c.BatchMax > 500000 {
		return c, fmt.Errorf("projector config: BatchMax %d: expected 1 to 500000", c.BatchMax)
	}
	return c, nil
}
