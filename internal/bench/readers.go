package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// The drill-downs the read figures ask for: a district's and the
// province's, of the indicator most events feed.
const (
	drillIndicator = "HSCV"
	drillDistrict  = "bg-vietyen"
	drillProvince  = "bg"
	drillAsOf      = "2025-06-30"
	// readersRate is the steady rate of events published while the mixed
	// readers run (events/s).
	readersRate = 1000
)

// drillPages measures a page of 100 events of the drill-down, for the
// district and the province, first and deep (90% into the list):
//
//   - drill_query_*_before/after: the listing query alone on the same
//     data, as it was before issue 14 (chdb.DB.BaselineDrillRows: every
//     event of the types, data through the aggregation) and as it is
//     (chdb.DB.DrillRows: the year's events, data read for the page);
//   - drill_query_*_table: the listing read from the drill-down tables
//     (cds.drill_list, the page's days found in cds.drill_days) at the
//     watermark (chdb.DB.DrillTableRows), the same rows;
//   - drill_count_*_after/table: the total, from cds.events
//     (chdb.DB.DrillCount) and from cds.drill_days (DrillTableCount);
//   - drill_page_*_cold: the API's answer (score, count, page) at an as_of
//     not asked before, so nothing comes from a cache: what the first
//     request after a commit costs;
//   - drill_page_*_warm: the same request again (the page and its total
//     from the drill-down cache, until the next commit).
func (e *env) drillPages(ctx context.Context, base string) error {
	e.Progressf("drill-down pages with %d events loaded", e.last)
	client := &http.Client{Timeout: 5 * time.Minute}
	// The query before issue 14 reads every event of the types: a few
	// runs of it; the API's answers: more.
	const baselineRuns = 3
	// Above beforeUpTo events the query before issue 14 is left out: at
	// 20M it needs more than ClickHouse's 4 GiB per query (code 241).
	const beforeUpTo = 5_000_000
	compare := e.last <= beforeUpTo
	reps := max(min(e.cfg.Queries/10, 20), 3)
	f, ok := events.FeedingOf(drillIndicator)
	if !ok {
		return fmt.Errorf("no event type feeds %s", drillIndicator)
	}
	asOf, _ := registry.ParseDate(drillAsOf)
	for _, unit := range []string{drillDistrict, drillProvince} {
		var total struct {
			Total int `json:"total"`
		}
		if _, err := getJSON(ctx, client, base+drillPath(unit, drillAsOf, 0), &total); err != nil {
			return err
		}
		deep := total.Total * 9 / 10 / 100 * 100
		filter := chdb.DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, KeyIsNumber: f.KeyIsNumber(), AgencyScoped: f.Scope == events.ScopeAgency,
			AsOf: drillAsOf, Year: asOf.Year()}
		if u, _ := e.reg.Unit(unit); u.Parent != "" {
			filter.Units = ownUnits(e.reg, unit, asOf)
		}
		name := "district"
		if unit == drillProvince {
			name = "province"
		}
		e.Figure("drill_"+name+"_total", float64(total.Total), "events")
		for _, pg := range []struct {
			name   string
			offset int
		}{{"first", 0}, {"deep", deep}} {
			marks, err := e.db.ReadMarks(ctx)
			if err != nil {
				return err
			}
			at := filter
			upTo := marks.Watermark()
			at.UpTo = &upTo
			var before, after, table, countAfter, countTable []time.Duration
			for i := 0; i < baselineRuns; i++ {
				t0 := time.Now()
				var old []chdb.DrillRow
				if compare {
					if old, err = e.db.BaselineDrillRows(ctx, filter, pg.offset, 100); err != nil {
						return fmt.Errorf("baseline drill query: %w", err)
					}
				}
				t1 := time.Now()
				cur, err := e.db.DrillRows(ctx, filter, false, pg.offset, 100)
				if err != nil {
					return fmt.Errorf("drill query: %w", err)
				}
				t2 := time.Now()
				tab, err := e.db.DrillTableRows(ctx, at, false, pg.offset, 100)
				if err != nil {
					return fmt.Errorf("drill query of the drill-down tables: %w", err)
				}
				before, after, table = append(before, t1.Sub(t0)), append(after, t2.Sub(t1)), append(table, time.Since(t2))
				if pg.offset == 0 {
					t3 := time.Now()
					n, err := e.db.DrillCount(ctx, filter)
					if err != nil {
						return fmt.Errorf("drill count: %w", err)
					}
					t4 := time.Now()
					m, err := e.db.DrillTableCount(ctx, at)
					if err != nil {
						return fmt.Errorf("drill count of cds.drill_days: %w", err)
					}
					countAfter, countTable = append(countAfter, t4.Sub(t3)), append(countTable, time.Since(t4))
					if n != m || n != uint64(total.Total) {
						return fmt.Errorf("drill count of %s: %d from cds.events, %d from cds.drill_days, %d from the API", unit, n, m, total.Total)
					}
				}
				if (compare && fmt.Sprint(old) != fmt.Sprint(cur)) || fmt.Sprint(cur) != fmt.Sprint(tab) {
					return fmt.Errorf("drill query of %s at offset %d: the three queries differ", unit, pg.offset)
				}
			}
			prefix := "drill_query_" + name + "_" + pg.name
			if compare {
				e.Figure(prefix+"_before_p99_ms", ms(p99(before)), "ms")
				e.Figure(prefix+"_after_vs_before", ms(p99(before))/ms(p99(after)), "")
				e.Figure(prefix+"_table_vs_before", ms(p99(before))/ms(p99(table)), "")
			}
			e.Figure(prefix+"_after_p99_ms", ms(p99(after)), "ms")
			e.Figure(prefix+"_table_p99_ms", ms(p99(table)), "ms")
			if len(countTable) > 0 {
				e.Figure("drill_count_"+name+"_after_p99_ms", ms(p99(countAfter)), "ms")
				e.Figure("drill_count_"+name+"_table_p99_ms", ms(p99(countTable)), "ms")
				e.Figure("drill_count_"+name+"_table_vs_after", ms(p99(countAfter))/ms(p99(countTable)), "")
			}
			var cold, warm []time.Duration
			for i := 0; i < reps; i++ {
				// Days of June 2025 before as_of: the same year, a new request.
				day := asOf.AddDays(-1 - i%29).String()
				d, err := getJSON(ctx, client, base+drillPath(unit, day, pg.offset), nil)
				if err != nil {
					return err
				}
				cold = append(cold, d)
			}
			// The first request at as_of reads the page; the next ones are
			// the warm ones.
			if _, err := getJSON(ctx, client, base+drillPath(unit, drillAsOf, pg.offset), nil); err != nil {
				return err
			}
			for i := 0; i < reps*5; i++ {
				d, err := getJSON(ctx, client, base+drillPath(unit, drillAsOf, pg.offset), nil)
				if err != nil {
					return err
				}
				warm = append(warm, d)
			}
			for _, f := range []struct {
				name string
				lat  []time.Duration
			}{{"cold", cold}, {"warm", warm}} {
				e.Figure("drill_page_"+name+"_"+pg.name+"_"+f.name+"_p50_ms", ms(pct(f.lat, 50)), "ms")
				e.Figure("drill_page_"+name+"_"+pg.name+"_"+f.name+"_p99_ms", ms(p99(f.lat)), "ms")
			}
		}
	}
	return nil
}

// ownUnits are the units whose events count for unit at d, as
// scores.Engine counts them: itself and its predecessors no longer in force.
func ownUnits(reg *registry.Registry, unit string, d registry.Date) []string {
	out := []string{unit}
	for i := 0; i < len(out); i++ {
		for _, p := range reg.Predecessors(out[i]) {
			if pu, ok := reg.Unit(p); ok && !pu.InForce(d) && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func drillPath(unit, asOf string, offset int) string {
	return "/v1/scores/" + unit + "/" + drillIndicator + "/events?milestone=2025&limit=100&as_of=" + asOf + "&offset=" + strconv.Itoa(offset)
}

// getJSON GETs url, decoding the body into v when not nil; anything but
// 200 is an error.
func getJSON(ctx context.Context, client *http.Client, url string, v any) (time.Duration, error) {
	t0 := time.Now()
	code, body, err := get(ctx, client, url)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d: %.300s", url, code, body)
	}
	d := time.Since(t0)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return 0, fmt.Errorf("GET %s: %w", url, err)
		}
	}
	return d, nil
}

func get(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	code, body, _, err := getRetry(ctx, client, url)
	return code, body, err
}

// getRetry is get that also returns the answer's Retry-After (0 when
// none).
func getRetry(ctx context.Context, client *http.Client, url string) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, body, time.Duration(secs) * time.Second, err
}

// p99 is the 99th percentile of ds (sorted in place).
func p99(ds []time.Duration) time.Duration { return pct(ds, 99) }

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)*p/100, len(ds)-1)]
}

// readerMix is what the mixed readers ask for, as a busy morning would:
// league tables, unit scores, drill-downs (the province's too, and pages
// further in), silence and the units.
var readerMix = []string{
	"/v1/scores?level=commune&milestone=2025&as_of=2025-06-30",
	"/v1/scores?level=district&milestone=2025&as_of=2025-06-30",
	"/v1/scores/bg-vietyen?milestone=2025&as_of=2025-06-30",
	"/v1/scores/bg-hiephoa?milestone=2025&as_of=2025-06-30",
	"/v1/scores/bg?milestone=2025&as_of=2025-06-30",
	"/v1/scores/bg-vietyen/HSCV/events?milestone=2025&as_of=2025-06-30",
	"/v1/scores/bg-vietyen/HSCV/events?milestone=2025&as_of=2025-06-30&offset=500",
	"/v1/scores/bg/HSCV/events?milestone=2025&as_of=2025-06-30",
	"/v1/silence?as_of=2025-06-30",
	"/v1/units?as_of=2025-06-30",
}

// mixedReaders runs Config.Readers readers for Config.ReadersFor against
// the API, each asking for the requests of readerMix in a random order
// one after the other, while events are published at readersRate and the
// projector folds them (so the caches valid until the next commit keep
// being renewed). Figures: requests/s, p50/p99 of the answers served
// (200), errors (a 5xx but 503, or a transport error) and 503s (shed with
// Retry-After: the API's admission control; the reader waits that long, as
// a client should, before its next request), the CPU time per request of
// the API process and of the managed ClickHouse, the API's reads (its
// /metrics), and, as progress lines, the same per request of the mix.
//
// The API read is a cds serve process of Config.Binary (startAPI), not
// the API of the earlier steps, which runs in this process: there it would
// share the cores and the garbage collector with the readers' goroutines
// and HTTP client (which make much of this process's garbage), and its CPU
// time could not be told from theirs. With a baseline binary, its API (a
// cds serve process too) is read first the same way (figures
// baseline_readers_*), and readers_*_baseline_vs_this compare the two: both
// sides of the pair are measured alike.
func (e *env) mixedReaders(ctx context.Context) error {
	var before readersFigures
	if e.cfg.Baseline != "" {
		// The baseline's API first, on the same NATS and ClickHouse, then
		// this one's: a before/after pair in one run.
		var err error
		if before, err = e.readersOf(ctx, e.cfg.Baseline, "baseline_"); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	after, err := e.readersOf(ctx, e.cfg.Binary, "")
	if err != nil || e.cfg.Baseline == "" {
		return err
	}
	if after.p99 > 0 {
		e.Figure("readers_p99_baseline_vs_this", before.p99/after.p99, "")
	}
	if after.p50 > 0 {
		e.Figure("readers_p50_baseline_vs_this", before.p50/after.p50, "")
	}
	if before.rate > 0 {
		e.Figure("readers_requests_per_s_this_vs_baseline", after.rate/before.rate, "")
	}
	if after.cpuPerRequest > 0 && before.cpuPerRequest > 0 {
		e.Figure("readers_api_cpu_per_request_baseline_vs_this", before.cpuPerRequest/after.cpuPerRequest, "")
	}
	return nil
}

// readersOf starts binary's API (startAPI), runs the mixed readers against
// it with the figures' prefix, and stops it.
func (e *env) readersOf(ctx context.Context, binary, prefix string) (readersFigures, error) {
	api, err := e.startAPI(ctx, binary)
	if err != nil {
		return readersFigures{}, fmt.Errorf("api: %w", err)
	}
	f, err := e.readers(ctx, api, prefix)
	if serr := api.stop(); err == nil && serr != nil {
		err = serr
	}
	return f, err
}

// readersFigures are what one run of the mixed readers measured.
type readersFigures struct {
	p50, p99, rate float64
	// cpuPerRequest is the API process's CPU time per request answered
	// or shed, in µs (0 when it could not be read).
	cpuPerRequest float64
}

// apiProc is a cds serve process started by the bench (startAPI).
type apiProc struct {
	url  string
	pid  int
	stop func() error
}

// startAPI starts binary as a cds serve process on the bench's NATS and
// ClickHouse, on a free port, and waits until it answers /healthz; stop
// ends it. It serves the Go profiler on Config.PprofAddr, if set (the
// flag given explicitly, so that a CDS_PPROF meant for the projector
// process does not reach it).
func (e *env) startAPI(ctx context.Context, binary string) (*apiProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c, err := startChild(ctx, 30*time.Second, binary, "serve", "--nats", e.natsURL, "--clickhouse", e.chAddr,
		"--database", e.dbName, "--data", e.dir, "--http", addr, "--history-interval", "-1s", "--log", "warn",
		"--pprof", e.cfg.PprofAddr)
	if err != nil {
		return nil, err
	}
	url := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(time.Minute); ; {
		if code, _, err := get(ctx, client, url+"/healthz"); err == nil && code == http.StatusOK {
			return &apiProc{url: url, pid: c.cmd.Process.Pid, stop: c.stop}, nil
		}
		select {
		case err := <-c.exited:
			return nil, fmt.Errorf("%s serve exited: %v", binary, err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.stop()
			return nil, fmt.Errorf("%s serve: no healthy answer within a minute", binary)
		}
	}
}

// readers runs the mixed readers against api and prints their figures,
// each name prefixed with prefix.
func (e *env) readers(ctx context.Context, api *apiProc, prefix string) (readersFigures, error) {
	base := api.url
	e.Progressf("%d mixed readers for %s while %d events/s flow (%sapi)", e.cfg.Readers, e.cfg.ReadersFor, readersRate, prefix)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pubErr := make(chan error, 1)
	var published int
	go func() { pubErr <- e.publishSteady(ctx, readersRate, &published) }()

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: e.cfg.Readers}}
	defer client.CloseIdleConnections()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		perPath  = make([]pathLat, len(readerMix))
		errs     int
		shed     int
		firstErr string
	)
	countersBefore := apiCounters(ctx, client, base)
	cpuBefore, cpuErr := procCPU(api.pid)
	chBefore, chErr := procCPU(e.chPID)
	end := time.Now().Add(e.cfg.ReadersFor)
	start := time.Now()
	var wg sync.WaitGroup
	for r := 0; r < e.cfg.Readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for time.Now().Before(end) {
				k := rng.IntN(len(readerMix))
				path := readerMix[k]
				t0 := time.Now()
				code, body, retry, err := getRetry(ctx, client, base+path)
				d := time.Since(t0)
				var pause time.Duration
				mu.Lock()
				switch {
				case err != nil || code >= 500 && code != http.StatusServiceUnavailable:
					errs++
					if firstErr == "" {
						firstErr = fmt.Sprintf("GET %s: %d %v %.200s", path, code, err, body)
					}
				case code == http.StatusServiceUnavailable:
					shed++
					perPath[k].shed++
					// A client that honours Retry-After waits before it
					// asks again.
					pause = retry
				case code == http.StatusOK:
					lat = append(lat, d)
					perPath[k].lat = append(perPath[k].lat, d)
				default:
					errs++
					if firstErr == "" {
						firstErr = fmt.Sprintf("GET %s: %d %.200s", path, code, body)
					}
				}
				mu.Unlock()
				time.Sleep(min(pause, time.Until(end)))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	cpuAfter, cpuErrAfter := procCPU(api.pid)
	chAfter, chErrAfter := procCPU(e.chPID)
	countersAfter := apiCounters(ctx, client, base)
	cancel()
	if err := <-pubErr; err != nil && !errors.Is(err, context.Canceled) {
		return readersFigures{}, fmt.Errorf("publishing meanwhile: %w", err)
	}
	e.last += uint64(published)
	if err := e.waitWatermark(context.Background(), e.last, 10*time.Millisecond, nil); err != nil {
		return readersFigures{}, err
	}
	f := readersFigures{p50: ms(pct(lat, 50)), p99: ms(pct(lat, 99)), rate: rate(len(lat)+errs+shed, took)}
	e.Figure(prefix+"readers", float64(e.cfg.Readers), "readers")
	e.Figure(prefix+"readers_requests_per_s", f.rate, "requests/s")
	e.Figure(prefix+"readers_p50_ms", f.p50, "ms")
	e.Figure(prefix+"readers_p99_ms", f.p99, "ms")
	e.Figure(prefix+"readers_errors", float64(errs), "requests")
	e.Figure(prefix+"readers_503", float64(shed), "requests")
	e.Figure(prefix+"readers_events_published", float64(published), "events")
	n := len(lat) + errs + shed // requests answered, failed or shed
	if cpuErr == nil && cpuErrAfter == nil && n > 0 {
		f.cpuPerRequest = float64((cpuAfter - cpuBefore).Microseconds()) / float64(n)
		e.Figure(prefix+"readers_api_cpu_us_per_request", f.cpuPerRequest, "µs")
	}
	if e.chPID != 0 && chErr == nil && chErrAfter == nil && n > 0 {
		e.Figure(prefix+"readers_clickhouse_cpu_us_per_request", float64((chAfter-chBefore).Microseconds())/float64(n), "µs")
	}
	// Where the API's drill-downs were read from, and what it shed, by
	// class (its /metrics before and after).
	for _, c := range apiCounterNames {
		if a, ok := countersAfter[c.metric]; ok && c.figure != "" {
			e.Figure(prefix+"readers_"+c.figure, a-countersBefore[c.metric], "")
		}
	}
	for _, cl := range []string{"light", "drill"} {
		sum, n := `cds_api_reads_wait_seconds_sum{class="`+cl+`"}`, `cds_api_reads_wait_seconds_count{class="`+cl+`"}`
		s, okS := countersAfter[sum]
		c, okC := countersAfter[n]
		if c -= countersBefore[n]; okS && okC && c > 0 {
			e.Figure(prefix+"readers_slot_wait_ms_"+cl, 1000*(s-countersBefore[sum])/c, "ms")
		}
	}
	if firstErr != "" {
		e.Progressf("  first error: %s", firstErr)
	}
	if e.cfg.QueryLog && e.chPID != 0 {
		// ctx is cancelled by now (it stopped the publisher).
		qctx, qcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := e.queryLogBreakdown(qctx, prefix, start, start.Add(took), n)
		qcancel()
		if err != nil {
			e.Progressf("  no breakdown of ClickHouse's queries: %v", err)
		}
	}
	// Which requests take the time: per request of the mix, the answers,
	// their p50 and p99, their share of the time spent answering, and the
	// 503s.
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	for k, p := range perPath {
		var t time.Duration
		for _, d := range p.lat {
			t += d
		}
		e.Progressf("  %-80s %5d answers  p50 %7.1f ms  p99 %7.1f ms  %4.1f%% of the time  %4d x 503",
			readerMix[k], len(p.lat), ms(pct(p.lat, 50)), ms(p99(p.lat)), 100*t.Seconds()/max(sum.Seconds(), 1e-9), p.shed)
	}
	return f, nil
}

// pathLat is what the mixed readers saw of one request of readerMix.
type pathLat struct {
	lat  []time.Duration
	shed int
}

// publishSteady publishes generated events at rate per second, in ticks
// of 10 ms, until ctx ends; *n counts the events acknowledged.
func (e *env) publishSteady(ctx context.Context, rate int, n *int) error {
	// Each run its own events: the same ids again would be duplicates that
	// the stream drops, and the watermark would never reach e.last.
	gen := newGenerator(e.reg, 5+e.steadyRuns)
	e.steadyRuns++
	perTick := max(rate/100, 1)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	now := time.Date(2025, 6, 2, 9, 0, 0, 0, events.Zone)
	for {
		select {
		case <-ctx.Done():
			<-e.js.PublishAsyncComplete()
			return ctx.Err()
		case <-tick.C:
		}
		for i := 0; i < perTick; i++ {
			ev := gen.next("", now)
			m := nats.NewMsg(events.Subject(ev.agency, ev.typ))
			m.Data = ev.body
			m.Header.Set(jetstream.MsgIDHeader, ev.id)
			if _, err := e.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
				return err
			}
			*n++
		}
	}
}

// apiCounterNames are the counters of the API's /metrics the mixed
// readers report, as figures: drill-down pages and totals read from the
// drill-down tables and from cds.events, pages carried over from an
// earlier commit, snapshot pairs, silence's latest events and commit
// markers read (a binary without a counter reports no figure for it),
// and requests shed by class; those
// without a figure are the read slots' waits, reported as a mean per class
// (readers_slot_wait_ms_*).
var apiCounterNames = []struct{ metric, figure string }{
	{"cds_scores_drill_table_reads_total", "drill_table_reads"},
	{"cds_scores_drill_table_fallbacks_total", "drill_table_fallbacks"},
	{"cds_scores_drill_carried_total", "drill_carried"},
	{"cds_scores_drill_log_reads_total", "drill_log_reads"},
	{"cds_scores_snapshot_reads_total", "snapshot_reads"},
	{"cds_scores_silence_copy_reads_total", "silence_reads"},
	{"cds_scores_marker_reads_total", "marker_reads"},
	{"cds_scores_marker_copy_reads_total", "marker_copy_reads"},
	{`cds_api_reads_shed_total{class="light"}`, "shed_light"},
	{`cds_api_reads_shed_total{class="drill"}`, "shed_drill"},
	{`cds_api_reads_shed_total{class="heavy"}`, "shed_heavy"},
	{`cds_api_reads_wait_seconds_sum{class="light"}`, ""},
	{`cds_api_reads_wait_seconds_count{class="light"}`, ""},
	{`cds_api_reads_wait_seconds_sum{class="drill"}`, ""},
	{`cds_api_reads_wait_seconds_count{class="drill"}`, ""},
}

// apiCounters reads the counters of apiCounterNames from base's /metrics;
// those it cannot read are missing.
func apiCounters(ctx context.Context, client *http.Client, base string) map[string]float64 {
	out := map[string]float64{}
	code, body, err := get(ctx, client, base+"/metrics")
	if err != nil || code != http.StatusOK {
		return out
	}
	for _, line := range strings.Split(string(body), "\n") {
		for _, c := range apiCounterNames {
			if v, ok := strings.CutPrefix(line, c.metric+" "); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					out[c.metric] = f
				}
			}
		}
	}
	return out
}
