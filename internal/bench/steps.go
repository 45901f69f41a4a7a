package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector"
)

// publish generates and publishes the events in chunks of 100,000 (so that
// 20M events do not have to be held in memory), timing only the publishing.
func (e *env) publish(ctx context.Context) error {
	e.Progressf("publishing %d events", e.cfg.Events)
	gen := newGenerator(e.reg, 1)
	var spent, cpu time.Duration
	for done := 0; done < e.cfg.Events; {
		chunk := make([]*nats.Msg, min(100000, e.cfg.Events-done))
		for i := range chunk {
			ev := gen.next("", time.Time{})
			m := nats.NewMsg(events.Subject(ev.agency, ev.typ))
			m.Data = ev.body
			m.Header.Set(jetstream.MsgIDHeader, ev.id)
			chunk[i] = m
		}
		start, cpu0 := time.Now(), cpuTime()
		for _, m := range chunk {
			if _, err := e.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
				return err
			}
		}
		select {
		case <-e.js.PublishAsyncComplete():
		case <-ctx.Done():
			return ctx.Err()
		}
		spent += time.Since(start)
		cpu += cpuTime() - cpu0
		done += len(chunk)
		if done%1000000 == 0 {
			e.Progressf("  published %d", done)
		}
	}
	e.pub = rate(e.cfg.Events, spent)
	e.Figure("publish_events_per_s", e.pub, "events/s")
	e.pubCPU = perEvent(cpu, e.cfg.Events)
	e.Figure("publish_cpu_us_per_event", e.pubCPU, "")
	e.last = uint64(e.cfg.Events)
	return nil
}

func (e *env) rawRead(ctx context.Context) error {
	e.Progressf("raw read (ordered consumer + decode)")
	cons, err := e.js.OrderedConsumer(ctx, natsserver.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	start := time.Now()
	it, err := cons.Messages(jetstream.PullMaxMessages(20000))
	if err != nil {
		return err
	}
	defer it.Stop()
	// Next takes no context: SIGINT or SIGTERM stops the iterator, so that
	// the bench ends (and stops its servers) during the raw read too.
	defer context.AfterFunc(ctx, it.Stop)()
	for i := uint64(0); i < e.last; i++ {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped at %d: %w", i, ctx.Err())
			}
			return fmt.Errorf("at %d: %w", i, err)
		}
		if _, err := m.Metadata(); err != nil {
			return err
		}
		if _, err := events.Decode(m.Data()); err != nil {
			return err
		}
	}
	e.raw = rate(int(e.last), time.Since(start))
	e.Figure("raw_read_events_per_s", e.raw, "events/s")
	return nil
}

// drainAndServe runs the projector as its own process over the queued
// events, then the API in this process for ingest, freshness, queries and
// pages, then the mixed readers against a cds serve process (see
// mixedReaders), then a rebuild.
func (e *env) drainAndServe(ctx context.Context) error {
	if e.cfg.Baseline != "" {
		if err := e.baselineDrain(ctx); err != nil {
			return err
		}
	}
	e.Progressf("projector drain (cds projector process)")
	p, f, err := e.drain(ctx, e.cfg.Binary)
	if err != nil {
		return err
	}
	cmd, stop := p.cmd, p.stop
	defer stop()
	e.reportDrain("", f)
	e.drainRate = f.rate
	if e.baseDrain > 0 {
		e.Figure("projector_drain_vs_baseline", f.rate/e.baseDrain, "")
	}
	if e.cfg.DrainOnly {
		if rss, err := peakRSS(cmd.Process.Pid); err == nil {
			e.Figure("projector_rss_mb", rss, "MB")
		}
		return stop()
	}

	// The API, in this process, against the same NATS and ClickHouse.
	acfg := app.Defaults()
	acfg.DataDir, acfg.NATSURL, acfg.ClickHouseAddr, acfg.ClickHouseDB, acfg.HTTPAddr = e.dir, e.natsURL, e.chAddr, e.dbName, "127.0.0.1:0"
	acfg.Ingest.Rate = -1     // measure capacity, not the per-agency rate limit
	acfg.HistoryInterval = -1 // no score-history refresher meanwhile; historyRefresh measures it alone
	acfg.PprofAddr = e.cfg.PprofAddr
	sys, err := app.Start(ctx, acfg, app.Parts{API: true})
	if err != nil {
		return err
	}
	defer sys.Close(context.Background())
	base := "http://" + sys.API.Addr()

	// HTTP ingest is measured as publishing is: with no consumer folding
	// the new events at the same time on the same two cores. The projector
	// is paused (SIGSTOP) while the batches are posted, then resumed to
	// fold them before the next step.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pausing the projector: %w", err)
	}
	err = e.httpIngest(ctx, base)
	if cerr := cmd.Process.Signal(syscall.SIGCONT); err == nil && cerr != nil {
		err = fmt.Errorf("resuming the projector: %w", cerr)
	}
	if err == nil {
		err = e.waitWatermark(ctx, e.last, 10*time.Millisecond, nil)
	}
	if err != nil {
		return fmt.Errorf("http ingest: %w", err)
	}
	if err := e.freshness(ctx); err != nil {
		return fmt.Errorf("freshness: %w", err)
	}
	if err := e.queries(ctx, base); err != nil {
		return fmt.Errorf("score queries: %w", err)
	}
	if err := e.snapshotReads(ctx); err != nil {
		return fmt.Errorf("cold score computations: %w", err)
	}
	if err := e.boardPages(ctx, base); err != nil {
		return fmt.Errorf("board pages: %w", err)
	}
	if err := e.drillPages(ctx, base); err != nil {
		return fmt.Errorf("drill-down pages: %w", err)
	}
	// The API of this process is closed before the mixed readers, which
	// read a cds serve process: it would otherwise still take its share
	// of the cores at each commit.
	if err := sys.Close(context.Background()); err != nil {
		return err
	}
	if err := e.mixedReaders(ctx); err != nil {
		return fmt.Errorf("mixed readers: %w", err)
	}
	if err := e.historyRefresh(ctx); err != nil {
		return fmt.Errorf("score history: %w", err)
	}
	if rss, err := peakRSS(cmd.Process.Pid); err == nil {
		e.Figure("projector_rss_mb", rss, "MB")
	}
	if err := stop(); err != nil {
		return err
	}
	if e.cfg.SkipRebuild {
		return nil
	}
	return e.rebuild(ctx)
}

// httpIngest posts NDJSON batches of 1000 events with agency tokens from 4
// clients (each batch of another agency), and compares with direct
// publishing.
// ndjsonBatch is one POST /v1/events of the HTTP ingest step.
type ndjsonBatch struct {
	token string
	body  []byte
}

// ndjsonBatches makes batches of 1000 generated events, at least n events
// in all, each of one agency in turn.
func (e *env) ndjsonBatches(n int) []ndjsonBatch {
	gen := newGenerator(e.reg, 2)
	var batches []ndjsonBatch
	for len(batches)*1000 < n {
		agency := e.reg.Codes()[len(batches)%len(e.reg.Codes())]
		var b bytes.Buffer
		for i := 0; i < 1000; i++ {
			ev := gen.next(agency, time.Time{})
			b.Write(ev.body)
			b.WriteByte('\n')
		}
		batches = append(batches, ndjsonBatch{token: e.creds.Agencies[agency].HTTPToken, body: b.Bytes()})
	}
	return batches
}

// post sends b to the API at base; anything but 202 is an error.
func (b ndjsonBatch) post(ctx context.Context, client *http.Client, base string) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/events", bytes.NewReader(b.body))
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, body)
	}
	return nil
}

func (e *env) httpIngest(ctx context.Context, base string) error {
	const clients = 4
	n := min(e.cfg.Events/5, 200000)
	n -= n % 1000
	if n == 0 {
		n = 1000
	}
	e.Progressf("http ingest: %d events in NDJSON batches of 1000", n)
	batches := e.ndjsonBatches(n)
	work := make(chan ndjsonBatch)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	// One kept-alive connection per client (http.DefaultTransport keeps 2 per
	// host, so 2 of the 4 clients would dial a new connection per batch).
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	start, cpu0 := time.Now(), cpuTime()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := b.post(ctx, client, base); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, b := range batches {
		select {
		case work <- b:
		case err := <-errs:
			close(work)
			wg.Wait()
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	r := rate(len(batches)*1000, time.Since(start))
	cpu := perEvent(cpuTime()-cpu0, len(batches)*1000)
	e.Figure("http_ingest_events_per_s", r, "events/s")
	e.Figure("http_ingest_vs_publish", r/e.pub, "")
	// The CPU time of this process (JetStream server, API, clients) per
	// event is steadier than the rates on a shared machine; the ratio is
	// that of the rates when both are bound by CPU.
	e.Figure("http_ingest_cpu_us_per_event", cpu, "")
	e.Figure("http_ingest_vs_publish_cpu", e.pubCPU/cpu, "")
	e.last += uint64(len(batches) * 1000)
	return nil
}

// freshness publishes at a steady rate and measures, for every 10 ms tick,
// the time from publishing to the projector's commit, after which
// /v1/scores reads the new cells (the commit makes them visible at once).
func (e *env) freshness(ctx context.Context) error {
	e.Progressf("freshness at %d events/s for %s", e.cfg.FreshnessRate, e.cfg.FreshnessFor)
	gen := newGenerator(e.reg, 3)
	perTick := max(e.cfg.FreshnessRate/100, 1)
	clock := &commitClock{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		clock.watch(ctx, e.watermark)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(e.cfg.FreshnessFor)
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, events.Zone)
	for time.Now().Before(end) {
		<-tick.C
		t0 := time.Now()
		var last jetstream.PubAckFuture
		for i := 0; i < perTick; i++ {
			ev := gen.next("", now)
			m := nats.NewMsg(events.Subject(ev.agency, ev.typ))
			m.Data = ev.body
			m.Header.Set(jetstream.MsgIDHeader, ev.id)
			f, err := e.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute))
			if err != nil {
				return err
			}
			last = f
		}
		go func(f jetstream.PubAckFuture, t0 time.Time) {
			select {
			case ack := <-f.Ok():
				clock.add(ack.Sequence, t0)
			case <-f.Err():
			}
		}(last, t0)
		e.last += uint64(perTick)
	}
	<-e.js.PublishAsyncComplete()
	clock.published.Store(true)
	select {
	case <-done:
	case <-time.After(time.Minute):
		return errors.New("projector did not catch up within a minute of the steady load")
	}
	lat := clock.latencies()
	if len(lat) == 0 {
		return errors.New("no samples")
	}
	e.Figure("freshness_p50_ms", ms(lat[len(lat)/2]), "ms")
	e.Figure("freshness_p99_ms", ms(lat[len(lat)*99/100]), "ms")
	return nil
}

// commitClock measures how long after its publish the projector's
// watermark covers a message.
type commitClock struct {
	mu      sync.Mutex
	pending []commitSample
	lat     []time.Duration
	// published tells watch to stop once nothing is pending.
	published atomic.Bool
}

type commitSample struct {
	seq uint64
	at  time.Time
}

// add starts the clock of the message at seq, published at at.
func (c *commitClock) add(seq uint64, at time.Time) {
	c.mu.Lock()
	c.pending = append(c.pending, commitSample{seq: seq, at: at})
	c.mu.Unlock()
}

// watch reads the watermark every 2 ms and stops the clocks of the
// messages it covers, until ctx ends, or publishing has ended and no
// clock runs.
func (c *commitClock) watch(ctx context.Context, watermark func(context.Context) (uint64, error)) {
	for {
		if w, err := watermark(ctx); err == nil {
			c.covered(w, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
		c.mu.Lock()
		left := len(c.pending)
		c.mu.Unlock()
		if left == 0 && ctx.Err() == nil && c.published.Load() {
			return
		}
	}
}

// covered stops the clocks of the messages up to seq w at now.
func (c *commitClock) covered(w uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, s := range c.pending {
		if s.seq <= w {
			c.lat = append(c.lat, now.Sub(s.at))
		} else {
			c.pending[k] = s
			k++
		}
	}
	c.pending = c.pending[:k]
}

// latencies returns the times measured, shortest first.
func (c *commitClock) latencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.Slice(c.lat, func(i, j int) bool { return c.lat[i] < c.lat[j] })
	return c.lat
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perEvent is d per event in µs.
func perEvent(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Microsecond) / float64(n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// queries measures the score endpoints twice: warm, the same request again
// and again (after the first, the snapshots come from the API's cache, valid
// until the next commit), and cold, each request at an as_of not asked
// before, so its snapshots are read from ClickHouse (what every request
// costs just after a commit).
func (e *env) queries(ctx context.Context, base string) error {
	e.Progressf("score queries with %d events loaded", e.last)
	client := &http.Client{Timeout: time.Minute}
	get := func(path string) (time.Duration, error) {
		t0 := time.Now()
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return time.Since(t0), nil
	}
	report := func(name string, lat []time.Duration) {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Fprintf(e.cfg.Out, "%s_p50_ms: %.1f ms\n", name, ms(lat[len(lat)/2]))
		fmt.Fprintf(e.cfg.Out, "%s_p99_ms: %.1f ms\n", name, ms(lat[len(lat)*99/100]))
	}
	cold := min(e.cfg.Queries, 50)
	asOf := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	for k, q := range []struct{ name, path string }{
		{"score_query_level", "/v1/scores?level=commune&milestone=2025&as_of="},
		{"score_query_unit", "/v1/scores/bg-vietyen?milestone=2025&as_of="},
	} {
		var lat []time.Duration
		for i := 0; i < e.cfg.Queries; i++ {
			d, err := get(q.path + asOf.Format("2006-01-02"))
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		report(q.name, lat)
		lat = lat[:0]
		for i := 0; i < cold; i++ {
			// Days before as_of, different for each request and endpoint.
			d, err := get(q.path + asOf.AddDate(0, 0, -1-k*cold-i).Format("2006-01-02"))
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		report(q.name+"_cold", lat)
	}
	return nil
}

func (e *env) rebuild(ctx context.Context) error {
	e.Progressf("rebuild: drop the database, fold the whole stream again")
	if err := e.db.DropDatabase(ctx); err != nil {
		return err
	}
	if _, err := e.db.Migrate(ctx); err != nil {
		return err
	}
	p, err := projector.New(projector.Config{NoDeadLetter: true, FoldDir: filepath.Join(e.dir, "rebuild-fold")}, projector.Deps{JetStream: e.js, DB: e.db, Units: e.reg})
	if err != nil {
		return err
	}
	defer p.Close()
	cpu0 := e.cpuNow(0)
	st, err := app.Drain(ctx, p, e.last, func(done, total uint64) { e.Progressf("  rebuilt %d / %d", done, total) })
	if err != nil {
		return err
	}
	cpu := e.cpuNow(0).since(cpu0, int(st.Events))
	r := rate(int(st.Events), st.Duration)
	e.Figure("rebuild_events_per_s", r, "events/s")
	e.Figure("rebuild_vs_raw", r/e.raw, "")
	if e.drainRate > 0 {
		e.Figure("rebuild_vs_drain", r/e.drainRate, "")
	}
	// The projector runs in this process, with the NATS server.
	e.Figure("rebuild_cpu_us_per_event_projector_and_nats", cpu.nats, "")
	if e.chPID != 0 {
		e.Figure("rebuild_cpu_us_per_event_clickhouse", cpu.clickhouse, "")
	}
	return nil
}

// peakRSS reads a process's peak resident set (VmHWM) in MB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmHWM")
}
