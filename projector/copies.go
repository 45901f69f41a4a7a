package projector

import (
	"context"
	"time"
)

// syncCopies makes the pre-aggregated copy of cds.rollup that the scores
// read, cds.rollup_sums (internal/chdb/copies.go), agree with it again when
// their commit markers say they do not: after an upgrade that created it
// empty, a lost part, or an INSERT whose cells reached cds.rollup but not
// the copy. It runs in the recovery, after settle, while this projector is
// the only writer.
// Until it has run, readers scan cds.rollup instead (docs/operations.md).
func (p *Projector) syncCopies(ctx context.Context) error {
	agree, err := p.db.CopiesAgree(ctx)
	if err != nil || agree {
		return err
	}
	if err := p.fence("a refill of the copies of cds.rollup"); err != nil {
		return err
	}
	start := time.Now()
	p.log.Warn("the copies of cds.rollup disagree with its commit markers: refilling cds.rollup_sums from cds.rollup")
	if err := p.db.RefillCopies(ctx); err != nil {
		return err
	}
	p.log.Info("cds.rollup_sums refilled", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
