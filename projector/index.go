package projector

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/bloom"
	"github.com/bacgiang/cds/internal/fold"
)

// The fold state of a running projector is indexed (fold.NewIndexed): what
// it does not hold in memory it reads from cds.fold_index, which every batch
// writes before its commit marker, like cds.events.

// indexFalsePositives is the rate of lookups the Bloom filter sends to
// ClickHouse for nothing: below 1 in 100, about 1.3 bytes per lookup written
// (a batch of 10,000 new events, about 30,000 checks, then reads a few
// hundred granules of 256 rows).
const indexFalsePositives = 0.01

// lookupsPerEvent is about how many lookups an event writes (its id and its
// key; corrections more): the filter is sized for the backlog.
const lookupsPerEvent = 2.2

// lookupChunk is the most lookups one SELECT asks for (the query text stays
// far below ClickHouse's max_query_size of 256 KiB).
const lookupChunk = 2000

// indexColumns holds cds.fold_index columns of a batch, appended
// column-wise, and their fingerprint. Lookups and values share one byte
// arena.
type indexColumns struct {
	arena       []byte
	h, seq      []uint64
	lookup, val []string
	sum         uint64 // of seq mod seqModulus
}

func newIndexColumns(rows []fold.IndexRow) *indexColumns {
	n := len(rows)
	c := &indexColumns{h: make([]uint64, 0, n), seq: make([]uint64, 0, n), lookup: make([]string, 0, n), val: make([]string, 0, n)}
	size := 0
	for i := range rows {
		r := &rows[i]
		size += 3 + len(r.Agency) + len(r.Name) + len(r.Key) + len(r.ID) + 40
		for _, x := range r.Contribs {
			size += len(x.Indicator) + len(x.Dim) + 20
		}
	}
	c.arena = make([]byte, 0, size)
	for i := range rows {
		c.add(&rows[i])
	}
	return c
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
// rounds of Lookups, a SELECT by lookup, Provide.
func (p *Projector) provide(ctx context.Context, evs []*events.Event) error {
	for round := 0; ; round++ {
		need := p.state.Lookups(evs)
		if len(need) == 0 {
			return nil
		}
		if round == 3 {
			return fmt.Errorf("fold index: lookups still needed after %d rounds: %d", round, len(need))
		}
		start := time.Now()
		rows, err := p.fetchIndex(ctx, need)
		if err != nil {
			return err
		}
		if err := p.state.Provide(need, rows); err != nil {
			return err
		}
		p.m.indexLookups.Add(float64(len(need)))
		p.m.indexFetchTime.Observe(time.Since(start).Seconds())
	}
}

// fetchIndex reads the index rows of lookups, by their hashes (rows of
// other lookups with the same hash are left out).
func (p *Projector) fetchIndex(ctx context.Context, lookups []string) ([]fold.IndexRow, error) {
	var out []fold.IndexRow
	for from := 0; from < len(lookups); from += lookupChunk {
		chunk := lookups[from:min(from+lookupChunk, len(lookups))]
		asked := make(map[string]struct{}, len(chunk))
		hs := make([]uint64, len(chunk))
		for i, l := range chunk {
			asked[l] = struct{}{}
			hs[i] = fold.LookupHash([]byte(l))
		}
		err := p.db.ScanFoldIndexByHash(ctx, hs, func(lookup, v string) error {
			if _, ok := asked[lookup]; !ok {
				return nil
			}
			r, err := fold.ParseRow(lookup, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadIndexed makes the indexed fold state of the committed position: a
// Bloom filter of every lookup in cds.fold_index (from the column of their
// hashes) and nothing else in memory.
//
// The filter is sized for the rows already written and those the messages
// already in the stream will write, with a quarter more: a filter that
// grows adds slices at a lower false-positive rate, which costs more memory
// per lookup than sizing it right at start (each start sizes it again).
func (p *Projector) loadIndexed(ctx context.Context, pos position) (*fold.State, error) {
	last, err := p.streamLastSeq(ctx)
	if err != nil {
		return nil, err
	}
	backlog := float64(last - min(last, pos.seq))
	filter := bloom.New(max(int(1.25*(float64(pos.idxRows)+lookupsPerEvent*backlog)), 1<<20), indexFalsePositives)
	if err := p.db.ScanFoldIndexHashes(ctx, filter.Add); err != nil {
		return nil, err
	}
	return fold.NewIndexed(filter, int(pos.rows), p.cfg.FoldCache), nil
}
