package projector

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/bloom"
	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/fold"
)

// The fold state of a running projector is indexed (fold.NewIndexed): what
// it does not hold in memory it reads from cds.fold_index, which every batch
// writes before its commit marker, like cds.events.

// indexFalsePositives is the rate of lookups the Bloom filter sends to
// ClickHouse for nothing: 1 in 1000, about 2 bytes per lookup written.
const indexFalsePositives = 0.001

// lookupChunk is the most lookups one SELECT asks for (the query text stays
// far below ClickHouse's max_query_size of 256 KiB).
const lookupChunk = 2000

// indexColumns holds cds.fold_index columns of a batch, appended
// column-wise, and their fingerprint. The lookups share one byte arena.
type indexColumns struct {
	arena                   []byte
	lookup, id, key, agency []string
	seq                     []uint64
	op                      []int8
	at                      []int64
	period                  []uint16
	day                     []int32
	ind, dim                [][]string
	num, den                [][]float64
	sum                     uint64 // of seq mod seqModulus
}

func newIndexColumns(rows []fold.IndexRow) *indexColumns {
	n := len(rows)
	c := &indexColumns{
		lookup: make([]string, 0, n), id: make([]string, 0, n), key: make([]string, 0, n), agency: make([]string, 0, n),
		seq: make([]uint64, 0, n), op: make([]int8, 0, n), at: make([]int64, 0, n),
		period: make([]uint16, 0, n), day: make([]int32, 0, n),
		ind: make([][]string, 0, n), dim: make([][]string, 0, n), num: make([][]float64, 0, n), den: make([][]float64, 0, n),
	}
	size := 0
	for i := range rows {
		size += 3 + len(rows[i].Agency) + len(rows[i].Name)
	}
	c.arena = make([]byte, 0, size)
	for i := range rows {
		c.add(&rows[i])
	}
	return c
}

func (c *indexColumns) add(r *fold.IndexRow) {
	start := len(c.arena)
	c.arena = r.AppendLookup(c.arena) // within capacity: earlier strings stay valid
	l := c.arena[start:]
	c.lookup = append(c.lookup, unsafe.String(unsafe.SliceData(l), len(l)))
	agency := ""
	if r.Kind == fold.KindKey {
		agency = r.Agency
	}
	c.id, c.key, c.agency = append(c.id, r.ID), append(c.key, r.Key), append(c.agency, agency)
	c.seq, c.op, c.at = append(c.seq, r.Seq), append(c.op, r.Op), append(c.at, r.At)
	c.period, c.day = append(c.period, r.Period), append(c.day, r.Day)
	ind, dim := make([]string, len(r.Contribs)), make([]string, len(r.Contribs))
	num, den := make([]float64, len(r.Contribs)), make([]float64, len(r.Contribs))
	for i, x := range r.Contribs {
		ind[i], dim[i], num[i], den[i] = x.Indicator, x.Dim, x.Num, x.Den
	}
	c.ind, c.dim, c.num, c.den = append(c.ind, ind), append(c.dim, dim), append(c.num, num), append(c.den, den)
	c.sum += r.Seq % seqModulus
}

func (c *indexColumns) rows() int { return len(c.lookup) }

const indexColumnList = "lookup, id, key, seq, op, agency, at, period, day, c_ind, c_dim, c_num, c_den"

// insertIndex writes the index rows of a batch. Like the raw rows, they are
// deleted on recovery when the batch's marker did not land.
func (p *Projector) insertIndex(ctx context.Context, c *indexColumns, last uint64) error {
	if c.rows() == 0 {
		return nil
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithQueryID(p.qid.next("fold_index", last)))
	b, err := p.db.PrepareBatch(qctx, "INSERT INTO "+p.db.Table("fold_index")+" ("+indexColumnList+")")
	if err != nil {
		return fmt.Errorf("insert fold index: %w", err)
	}
	cols := []any{c.lookup, c.id, c.key, c.seq, c.op, c.agency, c.at, c.period, c.day, c.ind, c.dim, c.num, c.den}
	for i, col := range cols {
		if err := b.Column(i).Append(col); err != nil {
			b.Abort()
			return fmt.Errorf("insert fold index: column %d: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
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

// fetchIndex reads the index rows of lookups.
func (p *Projector) fetchIndex(ctx context.Context, lookups []string) ([]fold.IndexRow, error) {
	var out []fold.IndexRow
	q := "SELECT " + indexColumnList + " FROM " + p.db.Table("fold_index") + " WHERE lookup IN ?"
	for from := 0; from < len(lookups); from += lookupChunk {
		chunk := lookups[from:min(from+lookupChunk, len(lookups))]
		vs := make([]any, len(chunk))
		for i, l := range chunk {
			vs[i] = l
		}
		rows, err := p.db.Query(ctx, q, clickhouse.GroupSet{Value: vs})
		if err != nil {
			return nil, fmt.Errorf("read fold index: %w", err)
		}
		for rows.Next() {
			var (
				r        fold.IndexRow
				lookup   string
				ind, dim []string
				num, den []float64
			)
			if err := rows.Scan(&lookup, &r.ID, &r.Key, &r.Seq, &r.Op, &r.Agency, &r.At, &r.Period, &r.Day, &ind, &dim, &num, &den); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read fold index: %w", err)
			}
			if err := parseLookup(lookup, &r); err != nil {
				rows.Close()
				return nil, err
			}
			if len(dim) != len(ind) || len(num) != len(ind) || len(den) != len(ind) {
				rows.Close()
				return nil, fmt.Errorf("read fold index: %s: contribution arrays of different lengths", lookup)
			}
			for i := range ind {
				r.Contribs = append(r.Contribs, events.Contribution{Indicator: ind[i], Dim: dim[i], Num: num[i], Den: den[i]})
			}
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read fold index: %w", err)
		}
	}
	return out, nil
}

// parseLookup sets r's Kind, Name and, for superseded marks, Agency from a
// stored lookup.
func parseLookup(l string, r *fold.IndexRow) error {
	if len(l) < 2 || l[1] != ':' {
		return fmt.Errorf("read fold index: malformed lookup %q", l)
	}
	r.Kind, r.Name = l[0], l[2:]
	switch r.Kind {
	case fold.KindID, fold.KindKey:
	case fold.KindSuperseded:
		// Agency codes have no '/'; event ids may.
		for i := 0; i < len(r.Name); i++ {
			if r.Name[i] == '/' {
				r.Agency, r.Name = r.Name[:i], r.Name[i+1:]
				return nil
			}
		}
		return fmt.Errorf("read fold index: malformed lookup %q", l)
	default:
		return fmt.Errorf("read fold index: unknown lookup %q", l)
	}
	return nil
}

// loadIndexed makes the indexed fold state of the committed position: a
// Bloom filter of every lookup in cds.fold_index (ClickHouse computes the
// hashes) and nothing else in memory.
func (p *Projector) loadIndexed(ctx context.Context, pos position) (*fold.State, error) {
	filter := bloom.New(max(2*int(pos.idxRows), 1<<20), indexFalsePositives)
	rows, err := p.db.Query(ctx, "SELECT cityHash64(lookup) FROM "+p.db.Table("fold_index"))
	if err != nil {
		return nil, fmt.Errorf("load fold index: %w", err)
	}
	defer rows.Close()
	var h uint64
	for rows.Next() {
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("load fold index: %w", err)
		}
		filter.Add(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load fold index: %w", err)
	}
	return fold.NewIndexed(filter, int(pos.rows), p.cfg.FoldCache), nil
}
