package simulate

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/bacgiang/cds/internal/registry"
)

// Generator is the model of the province: it produces the events of one
// simulated day at a time. It is deterministic for a given registry and
// Config (Start, Rate, Seed) and touches no network. It is not safe for
// concurrent use.
type Generator struct {
	reg      *registry.Registry
	rate     float64
	seed     uint64
	start    time.Time
	province string // code of the province unit, "" when the registry has none

	agencies map[string]*agency
	pools    map[registry.Level][]string
	stats    *provinceStats
	last     registry.Date // the last day generated
}

// NewGenerator returns a Generator over reg; it uses cfg.Start, cfg.Rate and
// cfg.Seed (zero values mean the defaults, so a zero Seed is random).
func NewGenerator(reg *registry.Registry, cfg Config) (*Generator, error) {
	if reg == nil {
		return nil, fmt.Errorf("simulate: no registry")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		reg:      reg,
		rate:     cfg.Rate,
		seed:     cfg.Seed,
		start:    cfg.Start,
		agencies: make(map[string]*agency),
		pools:    make(map[registry.Level][]string),
	}
	for _, u := range reg.Units() {
		if u.Level == registry.LevelProvince {
			g.province = u.Code
			break
		}
	}
	g.stats = &provinceStats{rng: g.rand("province"), next: make(map[string]int)}
	return g, nil
}

// Seed returns the seed in use, which is random when Config.Seed was zero.
func (g *Generator) Seed() uint64 { return g.seed }

// Day returns the events of day d in order of occurred_at. Days must be
// asked for in increasing order (a day that is not after the last one
// returns nil); a day skipped is not generated, but schedules that fell due
// in it (service upgrades, yearly reports) catch up. On the first day,
// events fall between Config.Start and midnight.
//
// Every event's occurred_at is within day d, except a correction's, which
// keeps the occurred_at of the event it corrects (an earlier day, at times).
func (g *Generator) Day(d registry.Date) []Event {
	if !g.last.IsZero() && !d.After(g.last) {
		return nil
	}
	g.last = d
	c := &day{date: d, from: d.Start(), to: d.AddDays(1).Start(), g: g}
	if g.start.After(c.from) && g.start.Before(c.to) {
		c.from = g.start
	}
	for _, u := range g.reg.InForce(d) {
		prof := profiles[u.Level]
		if prof == nil {
			continue
		}
		a, ok := g.agencies[u.Code]
		if !ok {
			a = g.newAgency(u, prof, d)
			g.agencies[u.Code] = a
			a.openCatalogue(c)
		}
		a.day(c)
	}
	g.stats.day(c)
	slices.SortStableFunc(c.out, func(a, b Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	return c.out
}

// day is the day being generated.
type day struct {
	date     registry.Date
	from, to time.Time // events fall in [from, to)
	g        *Generator
	out      []Event
}

// at returns the time offset after midnight, rescaled into [from, to) on a
// first day that starts after midnight, so order and proportions are kept.
func (c *day) at(offset time.Duration) time.Time {
	midnight := c.date.Start()
	if !c.from.After(midnight) {
		return midnight.Add(offset)
	}
	span := c.to.Sub(c.from)
	return c.from.Add(time.Duration(float64(offset) / float64(24*time.Hour) * float64(span))).Truncate(time.Second)
}

// rand returns a random stream of its own for name, so that what one agency
// draws does not depend on what the others do.
func (g *Generator) rand(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(g.seed, h.Sum64()))
}

// unit01 is a deterministic number in [0, 1) for key and year, for yearly
// figures that must not depend on the order days are generated in.
func (g *Generator) unit01(key string, year int) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", key, year)
	x := splitmix64(g.seed ^ h.Sum64())
	return float64(x>>11) / (1 << 53)
}

// noise is a deterministic number in [-1, 1) for key and year.
func (g *Generator) noise(key string, year int) float64 { return 2*g.unit01(key, year) - 1 }

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// reporter returns who publishes figures that unit code is responsible for
// on day d: the envelope's agency is the province when code reports for it,
// else code itself. ok is false when code is not in force.
func (g *Generator) reporter(code string, d registry.Date) (agency string, ok bool) {
	u, found := g.reg.Unit(code)
	if !found || !u.InForce(d) {
		return "", false
	}
	if g.province != "" && g.reg.MayReportFor(code, g.province) {
		return g.province, true
	}
	return code, true
}

// pool returns the shared procedure codes of a level.
func (g *Generator) pool(level registry.Level, size int) []string {
	if p, ok := g.pools[level]; ok {
		return p
	}
	rng := g.rand("pool/" + string(level))
	seen := make(map[string]bool, size)
	p := make([]string, 0, size)
	for len(p) < size {
		if c := serviceCode(rng); !seen[c] {
			seen[c] = true
			p = append(p, c)
		}
	}
	g.pools[level] = p
	return p
}

// serviceCode returns a code in the form of the national procedure database,
// e.g. "1.004227".
func serviceCode(rng *rand.Rand) string {
	return fmt.Sprintf("%d.%06d", 1+rng.IntN(2), 1000+rng.IntN(12000))
}

// poisson draws from a Poisson distribution of mean lambda.
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	limit, p := math.Exp(-lambda), 1.0
	for k := 0; ; k++ {
		p *= rng.Float64()
		if p <= limit {
			return k
		}
	}
}

// officeHours draws a time of day in Vietnamese government working hours,
// 07:30-11:30 and 13:30-17:00.
func officeHours(rng *rand.Rand) time.Duration {
	m := rng.IntN(450)
	start := 7*time.Hour + 30*time.Minute
	if m >= 240 {
		start, m = 13*time.Hour+30*time.Minute, m-240
	}
	return start + time.Duration(m)*time.Minute + time.Duration(rng.IntN(60))*time.Second
}

// waking draws a time of day between 06:00 and 23:00, when citizens use
// online services.
func waking(rng *rand.Rand) time.Duration {
	return 6*time.Hour + time.Duration(rng.IntN(17*3600))*time.Second
}

// agency is the state of one unit that emits events.
type agency struct {
	code     string
	name     string
	prefix   string // upper-case code without the province prefix, for entity ids
	prof     *profile
	rng      *rand.Rand
	offset   float64 // from the level's curves
	lateDays int     // on the level's level4By

	services     []*service
	codes        map[string]bool // every service code ever used
	openDataFrom registry.Date
	datasets     int
	seqYear      int
	seq          map[string]int
	recent       map[string][]*Event // correctable events by type, newest last
}

func (g *Generator) newAgency(u registry.Unit, prof *profile, first registry.Date) *agency {
	rng := g.rand("agency/" + u.Code)
	a := &agency{
		code:   u.Code,
		name:   u.Name,
		prefix: strings.ToUpper(strings.TrimPrefix(u.Code, g.province+"-")),
		prof:   prof,
		rng:    rng,
		codes:  make(map[string]bool),
		seq:    make(map[string]int),
		recent: make(map[string][]*Event),
	}
	a.offset = (rng.Float64() + rng.Float64() - 1) * prof.spread
	if rng.Float64() < prof.lagShare {
		a.offset -= prof.lagBy
		a.lateDays = 120 + rng.IntN(lateMaxDays-120)
	} else {
		a.lateDays = rng.IntN(180) - 90
	}
	span := prof.openData[1].Sub(prof.openData[0])
	a.openDataFrom = prof.openData[0].AddDays(rng.IntN(span + 1))
	if a.lateDays > 0 {
		a.openDataFrom = a.openDataFrom.AddDays(a.lateDays / 2)
	}
	if a.openDataFrom.Before(first) {
		a.openDataFrom = first
	}
	return a
}

// share is the agency's value of trend t on day d.
func (a *agency) share(t trend, d registry.Date) float64 {
	return clamp(t.at(d)+a.offset, 0.02, 1)
}

func (a *agency) chance(p float64) bool { return a.rng.Float64() < p }

// key returns the next entity id of a kind for the year, e.g.
// "VIETYEN-2025-000123" (kind "") or "VIETYEN-BC-2025-0012".
func (a *agency) key(kind string, year, width int) string {
	if year != a.seqYear {
		a.seqYear = year
		clear(a.seq)
	}
	a.seq[kind]++
	if kind == "" {
		return fmt.Sprintf("%s-%d-%0*d", a.prefix, year, width, a.seq[kind])
	}
	return fmt.Sprintf("%s-%s-%d-%0*d", a.prefix, kind, year, width, a.seq[kind])
}

// flow is a kind of event an agency emits at a rate, each one a new entity.
type flow struct {
	typ    string
	rate   func(*profile) float64
	factor func(registry.Date) float64
	hours  func(*rand.Rand) time.Duration
	data   func(a *agency, d registry.Date) map[string]any
}

var flows = []flow{
	{
		typ: "workfile.processed", rate: func(p *profile) float64 { return p.workfiles }, factor: weekdayFactor, hours: officeHours,
		data: func(a *agency, d registry.Date) map[string]any {
			return map[string]any{"workfile_id": a.key("", d.Year(), 6), "online": a.chance(a.share(a.prof.online, d))}
		},
	},
	{
		typ: "auth.recorded", rate: func(p *profile) float64 { return p.sessions }, factor: sessionFactor, hours: waking,
		data: func(a *agency, d registry.Date) map[string]any {
			kind, p := "citizen", authenticated.at(d)+a.offset/2
			if a.chance(a.prof.business) {
				kind, p = "business", p+0.05
			}
			return map[string]any{"session_id": fmt.Sprintf("%s-%016x", a.prefix, a.rng.Uint64()), "user_kind": kind, "authenticated": a.chance(clamp(p, 0.02, 1))}
		},
	},
	{
		typ: "report.submitted", rate: func(p *profile) float64 { return p.reports }, factor: weekdayFactor, hours: officeHours,
		data: func(a *agency, d registry.Date) map[string]any {
			return map[string]any{"report_id": a.key("BC", d.Year(), 4), "regime": a.regime(d), "via_system": a.chance(a.share(a.prof.viaSystem, d))}
		},
	},
	{
		typ: "inspection.completed", rate: func(p *profile) float64 { return p.inspections }, factor: weekdayFactor, hours: officeHours,
		data: func(a *agency, d registry.Date) map[string]any {
			return map[string]any{"inspection_id": a.key("TT", d.Year(), 4), "digital": a.chance(a.share(a.prof.digital, d))}
		},
	},
}

func (a *agency) regime(d registry.Date) string {
	var total float64
	for _, r := range regimes {
		total += r.weight(d)
	}
	x := a.rng.Float64() * total
	for _, r := range regimes {
		if x -= r.weight(d); x < 0 {
			return r.name
		}
	}
	return regimes[0].name
}

// fixes say how a correction changes the data of each correctable type.
var fixes = map[string]func(map[string]any){
	"workfile.processed":   flip("online"),
	"auth.recorded":        flip("authenticated"),
	"report.submitted":     flip("via_system"),
	"inspection.completed": flip("digital"),
	"opendata.published": func(m map[string]any) {
		const note = " (đính chính)"
		if t, _ := m["title"].(string); !strings.HasSuffix(t, note) {
			m["title"] = t + note
		}
	},
}

func flip(field string) func(map[string]any) {
	return func(m map[string]any) { m[field] = !m[field].(bool) }
}

// recentMax is how many recent events per type an agency may still correct.
const recentMax = 32

// day generates the agency's events of one day.
func (a *agency) day(c *day) {
	d, rate := c.date, c.g.rate
	for i := range flows {
		f := &flows[i]
		for range poisson(a.rng, f.rate(a.prof)*f.factor(d)*rate) {
			at := c.at(f.hours(a.rng))
			a.emit(c, f.typ, at, f.data(a, d), true)
		}
	}
	a.openData(c)
	a.catalogue(c)
}

// emit adds an event; a correctable one may be followed by a correction or
// retraction of a recent event of the same type.
func (a *agency) emit(c *day, typ string, at time.Time, data map[string]any, correctable bool) {
	c.out = append(c.out, Event{ID: newID(a.rng, at), Type: typ, Agency: a.code, Publisher: a.code, OccurredAt: at, Data: data})
	if !correctable {
		return
	}
	e := c.out[len(c.out)-1]
	a.recent[typ] = append(a.recent[typ], &e)
	if len(a.recent[typ]) > recentMax {
		a.recent[typ] = a.recent[typ][1:]
	}
	if r := a.rng.Float64(); r < correctionRate+retractionRate {
		a.correct(c, typ, r < retractionRate)
	}
}

// correct supersedes a recent event of type typ: with fixed data, or with
// none (a retraction). The new event keeps the occurred_at of the old one.
func (a *agency) correct(c *day, typ string, retract bool) {
	ring := a.recent[typ]
	i := a.rng.IntN(len(ring))
	old := ring[i]
	a.recent[typ] = slices.Delete(ring, i, i+1)
	e := Event{ID: newID(a.rng, old.OccurredAt), Type: typ, Agency: a.code, Publisher: a.code, OccurredAt: old.OccurredAt, Supersedes: old.ID}
	if !retract {
		e.Data = make(map[string]any, len(old.Data))
		for k, v := range old.Data {
			e.Data[k] = v
		}
		fixes[typ](e.Data)
		a.recent[typ] = append(a.recent[typ], &e)
	}
	c.out = append(c.out, e)
}

// openData publishes datasets once the agency has started: its first on the
// start day, then at the level's rate.
func (a *agency) openData(c *day) {
	if c.date.Before(a.openDataFrom) {
		return
	}
	n := poisson(a.rng, a.prof.datasets*c.g.rate)
	if a.datasets == 0 {
		n = max(n, 1)
	}
	for range n {
		a.datasets++
		theme := datasetThemes[a.rng.IntN(len(datasetThemes))]
		data := map[string]any{
			"dataset_id": fmt.Sprintf("%s-DL-%04d", a.prefix, a.datasets),
			"title":      fmt.Sprintf("%s – %s (%d)", theme, a.name, c.date.Year()),
		}
		a.emit(c, "opendata.published", c.at(officeHours(a.rng)), data, true)
	}
}

// service is one public service of an agency's catalogue and the states it
// has yet to reach.
type service struct {
	code    string
	pending []serviceState // in date order
}

type serviceState struct {
	at     registry.Date
	level  int
	mobile bool
}

// openCatalogue publishes the agency's whole catalogue at 08:00 on its first day.
func (a *agency) openCatalogue(c *day) {
	lo, hi := a.prof.services[0], a.prof.services[1]
	n := lo + a.rng.IntN(hi-lo+1)
	var codes []string
	if a.prof.servicePool > 0 {
		pool := c.g.pool(a.prof.level, a.prof.servicePool)
		for _, i := range a.rng.Perm(len(pool))[:min(n, len(pool))] {
			codes = append(codes, pool[i])
		}
	}
	for len(codes) < n {
		if code := serviceCode(a.rng); !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	for i, code := range codes {
		s := a.newService(code, c.date)
		a.publishState(c, s, c.at(8*time.Hour+time.Duration(i)*7*time.Second))
	}
}

// newService adds a service to the catalogue with its schedule: its level
// when it opens on d0, the day it reaches level 4 (by the level's level4By,
// late for lagging agencies) with possibly a step at level 3 before, and the
// day it becomes usable on mobile.
func (a *agency) newService(code string, d0 registry.Date) *service {
	a.codes[code] = true
	s := &service{code: code}
	a.services = append(a.services, s)

	level, mobile := 4, false
	if !a.chance(a.share(a.prof.level4, d0)) {
		level = 2 + a.rng.IntN(2)
	}
	if level == 4 {
		mobile = a.chance(mobileAtOnce.at(d0))
	}
	s.pending = append(s.pending, serviceState{d0, level, mobile})
	last := d0
	if level < 4 {
		window := max(a.prof.level4By.AddDays(a.lateDays).Sub(d0), 90)
		at4 := d0.AddDays(upgradeMinDays + a.rng.IntN(window))
		if span := at4.Sub(d0) - 16; level == 2 && span > 0 && a.chance(0.5) {
			s.pending = append(s.pending, serviceState{d0.AddDays(15 + a.rng.IntN(span)), 3, false})
		}
		mobile = a.chance(mobileAtOnce.at(at4))
		s.pending = append(s.pending, serviceState{at4, 4, mobile})
		last = at4
	}
	if !mobile {
		s.pending = append(s.pending, serviceState{last.AddDays(1 + a.rng.IntN(mobileLagMaxDays)), 4, true})
	}
	return s
}

// publishState emits the next pending state of s.
func (a *agency) publishState(c *day, s *service, at time.Time) {
	st := s.pending[0]
	s.pending = s.pending[1:]
	a.emit(c, "service.published", at, map[string]any{"service_code": s.code, "level": st.level, "mobile": st.mobile}, false)
}

// catalogue moves services along their schedules and now and then replaces
// one.
func (a *agency) catalogue(c *day) {
	for _, s := range a.services {
		for len(s.pending) > 0 && !s.pending[0].at.After(c.date) {
			a.publishState(c, s, c.at(officeHours(a.rng)))
		}
	}
	if len(a.services) < 2 || !a.chance(withdrawRate) {
		return
	}
	i := a.rng.IntN(len(a.services))
	old := a.services[i]
	a.services = slices.Delete(a.services, i, i+1)
	at := c.at(officeHours(a.rng))
	a.emit(c, "service.withdrawn", at, map[string]any{"service_code": old.code}, false)

	code := ""
	if a.prof.servicePool > 0 {
		for _, p := range c.g.pool(a.prof.level, a.prof.servicePool) {
			if !a.codes[p] {
				code = p
				break
			}
		}
	}
	for code == "" || a.codes[code] {
		code = serviceCode(a.rng)
	}
	a.publishState(c, a.newService(code, c.date), at.Add(time.Minute))
}

// provinceStats are the province-wide figures that aggregating units publish.
type provinceStats struct {
	rng         *rand.Rand
	open        []string // enterprises registered and not closed
	enterprises int      // registered so far
	next        map[string]int
}

// yearlySeries are the yearly province figures: who publishes them, when the
// figure of a year comes out, and what it is.
var yearlySeries = []struct {
	typ       string
	publisher string
	published func(g *Generator, year int) registry.Date
	data      func(g *Generator, year int) map[string]any
}{
	{"economy.grdp_reported", "bg-ctk", grdpPublished, grdpData},
	{"economy.productivity_reported", "bg-ctk", productivityPublished, productivityData},
	{"dti.published", "bg-stttt", dtiPublished, dtiData},
}

// enterpriseRegistry is the unit that registers enterprises.
const enterpriseRegistry = "bg-skhdt"

func (s *provinceStats) day(c *day) {
	g, d := c.g, c.date
	if agency, ok := g.reporter(enterpriseRegistry, d); ok {
		emit := func(typ string, data map[string]any) {
			at := c.at(officeHours(s.rng))
			c.out = append(c.out, Event{ID: newID(s.rng, at), Type: typ, Agency: agency, Publisher: enterpriseRegistry, OccurredAt: at, Data: data})
		}
		for range poisson(s.rng, registrationsPerDay*weekdayFactor(d)*g.rate) {
			s.enterprises++
			id := fmt.Sprintf("24%08d", 1_000_000+s.enterprises) // a Bắc Giang tax code
			s.open = append(s.open, id)
			emit("enterprise.registered", map[string]any{"enterprise_id": id, "digital": s.rng.Float64() < enterpriseDigit.at(d)})
		}
		for range poisson(s.rng, closuresPerDay*g.rate) {
			if len(s.open) == 0 {
				break
			}
			i := s.rng.IntN(len(s.open))
			id := s.open[i]
			s.open[i] = s.open[len(s.open)-1]
			s.open = s.open[:len(s.open)-1]
			emit("enterprise.closed", map[string]any{"enterprise_id": id})
		}
	}
	for _, se := range yearlySeries {
		agency, ok := g.reporter(se.publisher, d)
		if !ok {
			continue
		}
		emit := func(year int) {
			at := c.at(9*time.Hour + time.Duration(s.rng.IntN(3600))*time.Second)
			c.out = append(c.out, Event{ID: newID(s.rng, at), Type: se.typ, Agency: agency, Publisher: se.publisher, OccurredAt: at, Data: se.data(g, year)})
		}
		year, started := s.next[se.typ]
		if !started {
			// The first day: republish the latest figure already out.
			year = d.Year() - 1
			if se.published(g, year).After(d) {
				year--
			}
			emit(year)
			year++
		}
		for ; !se.published(g, year).After(d); year++ {
			emit(year)
		}
		s.next[se.typ] = year
	}
}

// grdpPublished: the GRDP of a year comes out in Q1 of the next.
func grdpPublished(g *Generator, year int) registry.Date {
	return registry.NewDate(year+1, 1, 10).AddDays(int(g.unit01("grdp-published", year) * 75))
}

// productivityPublished: labour productivity follows the GRDP within 20 days,
// still in Q1.
func productivityPublished(g *Generator, year int) registry.Date {
	d := grdpPublished(g, year).AddDays(int(g.unit01("productivity-published", year) * 20))
	if end := registry.NewDate(year+1, 3, 31); d.After(end) {
		return end
	}
	return d
}

// dtiPublished: the national DTI of a year comes out in June-September of the next.
func dtiPublished(g *Generator, year int) registry.Date {
	return registry.NewDate(year+1, 6, 1).AddDays(int(g.unit01("dti-published", year) * 110))
}

// grdp is the province's GRDP of a year (bn VND), compounding yearly growth from 2020.
func grdp(g *Generator, year int) float64 {
	v := float64(grdp2020)
	for y := 2021; y <= year; y++ {
		v *= 1 + grdpGrowth.inYear(y) + 0.02*g.noise("grdp-growth", y)
	}
	for y := 2020; y > year; y-- {
		v /= 1 + grdpGrowth.inYear(y) + 0.02*g.noise("grdp-growth", y)
	}
	return v
}

func grdpData(g *Generator, year int) map[string]any {
	total := round(grdp(g, year), 1)
	share := clamp(digitalEconomy.inYear(year)+0.008*g.noise("digital-economy", year), 0.01, 0.9)
	list := make([]map[string]any, 0, len(sectors))
	for _, s := range sectors {
		st := round(total*s.share*(1+0.03*g.noise("sector-total/"+s.name, year)), 1)
		sd := round(st*clamp(share+s.offset+0.01*g.noise("sector-digital/"+s.name, year), 0.01, 0.95), 1)
		list = append(list, map[string]any{"sector": s.name, "total": st, "digital": sd})
	}
	return map[string]any{"year": year, "grdp_total": total, "digital_economy": round(total*share, 1), "sectors": list}
}

func productivityData(g *Generator, year int) map[string]any {
	v := float64(productivity2020)
	for y := 2021; y <= year; y++ {
		v *= 1 + productivityGrow.inYear(y) + 0.015*g.noise("productivity-growth", y)
	}
	for y := 2020; y > year; y-- {
		v /= 1 + productivityGrow.inYear(y) + 0.015*g.noise("productivity-growth", y)
	}
	return map[string]any{"year": year, "labour_productivity": round(v, 1)}
}

func dtiData(g *Generator, year int) map[string]any {
	rank := int(clamp(math.Round(dtiRank.inYear(year)+2*g.noise("dti-rank", year)), 1, 63))
	score := round(clamp(dtiScore.inYear(year)+0.02*g.noise("dti-score", year), 0, 1), 4)
	return map[string]any{"year": year, "rank": rank, "score": score}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
