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
	"slices"
	"sort"
	"strings"
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

// Row is a change to one rollup cell.
type Row struct {
	Cell
	events.Amount
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

// entry is one state in a key's timeline, kept small.
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

// generation is what a State holds in memory of the folded log: the applied
// ids (with the natural key of the timeline each entered, "" for none), the
// superseded ids, and timelines by key. A timeline present but empty is known
// to have no entry.
type generation struct {
	keyOf      map[id128]string
	superseded map[id128]struct{}
	timelines  map[id128]timeline
}

func newGeneration() *generation {
	return &generation{keyOf: map[id128]string{}, superseded: map[id128]struct{}{}, timelines: map[id128]timeline{}}
}

// reset empties g, keeping the room its maps grew to: a retired generation
// is emptied and becomes the next current one, which grows to the same size.
func (g *generation) reset() *generation {
	clear(g.keyOf)
	clear(g.superseded)
	clear(g.timelines)
	return g
}

func (g *generation) size() int { return len(g.keyOf) + len(g.superseded) + len(g.timelines) }

// State is the folded log. A State made by New holds all of it in memory. A
// State made by NewIndexed holds only what recent batches touched and
// relies on the index (package doc) for the rest: see Lookups.
type State struct {
	s1, s2  maphash.Seed
	cur     *generation
	prev    *generation       // nil unless indexed
	names   []string          // interned agencies, indicators, dimensions
	nameIdx map[string]uint32 // name → index in names
	applied int               // distinct event ids applied

	// Indexed states only.
	indexed bool                      // false: all in memory
	limit   int                       // items of a generation before it is retired
	commits int                       // batches committed into cur
	absent  map[lookupDigest]struct{} // lookups fetched for the next batch and not in the index
	spare   Txn                       // the maps and index rows of the last committed batch, emptied, for the next
	// What Lookups and Provide make per batch, emptied and kept for the
	// next: a batch's lookups, the set that dedups them, the rows found
	// per lookup, and the most bytes of lookups an event took.
	need     []string
	seen     map[string]struct{}
	asked    map[string]int
	provided provideScratch
	arena    int
	h1, h2   maphash.Hash // for digests of byte strings and pairs

	links *linkLog // nil unless TrackLinks (drill.go)
}

// provideScratch is what Provide fills to group the rows it is handed by
// lookup, kept for the next call.
type provideScratch struct {
	lookup      []byte     // a row's lookup
	of          []int      // per row, the index of its lookup
	start, next []int      // per lookup, where its rows start in grouped; the next free slot
	grouped     []IndexRow // the rows, grouped by lookup
}

// New returns an empty State that holds the whole folded log in memory.
func New() *State {
	s := &State{
		s1: maphash.MakeSeed(), s2: maphash.MakeSeed(),
		cur:     newGeneration(),
		prev:    newGeneration(),
		nameIdx: make(map[string]uint32),
	}
	s.h1.SetSeed(s.s1)
	s.h2.SetSeed(s.s2)
	return s
}

// Len returns the number of distinct event ids applied.
func (s *State) Len() int { return s.applied }

func (s *State) digest(v string) id128 {
	return id128{maphash.String(s.s1, v), maphash.String(s.s2, v)}
}

// digestPair is the digest of a superseded mark: agency and event id.
func (s *State) digestPair(agency, id string) id128 {
	var d [2]uint64
	for i, h := range []*maphash.Hash{&s.h1, &s.h2} {
		h.Reset()
		_, _ = h.WriteString(agency)
		_ = h.WriteByte('/')
		_, _ = h.WriteString(id)
		d[i] = h.Sum64()
	}
	return id128{d[0], d[1]}
}

// intern returns the index of name v, kept for good: a copy of v, which may
// be a view of bytes written over later (Provide's rows).
func (s *State) intern(v string) uint32 {
	if i, ok := s.nameIdx[v]; ok {
		return i
	}
	v = strings.Clone(v)
	i := uint32(len(s.names))
	s.names = append(s.names, v)
	s.nameIdx[v] = i
	return i
}

// Txn is a batch of changes to a State that becomes visible in the State only
// on Commit, so a batch whose write failed can be dropped.
type Txn struct {
	s          *State
	keyOf      map[id128]string
	superseded map[id128]struct{}
	timelines  map[id128]timeline
	cells      map[Cell]events.Amount
	index      []IndexRow
	rows       []Row // Rows' slice, reused
	applied    int
	duplicates int
}

// Begin starts a batch.
func (s *State) Begin() *Txn {
	if s.links != nil {
		clear(s.links.before) // of a batch dropped without Links
	}
	// The last committed batch's maps and index rows, emptied, already have
	// the room a batch needs: growing them again would allocate several times
	// their size (a large slice grows by a quarter at a time).
	if t := s.spare; t.keyOf != nil {
		s.spare = Txn{}
		t.s = s
		return &t
	}
	return &Txn{
		s:          s,
		keyOf:      make(map[id128]string),
		superseded: make(map[id128]struct{}),
		timelines:  make(map[id128]timeline),
		cells:      make(map[Cell]events.Amount),
	}
}

// key returns the natural key of the timeline that an applied event id (of
// digest d) entered ("" for none), and whether the id was applied.
func (t *Txn) key(d id128, id string) (string, bool) {
	if k, ok := t.keyOf[d]; ok {
		return k, true
	}
	return t.s.key(d, id)
}

// isSuperseded reports whether the event id of agency has been superseded by
// a correction of the same agency (an agency may only correct its own events).
func (t *Txn) isSuperseded(agency, id string) bool {
	d := t.s.digestPair(agency, id)
	if _, ok := t.superseded[d]; ok {
		return true
	}
	return t.s.isSuperseded(d, agency, id)
}

// timeline returns the key's timeline as the batch left it, else as the
// State holds it; it is never written in place: change writes a copy.
func (t *Txn) timeline(key string, k id128) timeline {
	if tl, ok := t.timelines[k]; ok {
		return tl
	}
	return t.s.timeline(k, key)
}

// Apply folds one valid event into the batch.
func (t *Txn) Apply(e *events.Event) Outcome { return t.ApplyAt(e, 0) }

// ApplyAt folds one valid event, the stream's message seq, into the batch;
// seq goes into the index rows it causes.
func (t *Txn) ApplyAt(e *events.Event, seq uint64) Outcome {
	id := t.s.digest(e.ID)
	if _, seen := t.key(id, e.ID); seen {
		t.duplicates++
		return Duplicate
	}
	t.applied++

	if e.Supersedes != "" {
		unit := t.s.intern(e.Agency)
		t.superseded[t.s.digestPair(e.Agency, e.Supersedes)] = struct{}{}
		t.index = append(t.index, IndexRow{Kind: KindSuperseded, Agency: e.Agency, Name: e.Supersedes, Seq: seq})
		sup := t.s.digest(e.Supersedes)
		if key, ok := t.key(sup, e.Supersedes); ok && key != "" {
			if t.remove(key, sup, unit) {
				t.index = append(t.index, IndexRow{Kind: KindKey, Name: key, ID: e.Supersedes, Seq: seq, Op: -1})
			}
		}
	}
	if e.Retraction() || t.isSuperseded(e.Agency, e.ID) {
		// A retraction has no state; an event whose correction arrived first
		// never counts.
		t.keyOf[id] = ""
		t.index = append(t.index, IndexRow{Kind: KindID, Name: e.ID, Seq: seq})
		return Applied
	}
	key := e.Key()
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
	t.keyOf[id] = key
	t.index = append(t.index,
		IndexRow{Kind: KindID, Name: e.ID, Key: key, Seq: seq},
		IndexRow{Kind: KindKey, Name: key, ID: e.ID, Agency: e.Agency, Seq: seq, Op: +1, At: en.at, Period: en.period, Day: en.day, Contribs: cs})
	t.insert(key, en)
	return Applied
}

func (t *Txn) compact(c events.Contribution) contrib {
	return contrib{ind: t.s.intern(c.Indicator), dim: t.s.intern(c.Dim), num: c.Num, den: c.Den}
}

// The cells of a timeline are, for each entry, its contributions at its
// day less them at the next entry's day: an entry's cells depend on it and
// on its successor only. Inserting an entry at i changes the cells of
// entries i-1 (its successor) and i (new); removing the entry at i those
// of i-1 and i. A change emits the difference of those entries' cells
// only, not of the whole timeline before and after: with a timeline per
// key for good, some keys' timelines grow with the log (a reported figure
// of a year gets an entry per report), and each event on them copied and
// emitted it whole (docs/performance.md, "The projector's allocations
// (branch h21m)").

// own returns the timeline of key (digest k) that the batch may write:
// the batch's, or a copy of the State's the first time the batch changes
// it (the State's is shared with the State, and with the links' record of
// the batch), with room for a few more entries.
func (t *Txn) own(key string, k id128) timeline {
	if tl, ok := t.timelines[k]; ok {
		return tl
	}
	before := t.s.timeline(k, key)
	if t.s.links != nil {
		t.s.links.saw(k, key, before)
	}
	tl := make(timeline, len(before), len(before)+1+len(before)/8)
	copy(tl, before)
	return tl
}

// insert adds en to key's timeline, and the change of its cells to the
// batch.
func (t *Txn) insert(key string, en entry) {
	k := t.s.digest(key)
	tl := t.own(key, k)
	i := sort.Search(len(tl), func(i int) bool { return en.before(&tl[i]) })
	from := max(i-1, 0)
	t.emit(tl, from, i, -1)
	tl = append(tl, entry{})
	copy(tl[i+1:], tl[i:])
	tl[i] = en
	t.emit(tl, from, i+1, +1)
	t.timelines[k] = tl
}

// remove drops the entry of event id from key's timeline if it was
// emitted by unit (an agency may only correct its own events), adds the
// change of its cells to the batch, and says whether it did.
func (t *Txn) remove(key string, id id128, unit uint32) bool {
	k := t.s.digest(key)
	i := slices.IndexFunc(t.timeline(key, k), func(en entry) bool { return en.id == id && en.unit == unit })
	if i < 0 {
		return false
	}
	tl := t.own(key, k)
	from := max(i-1, 0)
	t.emit(tl, from, i+1, -1)
	tl = append(tl[:i], tl[i+1:]...)
	t.emit(tl, from, i, +1)
	t.timelines[k] = tl
	return true
}

// emit adds sign × the cells of a timeline's entries from..to-1 (each
// less at its successor's day, in tl) to the batch.
func (t *Txn) emit(tl timeline, from, to int, sign float64) {
	names := t.s.names
	for i := from; i < to; i++ {
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
// The slice is valid until the next Rows, of this batch or a later one,
// which reuses it (its cells' names are the State's, kept for good).
func (t *Txn) Rows() []Row {
	rows := t.rows[:0]
	if cap(rows) < len(t.cells) {
		rows = make([]Row, 0, len(t.cells)+len(t.cells)/4)
	}
	for c, a := range t.cells {
		if a.N == 0 && a.Num == 0 && a.Den == 0 {
			continue
		}
		rows = append(rows, Row{Cell: c, Amount: a})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Cell.less(rows[j].Cell) })
	t.rows = rows
	return rows
}

// Applied and Duplicates count the events of the batch by outcome.
func (t *Txn) Applied() int    { return t.applied }
func (t *Txn) Duplicates() int { return t.duplicates }

// Index returns the rows the batch adds to the index, in the order the
// events were applied. The slice is valid until Commit, which reuses it.
func (t *Txn) Index() []IndexRow { return t.index }

// Commit makes the batch part of the State. The Txn must not be used after.
func (t *Txn) Commit() {
	s := t.s
	for k, v := range t.superseded {
		s.cur.superseded[k] = v
	}
	for k, v := range t.keyOf {
		s.cur.keyOf[k] = v
	}
	for k, tl := range t.timelines {
		if len(tl) == 0 && !s.indexed {
			delete(s.cur.timelines, k)
			continue
		}
		s.cur.timelines[k] = tl
		// The version the previous generation holds is never read again
		// (cur is read first): let it go now, not when the generation
		// retires (a long timeline changed often was held twice).
		delete(s.prev.timelines, k)
	}
	s.applied += t.applied
	if s.indexed {
		clear(s.absent)
		s.commits++
		if s.cur.size() >= s.limit && s.commits >= minCommitsPerGeneration {
			s.prev, s.cur, s.commits = s.cur, s.prev.reset(), 0
		}
	}
	clear(t.keyOf)
	clear(t.superseded)
	clear(t.timelines)
	clear(t.cells)
	clear(t.index) // the rows hold strings of the batch's events
	s.spare = Txn{keyOf: t.keyOf, superseded: t.superseded, timelines: t.timelines, cells: t.cells, index: t.index[:0], rows: t.rows[:0]}
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
