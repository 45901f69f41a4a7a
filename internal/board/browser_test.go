package board_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/board"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// browser starts a headless Chromium (Debian's chromium, which make test
// installs) with a fresh profile, and collects the console errors,
// uncaught exceptions and browser-log errors (CSP violations among them)
// of its pages.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func mustBrowser(tb testing.TB) *browser {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		tb.Fatalf("chromium is not installed: run `make test` (scripts/ensure-deps.sh installs it with apt-get): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(tb.TempDir()), chromedp.WindowSize(1280, 900),
		// Chromium makes its singleton directory (org.chromium.Chromium.*)
		// in TMPDIR and leaves it when it is killed: in the test's own.
		chromedp.Env("TMPDIR=" + tb.TempDir()),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tb.Cleanup(cancelAlloc)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				msg = fmt.Sprintf("console.%s %v", ev.Type, ev.Args)
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	}))
	tb.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	tb.Cleanup(cancelT)
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return b
}

// open loads url and fails on any console error it caused.
func (b *browser) open(tb testing.TB, url string) {
	tb.Helper()
	b.mu.Lock()
	b.errors = nil
	b.mu.Unlock()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(url))
	if err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	if resp.Status != http.StatusOK {
		tb.Fatalf("open %s: status %d", url, resp.Status)
	}
	// A round trip to the page lets late console messages arrive.
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.readyState")); err != nil {
		tb.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		tb.Fatalf("open %s: console errors:\n%s", url, strings.Join(b.errors, "\n"))
	}
}

func eval[T any](tb testing.TB, b *browser, js string) T {
	tb.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// artefacts is where screenshots and PDFs go: $CDS_ARTIFACTS, else a
// temporary directory of the test.
func artefacts(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CDS_ARTIFACTS")
	if dir == "" {
		return tb.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// shoot saves full-page screenshots of the current page at 1280 and 390 px.
func (b *browser) shoot(tb testing.TB, dir, name string) {
	tb.Helper()
	for _, w := range []int64{1280, 390} {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(w, 900)); err != nil {
			tb.Fatal(err)
		}
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			tb.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w)), png, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		tb.Fatal(err)
	}
}

// number reads a figure as the board writes it in Vietnamese: "71,4 %",
// "1.234", "hạng 14"; ok is false for "no data".
func number(s string) (float64, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "hạng"))
	pct := strings.HasSuffix(s, "%")
	s = strings.TrimSpace(strings.TrimSuffix(s, "%"))
	s = strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(s, ".", ""), ",", "."), "−", "-")
	v, err := strconv.ParseFloat(strings.TrimPrefix(s, "+"), 64)
	if err != nil {
		return 0, false
	}
	if pct {
		v /= 100
	}
	return v, true
}

// statusVI are the status words a reader sees on the Vietnamese pages.
var statusVI = map[string]string{
	scores.StatusMet: "Đạt", scores.StatusOnTrack: "Đúng tiến độ", scores.StatusAtRisk: "Có nguy cơ chậm",
	scores.StatusOffTrack: "Chậm tiến độ", scores.StatusNoData: "Chưa có số liệu", scores.StatusNoTarget: "Chưa có chỉ tiêu",
}

// sameFigure reports whether the page's text shows the API's value, as
// rounded for display (a percentage to 0.1, other figures to 0.1).
func sameFigure(text string, api *float64, ratio bool) bool {
	v, ok := number(text)
	if api == nil {
		return !ok
	}
	tol := 0.05
	if ratio {
		tol = 0.0005
	}
	return ok && math.Abs(v-*api) <= tol+1e-9
}

func TestBoardInBrowser(t *testing.T) {
	sys := mustSystem(t)
	asOf := registry.NewDate(2025, 6, 30)
	publishAll(t, sys, provinceFixture(sys.Registry, asOf))
	base := "http://" + sys.API.Addr()
	q := "?milestone=2025&as_of=2025-06-30"
	b := mustBrowser(t)
	dir := artefacts(t)
	t.Logf("artefacts in %s", dir)

	commune := ""
	for _, u := range sys.Registry.InForce(asOf) {
		if u.Level == registry.LevelCommune && commune == "" {
			commune = u.Code
		}
	}
	t.Run("every page loads without console errors", func(t *testing.T) {
		for _, path := range []string{
			"/" + q, "/" + q + "&lang=en", "/" + q + "&level=district", "/" + q + "&level=department",
			"/" + q + "&level=commune&show=bottom&n=5", "/" + q + "&level=district&lang=en",
			"/units/bg" + q, "/units/bg-vietyen" + q, "/units/bg-vietyen" + q + "&lang=en", "/units/bg-skhdt" + q,
			"/units/bg-vietyen/HSCV" + q, "/units/bg/DNS" + q, "/units/" + commune + q,
			"/units/bg-vietyen?as_of=2025-08-01&milestone=2025", // ended: dates and successor
		} {
			b.open(t, base+path)
		}
	})

	t.Run("province overview", func(t *testing.T) {
		b.open(t, base+"/"+q)
		var prov scores.UnitScore
		getJSON(t, base+"/v1/scores/bg"+q, &prov)
		rows := eval[[]indRow](t, b, `Array.from(document.querySelectorAll("table.summary tbody tr")).map(tr => ({
			Code: tr.querySelector(".code").textContent, Value: tr.cells[1].textContent, Status: tr.querySelector(".tag").textContent.trim()}))`)
		checkIndicators(t, "province", rows, prov)
		charts := eval[int](t, b, `document.querySelectorAll("svg.chart title").length`)
		if charts == 0 {
			t.Fatal("no trend chart with a <title>")
		}
		if n := eval[int](t, b, `document.querySelectorAll(".silence tbody tr").length`); n == 0 {
			t.Fatal("the not-reporting panel lists nobody, but the fixture has units that stopped reporting")
		}
		b.shoot(t, dir, "overview")
	})

	t.Run("league table equals the API and sorts", func(t *testing.T) {
		b.open(t, base+"/"+q+"&level=district")
		var lvl scores.LevelScores
		getJSON(t, base+"/v1/scores"+q+"&level=district", &lvl)
		type cell struct{ Value, Status string }
		type row struct {
			URL, Rank, Comp string
			Cells           []cell
		}
		rows := eval[[]row](t, b, `Array.from(document.querySelectorAll("#league tbody tr")).map(tr => ({
			URL: tr.querySelector("th a").getAttribute("href"), Rank: tr.cells[0].textContent, Comp: tr.querySelector(".compv").textContent,
			Cells: Array.from(tr.querySelectorAll("td.cell")).map(td => ({Value: td.querySelector(".v").textContent, Status: td.querySelector(".tag").textContent.trim()}))}))`)
		if len(rows) != len(lvl.Units) || len(rows) == 0 {
			t.Fatalf("%d rows on the page, %d units in the API", len(rows), len(lvl.Units))
		}
		for i, r := range rows {
			u := lvl.Units[i]
			if !strings.HasPrefix(r.URL, "/units/"+u.Unit+"?") {
				t.Fatalf("row %d is %s, the API's rank %d is %s", i, r.URL, u.Rank, u.Unit)
			}
			if r.Rank != strconv.Itoa(u.Rank) {
				t.Fatalf("%s: rank %s on the page, %d in the API", u.Unit, r.Rank, u.Rank)
			}
			if c, ok := number(r.Comp); !ok || math.Abs(c/100-u.Composite) > 0.0005 {
				t.Fatalf("%s: composite %s on the page, %v in the API", u.Unit, r.Comp, u.Composite)
			}
			for k, ind := range u.Indicators {
				if !sameFigure(r.Cells[k].Value, ind.Value, true) || !strings.HasSuffix(r.Cells[k].Status, statusVI[ind.Status]) {
					t.Fatalf("%s %s: page %q %q, API %v %s", u.Unit, ind.Code, r.Cells[k].Value, r.Cells[k].Status, ind.Value, ind.Status)
				}
			}
		}
		b.shoot(t, dir, "league-district")
		pdf, err := chromedp.Run(b.ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPrintBackground(), chromedp.PDFPreferCSSPageSize()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(pdf), "%PDF") {
			t.Fatal("not a PDF")
		}
		if err := os.WriteFile(filepath.Join(dir, "league-district-a4.pdf"), pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		// The print stylesheet: no navigation or filters, table headers
		// repeated on every page, status colours kept.
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
			t.Fatal(err)
		}
		got := eval[[]string](t, b, `[getComputedStyle(document.querySelector(".nav")).display, getComputedStyle(document.querySelector(".filters")).display,
			getComputedStyle(document.querySelector("#league thead")).display, getComputedStyle(document.querySelector("#league .tag")).printColorAdjust]`)
		if strings.Join(got, ",") != "none,none,table-header-group,exact" {
			t.Fatalf("print styles: nav, filters, thead, tag colours = %v", got)
		}
		// A4 less the page's margins (210 mm − 2 × 10 mm) at 96 px per inch.
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(718, 1060)); err != nil {
			t.Fatal(err)
		}
		if w := eval[int](t, b, `document.querySelector("#league").scrollWidth`); w > 718 {
			t.Fatalf("the district table is %d px wide in print, wider than A4's 718", w)
		}
		shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "league-district-print.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}

		// Choosing the HSCV heading sorts by its value, highest first,
		// units without data last; choosing it again reverses.
		col := `Array.from(document.querySelectorAll("#league tbody tr")).map(tr => tr.cells[4 + ` +
			`Array.from(document.querySelectorAll("#league thead th")).slice(4).findIndex(th => th.querySelector("a").href.includes("sort=HSCV"))].getAttribute("data-v"))`
		for _, want := range []string{"desc", "asc"} {
			if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`#league thead a[href*="sort=HSCV"]`))); err != nil {
				t.Fatal(err)
			}
			vals := eval[[]string](t, b, col)
			var nums []float64
			for i, v := range vals {
				if v == "" {
					if slices.ContainsFunc(vals[i:], func(s string) bool { return s != "" }) {
						t.Fatalf("%s: a unit without data before one with: %v", want, vals)
					}
					break
				}
				f, _ := strconv.ParseFloat(v, 64)
				nums = append(nums, f)
			}
			sorted := slices.IsSorted(nums)
			if want == "desc" {
				slices.Reverse(nums)
				sorted = slices.IsSorted(nums)
			}
			if !sorted || len(nums) < 2 {
				t.Fatalf("HSCV %s: not sorted: %v", want, vals)
			}
			if aria := eval[string](t, b, `document.querySelector('#league thead a[href*="sort=HSCV"]').parentElement.getAttribute("aria-sort")`); aria != map[string]string{"asc": "ascending", "desc": "descending"}[want] {
				t.Fatalf("aria-sort %q after sorting %s", aria, want)
			}
			if said := eval[string](t, b, `document.querySelector("#sorted .dir").textContent`); said != map[string]string{"asc": "tăng dần", "desc": "giảm dần"}[want] {
				t.Fatalf("the page says it is sorted %q after sorting %s", said, want)
			}
		}
	})

	t.Run("an ended unit shows its dates and successor", func(t *testing.T) {
		b.open(t, base+"/units/bg-vietyen?as_of=2025-08-01&milestone=2025&lang=en")
		notice := eval[string](t, b, `document.querySelector(".notice").textContent`)
		succ := eval[string](t, b, `document.querySelector(".notice a").getAttribute("href")`)
		if !strings.Contains(notice, "2025-06-30") || !strings.HasPrefix(succ, "/units/bg?") {
			t.Fatalf("notice %q, successor link %q", notice, succ)
		}
		last := eval[string](t, b, `document.querySelector(".notice a.btn-link").getAttribute("href")`)
		if !strings.Contains(last, "as_of=2025-06-30") {
			t.Fatalf("no link to the unit's last day: %q", last)
		}
		b.open(t, base+"/units/bg-hiephoa"+q+"&lang=en")
		b.shoot(t, dir, "unit-en")
	})

	t.Run("csv equals the API", func(t *testing.T) { checkCSV(t, base, q) })

	t.Run("unit page equals the API and links to its events", func(t *testing.T) {
		b.open(t, base+"/units/bg-vietyen"+q)
		var u scores.UnitScore
		getJSON(t, base+"/v1/scores/bg-vietyen"+q, &u)
		rows := eval[[]indRow](t, b, `Array.from(document.querySelectorAll("table.summary tbody tr")).map(tr => ({
			Code: tr.querySelector(".code").textContent, Value: tr.cells[1].textContent, Status: tr.querySelector(".tag").textContent.trim()}))`)
		checkIndicators(t, "bg-vietyen", rows, u)
		if got := eval[string](t, b, `document.querySelector(".kpi-value").textContent`); !sameFigure(got, ptr(u.Composite*100), false) {
			t.Fatalf("composite %q, API %v", got, u.Composite)
		}
		b.shoot(t, dir, "unit")
		href := eval[string](t, b, `document.querySelector("#ind-HSCV a.events").getAttribute("href")`)
		if !strings.HasPrefix(href, "/units/bg-vietyen/HSCV?") {
			t.Fatalf("the HSCV card links to %q, not to its events", href)
		}
		b.open(t, base+href)
		var d scores.Drill
		getJSON(t, base+"/v1/scores/bg-vietyen/HSCV/events"+q+"&limit=50", &d)
		ids := eval[[]string](t, b, `Array.from(document.querySelectorAll(".events-table tbody tr td:nth-child(2)")).map(td => td.textContent)`)
		if len(ids) != len(d.Events) || len(ids) == 0 {
			t.Fatalf("%d events on the page, %d in the API", len(ids), len(d.Events))
		}
		for i, ev := range d.Events {
			if ids[i] != ev.ID {
				t.Fatalf("event %d: %s on the page, %s in the API", i, ids[i], ev.ID)
			}
		}
		if sql := eval[string](t, b, `document.querySelector(".sql code").textContent`); sql != d.SQL {
			t.Fatalf("the page's SQL differs from the API's:\n%s\n%s", sql, d.SQL)
		}
		b.shoot(t, dir, "events")
	})

	// Last: it changes the data.
	t.Run("trend cache stays exact across a late event", func(t *testing.T) { checkTrendsExact(t, sys, asOf) })
}

// checkCSV reads /v1/scores as CSV and compares it with the JSON answer.
func checkCSV(t *testing.T, base, q string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/scores"+q+"&level=commune", nil)
	req.Header.Set("Accept", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || !bytes.HasPrefix(body, []byte("\uFEFF")) {
		t.Fatalf("CSV: %s, starts %q", res.Header.Get("Content-Type"), body[:min(len(body), 8)])
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var lvl scores.LevelScores
	getJSON(t, base+"/v1/scores"+q+"&level=commune", &lvl)
	k := 1
	for _, u := range lvl.Units {
		for _, ind := range u.Indicators {
			r := rows[k]
			k++
			v := ""
			if ind.Value != nil {
				v = strconv.FormatFloat(*ind.Value, 'f', -1, 64)
			}
			if r[0] != u.Unit || r[3] != ind.Code || r[6] != v || r[9] != ind.Status || r[11] != strconv.Itoa(u.Rank) {
				t.Fatalf("CSV row %v, JSON %s %s %v %s rank %d", r, u.Unit, ind.Code, v, ind.Status, u.Rank)
			}
		}
	}
	if k != len(rows) {
		t.Fatalf("CSV has %d rows, JSON %d unit-indicators", len(rows)-1, k-1)
	}
}

// indRow is a row of a page's indicator table as a reader sees it.
type indRow struct{ Code, Value, Status string }

// checkIndicators compares a page's indicator rows with the API's score.
func checkIndicators(t *testing.T, unit string, rows []indRow, s scores.UnitScore) {
	t.Helper()
	if len(rows) != len(s.Indicators) {
		t.Fatalf("%s: %d indicators on the page, %d in the API", unit, len(rows), len(s.Indicators))
	}
	for i, ind := range s.Indicators {
		r := rows[i]
		ratio := ind.Kind != "count" && ind.Kind != "rank"
		if r.Code != ind.Code || !sameFigure(r.Value, ind.Value, ratio) || !strings.HasSuffix(r.Status, statusVI[ind.Status]) {
			t.Fatalf("%s %s: page %q %q %q, API %v %s", unit, ind.Code, r.Code, r.Value, r.Status, ind.Value, ind.Status)
		}
	}
}

func ptr(v float64) *float64 { return &v }

// checkTrendsExact shows that EngineTrends stays exact across commits: a
// late event from 2024 recomputes the days from its own on, and no other.
func checkTrendsExact(t *testing.T, sys *app.System, asOf registry.Date) {
	engine := &scores.Engine{Catalog: sys.Catalog, Registry: sys.Registry, Store: scores.NewStore(sys.CH.DB)}
	tr := board.NewEngineTrends(engine, sys.CH.DB)
	ctx := context.Background()
	before, err := tr.UnitTrends(ctx, "bg-hiephoa", 2025, asOf)
	if err != nil {
		t.Fatal(err)
	}
	days := board.TrendDays(sys.Catalog.BaselineDate(), asOf)
	if _, runs := tr.Stats(); runs != uint64(len(days)) {
		t.Fatalf("%d computations for %d days", runs, len(days))
	}
	if _, err := tr.UnitTrends(ctx, "bg-hiephoa", 2025, asOf); err != nil {
		t.Fatal(err)
	}
	if _, runs := tr.Stats(); runs != uint64(len(days)) {
		t.Fatalf("no commit, yet %d computations for %d days", runs, len(days))
	}
	// Ten dossiers of Hiệp Hòa processed online in March 2024, reported late.
	var late []string
	for i := range 10 {
		late = append(late, fmt.Sprintf(`{"id":"late-%d","type":"workfile.processed","v":1,"agency":"bg-hiephoa","occurred_at":"2024-03-1%dT09:00:00+07:00","data":{"workfile_id":"LATE-%d","online":true}}`, i, i, i))
	}
	publishAll(t, sys, late)
	after, err := tr.UnitTrends(ctx, "bg-hiephoa", 2025, asOf)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, d := range days {
		if !d.Before(registry.NewDate(2024, 3, 10)) {
			changed++
		}
	}
	if _, runs := tr.Stats(); runs != uint64(len(days)+changed) {
		t.Fatalf("after a late event of 2024-03-10: %d computations, want %d (the %d days from 2024-03-31 on again)", runs, len(days)+changed, changed)
	}
	// Every day equals the engine's answer now, uncached.
	for i, p := range after["HSCV"] {
		ls, err := engine.Level(ctx, registry.LevelDistrict, scores.Query{AsOf: p.AsOf, Milestone: 2025})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ls.Units {
			if u.Unit != "bg-hiephoa" {
				continue
			}
			for _, ind := range u.Indicators {
				if ind.Code == "HSCV" && !sameOpt(ind.Value, p.Value) {
					t.Fatalf("%s: cached %v, engine %v", p.AsOf, opt(p.Value), opt(ind.Value))
				}
			}
		}
		if p.AsOf == registry.NewDate(2024, 3, 31) && sameOpt(p.Value, before["HSCV"][i].Value) {
			t.Fatalf("2024-03-31: the late dossiers did not change HSCV (%v)", opt(p.Value))
		}
	}
}

func sameOpt(a, b *float64) bool {
	return (a == nil) == (b == nil) && (a == nil || math.Abs(*a-*b) < 1e-9)
}

func opt(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
