package board

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
)

// Freshness says how current the figures on a page are.
type Freshness struct {
	// Folded is the last stream sequence the projector folded into
	// ClickHouse; Stream the last sequence of the event stream (0 when
	// unknown).
	Folded, Stream uint64
	// LastReceived is when the newest folded event was received; zero when
	// none was folded yet.
	LastReceived time.Time
	// LastOccurred is the latest occurred_at among the folded events.
	LastOccurred time.Time
}

// Lag is how many events of the stream are not folded yet, or -1 when the
// stream's position is unknown.
func (f Freshness) Lag() int64 {
	if f.Stream == 0 && f.Folded > 0 {
		return -1
	}
	if f.Stream < f.Folded {
		return 0
	}
	return int64(f.Stream - f.Folded)
}

// ClickHouseFreshness returns a Freshness reader over db; streamLast, when
// not nil, gives the event stream's last sequence (JetStream stream info).
func ClickHouseFreshness(db *chdb.DB, streamLast func(context.Context) (uint64, error)) func(context.Context) (Freshness, error) {
	// The newest folded event changes only when the watermark moves.
	var mu sync.Mutex
	var seen Freshness
	return func(ctx context.Context) (Freshness, error) {
		var f Freshness
		folded, err := db.Watermark(ctx)
		if err != nil {
			return f, fmt.Errorf("board freshness: %w", err)
		}
		f.Folded = folded
		mu.Lock()
		prev := seen
		mu.Unlock()
		if prev.Folded == f.Folded && f.Folded > 0 {
			f.LastReceived, f.LastOccurred = prev.LastReceived, prev.LastOccurred
		} else {
			rec, occ, ok, err := db.LastFolded(ctx, f.Folded)
			if err != nil {
				return f, fmt.Errorf("board freshness: %w", err)
			}
			if ok {
				f.LastReceived, f.LastOccurred = rec, occ
			}
			mu.Lock()
			seen = f
			mu.Unlock()
		}
		if streamLast != nil {
			last, err := streamLast(ctx)
			if err != nil {
				return f, fmt.Errorf("board freshness: stream: %w", err)
			}
			f.Stream = last
		}
		return f, nil
	}
}
