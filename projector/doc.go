// Package projector folds the event log (JetStream stream CDS_EVENTS) into
// ClickHouse: raw events into cds.events, indicator cells into cds.rollup.
//
// # Exactly once
//
// ClickHouse 18.16 has no transactions and does not deduplicate retried
// inserts; JetStream redelivers after a crash and deduplicates ids only inside
// its window. The projector therefore owns its position and stores it with
// the data:
//
//  1. Batches are cut from one durable consumer in stream order. Each message
//     carries its stream sequence.
//  2. A batch is folded in memory (package fold) into a transaction: new ids,
//     timeline changes, rollup cell deltas. Duplicate ids (by event id, for
//     ever, not only inside the JetStream window) fold to nothing.
//  3. Raw rows of the batch are inserted into cds.events with their seq.
//     This insert may span partitions and may half-succeed: that is allowed.
//  4. The cell deltas and one watermark marker row (indicator '#watermark',
//     n = new watermark - old watermark) are inserted into cds.rollup in ONE
//     INSERT into a non-partitioned table: one part, all or nothing. This is
//     the commit point. The watermark is sum(n) of the marker rows, which
//     SummingMergeTree merges keep intact.
//  5. Only then is the in-memory transaction committed and the last message
//     acked (AckAll acks the whole batch).
//
// Recovery, at start and after any failed write (whatever its outcome):
// read the watermark W from cds.rollup; delete the cds.events rows with
// seq > W (an unfinished step 3) and wait for the mutation; if the state in
// memory is not known to match W, rebuild it from cds.events; recreate the
// durable consumer at W+1. Messages at or below W that are redelivered are
// skipped. Hence after kill -9 at any instant, each event is reflected once:
//
//   - killed before step 4: W is unchanged, the partial raw rows are deleted,
//     the batch is fetched again and folded identically;
//   - killed after step 4, before the ack: W covers the batch; redelivered
//     messages are at or below W and skipped;
//   - an insert that returned an error but landed: recovery reads W and
//     knows which case it is.
//
// Invalid events (bad JSON, unknown type, schema violation, subject/agency
// mismatch, unknown agency, far future) are published to the dead-letter
// stream with the reason and the original bytes and headers before the
// batch commits; their publish uses a message id derived from the stream
// sequence, so a batch redone after a crash does not dead-letter twice within
// the DLQ's duplicate window.
//
// Exactly one projector may run against a stream and database: the fold state
// lives in its memory.
package projector
