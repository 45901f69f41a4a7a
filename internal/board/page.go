package board

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// page is what the layout template renders around a page's Body.
type page struct {
	Lang       string
	TitleKey   string
	Title      string // overrides TitleKey
	AsOf       string
	Milestone  int
	Milestones []int
	Level      string
	Levels     []string
	Fresh      *freshView
	CSS, JS    string
	Icon       string
	Path       string
	CSV        string // the page's CSV link, "" for none
	Crumbs     []crumb
	Body       any
	// keep are the parameters every link carries on: lang, as_of, milestone.
	keep  url.Values
	query url.Values
}

type crumb struct{ Name, URL string }

func (b *Board) newPage(r *http.Request, titleKey string) *page {
	p := &page{Lang: LangVI, TitleKey: titleKey, CSS: b.css, JS: b.js, Icon: b.icon, Path: r.URL.Path, keep: url.Values{}, query: r.URL.Query()}
	if p.query.Get("lang") == LangEN {
		p.Lang = LangEN
		p.keep.Set("lang", LangEN)
	}
	for _, l := range registry.Levels() {
		if l != registry.LevelProvince {
			p.Levels = append(p.Levels, string(l))
		}
	}
	p.Milestones = b.cfg.Engine.Catalog.Milestones()
	return p
}

// at records the date and milestone the page shows; links carry them on.
func (p *page) at(asOf string, milestone int) {
	p.AsOf, p.Milestone = asOf, milestone
	p.keep.Set("as_of", asOf)
	p.keep.Set("milestone", strconv.Itoa(milestone))
}

// T is the word for key in the page's language.
func (p *page) T(key string) string { return t(p.Lang, key) }

// HeadTitle is the text of <title> and <h1>.
func (p *page) HeadTitle() string {
	if p.Title != "" {
		return p.Title
	}
	return p.T(p.TitleKey)
}

// StatusWord and StatusIcon name a status in words and with an icon.
func (p *page) StatusWord(s string) string { return statusWord(p.Lang, s) }

// StatusIcon is the status's icon (shown next to its word, never alone).
func (p *page) StatusIcon(s string) string { return statusIcons[s] }

// LevelName names a level in the page's language.
func (p *page) LevelName(l string) string { return levelWord(p.Lang, l) }

// LevelOne names the level of one unit.
func (p *page) LevelOne(l string) string { return levelSingular(p.Lang, l) }

// Link is path with the carried parameters and kv (name, value pairs; an
// empty value removes the name).
func (p *page) Link(path string, kv ...string) string {
	return url2(path, withPairs(p.keep, kv))
}

// Here is this page with its query changed by kv.
func (p *page) Here(kv ...string) string {
	return url2(p.Path, withPairs(p.query, kv))
}

// withPairs is a copy of base with kv applied: name, value pairs, an empty
// value removing the name.
func withPairs(base url.Values, kv []string) url.Values {
	v := url.Values{}
	for k, vs := range base {
		v[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// OtherLang is this page in the other language.
func (p *page) OtherLang() string {
	if p.Lang == LangEN {
		return p.Here("lang", "")
	}
	return p.Here("lang", LangEN)
}

// League reports whether the page is a league table.
func (p *page) League() bool {
	_, ok := p.Body.(leagueView)
	return ok
}

// IsEN reports whether the page is in English.
func (p *page) IsEN() bool { return p.Lang == LangEN }

// statusArg and cardArg carry the page into the "status" and "indcard"
// templates.
type statusArg struct {
	P *page
	S string
}

type cardArg struct {
	P *page
	I indView
}

var funcs = template.FuncMap{
	"st":   func(p *page, s string) statusArg { return statusArg{p, s} },
	"card": func(p *page, i indView) cardArg { return cardArg{p, i} },
}

// Pct writes a 0–1 share as a number out of 100 with one decimal.
func (p *page) Pct(v float64) string { return num(p.Lang, v*100, 1) }

// Statuses are the statuses the counts are kept for, in order.
func (p *page) Statuses() []string { return statuses }

// SortLabel names the league table's sort column.
func (p *page) SortLabel() string {
	lv, ok := p.Body.(leagueView)
	if !ok {
		return ""
	}
	for _, c := range append([]colView{lv.RankCol, lv.ChangeCol, lv.NameCol, lv.CompCol}, lv.Cols...) {
		if c.Key == lv.Sort {
			return c.Label
		}
	}
	return lv.Sort
}

// indView is one indicator of a unit as the pages show it.
type indView struct {
	Code, Name, Short string
	Value             string // "" when there is no data
	NumDen            string
	Target            string
	Expected          string
	Status            string
	Period            string
	Attainment        string
	Chart             template.HTML
	Trend             []trendRow
	Gap               string
	GapRule           bool // a gap is stated: show the rule
	EventsURL         string
	SortValue         string
}

type trendRow struct{ AsOf, Value, Target, Expected, Status string }

var comparisonSigns = map[string]string{"gte": "≥ ", "gt": "> ", "lte": "≤ ", "lt": "< ", "approx": "≈ "}

// view formats an indicator score of unit at milestone.
func view(lang string, cat *catalog.Catalog, s scores.IndicatorScore) indView {
	ind, _ := cat.Indicator(s.Code)
	m := ind.Kind.Measure()
	v := indView{Code: s.Code, Name: indName(lang, ind), Short: shortName(lang, s.Code), Status: s.Status, Period: period(lang, s.Period), SortValue: "-1"}
	if s.Value != nil {
		v.Value = measureValue(lang, m, *s.Value)
		v.SortValue = strconv.FormatFloat(*s.Value, 'g', 10, 64)
		if ind.Direction == catalog.Lower {
			v.SortValue = strconv.FormatFloat(-*s.Value, 'g', 10, 64)
		}
	}
	if s.Numerator != nil && s.Denominator != nil && m != catalog.MeasureCount && m != catalog.MeasureRank {
		v.NumDen = num(lang, *s.Numerator, 2) + " / " + num(lang, *s.Denominator, 2)
	}
	if s.Target != nil {
		v.Target = comparisonSigns[s.Comparison] + measureValue(lang, m, *s.Target)
	}
	if s.Expected != nil {
		v.Expected = measureValue(lang, m, *s.Expected)
	}
	if s.Status != scores.StatusNoTarget {
		v.Attainment = num(lang, s.Attainment*100, 0) + " %"
	}
	v.Gap = gapText(lang, s, m)
	v.GapRule = s.WhatItTakes != nil
	return v
}

// withTrend adds the trend chart and its table.
func (v *indView) withTrend(lang string, cat *catalog.Catalog, unitName string, pts []TrendPoint) {
	ind, _ := cat.Indicator(v.Code)
	m := ind.Kind.Measure()
	c := chart{ID: "c-" + v.Code, Lang: lang, Measure: m, Lower: ind.Direction == catalog.Lower, Points: pts,
		Title: v.Name + " — " + unitName}
	var first, last *TrendPoint
	for i := range pts {
		p := &pts[i]
		row := trendRow{AsOf: p.AsOf.String(), Status: p.Status, Value: t(lang, "nodata")}
		if p.Value != nil {
			row.Value = measureValue(lang, m, *p.Value)
			if first == nil {
				first = p
			}
			last = p
		}
		if p.Target != nil {
			row.Target = measureValue(lang, m, *p.Target)
		}
		if p.Expected != nil {
			row.Expected = measureValue(lang, m, *p.Expected)
		}
		v.Trend = append(v.Trend, row)
	}
	if first == nil {
		return
	}
	c.Desc = t(lang, "trend.value") + ": " + measureValue(lang, m, *first.Value) + " (" + first.AsOf.String() + ") → " +
		measureValue(lang, m, *last.Value) + " (" + last.AsOf.String() + ")"
	if tg := pts[len(pts)-1].Target; tg != nil {
		c.Desc += "; " + t(lang, "trend.target") + ": " + measureValue(lang, m, *tg)
	}
	c.Desc += "; " + statusWord(lang, pts[len(pts)-1].Status) + "."
	v.Chart = c.svg()
}

// gapText states what it takes, in words, from the score's Gap.
func gapText(lang string, s scores.IndicatorScore, m catalog.Measure) string {
	g := s.WhatItTakes
	if g == nil {
		if s.Status == scores.StatusMet {
			return t(lang, "wit.met")
		}
		return ""
	}
	en := lang == LangEN
	noun, crit := workWords(lang, s.Code)
	target := ""
	if s.Target != nil {
		target = measureValue(lang, m, *s.Target)
	}
	by := g.By
	if g.Need == nil {
		if en {
			return "No data: nothing has been reported for this indicator in the period, so the distance to " + target + " cannot be measured."
		}
		return "Chưa có số liệu: đơn vị chưa báo cáo chỉ tiêu này trong kỳ, nên chưa đo được khoảng cách đến " + target + "."
	}
	need := num(lang, *g.Need, 2)
	switch {
	case g.Of != nil: // a flow
		of, pace := num(lang, *g.Of, 0), ""
		if g.Pace != nil {
			pace = measureValue(lang, catalog.MeasureRatio, *g.Pace)
		}
		share := ""
		if g.Share != nil {
			share = measureValue(lang, catalog.MeasureRatio, *g.Share)
		}
		if !g.Reachable {
			if en {
				return "Out of reach by " + by + ": to reach " + target + ", " + need + " more " + noun + " would have to be " + crit + ", but only about " + of + " are expected by then (the pace so far: " + pace + ")."
			}
			return "Không thể đạt " + target + " vào " + by + " với nhịp hiện nay: cần thêm " + need + " " + noun + " " + crit + ", nhưng từ nay đến đó chỉ dự kiến có khoảng " + of + " (tỷ lệ đến nay: " + pace + ")."
		}
		if en {
			return "To reach " + target + " by " + by + ", " + need + " of the about " + of + " " + noun + " expected by then must be " + crit + " (" + share + "; the pace so far: " + pace + ")."
		}
		return "Để đạt " + target + " vào " + by + ", cần " + need + " trong khoảng " + of + " " + noun + " dự kiến phát sinh từ nay đến đó được " + crit + " (" + share + "; tỷ lệ đến nay: " + pace + ")."
	case g.Measure == scores.GapPlaces:
		if en {
			return "Climb " + need + " places by " + by + " to reach " + target + "."
		}
		return "Cần tăng " + need + " bậc trước " + by + " để đạt " + target + "."
	case g.Measure == scores.GapAmount:
		if en {
			return need + " more " + noun + " needed to reach " + target + "."
		}
		return "Cần thêm " + need + " " + noun + " để đạt " + target + "."
	case s.Kind == string(catalog.KindCount):
		out := ""
		if en {
			out = need + " more " + noun + " needed by " + by + " to reach " + target + "."
			if g.Pace != nil {
				out += " At the pace since the baseline there will be about " + num(lang, *g.Pace, 0) + " by then."
			}
		} else {
			out = "Cần thêm " + need + " " + noun + " trước " + by + " để đạt " + target + "."
			if g.Pace != nil {
				out += " Theo nhịp từ mốc cơ sở, đến khi đó sẽ có khoảng " + num(lang, *g.Pace, 0) + "."
			}
		}
		return out
	default: // a stock
		if en {
			return need + " more " + noun + " " + crit + " needed to reach " + target + " by " + by + "."
		}
		return "Cần thêm " + need + " " + noun + " " + crit + " để đạt " + target + " trước " + by + "."
	}
}
