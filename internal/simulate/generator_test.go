package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/registry"
)

// ratio is a numerator over a denominator.
type ratio struct{ num, den float64 }

func (r ratio) value() float64 { return r.num / r.den }

func (r *ratio) add(yes bool) {
	r.den++
	if yes {
		r.num++
	}
}

// span is what a generator produced over a run of days, checked event by event.
type span struct {
	days     int
	total    int
	byType   map[string]int
	firstDay map[string]registry.Date // first day each type appeared
	// online dossiers by level and year, and by agency in 2025 H1.
	online      map[registry.Level]map[int]*ratio
	online2025  map[string]*ratio
	levels      map[string]registry.Level
	lastByLevel map[registry.Level]registry.Date
	corrections int
	retractions int
	// services: the latest level per (agency, code), and the level-4 share by year end.
	level4   map[int]*ratio
	dti      map[int]int
	grdp     map[int]registry.Date
	datasets map[int]int // agencies that have published open data, by year end
	problems []string
}

func (s *span) problem(format string, args ...any) {
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// generate runs a generator over [from, to] and checks every event: that
// events.Decode and the context rules accept it, that its subject, agency,
// publisher, time and supersedes are right.
func generate(cfg Config, from, to registry.Date) *span {
	reg := registry.Sample()
	g, err := NewGenerator(reg, cfg)
	if err != nil {
		panic(err)
	}
	s := &span{
		byType: map[string]int{}, firstDay: map[string]registry.Date{},
		online: map[registry.Level]map[int]*ratio{}, online2025: map[string]*ratio{},
		levels: map[string]registry.Level{}, lastByLevel: map[registry.Level]registry.Date{},
		level4: map[int]*ratio{}, dti: map[int]int{}, grdp: map[int]registry.Date{}, datasets: map[int]int{},
	}
	for _, u := range reg.Units() {
		s.levels[u.Code] = u.Level
	}
	type seen struct {
		agency, typ string
		at          time.Time
	}
	ids := map[string]seen{}
	services := map[string]float64{} // agency/code -> level
	publishing := map[string]bool{}
	for d := from; !d.After(to); d = d.AddDays(1) {
		s.days++
		evs := g.Day(d)
		endOfDay := d.AddDays(1).Start()
		rules := events.Rules{Now: func() time.Time { return endOfDay }, MaxFuture: time.Second, Units: reg}
		for i := range evs {
			e := &evs[i]
			s.total++
			b, err := json.Marshal(e)
			if err != nil {
				s.problem("%s: marshal: %v", e.ID, err)
				continue
			}
			ev, err := events.Decode(b)
			if err != nil {
				s.problem("decode %s: %v", b, err)
				continue
			}
			if err := rules.Check(ev); err != nil {
				s.problem("check %s: %v", b, err)
			}
			if err := events.CheckSubject(e.Subject(), ev); err != nil {
				s.problem("subject %s: %v", b, err)
			}
			if !bytes.Contains(b, []byte(`+07:00"`)) {
				s.problem("occurred_at not in +07:00: %s", b)
			}
			if !reg.MayReportFor(e.Publisher, e.Agency) {
				s.problem("%s may not publish for %s: %s", e.Publisher, e.Agency, b)
			}
			if u, _ := reg.Unit(e.Publisher); !u.InForce(d) {
				s.problem("%s is not in force on %s: %s", e.Publisher, d, b)
			}
			if i > 0 && e.OccurredAt.Before(evs[i-1].OccurredAt) {
				s.problem("events of %s out of order at %s", d, e.ID)
			}
			if _, dup := ids[e.ID]; dup {
				s.problem("id %s used twice", e.ID)
			}
			if e.Supersedes == "" {
				if got := registry.DateOf(e.OccurredAt); got != d {
					s.problem("event of %s occurred on %s: %s", d, got, b)
				}
			} else {
				old, ok := ids[e.Supersedes]
				switch {
				case !ok:
					s.problem("supersedes unknown id: %s", b)
				case old.agency != e.Agency || old.typ != e.Type:
					s.problem("supersedes %s/%s: %s", old.agency, old.typ, b)
				case !old.at.Equal(e.OccurredAt):
					s.problem("correction at %s of an event at %s: %s", e.OccurredAt, old.at, b)
				}
				if ev.Retraction() {
					s.retractions++
				} else {
					s.corrections++
				}
			}
			ids[e.ID] = seen{e.Agency, e.Type, e.OccurredAt}
			s.byType[e.Type]++
			if _, ok := s.firstDay[e.Type]; !ok {
				s.firstDay[e.Type] = d
			}
			level := s.levels[e.Agency]
			if e.Agency == e.Publisher {
				s.lastByLevel[level] = d
			}
			if ev.Retraction() || e.Supersedes != "" {
				continue
			}
			p := ev.Payload
			switch e.Type {
			case "workfile.processed":
				byYear := s.online[level]
				if byYear == nil {
					byYear = map[int]*ratio{}
					s.online[level] = byYear
				}
				if byYear[d.Year()] == nil {
					byYear[d.Year()] = &ratio{}
				}
				byYear[d.Year()].add(*p.Online)
				if d.Year() == 2025 && d.Month() <= time.June {
					if s.online2025[e.Agency] == nil {
						s.online2025[e.Agency] = &ratio{}
					}
					s.online2025[e.Agency].add(*p.Online)
				}
			case "service.published":
				services[e.Agency+"/"+*p.ServiceCode] = *p.Level
			case "service.withdrawn":
				delete(services, e.Agency+"/"+*p.ServiceCode)
			case "opendata.published":
				publishing[e.Agency] = true
			case "dti.published":
				s.dti[int(*p.Year)] = int(*p.Rank)
			case "economy.grdp_reported":
				s.grdp[int(*p.Year)] = d
			}
		}
		if d.Month() == time.December && d.Day() == 31 {
			r := &ratio{}
			for _, l := range services {
				r.add(l == 4)
			}
			s.level4[d.Year()] = r
			s.datasets[d.Year()] = len(publishing)
		}
	}
	return s
}

// decade is the whole Resolution period at a reduced rate, generated once
// for the tests that look at it.
var decade = sync.OnceValue(func() *span {
	return generate(Config{Seed: 42, Rate: 0.3}, registry.DateOf(DefaultStart), registry.DateOf(DefaultEnd))
})

func TestGeneratorEventsAreValid(t *testing.T) {
	s := decade()
	for _, p := range s.problems {
		t.Error(p)
	}
	t.Logf("%d events over %d days", s.total, s.days)
	for _, spec := range events.Types() {
		if s.byType[spec.Name] == 0 {
			t.Errorf("no %s event in ten years", spec.Name)
		}
	}
	if s.corrections == 0 || s.retractions == 0 {
		t.Errorf("corrections = %d, retractions = %d; want some of each", s.corrections, s.retractions)
	}
	flows := s.byType["workfile.processed"] + s.byType["auth.recorded"] + s.byType["report.submitted"] + s.byType["inspection.completed"]
	if got := float64(s.corrections+s.retractions) / float64(flows); got < 0.001 || got > 0.004 {
		t.Errorf("corrections and retractions are %.4f of flow events, want about 0.0022", got)
	}
}

func TestGeneratorSharesTrendUpward(t *testing.T) {
	s := decade()
	for _, level := range []registry.Level{registry.LevelDepartment, registry.LevelDistrict, registry.LevelCommune} {
		byYear := s.online[level]
		var line []string
		for _, y := range slices.Sorted(maps.Keys(byYear)) {
			line = append(line, fmt.Sprintf("%d:%.3f", y, byYear[y].value()))
		}
		t.Logf("HSCV %-10s %s", level, strings.Join(line, " "))
		if byYear[2022].value() >= byYear[2024].value() {
			t.Errorf("%s: online share 2022 %.3f, 2024 %.3f: want growth", level, byYear[2022].value(), byYear[2024].value())
		}
		if level != registry.LevelDistrict && byYear[2025].value() >= byYear[2029].value() {
			t.Errorf("%s: online share 2025 %.3f, 2029 %.3f: want growth", level, byYear[2025].value(), byYear[2029].value())
		}
	}
	// Units differ: in 2025 some districts meet the 85% target and some do
	// not; some communes are below 65%.
	var above, below, communesBelow int
	for code, r := range s.online2025 {
		switch s.levels[code] {
		case registry.LevelDistrict:
			if r.value() >= 0.85 {
				above++
			} else {
				below++
			}
		case registry.LevelCommune:
			if r.value() < 0.65 {
				communesBelow++
			}
		}
	}
	t.Logf("2025 H1: districts at or above 85%%: %d, below: %d; communes below 65%%: %d", above, below, communesBelow)
	if above == 0 || below == 0 || communesBelow == 0 {
		t.Error("want districts on both sides of the 85% target and some communes below 65%")
	}

	var line []string
	for _, y := range slices.Sorted(maps.Keys(s.level4)) {
		line = append(line, fmt.Sprintf("%d:%.3f", y, s.level4[y].value()))
	}
	t.Logf("DVC_L4 services at level 4 by year end: %s", strings.Join(line, " "))
	if s.level4[2021].value() >= s.level4[2024].value() || s.level4[2026].value() < 0.97 {
		t.Errorf("level-4 share: want growth toward 1")
	}
	t.Logf("agencies publishing open data by year end: %v", s.datasets)
	if s.datasets[2021] >= s.datasets[2024] || s.datasets[2021] == 0 {
		t.Errorf("agencies publishing open data: want a few at first, more later")
	}

	t.Logf("DTI rank by year: %v", s.dti)
	if s.dti[2021] <= s.dti[2029] || s.dti[2021] < 22 || s.dti[2029] > 12 {
		t.Errorf("DTI rank 2021 %d, 2029 %d: want it to improve from ~27 toward ~9", s.dti[2021], s.dti[2029])
	}
	for y := 2021; y <= 2029; y++ {
		d, ok := s.grdp[y]
		if !ok || d.Year() != y+1 || d.Month() > time.March {
			t.Errorf("GRDP of %d published on %s, want Q1 of %d", y, d, y+1)
		}
	}
}

func TestGeneratorDistrictsEnd(t *testing.T) {
	s := decade()
	end := registry.NewDate(2025, 6, 30)
	if got := s.lastByLevel[registry.LevelDistrict]; got != end {
		t.Errorf("districts last emitted on %s, want %s", got, end)
	}
	if got := s.lastByLevel[registry.LevelCommune]; !got.After(registry.NewDate(2030, 12, 1)) {
		t.Errorf("communes last emitted on %s, want them to go on to 2030", got)
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	run := func(seed uint64) []byte {
		g, err := NewGenerator(registry.Sample(), Config{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for d := registry.NewDate(2021, 6, 11); d.Before(registry.NewDate(2021, 8, 1)); d = d.AddDays(1) {
			for _, e := range g.Day(d) {
				if err := enc.Encode(&e); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&buf, e.Publisher)
			}
		}
		return buf.Bytes()
	}
	a, b, c := run(7), run(7), run(8)
	if !bytes.Equal(a, b) {
		t.Error("two runs with seed 7 differ")
	}
	if bytes.Equal(a, c) {
		t.Error("runs with seeds 7 and 8 are the same")
	}
}

// TestGeneratorVolumes measures events per simulated day at Rate 1.
func TestGeneratorVolumes(t *testing.T) {
	from, to := registry.NewDate(2023, 1, 1), registry.NewDate(2023, 12, 31)
	g, err := NewGenerator(registry.Sample(), Config{Seed: 1, Start: registry.NewDate(2022, 12, 1).Start()})
	if err != nil {
		t.Fatal(err)
	}
	for d := registry.NewDate(2022, 12, 1); d.Before(from); d = d.AddDays(1) {
		g.Day(d) // past the first day's catalogues
	}
	counts := map[string]int{}
	var total int
	for d := from; !d.After(to); d = d.AddDays(1) {
		for _, e := range g.Day(d) {
			counts[e.Type]++
			total++
		}
	}
	days := float64(to.Sub(from) + 1)
	for _, typ := range slices.Sorted(maps.Keys(counts)) {
		t.Logf("%-30s %8.2f per day", typ, float64(counts[typ])/days)
	}
	perDay := float64(total) / days
	t.Logf("%-30s %8.2f per day", "total", perDay)
	if perDay < 250 || perDay > 1000 {
		t.Errorf("%.0f events per simulated day, want a few hundred", perDay)
	}
}

func TestGeneratorFirstDay(t *testing.T) {
	start := time.Date(2024, 3, 5, 15, 0, 0, 0, events.Zone)
	g, err := NewGenerator(registry.Sample(), Config{Seed: 3, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	evs := g.Day(registry.DateOf(start))
	types := map[string]int{}
	for _, e := range evs {
		if e.OccurredAt.Before(start.Truncate(time.Second)) || !e.OccurredAt.Before(start.Add(9*time.Hour)) {
			t.Errorf("event at %s on a first day starting %s", e.OccurredAt, start)
		}
		types[e.Type]++
	}
	// The whole catalogue of every unit in force, and the latest yearly figures.
	if types["service.published"] < 80*10 {
		t.Errorf("%d services published on the first day, want every catalogue", types["service.published"])
	}
	for _, typ := range []string{"economy.grdp_reported", "economy.productivity_reported", "dti.published"} {
		if types[typ] != 1 {
			t.Errorf("%d %s on the first day, want the latest one", types[typ], typ)
		}
	}
	if evs := g.Day(registry.DateOf(start)); evs != nil {
		t.Errorf("the same day again gave %d events, want none", len(evs))
	}
}

func TestNewID(t *testing.T) {
	g, _ := NewGenerator(registry.Sample(), Config{Seed: 1})
	rng := g.rand("test")
	at := time.Date(2025, 3, 14, 9, 30, 0, 0, events.Zone)
	id := newID(rng, at)
	if len(id) != 36 || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
		t.Errorf("id %q is not UUIDv7-shaped", id)
	}
	if want := fmt.Sprintf("%012x", at.UnixMilli()); strings.ReplaceAll(id, "-", "")[:12] != want {
		t.Errorf("id %q does not start with the time %s", id, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{}},
		{name: "negative rate", cfg: Config{Rate: -1}, wantErr: "rate"},
		{name: "huge rate", cfg: Config{Rate: 1e6}, wantErr: "rate"},
		{name: "negative speed", cfg: Config{Speed: -time.Hour}, wantErr: "speed"},
		{name: "end before start", cfg: Config{Start: DefaultStart, End: DefaultStart.Add(-time.Hour)}, wantErr: "end"},
		{name: "far future", cfg: Config{End: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}, wantErr: "years"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.withDefaults().validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("validate = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}
