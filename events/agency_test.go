package events

import (
	"strings"
	"testing"
)

func TestValidAgency(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "unit code", in: "bg-vietyen", want: true},
		{name: "digits", in: "bg-2025", want: true},
		{name: "one character", in: "p", want: true},
		{name: "longest", in: strings.Repeat("a", MaxAgencyLen), want: true},
		{name: "empty", in: "", want: false},
		{name: "too long", in: strings.Repeat("a", MaxAgencyLen+1), want: false},
		{name: "upper case", in: "BG-VietYen", want: false},
		{name: "underscore", in: "bg_vietyen", want: false},
		{name: "space", in: "bg vietyen", want: false},
		{name: "non-ASCII letter", in: "bg-việtyên", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidAgency(tt.in); got != tt.want {
				t.Errorf("ValidAgency(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFeedingOfAgencies(t *testing.T) {
	tests := []struct {
		indicator string
		want      bool
	}{
		{indicator: "DLMO", want: true},
		{indicator: "HSCV", want: false},
		{indicator: "DNS", want: false},
		{indicator: "KTS_GRDP", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.indicator, func(t *testing.T) {
			f, ok := FeedingOf(tt.indicator)
			if !ok {
				t.Fatalf("FeedingOf(%s): not fed", tt.indicator)
			}
			if f.OfAgencies != tt.want {
				t.Errorf("FeedingOf(%s).OfAgencies = %v, want %v", tt.indicator, f.OfAgencies, tt.want)
			}
		})
	}
}
