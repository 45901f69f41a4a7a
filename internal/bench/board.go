package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"
)

// boardPages measures the board's pages (internal/board) as a browser
// fetches them: the HTML of each page, not its cached stylesheet.
//
//   - first: the first request after the API started, with the trend cache
//     empty (the engine scores the level at every month-end since the
//     baseline);
//   - cold: each request at an as_of not asked before, so the scores at
//     as_of and the unit's level are read again (the month-ends before it
//     come from the trend cache, as they do between two commits that did
//     not touch the past);
//   - warm: the same request again and again;
//   - bytes: the size of the page.
func (e *env) boardPages(ctx context.Context, base string) error {
	e.Progressf("board pages with %d events loaded", e.last)
	client := &http.Client{Timeout: 5 * time.Minute}
	get := func(path string) (time.Duration, int, error) {
		t0 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return time.Since(t0), int(n), nil
	}
	report := func(name string, lat []time.Duration) {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Fprintf(e.cfg.Out, "%s_p50_ms: %.1f ms\n", name, ms(lat[len(lat)/2]))
		fmt.Fprintf(e.cfg.Out, "%s_p99_ms: %.1f ms\n", name, ms(lat[len(lat)*99/100]))
	}
	cold := min(e.cfg.Queries, 20)
	asOf := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	pages := []struct{ name, path string }{
		{"board_province", "/?milestone=2025&as_of="},
		{"board_league_commune", "/?level=commune&milestone=2025&as_of="},
		{"board_league_district", "/?level=district&milestone=2025&as_of="},
		{"board_unit", "/units/bg-vietyen?milestone=2025&as_of="},
		{"board_events", "/units/bg-vietyen/HSCV?milestone=2025&as_of="},
	}
	for k, p := range pages {
		d, size, err := get(p.path + asOf.Format("2006-01-02"))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.cfg.Out, "%s_first_ms: %.1f ms\n", p.name, ms(d))
		fmt.Fprintf(e.cfg.Out, "%s_bytes: %d bytes\n", p.name, size)
		var lat []time.Duration
		for i := 0; i < e.cfg.Queries; i++ {
			d, _, err := get(p.path + asOf.Format("2006-01-02"))
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		report(p.name+"_warm", lat)
		lat = lat[:0]
		for i := 0; i < cold; i++ {
			// Days of June 2025 before as_of, different for each request and page.
			d, _, err := get(p.path + asOf.AddDate(0, 0, -1-(k*cold+i)%29).Format("2006-01-02"))
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		report(p.name+"_cold", lat)
	}
	return nil
}
