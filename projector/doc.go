// Package projector folds the event log (JetStream stream CDS_EVENTS) into
// ClickHouse, exactly once whatever fails: raw events into cds.events,
// indicator cells into cds.rollup, refused events into CDS_DLQ.
//
// # Exactly once
//
// ClickHouse 18.16 has no transactions and does not deduplicate retried
// inserts; JetStream redelivers after a crash, loses deliveries in flight
// when a connection drops, and deduplicates ids only inside its window. The
// projector therefore owns its position and stores it with the data:
//
//  1. Batches are cut from one durable pull consumer (AckAll) in stream
//     order. Each message carries its stream sequence. CDS_EVENTS never
//     loses a message (DenyDelete, DenyPurge), so its sequences are dense:
//     a batch must continue exactly at watermark + 1 and have no hole. A
//     message that was not delivered (lost in a reconnect, dropped by a slow
//     subscription) ends the batch before it; the consumer is recreated at
//     the watermark + 1. Acking past it would lose it for ever.
//  2. A batch is folded in memory (package fold) into a transaction: new
//     ids, timeline changes, rollup cell deltas. An id seen before folds to
//     nothing, for ever, not only inside the JetStream window. The fold
//     state is indexed (see "Memory" below): before folding, it reads from
//     its local fold store what the batch needs of the ids, superseded
//     marks and timelines it no longer holds in memory.
//  3. The batch's invalid events are dead-lettered (see below) and their
//     PubAcks awaited.
//  4. Raw rows of the batch are inserted into cds.events with their seq,
//     then its index rows into cds.fold_index with the seq of the event
//     that wrote each, then its drill rows: first as the batch's changes
//     into cds.drill_log (each with its next entry before the batch, and
//     a marker row of the batch's last seq and the commit it continues,
//     in one part), then into cds.drill_list (the timeline entries whose
//     next entry the batch set, moved or removed, versioned by the
//     batch's last seq, with the table's marker at that seq in the same
//     part) and their counts' deltas into cds.drill_days (with its marker
//     in the same part: docs/design.md, "The drill-down table"), then the
//     latest occurred_at per agency, type and year, month and day of its
//     raw rows into cds.event_lasts (with the table's marker at the
//     batch's last seq in the same part: docs/design.md, "Silence"). These
//     inserts may be split into several parts and may half-succeed: that
//     is allowed (drill rows above the watermark, or a marker that is not
//     the commit, make the recovery refill the drill tables from
//     cds.events and empty cds.drill_log, syncDrill; likewise for
//     cds.event_lasts, syncLasts).
//  5. The cell deltas and one commit-marker row (indicator '#watermark',
//     unit CDS_EVENTS) are inserted into cds.rollup in ONE insert of one
//     block into a table with no partitions: one part, all or nothing.
//     This is the commit point. (The materialized views on cds.rollup
//     copy the block into the score copies, which are trusted only while
//     their markers agree: docs/design.md, "Score snapshots".) The marker row adds
//     the batch's advance to n, its raw-row count to num and the sum of
//     seq mod 2^20 of its raw rows to den; so the sums over all marker rows,
//     which SummingMergeTree merges keep, are the watermark W and a
//     fingerprint of the raw rows it covers. Two more marker rows (unit
//     CDS_EVENTS#fold_index, n = 0, so that sum(n) over all marker rows
//     stays W) do the same for cds.fold_index, and count the batch's raw
//     rows again (dim 'events'). Two more record the hash of the message at
//     the batch's last sequence (unit CDS_EVENTS#last, see "The log and
//     ClickHouse") and one commit of the lease token (unit CDS_EVENTS#lease,
//     see "One active projector").
//  6. The batch's index rows are written to the local fold store, with the
//     commit they bring it to (see "Memory"); then the last message is
//     acked.
//
// Steps 1–3 (the reader) and 4–6 (the writer) run as two stages: while the
// writer writes batch N, the reader cuts, decodes and folds batch N+1 on top
// of it. The reader commits each fold transaction in memory as soon as the
// batch is folded, so the fold state may be ahead of ClickHouse by the
// batches not yet written; the writer writes them strictly in order and
// stops at the first failure. Whenever a batch folded in memory was not
// written (a failed write, or one abandoned at shutdown), the state is
// marked not loaded and recovery makes it again (the local store is at the
// last commit written). Each batch's
// marker adds its own advance, computed from the end of the batch before
// it, so a batch is committed only on top of the one before it.
//
// Every statement of this protocol is a method of package chdb, which owns
// the schema: the inserts of steps 4 and 5 (chdb/events.go, foldindex.go,
// rollup.go), the marker reads (marker.go) and what recovery counts,
// deletes, truncates and waits for (recovery.go), and the fold state's
// loads and lookups in cds.fold_index by hash (foldindex.go).
//
// # Memory
//
// The fold state does not hold the log. cds.fold_index (ordered by h, the
// cityHash64 of the lookup) holds, per applied event id, the key of the
// timeline it entered; per natural key, its entries added and removed; per
// superseded id, a mark. It is the durable copy. The projector reads a
// local copy of it: the fold store (package foldstore), an embedded LSM
// (Pebble) in Config.FoldDir (cds projector --fold-dir, default
// <data>/foldstate/<database>.<stream>), which holds the index rows by
// lookup and the commit they reflect (its mark: the watermark and the
// fingerprint of cds.fold_index, the hash of the message at the watermark).
// Memory holds two generations of the items recent batches touched
// (Config.FoldCache items each, spanning at least 2 batches, so everything
// of the batches not yet written stays in memory); the other lookups of a
// batch are read from the store in key order with one iterator (an event
// id's row and its superseded marks share one record), answered for an
// absent lookup (most) by the store's filter of its records' keys, 10 bits
// per record in memory mapped outside the Go heap, without reading Pebble.
// The cache, memtables and filter (96 MiB) come out of cds projector's
// --memory-limit-mb. See package fold, "The index", and
// docs/performance.md, "The fold store at scale (branch h16s)".
//
// The store is a cache, never ahead of ClickHouse: the writer adds a
// batch's rows and moves its mark in one write of the store after the
// batch's commit (step 6), refused unless the store is at the commit before.
// Recovery, whenever it makes the fold state again, compares the store's
// mark with the markers:
//
//   - equal: used as it is (a restart; no read of cds.fold_index);
//   - behind (a standby on another host, a store write that failed, a crash
//     of the machine losing its last unsynced writes), and cds.fold_index
//     up to the store's watermark has the fingerprint the store recorded
//     and the log holds there the message it folded: the rows above its
//     watermark are added from cds.fold_index;
//   - otherwise (ahead: ClickHouse lost or rewound the commit it reflects;
//     another history; damaged, or left in the middle of a fill): emptied
//     and filled from cds.fold_index.
//
// Whatever the state of the store, the fold reads what ClickHouse
// committed. A repair, a rewind and cds rebuild empty it with the
// projections; a projector that finds it held by another process of its
// host (a frozen former holder of the lease) uses one in memory instead,
// filled from cds.fold_index.
//
// Every INSERT runs under a query id "cds-projector/<database>/…".
//
// Recovery runs at start and after any failure, whatever its outcome:
//
//   - Quiesce: wait until system.processes shows no INSERT of a projector of
//     this database. An INSERT is listed there from the moment ClickHouse
//     receives its query, before its data is sent (the client waits for the
//     table structure), until it has been written or has failed; so no
//     insert of a killed process, nor of a failed attempt of this one, can
//     land after the next step. The fault test sees such a "ghost" commit
//     land after the kill that sent it.
//   - Read the markers: W and the fingerprint.
//   - Seal the markers of earlier lease holders, or recognise a late commit
//     of a fenced-out one (see "One active projector").
//   - Verify the log (see "The log and ClickHouse"): if it no longer holds
//     what ClickHouse folded, stop with ErrDiverged and delete nothing.
//   - If W is 0 but the tables hold rows (an interrupted rebuild or
//     repair), empty them.
//   - Delete the cds.events and cds.fold_index rows with seq > W (an
//     unfinished step 4) with ALTER DELETE, and wait for the mutations.
//   - Compare the fingerprints of cds.events and cds.fold_index (count, sum
//     of seq mod 2^20) with the markers'. A mismatch means parts were lost
//     or doubled below W (ClickHouse 18.16 does not fsync inserted parts,
//     so a power cut can lose any recent part): refold everything from the
//     log. Likewise when the index markers count fewer raw rows than the
//     raw-row markers: some batches were committed by a cds older than
//     cds.fold_index (before an upgrade, or after a downgrade).
//   - If the state in memory is not the one of the markers (first start, an
//     insert reported as failed did land, a repair), reload it from
//     cds.fold_index.
//   - Recreate the durable consumer at W+1. Messages at or below W that are
//     still redelivered are skipped.
//
// Hence, with the projector killed at any instant (kill -9, power loss of the
// projector's machine):
//
//   - before step 5 lands: W is unchanged, the partial raw rows are deleted,
//     the batch is fetched again and folded identically;
//   - while step 5 runs in ClickHouse: recovery waits for it, then it is
//     either committed (case below) or not (case above);
//   - after step 5, before the ack: W covers the batch; redelivered
//     messages are at or below W and skipped;
//   - an insert that returned an error but landed: recovery reads W and
//     knows which case it is.
//
// ClickHouse killed or restarted: the same cases, seen from the projector as
// failed inserts. ClickHouse down or slow: each failure is counted
// (cds_projector_failures_total{stage}), Run waits with exponential backoff
// (cds_projector_backoff_seconds, 0.5 s to 30 s) and recovers from W (a
// failed write also drops the fold state in memory, since the reader had
// folded ahead of it; the local store is at W); while it waits it consumes nothing, so it holds no more than the fold state: the
// messages it had fetched are dropped and fetched again from W+1. NATS
// restarted: the connection reconnects for ever; a delivery lost in between
// is a hole (step 1); acks lost are redeliveries. Lag is
// cds_projector_lag_events, also updated while retrying.
//
// Graceful shutdown (SIGTERM to cds projector or cds up): Run stops fetching,
// writes and acks the batches in hand (the one being written, the one folded
// and the one being filled), and returns; a batch that cannot be written
// within Config.ShutdownGrace is abandoned, which is safe.
//
// Assumptions: one batch's cells fit in one INSERT block
// below ClickHouse's min_insert_block_size_rows (Config.BatchMax ≤ 200 000);
// nothing but the projector and Rewind writes cds.events and cds.rollup, and
// no materialized view reads cds.rollup but the one that feeds its score
// copy, cds.rollup_sums (a view's insert can fail after the part landed:
// the copy then disagrees with the markers until the recovery refills it,
// syncCopies).
//
// # One active projector
//
// Any number of projectors may run against a stream and a database (a
// standby for failover, a systemd unit plus a manual run, cds rebuild); one
// folds, the others wait. The active one holds a lease: the key
// lease.<database>.<stream> of the JetStream key-value bucket CDS_PROJECTOR
// (LeaseBucket), whose value names the holder, an epoch incremented by
// every takeover, and a token (epoch@host/pid/random). Every write of the
// key is a compare-and-set on its revision, so two processes can never both
// take it.
//
//   - The holder renews the key every LeaseTTL/4 (default TTL 6 s). A
//     standby polls it (every LeaseTTL/8) and takes it over once it has
//     seen the same revision for LeaseTTL on its own clock, or at once when
//     the holder released it (clean shutdown). The holder counts its TTL
//     from before it sent its last successful renewal, the standby from
//     after it read it: the standby's moment comes later whatever the two
//     hosts' clocks say. After a kill -9 the standby is active about
//     LeaseTTL later, plus recovery (1.7–2.3 s with a TTL of 2 s in
//     internal/faults).
//   - The fence: before each write to ClickHouse (a batch, its commit, a
//     recovery's delete, a repair, a rewind) the holder checks that it
//     holds the lease with at least LeaseTTL/3 left; a renewal refused
//     (another revision) or failing for the TTL drops it. A projector that
//     lost the lease stops writing, drops its fold state and waits as a
//     standby again.
//   - The token in the markers: every commit adds 1 to the marker row of
//     unit CDS_EVENTS#lease, dim its token. When a projector takes the
//     lease, its first recovery (after the quiesce, so no insert of the
//     dead holder is running) cancels the counts of the holders it took
//     over from (the lease value lists them) in one insert: they are
//     history, and W includes their batches. From then on a count of
//     another token that is not zero is a batch that a projector which had
//     lost the lease (frozen past its TTL between its fence and its INSERT,
//     the only window left) committed late, on top of ours: recovery sees
//     it, and so does the check after each renewal; the projections are
//     refolded from the log (cds_projector_fenced_commits_total,
//     cds_projector_repairs_total{reason="fenced_commit"}).
//   - The durable consumer is deleted and recreated only by the holder, in
//     its recovery.
//   - Rewind (cds rebuild) takes the lease too, waiting at most 2×LeaseTTL:
//     while a projector runs it refuses ("another projector holds the
//     lease"), with or without --force.
//
// # The log and ClickHouse
//
// Stream sequences name events only as long as the log is the one folded:
// a lost JetStream store, a fresh NATS, a wrong --data or a store restored
// from an older copy restart them. Each commit therefore also records, in
// the marker row of unit CDS_EVENTS#last, a 48-bit hash of the subject and
// bytes of the message at its last sequence (num) and that sequence (den).
// Every recovery (at start, after any failure, after a NATS reconnect)
// verifies the stream: it must exist, reach W, start at or before W+1, and
// hold at W the message of that hash. Otherwise Run returns ErrDiverged
// (cds_projector_log_diverged = 1) with what differs; nothing is deleted,
// the process exits non-zero, and the operator chooses (docs/projector.md):
// restore the store, publish ClickHouse's events into the new log (cds
// republish, then cds rebuild), or accept the log as it is with cds
// rebuild, which does not verify it.
// Markers written by a cds that did not record the hash are checked by
// length and first sequence only.
//
// # Replicated ClickHouse
//
// With a cluster name (chdb.Config.Cluster, --clickhouse-cluster) the
// tables are ReplicatedMergeTree (and its Summing and Replacing forms) on
// every replica of the DSN, sharing ZooKeeper, and the protocol above holds
// with these changes (docs/projector.md, "Replicated ClickHouse"):
//
//   - No block deduplication. A replicated table drops an inserted block
//     identical to a recent one; recovery's deletion and re-insertion of the
//     same rows would vanish. Every write of the projector sets
//     insert_deduplicate = 0: its own protocol already makes writes
//     idempotent.
//   - Quorum commits. Replication is asynchronous: a commit acknowledged by
//     one replica that died before another fetched it would let a
//     failed-over projector read an older watermark and fold the batch
//     again, counted twice once the dead replica returns (the replica test
//     saw exactly that without this design). Step 5's insert into
//     cds.rollup, and the seal, are quorum writes (insert_quorum = a
//     majority of the DSN's replicas, chdb.DB.WriteContext), and every read
//     of the projector uses select_sequential_consistency = 1: a replica
//     that has not yet fetched every acknowledged commit refuses the read
//     instead of answering with an older watermark. A majority can still
//     write and every commit reached a majority, so any two overlap. The
//     price: 2 replicas stop the commits while one is down; 3 tolerate one.
//     Step 4's inserts into cds.events and cds.fold_index are not quorum
//     writes: their rows may have to be deleted by a recovery, and on 18.16
//     an ALTER DELETE issued after a quorum write that timed out (a replica
//     down) stays unfinished until the next quorum write into the table,
//     which a recovery waiting for that deletion never makes.
//   - One replica at a time. At every recovery the projector keeps its
//     replica if it still answers, else picks the first replica of the DSN
//     that answers and has no unfinished mutation of cds.events or
//     cds.fold_index (chdb.DB.Pin and Repin), and reads and writes through
//     it alone until the next failure, which fails over to another. Its own
//     writes are thus always visible to its reads, and it never reads a
//     replica that has not yet applied a deletion of an unfinished batch
//     (mutations are replicated asynchronously).
//   - Quiesce on every replica, and catch up. Before it reads the markers,
//     recovery waits until no commit is pending its quorum (ZooKeeper node
//     quorum/status of cds.rollup: it may still become visible, 18.16
//     refuses the next quorum write meanwhile, and a TRUNCATE meanwhile
//     would drop the part but leave the quorum pending for good, every
//     later quorum write refused: seen on 18.16), until system.processes
//     shows no INSERT of a projector on any replica that ZooKeeper lists as
//     active (one that cannot be reached is waited for until its ZooKeeper
//     session expires, 10 s with cds clickhouse: without its session it can
//     commit nothing), and until its replica holds every part of the three
//     tables that ZooKeeper knows of (chdb.DB.Synced: the whole replication
//     log copied, no part left to fetch). Then the fingerprints of step 5
//     compare what this replica holds with the markers, as on one server.
//     A part whose only copy is on a replica that is down keeps the
//     projector waiting until that replica returns.
//   - Deletions (ALTER DELETE of an unfinished batch) are replicated
//     mutations: recovery waits for them on its replica (polling
//     system.mutations: 18.16 has no mutations_sync); the others apply them
//     in their own time and are not chosen until they have. TRUNCATE (a
//     repair, a rebuild) is replicated too.
//
// Everything else — markers, fingerprints, the lease and its token, the
// log's hash — is unchanged: the markers live in cds.rollup, which is
// replicated like the rest. Readers other than the projector (the API, the
// score history, analysts) read any replica without those settings: a
// replica serves a batch a moment after its quorum acknowledged it.
//
// # Failures that stop Run
//
// Run retries what time can cure and returns what it cannot: ErrDiverged;
// ErrPermanent for a NATS connection closed for good (refused credentials
// after a reconnect), a deleted stream, or ClickHouse refusing the
// credentials or missing the schema (its error codes). cds projector and
// cds up then exit non-zero with one ERROR line (internal/app System.Done),
// and cds_projector_failed is 1.
//
// # Duplicates, corrections and retractions
//
// An event id is stored once in cds.events and counted once, whenever it
// comes back: with or without Nats-Msg-Id, minutes or years later, before or
// after a restart. An id counts as seen once an event with it was valid: an
// event refused under an id does not block a valid one under the same id
// (but within JetStream's duplicate window a resend with the same
// Nats-Msg-Id is dropped by JetStream itself; cds dlq replay reports that
// as "held").
//
// A correction (supersedes) removes the event it supersedes (if the same
// agency emitted it) and counts instead; a retraction (data null) only
// removes. A correction that arrives before the event it corrects is held,
// not dead-lettered: the fold remembers the superseded id (in cds.fold_index, so
// also across restarts), and when the target arrives it is stored (its id is
// then known) but never counts. Dead-lettering it instead would make the
// outcome depend on arrival order, which agencies that resend their outbox
// do not control; holding it gives the same cells in any order. A
// correction whose target never arrives simply counts on its own.
//
// # Dead letters
//
// Events that can never be valid (bad JSON, unknown type or version, schema
// violation, subject/agency mismatch, unknown agency, far future measured
// against the time the log stored them) are published to CDS_DLQ on
// cds.dlq.<reason> with the reason, the field, the original subject, bytes
// and headers and the stream sequence (package deadletter), before the batch
// commits; then the batch's ack terminates them in the main stream. Each is
// published at most once per stream sequence: with the message id
// CDS_EVENTS-<seq> (deduplicated within CDS_DLQ's window), and, beyond the
// window, because recovery reads back the stream sequences CDS_DLQ already
// holds above W and does not publish those again (the projector publishes
// in stream order, so it reads CDS_DLQ backwards until it meets W).
//
// # Rebuild
//
// Rewind moves the projections back to a stream sequence so that Run folds
// the log again from there (cds rebuild): from the start (both tables
// emptied), or from sequence N (raw rows below N kept, all cells recomputed
// from them, marker at N-1). It removes the markers first and writes the new
// one in its last insert, so an interrupted Rewind leaves "nothing
// committed", which the next recovery refolds from the log. It holds the
// lease: while a live projector runs, it refuses.
package projector
