package fold

import "strings"

// Links. A State that tracks links (TrackLinks) keeps, for every key a batch
// changes, the key's timeline as it was before the batch; Txn.Links then
// names the entries whose next entry the batch changed, and those it
// removed: what the drill-down's tables (cds.drill_list, cds.drill_days)
// must be told, each entry with the occurred_at of the entry after it and
// of the one after it before the batch.

// NoNext is Link.Next of the latest entry of its timeline: the largest
// unix second a ClickHouse DateTime holds.
const NoNext = 1<<32 - 1

// Link is an entry of a key's timeline whose next entry a batch set or
// changed, or that the batch removed.
type Link struct {
	Entity  string // the key's entity: the key up to its first '/'
	Agency  string // the emitting agency
	At      int64  // occurred_at, unix seconds
	Tie     uint64 // cityHash64 of the event id: the timeline's tie-break
	Removes bool   // the event contributes nothing (its type ends the key)
	Next    int64  // occurred_at of the next entry; NoNext for the latest; At for an entry removed
	Before  int64  // Next before the batch; At for an entry the batch added
}

// keyBefore is a key's timeline before the batch.
type keyBefore struct {
	key string
	tl  timeline
}

// linkLog holds the timelines a batch changed, as they were before it, and
// the slices Links made for the last batch, emptied, for the next.
type linkLog struct {
	before  map[id128]keyBefore
	out     []Link
	matched []bool
}

// TrackLinks makes s keep what Txn.Links needs, from its next batch on.
func (s *State) TrackLinks() { s.links = &linkLog{before: map[id128]keyBefore{}} }

// saw records the timeline of key (digest k) before the batch changed it,
// the first time the batch changes it; tl is not written after.
func (l *linkLog) saw(k id128, key string, tl timeline) {
	if _, ok := l.before[k]; !ok {
		l.before[k] = keyBefore{key: key, tl: tl}
	}
}

// Links returns the links of the batch: every entry whose next entry is
// not what it was before the batch (a new entry, or one a new or removed
// neighbour moved), and every entry the batch removed (a correction or a
// retraction), with Next its own occurred_at; Before is each entry's next
// before the batch (what cds.drill_days counted it under). It must be called before
// Commit, once; nil when s does not track links. The slice is valid until
// the next batch's Links, which reuses it.
func (t *Txn) Links() []Link {
	l := t.s.links
	if l == nil {
		return nil
	}
	clear(l.out) // the last batch's links hold its strings
	out := l.out[:0]
	for k, kb := range l.before {
		after := t.timelines[k]
		entity, _, _ := strings.Cut(kb.key, "/")
		// Most timelines are short: the entries before the batch are
		// matched by a scan, those of a long one by a map.
		if cap(l.matched) < len(kb.tl) {
			l.matched = make([]bool, len(kb.tl))
		}
		matched := l.matched[:len(kb.tl)]
		clear(matched)
		var pos map[id128]int
		if len(kb.tl) > longTimeline {
			pos = make(map[id128]int, len(kb.tl))
			for j := range kb.tl {
				pos[kb.tl[j].id] = j
			}
		}
		for i := range after {
			en := &after[i]
			n := next(after, i)
			j := find(kb.tl, pos, en.id)
			if j >= 0 {
				matched[j] = true
			}
			before := en.at
			if j >= 0 {
				before = next(kb.tl, j)
			}
			if before != n || j < 0 {
				out = append(out, t.link(entity, en, n, before))
			}
		}
		for j := range kb.tl {
			if !matched[j] {
				out = append(out, t.link(entity, &kb.tl[j], kb.tl[j].at, next(kb.tl, j)))
			}
		}
	}
	clear(l.before)
	l.out = out
	return out
}

// longTimeline is the longest timeline whose entries Links matches by a
// scan.
const longTimeline = 16

// find returns the index of the entry of id in tl (by pos when not nil),
// or -1.
func find(tl timeline, pos map[id128]int, id id128) int {
	if pos != nil {
		if j, ok := pos[id]; ok {
			return j
		}
		return -1
	}
	for i := range tl {
		if tl[i].id == id {
			return i
		}
	}
	return -1
}

// next is the occurred_at of the entry after tl[i], NoNext for the last.
func next(tl timeline, i int) int64 {
	if i+1 < len(tl) {
		return tl[i+1].at
	}
	return NoNext
}

func (t *Txn) link(entity string, en *entry, next, before int64) Link {
	return Link{Entity: entity, Agency: t.s.names[en.unit], At: en.at, Tie: en.tie, Removes: en.n == 0, Next: next, Before: before}
}
