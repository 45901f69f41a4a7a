package projector

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/fold"
	"github.com/bacgiang/cds/internal/foldstore"
)

// The fold state of a running projector is indexed (fold.NewIndexed): what
// it does not hold in memory it reads from its local fold store (package
// foldstore), a copy of cds.fold_index that the writer brings up to each
// commit right after it lands. cds.fold_index, which every batch writes
// before its commit marker like cds.events, stays the durable copy the
// store is refilled from (syncStore).

// storeMark is the foldstore.Mark of a position: what the store holds once
// it reflects the commit of pos.
func storeMark(pos position) foldstore.Mark {
	m := foldstore.Mark{Seq: pos.seq, Rows: pos.idxRows, Sum: pos.idxSum}
	if pos.hashSeq == pos.seq {
		m.Hash = pos.hash
	}
	return m
}

// indexColumns holds cds.fold_index columns of a batch, appended
// column-wise, and their fingerprint. Lookups and values share one byte
// arena.
type indexColumns struct {
	arena       []byte
	h, seq      []uint64
	lookup, val []string
	sum         uint64 // of seq mod seqModulus
}

func newIndexColumns(rows []fold.IndexRow) *indexColumns { return fillIndexColumns(nil, rows) }

// fillIndexColumns returns the columns of rows: c's, emptied, when it has
// the room (a written batch's, see recycle), else new ones with a quarter
// more room than rows need.
func fillIndexColumns(c *indexColumns, rows []fold.IndexRow) *indexColumns {
	n := len(rows)
	size := 0
	for i := range rows {
		r := &rows[i]
		size += 3 + len(r.Agency) + len(r.Name) + len(r.Key) + len(r.ID) + 40
		for _, x := range r.Contribs {
			size += len(x.Indicator) + len(x.Dim) + 20
		}
	}
	if c == nil || cap(c.lookup) < n || cap(c.arena) < size {
		n, size = n+n/4, size+size/4
		c = &indexColumns{h: make([]uint64, 0, n), seq: make([]uint64, 0, n), lookup: make([]string, 0, n), val: make([]string, 0, n), arena: make([]byte, 0, size)}
	} else {
		// Nothing holds the strings of the batch these columns were
		// written for: the arena is written over.
		c.arena, c.h, c.seq, c.lookup, c.val, c.sum = c.arena[:0], c.h[:0], c.seq[:0], c.lookup[:0], c.val[:0], 0
	}
	for i := range rows {
		c.add(&rows[i])
	}
	return c
}

// clear drops the strings of the columns (views of the arena).
func (c *indexColumns) clear() {
	clear(c.lookup)
	clear(c.val)
}

func (c *indexColumns) add(r *fold.IndexRow) {
	// An append beyond the capacity moves the arena: the strings made
	// before keep the old array alive, and no byte under them is written.
	start := len(c.arena)
	c.arena = r.AppendLookup(c.arena)
	mid := len(c.arena)
	c.arena = fold.AppendValue(c.arena, r)
	l, v := c.arena[start:mid], c.arena[mid:]
	c.lookup = append(c.lookup, unsafe.String(unsafe.SliceData(l), len(l)))
	c.val = append(c.val, unsafe.String(unsafe.SliceData(v), len(v)))
	c.h = append(c.h, fold.LookupHash(l))
	c.seq = append(c.seq, r.Seq)
	c.sum += r.Seq % seqModulus
}

func (c *indexColumns) rows() int { return len(c.lookup) }

// insertIndex writes the index rows of a batch. Like the raw rows, they are
// deleted on recovery when the batch's marker did not land.
func (p *Projector) insertIndex(ctx context.Context, c *indexColumns, last uint64) error {
	if c.rows() == 0 {
		return nil
	}
	if err := p.db.InsertFoldIndex(ctx, p.qid.next("fold_index", last), c.h, c.lookup, c.seq, c.val); err != nil {
		return fmt.Errorf("insert fold index: %w", err)
	}
	return nil
}

// provide gives the fold state what it needs of the index for evs: a few
// rounds of Lookups, reads from the local store, Provide.
func (p *Projector) provide(evs []*events.Event) error {
	for round := 0; ; round++ {
		need := p.state.Lookups(evs)
		if len(need) == 0 {
			// The rows fetched were provided: their strings are not
			// held while the batch is written.
			clear(p.fetched)
			clear(p.contribs)
			return nil
		}
		if round == 3 {
			return fmt.Errorf("fold index: lookups still needed after %d rounds: %d", round, len(need))
		}
		start := time.Now()
		rows, err := p.fetchIndex(need)
		if err != nil {
			return err
		}
		if err := p.state.Provide(need, rows); err != nil {
			return err
		}
		p.m.indexLookups.Add(float64(len(need)))
		p.m.indexFetchTime.Observe(time.Since(start).Seconds())
		// What an event needs is provided in the first round, but for a
		// correction, which then needs the timeline its target entered:
		// the next rounds look at the corrections only.
		if round == 0 {
			evs = corrections(evs)
		}
	}
}

// corrections returns the events of evs that supersede another.
func corrections(evs []*events.Event) []*events.Event {
	var out []*events.Event
	for _, e := range evs {
		if e.Supersedes != "" {
			out = append(out, e)
		}
	}
	return out
}

// fetchIndex reads the index rows of lookups from the local store. The
// slice is the reader's, valid until the next call: the rows' strings are
// views of the values' bytes, copied into one buffer that the next call
// writes over (Provide keeps none of them). A key of a long timeline has a
// row per entry, and a copy of each value was a few percent of the
// projector's allocations, growing with the log.
func (p *Projector) fetchIndex(lookups []string) ([]fold.IndexRow, error) {
	clear(p.fetched) // the last call's rows hold their values' strings
	clear(p.contribs)
	out, contribs, values := p.fetched[:0], p.contribs[:0], p.values[:0]
	defer func() { p.fetched, p.contribs, p.values = out, contribs, values[:0] }()
	err := p.store.Get(lookups, func(i int, v []byte) error {
		// A value appended beyond the buffer's room moves it: the
		// strings made before keep the old array, never written again.
		start := len(values)
		values = append(values, v...)
		var value string
		if len(v) > 0 {
			value = unsafe.String(&values[start], len(v))
		}
		r, more, err := fold.ParseRowAppend(lookups[i], value, contribs)
		contribs = more
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// syncStore brings the local fold store to the commit of pos, from
// cds.fold_index (from which recovery has deleted every row above pos):
//
//   - at pos: nothing to do (a restart, most recoveries);
//   - behind pos, and what it holds is what cds.fold_index holds up to its
//     mark (same fingerprint of the rows up to its sequence, same message
//     at that sequence in the log): the rows above its mark are added (a
//     standby taking over, a write to the store that failed after its
//     commit, the machine's crash losing its last writes);
//   - otherwise (ahead of pos: the commit it reflects was lost or rewound;
//     another history; emptied at open): it is emptied and refilled.
func (p *Projector) syncStore(ctx context.Context, pos position) error {
	want := storeMark(pos)
	have := p.store.Mark()
	if have == want || (have.Seq == want.Seq && have.Rows == want.Rows && have.Sum == want.Sum && (have.Hash == 0 || want.Hash == 0)) {
		return nil
	}
	start := time.Now()
	from := have.Seq
	ok, err := p.storePrefix(ctx, have, pos)
	if err != nil {
		return err
	}
	if !ok {
		p.log.Info("fold store: not a copy of cds.fold_index below the watermark; refilling it", "store_seq", have.Seq, "seq", pos.seq)
		if err := p.store.Reset(); err != nil {
			return err
		}
		from = 0
	}
	var n int
	err = p.store.Load(want, func(add func(foldstore.Row) error) error {
		return p.db.ScanFoldIndexSeqs(ctx, from, pos.seq, func(lookup, v string) error {
			n++
			return add(foldstore.Row{Lookup: lookup, Value: v})
		})
	})
	if err != nil {
		return err
	}
	p.m.storeLoads.Inc()
	p.log.Info("fold store filled from cds.fold_index", "from_seq", from, "seq", pos.seq, "rows", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// storePrefix reports whether a store at have holds what cds.fold_index
// holds up to have.Seq, below pos: its rows counted as the markers count
// them, and the log's message at have.Seq the one it folded.
func (p *Projector) storePrefix(ctx context.Context, have foldstore.Mark, pos position) (bool, error) {
	if have.Seq > pos.seq {
		return false, nil
	}
	if have.Seq == 0 {
		return have == foldstore.Mark{}, nil
	}
	if have.Seq == pos.seq || have.Hash == 0 {
		return false, nil // same sequence, other rows; or a store that cannot be checked
	}
	rows, sum, err := p.db.FoldIndexFingerprintUpTo(ctx, have.Seq, seqModulus)
	if err != nil {
		return false, err
	}
	if rows != have.Rows || sum != have.Sum {
		return false, nil
	}
	hash, err := p.hashAt(ctx, have.Seq)
	if err != nil {
		return false, err
	}
	return hash == have.Hash, nil
}
