package projector

import (
	"context"
	"fmt"
	"time"
)

// rewindChunk is the most cell rows Rewind sends in one INSERT.
const rewindChunk = 200000

// Rewind moves the projections back to just before stream sequence from, so
// that Run then folds the log again from there. from <= 1 empties cds.events
// and cds.rollup. A later from keeps the raw rows below it, deletes the
// others, and recomputes every cell from the rows kept; from is lowered to
// the watermark + 1 if it is above. Rewind returns the sequence Run will
// continue from.
//
// Call Rewind before Run, with no other projector running against the
// database. It is crash-safe: it first removes every commit marker, and only
// its last INSERT writes one, so an interrupted Rewind leaves "nothing
// committed", which the next recovery empties and refolds from the log.
func (p *Projector) Rewind(ctx context.Context, from uint64) (uint64, error) {
	pos, err := p.settle(ctx)
	if err != nil {
		return 0, err
	}
	if from > pos.seq+1 {
		from = pos.seq + 1
	}
	if from <= 1 {
		if err := p.truncate(ctx); err != nil {
			return 0, err
		}
		p.setPos(position{})
		return 1, nil
	}
	start := time.Now()
	if err := p.db.Exec(ctx, "TRUNCATE TABLE "+p.db.Table("rollup")); err != nil {
		return 0, fmt.Errorf("rewind: truncate rollup: %w", err)
	}
	p.loaded = false
	if err := p.deleteAbove(ctx, from-1); err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	rows, sum, err := p.fingerprint(ctx, "events")
	if err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	idxRows, idxSum, err := p.fingerprint(ctx, "fold_index")
	if err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	cells, err := p.refold(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	next := position{seq: from - 1, rows: rows, sum: sum, idxRows: idxRows, idxSum: idxSum}
	for i := 0; ; i += rewindChunk {
		c := newCellColumns(min(rewindChunk, len(cells)-i) + 2)
		for _, r := range cells[i:min(i+rewindChunk, len(cells))] {
			c.add(r)
		}
		if i+rewindChunk >= len(cells) {
			c.marker(p.cfg.Stream, position{}, next)
		}
		if err := p.sendCells(ctx, c, next.seq); err != nil {
			return 0, fmt.Errorf("rewind: %w", err)
		}
		if i+rewindChunk >= len(cells) {
			break
		}
	}
	st, err := p.loadIndexed(ctx, next)
	if err != nil {
		return 0, fmt.Errorf("rewind: %w", err)
	}
	p.setState(st)
	p.setPos(next)
	p.log.Info("projections rewound", "seq", next.seq, "events", rows, "cells", len(cells), "took", time.Since(start).Round(time.Millisecond))
	return from, nil
}
