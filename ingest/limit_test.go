package ingest

import (
	"testing"
	"time"
)

// TestLimitPerAgency: an agency's own rate and burst replace the defaults for
// it alone.
func TestLimitPerAgency(t *testing.T) {
	cfg := Config{Rate: 100, Burst: 2000, Agencies: map[string]Limit{"bg-ctk": {Rate: 500, Burst: 5000}, "bg-yenthe": {Rate: -1}}}.withDefaults()
	l := newLimiter(cfg)
	now := time.Now()
	if d := l.take("bg-ctk", 5000, now); d != 0 {
		t.Errorf("bg-ctk: a burst of 5000 waits %s, want 0", d)
	}
	if d := l.take("bg-ctk", 500, now); d != time.Second {
		t.Errorf("bg-ctk: 500 more wait %s, want 1s at 500 events/s", d)
	}
	if d := l.take("bg-vietyen", 2001, now); d == 0 {
		t.Error("bg-vietyen: a burst of 2001 passed the default of 2000")
	}
	if d := l.take("bg-yenthe", 100000, now); d != 0 {
		t.Errorf("bg-yenthe (no limit): waits %s", d)
	}
	if got := cfg.LimitOf("bg-ctk"); got != (Limit{Rate: 500, Burst: 5000}) {
		t.Errorf("LimitOf(bg-ctk) = %+v", got)
	}
}
