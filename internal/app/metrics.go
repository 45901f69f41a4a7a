package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/scores"
)

// serveDebug starts, when addr is set, an HTTP listener of its own for the
// parts that have no API: /metrics (Config.MetricsAddr) or the Go profiler
// under /debug/pprof/ (Config.PprofAddr). It listens before it returns, so
// a bad address fails the start.
func (s *System) serveDebug(addr string, h http.Handler, what string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", what, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(what+" listener stopped", "err", err)
		}
	}()
	s.onClose(func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		<-done
		return err
	})
	s.log.Info(what+" listening", "addr", ln.Addr().String())
	return nil
}

func (s *System) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}))
	return mux
}

func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// registerStoreMetrics exports the score store's snapshot cache.
func registerStoreMetrics(reg prometheus.Registerer, st *scores.Store) {
	stat := func(f func(entries int, hits, reads uint64) float64) func() float64 {
		return func() float64 { return f(st.CacheStats()) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cds_scores_cache_entries", Help: "Snapshot pairs held by the score cache."},
			stat(func(e int, _, _ uint64) float64 { return float64(e) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_cache_hits_total", Help: "Score requests whose snapshots came from the cache (valid until the next commit)."},
			stat(func(_ int, h, _ uint64) float64 { return float64(h) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_snapshot_reads_total", Help: "Snapshot pairs read from ClickHouse (cache misses)."},
			stat(func(_ int, _, r uint64) float64 { return float64(r) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_marker_reads_total", Help: "Reads of the commit markers, which every score, drill-down and silence request waits for (those of concurrent requests coalesced), from cds.rollup or from their copy cds.rollup_marks."},
			func() float64 { n, _ := st.MarkReads(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_marker_copy_reads_total", Help: "Reads of the commit markers from their copy cds.rollup_marks, trusted while the last snapshot read found it agreed with cds.rollup (docs/design.md, \"Score snapshots\")."},
			func() float64 { _, c := st.MarkReads(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_snapshot_copy_reads_total", Help: "Snapshot reads answered from the copy of cds.rollup, cds.rollup_sums (docs/design.md, \"Score snapshots\")."},
			func() float64 { c, _ := st.ReadStats(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_snapshot_fallbacks_total", Help: "Snapshot reads that scanned cds.rollup because its copy disagreed with its commit markers."},
			func() float64 { _, f := st.ReadStats(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_drill_table_reads_total", Help: "Drill-down pages and totals read from cds.drill_list (docs/design.md, \"The drill-down table\")."},
			func() float64 { t, _ := st.DrillStats(); return float64(t) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_drill_table_fallbacks_total", Help: "Drill-down pages and totals read from cds.events because cds.drill_list was not at the commit read (a total read after its page fell back is not counted again)."},
			func() float64 { _, f := st.DrillStats(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_silence_copy_reads_total", Help: "Silence's latest events read from cds.event_lasts (docs/design.md, \"Silence\")."},
			func() float64 { c, _, _ := st.SilenceStats(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_silence_patched_reads_total", Help: "Silence reads from cds.event_lasts that read some agencies and types from cds.events (rows of a later commit were there)."},
			func() float64 { _, p, _ := st.SilenceStats(); return float64(p) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_silence_fallbacks_total", Help: "Silence reads that scanned cds.events because cds.event_lasts was behind the commit read."},
			func() float64 { _, _, f := st.SilenceStats(); return float64(f) }),
	)
}

// registerDrillMetrics exports the drill-down cache (scores.DrillCache).
func registerDrillMetrics(reg prometheus.Registerer, c *scores.DrillCache) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_drill_cache_hits_total", Help: "Drill-down pages and totals answered from the cache (valid until the next commit)."},
			func() float64 { _, h, _ := c.Stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_drill_cache_misses_total", Help: "Drill-down pages and totals not in the cache: read, or carried over from an earlier commit."},
			func() float64 { _, _, m := c.Stats(); return float64(m) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_drill_carried_total", Help: "Drill-down pages carried over from an earlier commit (the changes of the commits since read from cds.drill_log) instead of being read again."},
			func() float64 { return float64(c.Carried()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cds_scores_drill_log_reads_total", Help: "Reads of cds.drill_log to carry drill-down pages over to a later commit (one for the pages of a drill-down carried over the same commits)."},
			func() float64 { return float64(c.LogReads()) }),
	)
}

// refusedCollector exports the messages the NATS gate refused, per agency,
// for being above the agency's limit (docs/security.md).
type refusedCollector struct {
	srv  *natsserver.Server
	desc *prometheus.Desc
}

func newRefusedCollector(srv *natsserver.Server) refusedCollector {
	return refusedCollector{srv: srv, desc: prometheus.NewDesc("cds_nats_refused_total",
		"Messages an agency published over NATS above its limit, not stored.", []string{"agency"}, nil)}
}

func (c refusedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c refusedCollector) Collect(ch chan<- prometheus.Metric) {
	for agency, n := range c.srv.Refused() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), agency)
	}
}
