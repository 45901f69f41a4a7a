package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/eventtest"
)

// getStatus GETs url and returns its status, Retry-After header and body.
func getStatus(tb testing.TB, url string) (int, string, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestReadsUnderLoad runs the real API against a real ClickHouse with two
// read slots (one for heavy requests, one for drill reads). With the heavy
// slot held, CSV exports (admitted whole as heavy) are answered 503 with
// Retry-After while score reads, the JSON drill-downs and the board's
// drill-down page (admitted per read; their pages and totals are drill
// reads of the drill-down tables), still pass; with the drill slot held,
// drill-downs not yet read at the commit are shed after the wait, JSON
// and board alike, while score reads pass; with every slot held, score
// reads not cached at the commit are shed too, while those cached, JSON
// and the board's drill-down page alike, are answered; with 48 clients
// hammering a mix including the province's drill-down, every answer is 200
// or 503 with Retry-After, never 500.
func TestReadsUnderLoad(t *testing.T) {
	sys := mustSystem(t, func(c *Config) { c.ReadSlots = 2 })
	load(t, sys, eventtest.Province())
	base := "http://" + sys.API.Addr()
	ac := sys.Admission
	if cfg := ac.Config(); cfg.Slots != 2 || cfg.HeavySlots != 1 || cfg.DrillSlots != 1 {
		t.Fatalf("admission %+v, want 2 slots, 1 heavy, 1 drill", cfg)
	}
	drills := []string{"/v1/scores?level=district&format=csv&as_of=2025-06-30", "/units/bg-vietyen?format=csv&as_of=2025-06-30"}
	reads := []string{"/v1/scores?level=district&as_of=2025-06-30", "/v1/scores/bg-vietyen?as_of=2025-06-30", "/v1/silence?as_of=2025-06-30", "/units/bg-vietyen?as_of=2025-06-30", "/?as_of=2025-06-30",
		"/v1/scores/bg/HSCV/events?as_of=2025-06-30", "/v1/scores/bg-vietyen/HSCV/events?as_of=2025-06-30", "/units/bg-vietyen/HSCV?as_of=2025-06-30"}

	t.Run("heavy shed, light served", func(t *testing.T) {
		release, err := ac.Acquire(context.Background(), admission.Heavy)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		for _, p := range drills {
			code, retry, body := getStatus(t, base+p)
			if code != http.StatusServiceUnavailable || retry != "1" {
				t.Errorf("GET %s with the heavy slot held: %d, Retry-After %q, want 503, 1: %.200s", p, code, retry, body)
			}
			if strings.HasPrefix(p, "/v1/") && !strings.Contains(body, `"code":"unavailable"`) {
				t.Errorf("GET %s: body %.200s, want the unavailable error", p, body)
			}
		}
		for _, p := range reads {
			if code, _, body := getStatus(t, base+p); code != http.StatusOK {
				t.Errorf("GET %s with the heavy slot held: %d, want 200: %.200s", p, code, body)
			}
		}
		for _, p := range []string{"/v1/units", "/v1/indicators", "/healthz", "/v1/openapi.json"} {
			if code, _, _ := getStatus(t, base+p); code != http.StatusOK {
				t.Errorf("GET %s (no ClickHouse read): %d, want 200", p, code)
			}
		}
	})

	t.Run("drill share held", func(t *testing.T) {
		release, err := ac.Acquire(context.Background(), admission.Drill)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		// A day not read before: no drill-down page or total cached.
		for _, p := range []string{"/v1/scores/bg-vietyen/HSCV/events?as_of=2025-05-31", "/units/bg-vietyen/HSCV?as_of=2025-05-30"} {
			code, retry, body := getStatus(t, base+p)
			if code != http.StatusServiceUnavailable || retry != "1" {
				t.Errorf("GET %s with the drill slot held: %d, Retry-After %q, want 503, 1: %.200s", p, code, retry, body)
			}
		}
		for _, p := range []string{"/v1/scores?level=district&as_of=2025-05-29", "/v1/scores/bg-vietyen?as_of=2025-05-29", "/units/bg-vietyen?as_of=2025-05-29"} {
			if code, _, body := getStatus(t, base+p); code != http.StatusOK {
				t.Errorf("GET %s with the drill slot held: %d, want 200: %.200s", p, code, body)
			}
		}
	})

	t.Run("every slot held", func(t *testing.T) {
		var held []func()
		for _, cl := range []admission.Class{admission.Light, admission.Light} {
			r, err := ac.Acquire(context.Background(), cl)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, r)
		}
		// A day not read before, by any level (the commit markers' read,
		// shared and small, takes no slot; an answer cached at this commit
		// would need no other read; the board's trend charts read the
		// month-ends, and one snapshot pair serves every level).
		code, retry, _ := getStatus(t, base+"/v1/scores/bg-vietyen?as_of=2025-04-29")
		cached, _, _ := getStatus(t, base+"/v1/scores/bg-vietyen?as_of=2025-06-30")
		// The board's drill-down page read at this commit already ("heavy
		// shed"): its trend chart's commit markers are the shared read
		// (no slot), its drill-down and chart come from the caches; only
		// its freshness line is shed, rendered "unknown".
		board, _, boardBody := getStatus(t, base+"/units/bg-vietyen/HSCV?as_of=2025-06-30")
		for _, r := range held {
			r()
		}
		if code != http.StatusServiceUnavailable || retry != "1" {
			t.Errorf("score read with every slot held: %d, Retry-After %q, want 503, 1", code, retry)
		}
		if cached != http.StatusOK {
			t.Errorf("score read answered from the cache with every slot held: %d, want 200", cached)
		}
		if board != http.StatusOK {
			t.Errorf("board drill-down page answered from the caches with every slot held: %d, want 200: %.200s", board, boardBody)
		}
		if code, _, _ := getStatus(t, base+"/v1/scores/bg-vietyen?as_of=2025-04-29"); code != http.StatusOK {
			t.Errorf("score read once released: %d", code)
		}
	})

	t.Run("hammered", func(t *testing.T) {
		paths := append(append([]string(nil), drills...), reads...)
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for c := 0; c < 48; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 6; i++ {
					p := paths[(c+i)%len(paths)]
					resp, err := http.Get(base + p)
					if err != nil {
						t.Errorf("GET %s: %v", p, err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "") {
						t.Errorf("GET %s under load: %d (Retry-After %q), want 200, or 503 with Retry-After", p, resp.StatusCode, resp.Header.Get("Retry-After"))
					}
					mu.Lock()
					counts[resp.StatusCode]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		t.Logf("statuses under load: %v", counts)
		if counts[http.StatusOK] == 0 {
			t.Error("no request was served")
		}
	})

	_, _, metrics := getStatus(t, base+"/metrics")
	for _, m := range []string{`cds_api_reads_shed_total{class="heavy"}`, `cds_api_reads_shed_total{class="drill"}`, `cds_api_reads_in_flight{class="light"}`, `cds_api_reads_queued{class="light"}`, "cds_api_reads_wait_seconds_bucket"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
}
