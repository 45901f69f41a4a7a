package projector

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events      *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	batches     prometheus.Counter
	batchSize   prometheus.Histogram
	writeTime   prometheus.Histogram
	lastCommit  prometheus.Gauge
	watermark   prometheus.Gauge
	lag         prometheus.Gauge
	failures    *prometheus.CounterVec
	backoff     prometheus.Gauge
	recoveries  prometheus.Counter
	repairs     *prometheus.CounterVec
	stateEvents prometheus.Gauge
	stateItems  prometheus.Gauge
	storeBytes  prometheus.Gauge
	storeLoads  prometheus.Counter
	memory      *prometheus.GaugeVec
	memoryLimit prometheus.Gauge
	trimmed     prometheus.Counter
	stateLoaded prometheus.Gauge

	active        prometheus.Gauge
	takeovers     prometheus.Counter
	leaseLost     prometheus.Counter
	fencedCommits prometheus.Counter
	diverged      prometheus.Gauge
	failed        prometheus.Gauge
	waiting       *prometheus.GaugeVec

	indexLookups   prometheus.Counter
	indexFetchTime prometheus.Histogram
	pullsRenewed   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_projector_events_total", Help: "Events taken from the stream, by outcome (applied, duplicate, dead_letter, redelivered).",
		}, []string{"outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_projector_dead_letters_total", Help: "Events refused, by reason (each is in CDS_DLQ on cds.dlq.<reason>).",
		}, []string{"reason"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_batches_total", Help: "Batches committed to ClickHouse.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cds_projector_batch_size_events", Help: "Messages per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		writeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cds_projector_batch_write_seconds", Help: "Time to write a batch to ClickHouse (raw rows and cells).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		lastCommit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_last_commit_timestamp_seconds", Help: "Unix time of the last batch committed.",
		}),
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_watermark_seq", Help: "Last stream sequence folded into ClickHouse.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_lag_events", Help: "Stream messages not yet folded (stream last sequence minus watermark), updated about once a second, also while retrying.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_projector_failures_total", Help: "Failed attempts, by stage (recover, consume, write; gap: a message was not delivered), each retried from the watermark (with backoff, except gap).",
		}, []string{"stage"}),
		backoff: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_backoff_seconds", Help: "Current wait before the next retry; 0 while the projector runs normally.",
		}),
		recoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_recoveries_total", Help: "Recoveries from the ClickHouse watermark (one at start, one after each failure).",
		}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_projector_repairs_total", Help: "Times the projections disagreed with their commit markers or with the log and were refolded from the log, by reason (raw_rows_mismatch, fold_index_mismatch, fold_index_missing, fenced_commit).",
		}, []string{"reason"}),
		stateEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_state_events", Help: "Distinct event ids folded (the fold state holds most of them in its local store, not in memory).",
		}),
		stateItems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_state_memory_items", Help: "Event ids, superseded marks and timelines the fold state holds in memory (recent batches).",
		}),
		storeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_fold_store_bytes", Help: "Disk space of the local fold store (the copy of cds.fold_index the fold state reads), updated at each recovery.",
		}),
		memory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cds_projector_memory_bytes", Help: "The process's memory by part, after the last batch: resident (the resident set), go_heap (live and dead objects), go_heap_free (the heap's free and unused bytes not returned to the OS), go_runtime (stacks and the runtime's metadata), store_cache, store_memtables and store_filter (the local fold store's, outside the Go heap), outside (the resident set less the Go runtime's memory: the binary's pages, the C allocator's memory, the filter).",
		}, []string{"part"}),
		trimmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_memory_trimmed_bytes_total", Help: "Resident memory the C allocator returned to the OS when the projector trimmed it (every few seconds: free memory inside its arenas, around the fold store's block cache and memtables)."}),
		memoryLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_memory_limit_bytes", Help: "The Go runtime's soft memory limit the projector set last (cds projector --memory-limit-mb); 0 when it sets none.",
		}),
		storeLoads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_fold_store_loads_total", Help: "Times the local fold store was filled from cds.fold_index (it was behind the commit markers, emptied, or not a copy of them).",
		}),
		stateLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_state_loaded", Help: "1 while the fold state of the committed position is loaded and the projector folds from it; 0 while it recovers, loads or waits as a standby.",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_active", Help: "1 while this projector holds the lease and folds, 0 while it waits as a standby.",
		}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_lease_takeovers_total", Help: "Times this projector took the lease (at start, or from a dead or departed holder).",
		}),
		leaseLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_lease_lost_total", Help: "Times this projector lost the lease (taken over, or not renewed within its TTL) and went back to standby.",
		}),
		fencedCommits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_fenced_commits_total", Help: "Batches committed late by a projector that had lost the lease, recognised by their lease token and refolded from the log.",
		}),
		diverged: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_log_diverged", Help: "1 when the event log no longer holds what ClickHouse folded: the projector stopped and deleted nothing (docs/projector.md).",
		}),
		failed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_failed", Help: "1 when the projector stopped for good with an error (Run returned it).",
		}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cds_projector_waiting_seconds", Help: "How long the projector has been waiting for what (inserts of an earlier attempt to finish, a mutation, a dead letter's PubAck); 0 when it is not. Each wait is bounded and logged every 10 s.",
		}, []string{"what"}),
		indexLookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_index_lookups_total", Help: "Lookups read from the local fold store (ids, keys and superseded marks not in memory).",
		}),
		pullsRenewed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_pulls_renewed_total", Help: "Pull requests made again because the consumer sent neither a message nor a heartbeat for 2 heartbeats (a pull request lost, e.g. sent before a new consumer's leader was elected).",
		}),
		indexFetchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cds_projector_index_fetch_seconds", Help: "Time of one round of reads from the local fold store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.deadLetters, m.batches, m.batchSize, m.writeTime, m.lastCommit, m.watermark, m.lag,
			m.failures, m.backoff, m.recoveries, m.repairs, m.stateEvents, m.stateItems, m.storeBytes, m.storeLoads, m.memory, m.memoryLimit, m.trimmed, m.stateLoaded, m.indexLookups, m.indexFetchTime, m.pullsRenewed,
			m.active, m.takeovers, m.leaseLost, m.fencedCommits, m.diverged, m.failed, m.waiting)
	}
	return m
}
