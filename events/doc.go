// Package events is the domain root of cds: the event envelope, the table of
// event types with their data schemas, natural keys and the indicators they
// feed, validation that names the offending field, and NATS subjects.
//
// It imports no NATS and no ClickHouse: ingest, the projector and scoring
// depend on it, never the other way round.
package events
