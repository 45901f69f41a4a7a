package board

import (
	"encoding/csv"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// bom starts every CSV so that spreadsheet programs read it as UTF-8 and
// show Vietnamese names as written.
const bom = "\uFEFF"

// ScoresCSVHeader are the columns of LevelCSV (docs/design.md, "HTTP API", names the first
// twelve; the rest are additive).
var ScoresCSVHeader = []string{"unit", "name", "level", "indicator", "numerator", "denominator", "value", "target",
	"attainment", "status", "composite", "rank", "name_en", "expected", "milestone", "as_of", "of"}

// LevelCSV writes the scores of a level as CSV, one row per unit and
// indicator, UTF-8 with a byte-order mark. Missing figures are empty cells.
func LevelCSV(w io.Writer, ls *scores.LevelScores, reg *registry.Registry) error {
	rows := [][]string{ScoresCSVHeader}
	for _, u := range ls.Units {
		unit, _ := reg.Unit(u.Unit)
		for _, s := range u.Indicators {
			rows = append(rows, []string{u.Unit, unit.Name, u.Level, s.Code, optFloat(s.Numerator), optFloat(s.Denominator),
				optFloat(s.Value), optFloat(s.Target), fmtFloat(s.Attainment), s.Status, fmtFloat(u.Composite), strconv.Itoa(u.Rank),
				unit.NameEN, optFloat(s.Expected), strconv.Itoa(u.Milestone), u.AsOf, strconv.Itoa(u.Of)})
		}
	}
	return writeRows(w, rows)
}

func writeRows(w io.Writer, rows [][]string) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// writeCSV answers rows as a CSV download.
// respond answers with page p rendered by template name, or, when the
// query asks for format=csv and rows is not nil, with rows as a CSV
// attachment named file. A page with rows links to its CSV (p.CSV).
func (b *Board) respond(w http.ResponseWriter, r *http.Request, p *page, name, file string, rows func() [][]string) {
	if rows != nil {
		p.CSV = p.Here("format", "csv")
		if r.URL.Query().Get("format") == "csv" {
			writeCSV(w, file, rows())
			return
		}
	}
	b.render(w, http.StatusOK, name, p)
}

func writeCSV(w http.ResponseWriter, filename string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	_ = writeRows(w, rows)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func optFloat(p *float64) string {
	if p == nil {
		return ""
	}
	return fmtFloat(*p)
}

// indicatorRows is the CSV of a unit's indicators as the page shows them.
func indicatorRows(p *page, inds []indView) [][]string {
	rows := [][]string{{"indicator", "name", "value", "numerator_denominator", "target", "expected", "status", "period", "what_it_takes"}}
	for _, v := range inds {
		rows = append(rows, []string{v.Code, v.Name, v.Value, v.NumDen, v.Target, v.Expected, p.StatusWord(v.Status), v.Period, v.Gap})
	}
	return rows
}

// leagueCSV is the league table as shown: one row per unit, a value and a
// status column per indicator.
func leagueCSV(p *page, lv leagueView) [][]string {
	head := []string{"rank", "rank_change", "unit", "name", "composite"}
	for _, c := range lv.Cols {
		head = append(head, c.Key, c.Key+"_status")
	}
	rows := [][]string{head}
	for _, r := range lv.Rows {
		row := []string{strconv.Itoa(r.Rank), r.ChangeWord, r.Unit, r.Name, fmtFloat(r.CompositeV)}
		for _, c := range r.Cells {
			row = append(row, c.Value, p.StatusWord(c.Status))
		}
		rows = append(rows, row)
	}
	return rows
}
