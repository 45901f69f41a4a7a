package bench

import (
	"testing"
	"time"
)

func TestParseTaskStat(t *testing.T) {
	tests := []struct {
		name, in  string
		wantName  string
		user, sys time.Duration
		wantOK    bool
	}{
		{"pool", "123 (BackgrProcPool) S 1 1 1 0 -1 4194368 10 0 0 0 770 210 0 0 20 0 30 0 5 0 0",
			"BackgrProcPool", 7700 * time.Millisecond, 2100 * time.Millisecond, true},
		{"name with a space and parenthesis", "9 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 3 4 0 0",
			"a (b) c", 30 * time.Millisecond, 40 * time.Millisecond, true},
		{"short", "9 (x) R 1 2", "", 0, 0, false},
		{"no name", "9 x R", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, u, s, ok := parseTaskStat(tt.in)
			if n != tt.wantName || u != tt.user || s != tt.sys || ok != tt.wantOK {
				t.Errorf("got %q %v %v %v, want %q %v %v %v", n, u, s, ok, tt.wantName, tt.user, tt.sys, tt.wantOK)
			}
		})
	}
}

func TestThreadTimesSince(t *testing.T) {
	s := time.Second
	t0 := threadTimes{"TCPHandler": {1 * s, 1 * s}, "idle": {2 * s, 0}}
	t1 := threadTimes{"TCPHandler": {5 * s, 8 * s}, "idle": {2 * s, 0}, "BackgrProcPool": {7 * s, 2 * s}}
	want := " TCPHandler 4.0+7.0 s BackgrProcPool 7.0+2.0 s"
	if got := t1.since(t0); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
