package board

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// home is the province (GET /) or, with ?level=, that level's league table.
func (b *Board) home(w http.ResponseWriter, r *http.Request) {
	prm, err := parseParams(r)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	if r, err = b.begin(r); err != nil {
		b.fail(w, r, err)
		return
	}
	if prm.level != "" && prm.level != string(registry.LevelProvince) {
		b.league(w, r, prm)
		return
	}
	b.overview(w, r, prm)
}

// province returns the province unit in force at d.
func (b *Board) province(d registry.Date) (registry.Unit, bool) {
	for _, u := range b.cfg.Engine.Registry.InForce(d) {
		if u.Level == registry.LevelProvince {
			return u, true
		}
	}
	return registry.Unit{}, false
}

// resolve fills the defaults of a query as the engine does: as_of today,
// the milestone the next one on or after as_of (else the last). An unknown
// milestone is reported by the engine.
func (b *Board) resolve(q scores.Query) scores.Query {
	if q.AsOf.IsZero() {
		q.AsOf = registry.DateOf(b.cfg.Now())
	}
	if q.Milestone == 0 {
		y, ok := b.cfg.Engine.Catalog.NextMilestone(q.AsOf)
		if !ok {
			ms := b.cfg.Engine.Catalog.Milestones()
			y = ms[len(ms)-1]
		}
		q.Milestone = y
	}
	return q
}

// level returns the scores of a level for a resolved query.
func (b *Board) level(ctx context.Context, level registry.Level, q scores.Query) (*scores.LevelScores, error) {
	return b.cfg.Days.LevelAt(ctx, level, q.Milestone, q.AsOf)
}

// unitScore returns a unit's score for a resolved query; the unit must be
// in force at q.AsOf.
func (b *Board) unitScore(ctx context.Context, u registry.Unit, q scores.Query) (*scores.UnitScore, error) {
	ls, err := b.level(ctx, u.Level, q)
	if err != nil {
		return nil, err
	}
	for _, s := range ls.Units {
		if s.Unit == u.Code {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", scores.ErrUnitNotInForce, u.Code)
}

type overviewView struct {
	Unit    registry.Unit
	Score   *scores.UnitScore
	Inds    []indView
	Levels  []levelCounts
	Silence *silenceView
}

type levelCounts struct {
	Level, URL string
	Units      int
	Rows       []countRow
}

type countRow struct {
	Code, Short string
	Counts      []int
	Bar         template.HTML
}

func (b *Board) overview(w http.ResponseWriter, r *http.Request, prm params) {
	ctx := r.Context()
	fresh := b.freshness(ctx)
	e := b.cfg.Engine
	q := b.resolve(prm.q)
	asOf := q.AsOf
	prov, ok := b.province(asOf)
	if !ok {
		b.fail(w, r, fmt.Errorf("%w: no province in force", scores.ErrUnknownUnit))
		return
	}
	score, err := b.unitScore(ctx, prov, q)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	p := b.newPage(r, "province")
	p.at(score.AsOf, score.Milestone)
	p.Title = unitName(p.Lang, prov)
	trends, err := b.cfg.Trends.UnitTrends(ctx, prov.Code, score.Milestone, asOf)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	ov := overviewView{Unit: prov, Score: score}
	for _, s := range score.Indicators {
		v := view(p.Lang, e.Catalog, s)
		v.withTrend(p.Lang, e.Catalog, p.Title, trends[s.Code])
		v.EventsURL = p.Link("/units/" + prov.Code + "/" + s.Code)
		ov.Inds = append(ov.Inds, v)
	}
	for _, l := range p.Levels {
		ls, err := b.level(ctx, registry.Level(l), q)
		if err != nil {
			b.fail(w, r, err)
			return
		}
		ov.Levels = append(ov.Levels, b.counts(p, l, ls))
	}
	if ov.Silence, err = b.silence(ctx, p, q, ""); err != nil {
		b.fail(w, r, err)
		return
	}
	p.Fresh = fresh()
	p.Body = ov
	b.respond(w, r, p, "overview", "cds-"+prov.Code+"-"+score.AsOf+".csv", func() [][]string { return indicatorRows(p, ov.Inds) })
}

// counts tallies the units of a level per indicator and status.
func (b *Board) counts(p *page, level string, ls *scores.LevelScores) levelCounts {
	lc := levelCounts{Level: level, URL: p.Link("/", "level", level), Units: len(ls.Units)}
	index := map[string]int{}
	for _, ind := range b.cfg.Engine.Catalog.Indicators() {
		if !ind.AppliesTo(registry.Level(level)) {
			continue
		}
		index[ind.Code] = len(lc.Rows)
		lc.Rows = append(lc.Rows, countRow{Code: ind.Code, Short: shortName(p.Lang, ind.Code), Counts: make([]int, len(statuses))})
	}
	for _, u := range ls.Units {
		for _, s := range u.Indicators {
			k, ok := index[s.Code]
			if !ok {
				continue
			}
			for j, st := range statuses {
				if s.Status == st {
					lc.Rows[k].Counts[j]++
				}
			}
		}
	}
	for k := range lc.Rows {
		lc.Rows[k].Bar = statusBar(lc.Rows[k].Counts, lc.Rows[k].Short)
	}
	return lc
}

type silenceView struct {
	Days  int
	Since string
	Units []silentUnit
	More  int
}

type silentUnit struct {
	Code, Name, URL, Level, Last string
	Inds                         []silentInd
	last                         time.Time
}

type silentInd struct{ Code, Short string }

// maxSilent caps the units listed in the panel; the rest are counted.
const maxSilent = 12

func (b *Board) silence(ctx context.Context, p *page, q scores.Query, level registry.Level) (*silenceView, error) {
	s, err := b.cfg.Days.SilenceAt(ctx, level, q.AsOf, b.cfg.SilenceDays)
	if err != nil {
		return nil, err
	}
	v := &silenceView{Days: s.Days, Since: s.Since}
	index := map[string]int{}
	for _, x := range s.Silent {
		// Only indicators counted day by day: a stock (services) or a
		// yearly report is not expected every month.
		if ind, ok := b.cfg.Engine.Catalog.Indicator(x.Indicator); !ok || ind.Kind != catalog.KindFlowRatio {
			continue
		}
		k, ok := index[x.Unit]
		if !ok {
			u, _ := b.cfg.Engine.Registry.Unit(x.Unit)
			k = len(v.Units)
			index[x.Unit] = k
			v.Units = append(v.Units, silentUnit{Code: x.Unit, Name: unitName(p.Lang, u), URL: p.Link("/units/" + x.Unit), Level: x.Level})
		}
		if x.LastEvent != nil && (v.Units[k].last.IsZero() || x.LastEvent.After(v.Units[k].last)) {
			v.Units[k].last = *x.LastEvent
		}
		v.Units[k].Inds = append(v.Units[k].Inds, silentInd{Code: x.Indicator, Short: shortName(p.Lang, x.Indicator)})
	}
	// Units silent on the most indicators first, then the longest silent.
	sort.SliceStable(v.Units, func(i, j int) bool {
		a, c := v.Units[i], v.Units[j]
		if len(a.Inds) != len(c.Inds) {
			return len(a.Inds) > len(c.Inds)
		}
		return a.last.Before(c.last)
	})
	for k := range v.Units {
		v.Units[k].Last = t(p.Lang, "silence.never")
		if !v.Units[k].last.IsZero() {
			v.Units[k].Last = registry.DateOf(v.Units[k].last).String()
		}
	}
	if len(v.Units) > maxSilent {
		v.More = len(v.Units) - maxSilent
		v.Units = v.Units[:maxSilent]
	}
	return v, nil
}

type leagueView struct {
	Level        string
	Cols         []colView
	Rows         []rowView
	Total        int
	Sort, Dir    string
	Show         string
	N            int
	PrevMonthEnd string
	Silence      *silenceView
	RankCol      colView
	NameCol      colView
	CompCol      colView
	ChangeCol    colView
}

type colView struct {
	Key, Label, Title, URL, Aria string
}

type rowView struct {
	Rank            int
	Change          string // "▲ 2", "▼ 1", "=", "mới"
	ChangeWord      string
	ChangeV         int
	Unit, Name, URL string
	Composite       string
	CompositeV      float64
	Meter           template.HTML
	Cells           []indView
	NoRank          bool
}

func (b *Board) league(w http.ResponseWriter, r *http.Request, prm params) {
	ctx := r.Context()
	fresh := b.freshness(ctx)
	e := b.cfg.Engine
	q := b.resolve(prm.q)
	asOf := q.AsOf
	ls, err := b.level(ctx, registry.Level(prm.level), q)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	p := b.newPage(r, "league")
	p.at(ls.AsOf, ls.Milestone)
	p.Level = prm.level
	p.Title = t(p.Lang, "league") + ": " + levelWord(p.Lang, prm.level)
	prev := PreviousMonthEnd(asOf)
	before, err := b.level(ctx, registry.Level(prm.level), scores.Query{AsOf: prev, Milestone: q.Milestone})
	if err != nil {
		b.fail(w, r, err)
		return
	}
	lv := leagueView{Level: prm.level, Total: len(ls.Units), Sort: prm.sort, Dir: prm.dir, Show: prm.show, N: prm.n, PrevMonthEnd: prev.String()}
	if lv.Sort == "" {
		lv.Sort, lv.Dir = "rank", "asc"
	}
	lv.Rows = leagueRows(p, e, ls, before)
	sortCol := func(key, label, title string) colView {
		c := colView{Key: key, Label: label, Title: title, Aria: "none"}
		dir := "desc"
		if key == "rank" || key == "name" {
			dir = "asc"
		}
		if lv.Sort == key {
			c.Aria = map[string]string{"asc": "ascending", "desc": "descending"}[lv.Dir]
			dir = map[string]string{"asc": "desc", "desc": "asc"}[lv.Dir]
		}
		c.URL = p.Here("sort", key, "dir", dir, "format", "")
		return c
	}
	lv.RankCol = sortCol("rank", t(p.Lang, "rank"), "")
	lv.ChangeCol = sortCol("change", t(p.Lang, "rank.change.s"), t(p.Lang, "rank.change")+" ("+prev.String()+")")
	lv.NameCol = sortCol("name", t(p.Lang, "unit"), "")
	lv.CompCol = sortCol("composite", t(p.Lang, "composite"), "")
	for _, ind := range e.Catalog.Indicators() {
		if ind.AppliesTo(registry.Level(prm.level)) {
			lv.Cols = append(lv.Cols, sortCol(ind.Code, shortName(p.Lang, ind.Code), indName(p.Lang, ind)))
		}
	}
	sortRows(lv.Rows, lv.Sort, lv.Dir)
	switch prm.show {
	case "top":
		lv.Rows = lv.Rows[:min(prm.n, len(lv.Rows))]
	case "bottom":
		lv.Rows = lv.Rows[max(0, len(lv.Rows)-prm.n):]
	}
	if lv.Silence, err = b.silence(ctx, p, q, registry.Level(prm.level)); err != nil {
		b.fail(w, r, err)
		return
	}
	p.Fresh = fresh()
	p.Body = lv
	b.respond(w, r, p, "league", "cds-"+prm.level+"-"+ls.AsOf+".csv", func() [][]string { return leagueCSV(p, lv) })
}

// leagueRows makes the rows of a league table, with the rank change since
// the level's scores before (nil: none known).
func leagueRows(p *page, e *scores.Engine, ls, before *scores.LevelScores) []rowView {
	prevRank := map[string]int{}
	if before != nil {
		for _, u := range before.Units {
			prevRank[u.Unit] = u.Rank
		}
	}
	var rows []rowView
	for _, u := range ls.Units {
		reg, _ := e.Registry.Unit(u.Unit)
		row := rowView{Rank: u.Rank, Unit: u.Unit, Name: unitName(p.Lang, reg), URL: p.Link("/units/" + u.Unit),
			Composite: num(p.Lang, u.Composite*100, 1), CompositeV: u.Composite, Meter: meter(u.Composite)}
		pr, ok := prevRank[u.Unit]
		row.Change, row.ChangeWord, row.ChangeV = rankChange(p.Lang, pr, ok, u.Rank)
		for _, s := range u.Indicators {
			row.Cells = append(row.Cells, view(p.Lang, e.Catalog, s))
		}
		rows = append(rows, row)
	}
	return rows
}

// rankChange describes a move from rank before (known: ok) to rank now:
// places gained are positive.
func rankChange(lang string, before int, ok bool, now int) (sign, word string, v int) {
	if !ok {
		return t(lang, "rank.new"), t(lang, "rank.new"), 0
	}
	v = before - now
	switch {
	case v > 0:
		return "▲ " + strconv.Itoa(v), t(lang, "rank.up") + " " + strconv.Itoa(v), v
	case v < 0:
		return "▼ " + strconv.Itoa(-v), t(lang, "rank.down") + " " + strconv.Itoa(-v), v
	}
	return "=", t(lang, "rank.same"), 0
}

// sortRows orders the league: by rank, name, composite, rank change or an
// indicator's value (no data last whatever the direction); ties by rank.
func sortRows(rows []rowView, key, dir string) {
	val := func(r rowView) (float64, bool) {
		switch key {
		case "rank":
			return float64(r.Rank), true
		case "composite":
			return r.CompositeV, true
		case "change":
			return float64(r.ChangeV), true
		}
		for _, c := range r.Cells {
			if c.Code == key {
				if c.Value == "" {
					return 0, false
				}
				f, _ := strconv.ParseFloat(c.SortValue, 64)
				return f, true
			}
		}
		return 0, false
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if key == "name" {
			if dir == "desc" {
				return strings.ToLower(rows[i].Name) > strings.ToLower(rows[j].Name)
			}
			return strings.ToLower(rows[i].Name) < strings.ToLower(rows[j].Name)
		}
		a, okA := val(rows[i])
		c, okC := val(rows[j])
		switch {
		case okA != okC:
			return okA
		case a == c:
			return rows[i].Rank < rows[j].Rank
		case dir == "asc":
			return a < c
		}
		return a > c
	})
}

type unitView struct {
	Unit      registry.Unit
	Name      string
	Score     *scores.UnitScore
	Composite string
	Inds      []indView
	Parent    *crumb
	Children  []crumb
	Successor *crumb
	Ended     bool
	ValidFrom string
	ValidTo   string
	EndedURL  string
	NotIn     bool
}

// family links the unit's successor (when it has ended), its parent (also
// a crumb of p) and its children at asOf.
func (uv *unitView) family(p *page, reg *registry.Registry, asOf registry.Date) {
	u := uv.Unit
	if !u.ValidTo.IsZero() {
		uv.Ended = u.ValidTo.Before(asOf) || !u.InForce(asOf)
		if succ, ok := reg.Unit(u.Successor); ok {
			uv.Successor = &crumb{Name: unitName(p.Lang, succ), URL: p.Link("/units/" + succ.Code)}
		}
	}
	if pc, ok := reg.ParentAt(u.Code, asOf); ok {
		pu, _ := reg.Unit(pc)
		uv.Parent = &crumb{Name: unitName(p.Lang, pu), URL: p.Link("/units/" + pc)}
		p.Crumbs = append(p.Crumbs, *uv.Parent)
	}
	for _, c := range reg.InForce(asOf) {
		if pc, ok := reg.ParentAt(c.Code, asOf); ok && pc == u.Code {
			uv.Children = append(uv.Children, crumb{Name: unitName(p.Lang, c), URL: p.Link("/units/" + c.Code)})
		}
	}
}

func (b *Board) unit(w http.ResponseWriter, r *http.Request) {
	prm, err := parseParams(r)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	e := b.cfg.Engine
	u, ok := e.Registry.Unit(r.PathValue("code"))
	if !ok {
		b.message(w, r, http.StatusNotFound, "notfound", "notfound.lead")
		return
	}
	if r, err = b.begin(r); err != nil {
		b.fail(w, r, err)
		return
	}
	ctx := r.Context()
	fresh := b.freshness(ctx)
	p := b.newPage(r, "unit")
	p.Title = unitName(p.Lang, u)
	q := b.resolve(prm.q)
	asOf := q.AsOf
	uv := unitView{Unit: u, Name: p.Title, ValidFrom: u.ValidFrom.String(), ValidTo: u.ValidTo.String()}
	var score *scores.UnitScore
	if u.InForce(asOf) {
		score, err = b.unitScore(ctx, u, q)
	} else {
		err = scores.ErrUnitNotInForce
	}
	switch {
	case errors.Is(err, scores.ErrUnitNotInForce):
		uv.NotIn = true
		p.at(asOf.String(), q.Milestone)
		if !u.ValidTo.IsZero() {
			uv.EndedURL = p.Link("/units/"+u.Code, "as_of", u.ValidTo.String())
		}
	case err != nil:
		b.fail(w, r, err)
		return
	default:
		p.at(score.AsOf, score.Milestone)
		uv.Score = score
		uv.Composite = num(p.Lang, score.Composite*100, 1)
		trends, err := b.cfg.Trends.UnitTrends(ctx, u.Code, score.Milestone, asOf)
		if err != nil {
			b.fail(w, r, err)
			return
		}
		for _, s := range score.Indicators {
			v := view(p.Lang, e.Catalog, s)
			v.withTrend(p.Lang, e.Catalog, p.Title, trends[s.Code])
			v.EventsURL = p.Link("/units/" + u.Code + "/" + s.Code)
			uv.Inds = append(uv.Inds, v)
		}
	}
	uv.family(p, e.Registry, asOf)
	p.Level = string(u.Level)
	p.Fresh = fresh()
	p.Body = uv
	var rows func() [][]string // no CSV for a unit without indicators
	if len(uv.Inds) > 0 {
		rows = func() [][]string { return indicatorRows(p, uv.Inds) }
	}
	b.respond(w, r, p, "unit", "cds-"+u.Code+"-"+p.AsOf+".csv", rows)
}

type drillView struct {
	Unit       crumb
	Ind        indView
	Total      uint64
	From, To   int
	Events     []evView
	SQL        string
	Prev, Next string
}

type evView struct{ At, ID, Type, Agency, Key, Contrib, Data string }

// drillPage is how many events one page of the drill-down lists.
const drillPage = 50

func (b *Board) drill(w http.ResponseWriter, r *http.Request) {
	prm, err := parseParams(r)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	e := b.cfg.Engine
	code := r.PathValue("code")
	u, ok := e.Registry.Unit(code)
	if !ok {
		b.message(w, r, http.StatusNotFound, "notfound", "notfound.lead")
		return
	}
	if r, err = b.begin(r); err != nil {
		b.fail(w, r, err)
		return
	}
	q := b.resolve(prm.q)
	fresh := b.freshness(r.Context())
	d, err := b.cfg.Days.EventsAt(r.Context(), code, r.PathValue("indicator"), q.Milestone, q.AsOf, prm.offset, drillPage)
	if err != nil {
		b.fail(w, r, err)
		return
	}
	p := b.newPage(r, "events.title")
	p.at(d.AsOf, d.Milestone)
	p.Level = string(u.Level)
	dv := drillView{Unit: crumb{Name: unitName(p.Lang, u), URL: p.Link("/units/" + code)}, Total: d.Total, SQL: d.SQL}
	dv.Ind = view(p.Lang, e.Catalog, *d.Score)
	p.Title = dv.Ind.Name + " — " + dv.Unit.Name
	p.Crumbs = []crumb{dv.Unit}
	for _, ev := range d.Events {
		dv.Events = append(dv.Events, evView{
			At: ev.OccurredAt.In(events.Zone).Format("2006-01-02 15:04"), ID: ev.ID, Type: ev.Type, Agency: ev.Agency, Key: ev.Key,
			Contrib: num(p.Lang, ev.Numerator, 2) + " / " + num(p.Lang, ev.Denominator, 2), Data: string(ev.Data),
		})
	}
	dv.From, dv.To = d.Offset+1, d.Offset+len(d.Events)
	if d.Offset > 0 {
		dv.Prev = p.Here("offset", strconv.Itoa(max(0, d.Offset-drillPage)))
	}
	if uint64(d.Offset+len(d.Events)) < d.Total {
		dv.Next = p.Here("offset", strconv.Itoa(d.Offset+drillPage))
	}
	p.Fresh = fresh()
	p.Body = dv
	b.respond(w, r, p, "drill", "cds-"+code+"-"+d.Indicator+"-"+d.AsOf+".csv", func() [][]string {
		rows := [][]string{{"occurred_at", "id", "type", "agency", "key", "numerator", "denominator", "data"}}
		for _, ev := range d.Events {
			rows = append(rows, []string{ev.OccurredAt.Format("2006-01-02T15:04:05-07:00"), ev.ID, ev.Type, ev.Agency, ev.Key,
				fmtFloat(ev.Numerator), fmtFloat(ev.Denominator), string(ev.Data)})
		}
		return rows
	})
}

func unitName(lang string, u registry.Unit) string {
	if lang == LangEN && u.NameEN != "" {
		return u.NameEN
	}
	return u.Name
}
