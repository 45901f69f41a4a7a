package authguard

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	var logs bytes.Buffer
	g := New(slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	const addr = "203.0.113.7:50000"
	for i := range DefaultBurst {
		if d := g.Blocked(addr); d != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		g.Fail("203.0.113.7:"+string(rune('0'+i)), "agency token") // another port, the same source
	}
	if d := g.Blocked(addr); d != time.Second {
		t.Fatalf("after %d failures Blocked = %s, want 1s", DefaultBurst, d)
	}
	if d := g.Blocked("198.51.100.1:1"); d != 0 {
		t.Errorf("another address blocked for %s", d)
	}
	now = now.Add(time.Second)
	if d := g.Blocked(addr); d != 0 {
		t.Errorf("a second later Blocked = %s, want 0", d)
	}
	if n := strings.Count(logs.String(), "authentication failed"); n != 1 {
		t.Errorf("%d log lines for a burst of failures, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "source=203.0.113.7") {
		t.Errorf("log does not name the source: %s", logs.String())
	}
	var nilGuard *Guard
	nilGuard.Fail(addr, "x")
	if nilGuard.Blocked(addr) != 0 {
		t.Error("a nil Guard blocks")
	}
}
