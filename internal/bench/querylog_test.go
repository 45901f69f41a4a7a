package bench

import "testing"

func TestClassifyQuery(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"commit markers", "SELECT unit, toInt64(sum(n)), sum(num), sum(den) FROM `cds`.rollup WHERE indicator = '#watermark' GROUP BY unit", "markers"},
		{"commit markers' copy", "SELECT unit, toInt64(sum(n)), sum(num), sum(den) FROM `cds`.rollup_marks GROUP BY unit", "marker_copy"},
		{"snapshot pair", "SELECT toUInt8(0) AS src ... FROM `cds`.rollup_sums ... upto_lo", "snapshot"},
		{"insert", "INSERT INTO `cds`.rollup (day) VALUES", "insert"},
		{"silence", "SELECT agency FROM `cds`.event_lasts", "silence"},
		{"drill log", "SELECT seq FROM `cds`.drill_log WHERE", "drill_log"},
		{"drill page", "SELECT day, c FROM `cds`.drill_days", "drill_page"},
		{"other", "SELECT 1", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := classifyQuery(tt.query); got != tt.want {
				t.Errorf("classifyQuery(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}
