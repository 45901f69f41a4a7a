package eventtest

import (
	"testing"

	"github.com/bacgiang/cds/events"
)

// TestBuildersDecode holds every builder to the envelope's schema.
func TestBuildersDecode(t *testing.T) {
	const at = "2025-03-14T09:30:00+07:00"
	tests := []struct {
		name, in, wantType string
	}{
		{"workfile", Workfile("e1", "bg-vietyen", at, "W-1", true), "workfile.processed"},
		{"service", Service("e2", "bg-syt", at, "1.001", 4, false), "service.published"},
		{"withdrawn", Withdrawn("e3", "bg-syt", at, "1.001"), "service.withdrawn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := events.Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.in, err)
			}
			if e.Type != tt.wantType {
				t.Errorf("type = %q, want %q", e.Type, tt.wantType)
			}
		})
	}
}
