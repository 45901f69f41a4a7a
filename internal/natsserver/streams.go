package natsserver

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Streams and their subjects.
const (
	EventsStream       = "CDS_EVENTS"
	EventsSubjects     = "cds.events.>"
	DeadLetterStream   = "CDS_DLQ"
	DeadLetterSubjects = "cds.dlq.>"
)

// DefaultDuplicateWindow is how long JetStream remembers a Nats-Msg-Id and drops an event
// published again with it.
//
// The window covers automatic retries: a lost PubAck, a client replaying its reconnect buffer
// (nats.go gives up after ~2 minutes by default), an HTTP client backing off. Duplicates that
// come later, such as an agency replaying its outbox after an outage, reach the log and are
// dropped by the projector, which must not count an id twice whatever the window
// (docs/design.md, "The event envelope"). A longer window costs memory: ~130-145 bytes of heap
// per id inside it
// (BenchmarkDedupMemory), so rate x window x 140 B: at 1,000 events/s, 84 MB for 10 minutes
// but 12 GB for 24 hours, and a restart re-reads the whole window to rebuild the table.
// Real provincial load is far lower, but the simulator and cds bench publish thousands to
// 150,000 events/s.
const DefaultDuplicateWindow = 10 * time.Minute

// MaxEventMessageBytes bounds one message of the events stream, headers
// included: an event of up to 64 KiB (the HTTP gateway's limit) with 4 KiB of
// headers. The log keeps everything for ever and cannot be purged, so an
// agency must not be able to fill it with messages of nats-server's maximum
// payload (1 MB); a larger one gets an error PubAck and is not stored.
const MaxEventMessageBytes = 68 << 10

// StreamConfig holds the stream settings an operator may choose.
type StreamConfig struct {
	// DuplicateWindow: 0 means DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// MaxAge of events; 0 keeps them forever, which is the point: the log is the truth.
	// The dead-letter stream always keeps its messages.
	MaxAge time.Duration
	// Replicas: 0 means 1 (the embedded server is a single node).
	Replicas int
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// EventsStreamConfig is the JetStream configuration of CDS_EVENTS: file storage, limits
// retention with no limits, and no way to delete or purge messages (DenyDelete and DenyPurge
// cannot be switched off again once a stream has them).
func EventsStreamConfig(cfg StreamConfig) jetstream.StreamConfig {
	cfg = cfg.withDefaults()
	return jetstream.StreamConfig{
		Name:         EventsStream,
		Description:  "cds measurement events: the append-only log",
		Subjects:     []string{EventsSubjects},
		Retention:    jetstream.LimitsPolicy,
		MaxConsumers: -1,
		MaxMsgs:      -1,
		MaxBytes:     -1,
		MaxAge:       cfg.MaxAge,
		MaxMsgSize:   MaxEventMessageBytes,
		Discard:      jetstream.DiscardOld,
		Storage:      jetstream.FileStorage,
		Replicas:     cfg.Replicas,
		Duplicates:   cfg.DuplicateWindow,
		DenyDelete:   true,
		DenyPurge:    true,
	}
}

// DeadLetterStreamConfig is the JetStream configuration of CDS_DLQ: like the events stream,
// but messages never expire and an operator may delete those that have been dealt with.
func DeadLetterStreamConfig(cfg StreamConfig) jetstream.StreamConfig {
	cfg = cfg.withDefaults()
	return jetstream.StreamConfig{
		Name:         DeadLetterStream,
		Description:  "cds events the projector could not use, with the reason",
		Subjects:     []string{DeadLetterSubjects},
		Retention:    jetstream.LimitsPolicy,
		MaxConsumers: -1,
		MaxMsgs:      -1,
		MaxBytes:     -1,
		MaxMsgSize:   -1,
		Discard:      jetstream.DiscardOld,
		Storage:      jetstream.FileStorage,
		Replicas:     cfg.Replicas,
		Duplicates:   cfg.DuplicateWindow,
	}
}

// EnsureStreams creates both streams, or updates them to cfg. Running it again with the same
// cfg changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	for _, sc := range []jetstream.StreamConfig{EventsStreamConfig(cfg), DeadLetterStreamConfig(cfg)} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("natsserver: ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
