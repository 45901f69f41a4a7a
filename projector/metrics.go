package projector

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events      *prometheus.CounterVec
	batches     prometheus.Counter
	batchSize   prometheus.Histogram
	writeTime   prometheus.Histogram
	watermark   prometheus.Gauge
	lag         prometheus.Gauge
	failures    *prometheus.CounterVec
	recoveries  prometheus.Counter
	stateEvents prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_projector_events_total", Help: "Events taken from the stream, by outcome (applied, duplicate, dead_letter, redelivered).",
		}, []string{"outcome"}),
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
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_watermark_seq", Help: "Last stream sequence folded into ClickHouse.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_lag_events", Help: "Stream messages not yet folded (stream last sequence minus watermark).",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_projector_failures_total", Help: "Failed attempts, by stage (recover, consume, write); each is retried with backoff.",
		}, []string{"stage"}),
		recoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_projector_recoveries_total", Help: "Recoveries from the ClickHouse watermark (one at start, one after each failure).",
		}),
		stateEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_projector_state_events", Help: "Distinct event ids held in the fold state.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.batches, m.batchSize, m.writeTime, m.watermark, m.lag, m.failures, m.recoveries, m.stateEvents)
	}
	return m
}
