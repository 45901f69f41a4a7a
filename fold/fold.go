// Package fold turns the event log into rollup deltas: it keeps, per natural
// key, the timeline of states (events ordered by occurred_at), and emits the
// change to every rollup cell that an event causes, so that summing the cells
// up to a date gives the exact state at that date whatever the arrival order.
//
// The rollup model. A state s_i of a key that took effect at t_i and was
// replaced at t_{i+1} adds its contribution C_i to cell (day(t_i), period_i)
// and subtracts it at cell (day(t_{i+1}), period_i). Then, for any date d:
//
//   - a stock at d is the sum of all cells with day <= d (period 0);
//   - a flow for the calendar year Y of d is the sum of cells with period Y
//     and day <= d: keys whose state at d occurred in Y;
//   - a reported figure for year Y is the sum of cells with period Y and
//     day <= d, present when the cells' count n is positive.
//
// Inserting an event into a timeline, or removing one (a correction or a
// retraction), emits the difference between the timeline's cells after and
// before, so out-of-order arrival converges to the same cells.
//
// Package fold is pure: no NATS, no ClickHouse. It is not safe for
// concurrent use; the projector owns one State.
package fold

import (
	"hash/maphash"
	"sort"
	"time"

	"github.com/go-faster/city"

	"github.com/bacgiang/cds/events"
)

// Cell identifies one rollup cell.
type Cell struct {
	Indicator string
	Unit      string // emitting agency
	Period    uint16 // 0 for stocks, else a year
	Dim       string
	Day       int32 // days since 1970-01-01 of the province-time date
}

// Amount is what a cell holds, or a change to it.
type Amount struct {
	Num, Den float64
	N        int64 // number of states counted
}

// Row is a change to one rollup cell.
type Row struct {
	Cell
	Amount
}

// Outcome says what Apply did with an event.
type Outcome int

const (
	// Applied: the event is new and now part of the state.
	Applied Outcome = iota
	// Duplicate: an event with the same id was applied before; nothing changed.
	Duplicate
)

// id128 is a 128-bit digest of an event id or natural key. Two independent
// 64-bit maphash seeds make a collision among 10^9 ids ~10^-20 likely; the
// digests are never persisted, so per-process seeds are fine.
type id128 struct{ a, b uint64 }

// contrib is an events.Contribution with interned names.
type contrib struct {
	ind, dim uint32
	num, den float64
}

// entry is one state in a key's timeline, kept small: a State holds one per
// event that is the state of a key (about 180 bytes per event in all, see
// BenchmarkStateMemory).
type entry struct {
	at     int64  // occurred_at, unix seconds
	id     id128  // digest of the event id: the lookup on supersede
	tie    uint64 // cityHash64 of the event id: the tie-break for equal at
	day    int32
	unit   uint32 // interned agency
	period uint16
	n      uint8 // contributions: 0, 1 (in c0) or more (in more)
	c0     contrib
	more   *[]contrib
}

func (e *entry) contribs() []contrib {
	switch e.n {
	case 0:
		return nil
	case 1:
		return []contrib{e.c0}
	}
	return *e.more
}

// before orders a timeline by occurred_at (whole seconds), then by
// cityHash64 of the event id. The order is the same in every process and
// reproducible in SQL: argMax(…, (occurred_at, cityHash64(id))) picks the
// same latest state. (Two ids of one key at the same second with equal
// cityHash64 are ordered by digest, which SQL cannot reproduce; the chance is
// 2^-64 per tie.)
func (e *entry) before(o *entry) bool {
	switch {
	case e.at != o.at:
		return e.at < o.at
	case e.tie != o.tie:
		return e.tie < o.tie
	case e.id.a != o.id.a:
		return e.id.a < o.id.a
	}
	return e.id.b < o.id.b
}

type timeline []entry

// State is the folded log: the ids applied, the ids superseded, and one
// timeline per natural key.
type State struct {
	s1, s2     maphash.Seed
	keyOf      map[id128]id128    // applied event id → its key, for events that entered a timeline
	extra      map[id128]struct{} // applied event ids that entered no timeline (retractions, corrected before arrival)
	superseded map[id128]struct{} // digest of agency+"/"+id of each superseded event
	timelines  map[id128]timeline
	names      []string          // interned agencies, indicators, dimensions
	nameIdx    map[string]uint32 // name → index in names
}

// New returns an empty State.
func New() *State {
	return &State{
		s1: maphash.MakeSeed(), s2: maphash.MakeSeed(),
		keyOf:      make(map[id128]id128),
		extra:      make(map[id128]struct{}),
		superseded: make(map[id128]struct{}),
		timelines:  make(map[id128]timeline),
		nameIdx:    make(map[string]uint32),
	}
}

// Len returns the number of distinct event ids applied.
func (s *State) Len() int { return len(s.keyOf) + len(s.extra) }

// Keys returns the number of natural keys with a timeline.
func (s *State) Keys() int { return len(s.timelines) }

func (s *State) digest(v string) id128 {
	return id128{maphash.String(s.s1, v), maphash.String(s.s2, v)}
}

func (s *State) intern(v string) uint32 {
	if i, ok := s.nameIdx[v]; ok {
		return i
	}
	i := uint32(len(s.names))
	s.names = append(s.names, v)
	s.nameIdx[v] = i
	return i
}

// Txn is a batch of changes to a State that becomes visible in the State only
// on Commit, so a batch whose write failed can be dropped.
type Txn struct {
	s          *State
	keyOf      map[id128]id128
	extra      map[id128]struct{}
	superseded map[id128]struct{}
	timelines  map[id128]timeline
	cells      map[Cell]Amount
	applied    int
	duplicates int
}

// Begin starts a batch.
func (s *State) Begin() *Txn {
	return &Txn{
		s:          s,
		keyOf:      make(map[id128]id128),
		extra:      make(map[id128]struct{}),
		superseded: make(map[id128]struct{}),
		timelines:  make(map[id128]timeline),
		cells:      make(map[Cell]Amount),
	}
}

func (t *Txn) isSeen(id id128) bool {
	if _, ok := t.key(id); ok {
		return true
	}
	if _, ok := t.extra[id]; ok {
		return true
	}
	_, ok := t.s.extra[id]
	return ok
}

// isSuperseded reports whether the event id of agency has been superseded by
// a correction of the same agency (an agency may only correct its own events).
func (t *Txn) isSuperseded(agency, id string) bool {
	d := t.s.digest(agency + "/" + id)
	if _, ok := t.superseded[d]; ok {
		return true
	}
	_, ok := t.s.superseded[d]
	return ok
}

func (t *Txn) key(id id128) (id128, bool) {
	if k, ok := t.keyOf[id]; ok {
		return k, true
	}
	k, ok := t.s.keyOf[id]
	return k, ok
}

// timeline returns the key's timeline for modification (copied on first write).
func (t *Txn) timeline(k id128) timeline {
	if tl, ok := t.timelines[k]; ok {
		return tl
	}
	return append(timeline(nil), t.s.timelines[k]...)
}

// Apply folds one valid event into the batch.
func (t *Txn) Apply(e *events.Event) Outcome {
	id := t.s.digest(e.ID)
	if t.isSeen(id) {
		t.duplicates++
		return Duplicate
	}
	t.applied++

	if e.Supersedes != "" {
		sup := t.s.digest(e.Supersedes)
		unit := t.s.intern(e.Agency)
		t.superseded[t.s.digest(e.Agency+"/"+e.Supersedes)] = struct{}{}
		if k, ok := t.key(sup); ok {
			t.change(k, func(tl timeline) timeline { return removeFrom(tl, sup, unit) })
		}
	}
	if e.Retraction() || t.isSuperseded(e.Agency, e.ID) {
		// A retraction has no state; an event whose correction arrived first
		// never counts.
		t.extra[id] = struct{}{}
		return Applied
	}
	k := t.s.digest(e.Key())
	en := entry{
		at:     e.OccurredAt.Unix(),
		id:     id,
		tie:    city.CH64([]byte(e.ID)),
		day:    dayNumber(e.Day()),
		unit:   t.s.intern(e.Agency),
		period: uint16(e.Period()),
	}
	cs := e.Contributions()
	switch len(cs) {
	case 0:
	case 1:
		en.n, en.c0 = 1, t.compact(cs[0])
	default:
		more := make([]contrib, len(cs))
		for i, c := range cs {
			more[i] = t.compact(c)
		}
		en.n, en.more = uint8(min(len(cs), 255)), &more
	}
	t.keyOf[id] = k
	t.change(k, func(tl timeline) timeline {
		i := sort.Search(len(tl), func(i int) bool { return en.before(&tl[i]) })
		tl = append(tl, entry{})
		copy(tl[i+1:], tl[i:])
		tl[i] = en
		return tl
	})
	return Applied
}

func (t *Txn) compact(c events.Contribution) contrib {
	return contrib{ind: t.s.intern(c.Indicator), dim: t.s.intern(c.Dim), num: c.Num, den: c.Den}
}

// removeFrom drops the entry of event id from tl if it was emitted by unit
// (an agency may only correct its own events).
func removeFrom(tl timeline, id id128, unit uint32) timeline {
	for i := range tl {
		if tl[i].id == id && tl[i].unit == unit {
			return append(tl[:i:i], tl[i+1:]...)
		}
	}
	return tl
}

func (t *Txn) change(k id128, f func(timeline) timeline) {
	before := t.timeline(k)
	t.emit(before, -1)
	after := f(append(timeline(nil), before...))
	t.emit(after, +1)
	t.timelines[k] = after
}

// emit adds sign × the cells of a timeline to the batch.
func (t *Txn) emit(tl timeline, sign float64) {
	names := t.s.names
	for i := range tl {
		en := &tl[i]
		for _, c := range en.contribs() {
			cell := Cell{Indicator: names[c.ind], Unit: names[en.unit], Period: en.period, Dim: names[c.dim], Day: en.day}
			t.add(cell, sign*c.num, sign*c.den, int64(sign))
			if i+1 < len(tl) {
				cell.Day = tl[i+1].day
				t.add(cell, -sign*c.num, -sign*c.den, -int64(sign))
			}
		}
	}
}

func (t *Txn) add(c Cell, num, den float64, n int64) {
	a := t.cells[c]
	a.Num += num
	a.Den += den
	a.N += n
	t.cells[c] = a
}

// Rows returns the non-zero cell changes of the batch, in a stable order.
func (t *Txn) Rows() []Row {
	rows := make([]Row, 0, len(t.cells))
	for c, a := range t.cells {
		if a.N == 0 && a.Num == 0 && a.Den == 0 {
			continue
		}
		rows = append(rows, Row{Cell: c, Amount: a})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Cell.less(rows[j].Cell) })
	return rows
}

// Applied and Duplicates count the events of the batch by outcome.
func (t *Txn) Applied() int    { return t.applied }
func (t *Txn) Duplicates() int { return t.duplicates }

// Commit makes the batch part of the State. The Txn must not be used after.
func (t *Txn) Commit() {
	for k := range t.extra {
		t.s.extra[k] = struct{}{}
	}
	for k, v := range t.superseded {
		t.s.superseded[k] = v
	}
	for k, v := range t.keyOf {
		t.s.keyOf[k] = v
	}
	for k, tl := range t.timelines {
		if len(tl) == 0 {
			delete(t.s.timelines, k)
			continue
		}
		t.s.timelines[k] = tl
	}
	*t = Txn{}
}

func (c Cell) less(o Cell) bool {
	switch {
	case c.Indicator != o.Indicator:
		return c.Indicator < o.Indicator
	case c.Unit != o.Unit:
		return c.Unit < o.Unit
	case c.Period != o.Period:
		return c.Period < o.Period
	case c.Dim != o.Dim:
		return c.Dim < o.Dim
	default:
		return c.Day < o.Day
	}
}

var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func dayNumber(day time.Time) int32 { return int32(day.Sub(epoch) / (24 * time.Hour)) }

// DayTime returns the date of a day number (00:00 UTC), the inverse of the
// day numbering of Cell.Day.
func DayTime(day int32) time.Time { return time.Unix(int64(day)*secondsPerDay, 0).UTC() }

const secondsPerDay = 24 * 60 * 60

// DayNumber returns the day number of a calendar date given at 00:00 UTC.
func DayNumber(day time.Time) int32 { return dayNumber(day) }
