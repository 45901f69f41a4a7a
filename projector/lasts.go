package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
)

// The copy of the latest events per agency and type, cds.event_lasts
// (internal/chdb/lasts.go), which silence reads: every batch writes the
// rows its raw rows make and the table's marker at its last sequence in
// one INSERT, before its commit marker, like cds.events.

// fillLasts makes in l, emptied, the rows of cds.event_lasts of a batch's
// raw rows and the table's marker at seq, the batch's last sequence. The
// writer calls it with its own l just before it sends the raw rows: a map
// of a batch's keys held per batch in flight was 7.5 MB of the live heap
// at 3.5M drained (docs/performance.md, "The projector's live heap").
func fillLasts(l *chdb.LastsColumns, raw *chdb.EventColumns, seq uint64) {
	l.Reset()
	l.Add(raw)
	l.AddMarker(seq)
}

// insertLasts writes the rows of cds.event_lasts of a batch. Rows of a
// batch whose commit marker did not land make the recovery refill the
// table (syncLasts).
func (p *Projector) insertLasts(ctx context.Context, l *chdb.LastsColumns, last uint64) error {
	if err := p.db.InsertLasts(ctx, p.qid.next("lasts", last), l); err != nil {
		return fmt.Errorf("insert latest events: %w", err)
	}
	return nil
}

// syncLasts makes cds.event_lasts agree with the commit of pos: when its
// marker is another commit (a table created empty by an upgrade, a lost
// part, a batch that failed after its rows landed) or rows above pos are
// there (an unfinished batch: a maximum cannot be taken back, and the
// deleted raw rows' may have replaced committed ones in a merge), it is
// refilled from cds.events. It runs in the recovery, after settle deleted
// the unfinished batch's raw rows, while this projector is the only
// writer. Until then readers read the keys with rows above their commit,
// or everything when the marker is behind, from cds.events.
func (p *Projector) syncLasts(ctx context.Context, pos position) error {
	mark, above, err := p.db.LastsState(ctx, pos.seq)
	if err != nil || (mark == pos.seq && above == 0) {
		return err
	}
	if err := p.fence("a refill of cds.event_lasts"); err != nil {
		return err
	}
	start := time.Now()
	p.log.Warn("cds.event_lasts is not at the committed position: refilling it from cds.events", "lasts_seq", mark, "rows_above", above, "seq", pos.seq)
	if err := p.db.RefillLasts(ctx, pos.seq); err != nil {
		return err
	}
	p.log.Info("cds.event_lasts refilled", "seq", pos.seq, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
