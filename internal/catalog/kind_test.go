package catalog

import "testing"

func TestKindReported(t *testing.T) {
	tests := []struct {
		kind Kind
		want bool
	}{
		{KindFlowRatio, false},
		{KindStockRatio, false},
		{KindCount, false},
		{KindReportedRatio, true},
		{KindReportedMinRatio, true},
		{KindReportedGrowth, true},
		{KindRank, true},
	}
	if len(tests) != len(measureOf) {
		t.Fatalf("%d kinds tested, %d known: add the new kind here", len(tests), len(measureOf))
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := tt.kind.Reported(); got != tt.want {
				t.Errorf("%s.Reported() = %v, want %v", tt.kind, got, tt.want)
			}
		})
	}
}

func TestOfAgenciesFromEventTable(t *testing.T) {
	for _, ind := range Default().Indicators() {
		want := ind.Code == "DLMO"
		if ind.OfAgencies != want {
			t.Errorf("%s: OfAgencies = %v, want %v", ind.Code, ind.OfAgencies, want)
		}
	}
}
