package fold

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/go-faster/city"

	"github.com/bacgiang/cds/events"
)

// The index. An indexed State (NewIndexed) does not keep the whole folded
// log in memory: every batch also writes index rows (Txn.Index) that a
// store keeps by lookup (the projector's local store, package foldstore,
// whose durable copy is ClickHouse's cds.fold_index), and the State keeps
// only the ids, superseded marks and timelines touched by recent batches
// (two generations of at least limit items each), which also covers the
// batches written but not yet committed.
//
// Before a batch is applied, Lookups names what the State does not hold,
// and Provide hands it the index rows found for them (none, for a lookup
// never written: most of them).
//
// Lookups are strings: LookupID(id) → the key of the timeline the event
// entered (IndexRow.Key, "" for none); LookupKey(key) → one row per entry
// added (Op +1, with the entry) or removed (Op −1) by a correction or
// retraction; LookupSuperseded(agency, id) → a row when a correction of
// agency superseded id.

// IndexRow is one row of the index. Its lookup (Lookup) is made of Kind
// and Name, and Agency for superseded marks.
type IndexRow struct {
	Kind     byte   // KindID, KindKey or KindSuperseded
	Name     string // KindID: the event id; KindKey: the natural key; KindSuperseded: the superseded event id
	Agency   string // KindSuperseded: the correcting agency; KindKey entries: the emitting agency
	ID       string // KindKey: the event id of the entry added or removed
	Key      string // KindID: the natural key of the event's timeline, "" for none
	Seq      uint64 // stream sequence of the event that wrote the row
	Op       int8   // KindKey: +1 entry added, -1 entry removed
	At       int64  // entry: occurred_at, unix seconds
	Period   uint16 // entry: period bucket
	Day      int32  // entry: day number of occurred_at's province date
	Contribs []events.Contribution
}

// Kinds of index rows.
const (
	KindID         byte = 'i'
	KindKey        byte = 'k'
	KindSuperseded byte = 's'
)

// AppendLookup appends the row's lookup to b.
func (r *IndexRow) AppendLookup(b []byte) []byte { return appendLookup(b, r.Kind, r.Agency, r.Name) }

// Lookup returns the row's lookup string.
func (r *IndexRow) Lookup() string { return string(r.AppendLookup(nil)) }

// appendLookup appends "i:<id>", "k:<key>" or "s:<agency>/<id>" to b
// (agency is used by KindSuperseded only).
func appendLookup(b []byte, kind byte, agency, name string) []byte {
	b = append(b, kind, ':')
	if kind == KindSuperseded {
		b = append(append(b, agency...), '/')
	}
	return append(b, name...)
}

// LookupID names the index row of an applied event id.
func LookupID(id string) string { return string(appendLookup(nil, KindID, "", id)) }

// LookupKey names the index rows of a natural key's timeline.
func LookupKey(key string) string { return string(appendLookup(nil, KindKey, "", key)) }

// LookupSuperseded names the index row saying that a correction of agency
// superseded event id.
func LookupSuperseded(agency, id string) string {
	return string(appendLookup(nil, KindSuperseded, agency, id))
}

// LookupHash is the hash of a lookup by which cds.fold_index is ordered:
// cityHash64, as ClickHouse's cityHash64(lookup) computes it.
func LookupHash(l []byte) uint64 { return city.CH64(l) }

// resolved reports whether the index is known to have no row for the
// lookup of kind whose digest is d: it was fetched for this batch and not
// found.
func (s *State) resolved(kind byte, d id128) bool {
	_, ok := s.absent[lookupDigest{d, kind}]
	return ok
}

// lookupDigest names a lookup in the absent set: the digest the
// generations key it by (of the id, the superseded mark's pair, the key),
// and its kind.
type lookupDigest struct {
	d    id128
	kind byte
}

func notProvided(kind byte, agency, name string) string {
	return fmt.Sprintf("fold: lookup %q: not provided (call Lookups and Provide before Apply)", appendLookup(nil, kind, agency, name))
}

// minCommitsPerGeneration is the fewest batches a generation of an indexed
// State spans before it is retired. An item leaves memory at the Commit of
// a batch D only if it was committed by batch D-2 or earlier; the projector
// folds batch D+1 only once the writer has taken batch D, that is, has
// written D-1: what leaves memory is in the index before it is looked up,
// with one batch to spare (should writing D-1 fail, D-2 was written, and
// the fold of D+1, dropped anyway, still reads only written rows).
const minCommitsPerGeneration = 2

// NewIndexed returns a State backed by an index, after applied distinct
// event ids. It keeps in memory the items (ids, superseded marks,
// timelines) of at least the last minCommitsPerGeneration batches and of
// generations of limit items.
func NewIndexed(applied, limit int) *State {
	s := New()
	s.indexed, s.limit, s.applied = true, max(limit, 1), applied
	return s
}

// Indexed reports whether the State relies on an index.
func (s *State) Indexed() bool { return s.indexed }

// InMemory returns the number of ids, superseded marks and timelines the
// State holds in memory.
func (s *State) InMemory() int { return s.cur.size() + s.prev.size() }

// held looks d up in the current generation, then in the previous one.
func held[V any](cur, prev map[id128]V, d id128) (V, bool) {
	if v, ok := cur[d]; ok {
		return v, ok
	}
	v, ok := prev[d]
	return v, ok
}

// known returns what the generations hold at d; else, for an indexed
// State, the zero V once the index is known to have no row for the lookup
// (a programming error otherwise: the lookup was not provided).
func known[V any](s *State, cur, prev map[id128]V, d id128, kind byte, agency, name string) (V, bool) {
	v, ok := held(cur, prev, d)
	if !ok && s.indexed && !s.resolved(kind, d) {
		panic(notProvided(kind, agency, name))
	}
	return v, ok
}

func (s *State) key(d id128, id string) (string, bool) {
	return known(s, s.cur.keyOf, s.prev.keyOf, d, KindID, "", id)
}

func (s *State) isSuperseded(d id128, agency, id string) bool {
	_, ok := known(s, s.cur.superseded, s.prev.superseded, d, KindSuperseded, agency, id)
	return ok
}

func (s *State) timeline(k id128, key string) timeline {
	tl, _ := known(s, s.cur.timelines, s.prev.timelines, k, KindKey, "", key)
	return tl
}

// Lookups returns the lookups that the events need and that the State may
// have written to the index but does not hold: Provide them before Begin.
// Call it again after Provide until it returns none (a correction needs the
// timeline of the key its target entered, known once the target's id is
// provided). A State made by New never needs any. The slice is valid until
// the next Lookups, which reuses it.
func (s *State) Lookups(evs []*events.Event) []string {
	if !s.indexed {
		return nil
	}
	// Most events need three lookups (id, superseded mark, key) in the
	// first round. The slice and the set are the last call's, emptied;
	// the lookups' bytes are one arena of the most bytes per event the
	// calls before needed, whose strings stay valid while anything holds
	// them (a new arena, never one written over). The slice's elements
	// past the last call's length hold strings of older arenas (a round
	// or batch that needed more): all are dropped, or each arena would
	// live as long as any slot that points into it.
	clear(s.need[:cap(s.need)])
	out := s.need[:0]
	if s.seen == nil {
		s.seen = make(map[string]struct{}, 3*len(evs))
	}
	seen := s.seen
	defer clear(seen)
	var arena []byte // made at the first lookup needed: the last round needs none
	need := func(kind byte, d id128, agency, name string) {
		if s.holds(kind, d) || s.resolved(kind, d) {
			return
		}
		start := len(arena)
		if cap(arena)-start < len(agency)+len(name)+3 {
			// A full arena is left to the strings made in it.
			arena = make([]byte, 0, max(s.arena*len(evs), 2*cap(arena))+len(agency)+len(name)+3)
			start = 0
		}
		arena = appendLookup(arena, kind, agency, name)
		b := arena[start:]
		l := unsafe.String(unsafe.SliceData(b), len(b))
		if _, dup := seen[l]; !dup {
			seen[l] = struct{}{}
			out = append(out, l)
		} else {
			arena = arena[:start]
		}
	}
	total := 0
	for _, e := range evs {
		need(KindID, s.digest(e.ID), "", e.ID)
		need(KindSuperseded, s.digestPair(e.Agency, e.ID), e.Agency, e.ID)
		if !e.Retraction() {
			if key := e.Key(); key != "" {
				need(KindKey, s.digest(key), "", key)
			}
		}
		if e.Supersedes == "" {
			continue
		}
		d := s.digest(e.Supersedes)
		need(KindID, d, "", e.Supersedes)
		if key, ok := held(s.cur.keyOf, s.prev.keyOf, d); ok && key != "" {
			need(KindKey, s.digest(key), "", key)
		}
	}
	for _, l := range out {
		total += len(l)
	}
	// The room per event of the rounds so far: a round of a few
	// corrections takes a small arena, not one as large as a batch's.
	if len(evs) > 0 {
		s.arena = max(s.arena, (total+len(evs)-1)/len(evs))
	}
	s.need = out
	return out
}

// holds reports whether the generations hold the item of kind whose digest
// is d.
func (s *State) holds(kind byte, d id128) bool {
	var ok bool
	switch kind {
	case KindID:
		_, ok = held(s.cur.keyOf, s.prev.keyOf, d)
	case KindSuperseded:
		_, ok = held(s.cur.superseded, s.prev.superseded, d)
	default:
		_, ok = held(s.cur.timelines, s.prev.timelines, d)
	}
	return ok
}

// Provide hands the State the index rows found for the lookups asked (rows
// of other lookups are an error). A lookup without a row is known absent
// until the next Commit. Rows may repeat (a part written twice): each
// distinct row counts once. Provide keeps none of the rows' strings (it
// copies what it keeps): the caller may write over their bytes after.
func (s *State) Provide(lookups []string, rows []IndexRow) error {
	if !s.indexed {
		return nil
	}
	// The map, the rows grouped by lookup and the counts are the last
	// call's, emptied: a batch's lookups are tens of thousands, and a
	// lookup of a long timeline has a row per entry (appended to a slice
	// per lookup, they were a tenth of the projector's allocations).
	if s.asked == nil {
		s.asked = make(map[string]int, len(lookups))
	}
	asked := s.asked // lookup → its first index in lookups
	defer clear(asked)
	for i, l := range lookups {
		if _, dup := asked[l]; !dup {
			asked[l] = i
		}
	}
	p := &s.provided
	p.of = p.of[:0]
	if cap(p.start) <= len(lookups) {
		p.start = make([]int, len(lookups)+1)
	}
	p.start = p.start[:len(lookups)+1]
	clear(p.start)
	for i := range rows {
		p.lookup = rows[i].AppendLookup(p.lookup[:0])
		at, ok := asked[string(p.lookup)]
		if !ok {
			return fmt.Errorf("fold index: row for %q, which was not asked for", p.lookup)
		}
		p.of = append(p.of, at)
		p.start[at+1]++
	}
	for i := 1; i < len(p.start); i++ {
		p.start[i] += p.start[i-1]
	}
	// The rows of lookup i are grouped[start[i]:start[i+1]], in the order
	// found.
	if cap(p.grouped) < len(rows) {
		p.grouped = make([]IndexRow, len(rows))
	}
	grouped := p.grouped[:len(rows)]
	defer clear(grouped) // the rows hold the values' strings
	p.next = append(p.next[:0], p.start[:len(lookups)]...)
	for j := range rows {
		grouped[p.next[p.of[j]]] = rows[j]
		p.next[p.of[j]]++
	}
	if s.absent == nil {
		s.absent = map[lookupDigest]struct{}{}
	}
	for i, l := range lookups {
		if asked[l] != i {
			continue // asked twice: handled at its first index
		}
		rs := grouped[p.start[i]:p.start[i+1]]
		if len(l) < 2 || l[1] != ':' {
			return fmt.Errorf("fold index: malformed lookup %q", l)
		}
		kind, name := l[0], l[2:]
		switch {
		case kind == KindKey:
			tl, err := s.timelineOf(rs)
			if err != nil {
				return err
			}
			s.cur.timelines[s.digest(name)] = tl // empty: known to have no entry
		case len(rs) == 0 && kind == KindID:
			s.absent[lookupDigest{s.digest(name), kind}] = struct{}{}
		case len(rs) == 0 && kind == KindSuperseded:
			agency, id, ok := strings.Cut(name, "/")
			if !ok {
				return fmt.Errorf("fold index: malformed lookup %q: no agency", l)
			}
			s.absent[lookupDigest{s.digestPair(agency, id), kind}] = struct{}{}
		case kind == KindID:
			s.cur.keyOf[s.digest(name)] = strings.Clone(rs[0].Key)
		case kind == KindSuperseded:
			s.cur.superseded[s.digestPair(rs[0].Agency, rs[0].Name)] = struct{}{}
		default:
			return fmt.Errorf("fold index: unknown lookup %q", l)
		}
	}
	return nil
}

// timelineOf rebuilds a timeline from its index rows: the entries added and
// not removed, in timeline order.
func (s *State) timelineOf(rows []IndexRow) (timeline, error) {
	// Most timelines have a row or two: the ids removed and added are
	// looked up among the rows then, and kept in sets only for long ones
	// (two maps per timeline were most of what Provide allocated).
	var removed, added map[string]bool
	if len(rows) > smallTimeline {
		removed, added = map[string]bool{}, map[string]bool{}
		for _, r := range rows {
			if r.Op < 0 {
				removed[r.ID] = true
			}
		}
	}
	isRemoved := func(id string) bool {
		if removed != nil {
			return removed[id]
		}
		for _, r := range rows {
			if r.Op < 0 && r.ID == id {
				return true
			}
		}
		return false
	}
	var tl timeline
	if len(rows) > 0 {
		tl = make(timeline, 0, len(rows))
	}
	for i, r := range rows {
		if r.Op <= 0 || isRemoved(r.ID) {
			continue
		}
		if added != nil {
			if added[r.ID] {
				continue
			}
			added[r.ID] = true
		} else if slices.ContainsFunc(rows[:i], func(o IndexRow) bool { return o.Op > 0 && o.ID == r.ID }) {
			continue
		}
		en := entry{
			at: r.At, id: s.digest(r.ID), tie: city.CH64([]byte(r.ID)),
			day: r.Day, unit: s.intern(r.Agency), period: r.Period,
		}
		switch len(r.Contribs) {
		case 0:
		case 1:
			c := r.Contribs[0]
			en.n, en.c0 = 1, contrib{ind: s.intern(c.Indicator), dim: s.intern(c.Dim), num: c.Num, den: c.Den}
		default:
			cs := make([]contrib, len(r.Contribs))
			for i, c := range r.Contribs {
				cs[i] = contrib{ind: s.intern(c.Indicator), dim: s.intern(c.Dim), num: c.Num, den: c.Den}
			}
			en.n, en.more = uint8(min(len(cs), 255)), &cs
		}
		tl = append(tl, en)
	}
	slices.SortFunc(tl, func(a, b entry) int {
		switch {
		case a.before(&b):
			return -1
		case b.before(&a):
			return 1
		}
		return 0
	})
	return tl, nil
}

// smallTimeline is the most index rows of a timeline that timelineOf
// dedups without sets.
const smallTimeline = 16

// Replay computes the rollup cells of whole timelines from their index rows,
// without the rest of the state: the cells of a log are the sum over its
// keys of the cells of each key's timeline.
type Replay struct{ t *Txn }

// NewReplay returns an empty Replay.
func NewReplay() *Replay { return &Replay{t: New().Begin()} }

// Timeline adds the cells of the timeline made of rows, every index row of
// one natural key.
func (r *Replay) Timeline(rows []IndexRow) error {
	tl, err := r.t.s.timelineOf(rows)
	if err != nil {
		return err
	}
	r.t.emit(tl, 0, len(tl), +1)
	return nil
}

// Len returns the number of cells held.
func (r *Replay) Len() int { return len(r.t.cells) }

// Flush returns the non-zero cells held, in a stable order, and forgets
// them. The slice is valid until the next Flush.
func (r *Replay) Flush() []Row {
	rows := r.t.Rows()
	clear(r.t.cells)
	return rows
}
