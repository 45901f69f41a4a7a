package bench

import (
	"context"
	"fmt"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/history"
)

// historyRefresh times a full computation of the score history (what the
// first refresh of a cds serve does) on the events loaded, and its rows.
func (e *env) historyRefresh(ctx context.Context) error {
	e.Progressf("score history, full computation, with %d events loaded", e.last)
	r := history.New(history.Config{}, e.db, catalog.Default(), e.reg, nil, nil)
	st, err := r.Refresh(ctx)
	if err != nil {
		return err
	}
	e.Figure("history_full_refresh_s", st.Took.Seconds(), "")
	fmt.Fprintf(e.cfg.Out, "history_points: %d\nhistory_rows: %d\nhistory_unit_rows: %d\n", st.Points, st.Rows, st.UnitRows)
	return nil
}
