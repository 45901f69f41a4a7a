package api

import (
	"errors"
	"fmt"
	"testing"
)

func TestFailingNames(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"one", fmt.Errorf("clickhouse: %w", errors.New("dial tcp: refused")), "clickhouse"},
		{"joined", errors.Join(errors.New("simulator: stopped"), fmt.Errorf("nats: %s", "RECONNECTING")), "simulator,nats"},
		{"join skips nil", errors.Join(nil, errors.New("nats: CLOSED")), "nats"},
		{"no colon", errors.New("projector"), "projector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failingNames(tt.err); got != tt.want {
				t.Errorf("failingNames(%q) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
