package history

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	refreshes   prometheus.Counter
	failures    prometheus.Counter
	points      prometheus.Counter
	rows        prometheus.Counter
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_history_refreshes_total", Help: "Score-history refreshes that succeeded (with or without changes).",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_history_failures_total", Help: "Score-history refreshes that failed (retried at the next interval).",
		}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_history_points_total", Help: "Dates (month-ends, today) recomputed.",
		}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cds_history_rows_total", Help: "Rows written to cds.score_history and cds.score_history_units.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cds_history_refresh_seconds", Help: "Time of the refreshes that recomputed points.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cds_history_last_success_timestamp_seconds", Help: "Unix time of the last refresh that succeeded.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.refreshes, m.failures, m.points, m.rows, m.duration, m.lastSuccess)
	}
	return m
}
