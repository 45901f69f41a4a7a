package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
)

// The drill-down's tables, cds.drill_list and cds.drill_days (internal/
// chdb/drilltable.go): every batch writes the rows of the timeline entries
// whose next entry it set or changed (fold.Txn.Links), and the deltas of
// their counts per day, each table with its marker at the batch's last
// sequence in one INSERT, before its commit marker, like cds.events; and
// first, the same rows with their next before the batch into cds.drill_log
// (internal/chdb/drilllog.go), for readers pinned at an earlier commit. The
// fold state knows each changed key's neighbours: it holds or is provided
// the whole timeline of every key a batch touches.

// fillDrillColumns makes the drill rows of a batch's links, versioned by
// seq, the batch's last sequence, and the tables' markers at seq, moved
// from prev, the commit the batch continues: in c, a written batch's
// columns (recycle), emptied, when it has the room, else in new ones.
func fillDrillColumns(c *chdb.DrillColumns, links []fold.Link, seq, prev uint64) *chdb.DrillColumns {
	n := len(links) + 1
	if c != nil && cap(c.Entity) >= n {
		c.Reset()
	} else {
		n += n / 4
		c = &chdb.DrillColumns{
			Entity: make([]string, 0, n), Agency: make([]string, 0, n),
			OccurredAt: make([]uint32, 0, n), NextAt: make([]uint32, 0, n),
			Tie: make([]uint64, 0, n), Seq: make([]uint64, 0, n), Removes: make([]uint8, 0, n),
			Before: make([]uint32, 0, n),
		}
	}
	for _, l := range links {
		c.Add(l.Entity, l.Agency, uint32(l.At), uint32(l.Next), uint32(l.Before), l.Tie, l.Removes, seq)
	}
	c.AddMarker(seq, prev)
	return c
}

// insertDrill writes the drill rows of a batch. Rows of a batch whose
// marker did not land make the recovery refill the table (syncDrill).
func (p *Projector) insertDrill(ctx context.Context, c *chdb.DrillColumns, last uint64) error {
	if err := p.db.InsertDrill(ctx, p.qid.next("drill", last), c); err != nil {
		return fmt.Errorf("insert drill rows: %w", err)
	}
	return nil
}

// syncDrill makes the drill-down tables agree with the commit of pos: when
// a marker is another commit (tables created empty by an upgrade, a lost
// part, a batch that failed after its drill rows landed) or cds.drill_list
// or cds.drill_log holds rows above pos (an unfinished batch: not deleted,
// since a merge may have let them replace committed rows), all three are
// refilled from cds.events (the log emptied). It runs in the recovery,
// after settle, while this projector is the only writer. Until it has run,
// readers take back the unfinished batch's rows with the log, or list
// drill-downs from cds.events (chdb.ErrDrillBehind, chdb.ErrDrillMoved).
func (p *Projector) syncDrill(ctx context.Context, pos position) error {
	mark, above, err := p.db.DrillState(ctx, pos.seq)
	if err != nil || (mark == pos.seq && above == 0) {
		return err
	}
	if err := p.fence("a refill of the drill-down tables"); err != nil {
		return err
	}
	start := time.Now()
	p.log.Warn("the drill-down tables are not at the committed position: refilling them from cds.events", "drill_seq", mark, "rows_above", above, "seq", pos.seq)
	if err := p.db.RefillDrill(ctx, pos.seq); err != nil {
		return err
	}
	p.log.Info("the drill-down tables refilled", "seq", pos.seq, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
