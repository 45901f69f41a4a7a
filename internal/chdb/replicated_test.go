package chdb

import (
	"strings"
	"testing"
)

func TestReplicated(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"merge tree", "CREATE TABLE IF NOT EXISTS {db}.events (x UInt8) ENGINE = MergeTree()\nORDER BY x",
			"CREATE TABLE IF NOT EXISTS {db}.events (x UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/cds/events', '{replica}')\nORDER BY x", ""},
		{"summing with columns", "CREATE TABLE IF NOT EXISTS {db}.rollup (n Int64) ENGINE = SummingMergeTree((num, den, n)) ORDER BY n",
			"CREATE TABLE IF NOT EXISTS {db}.rollup (n Int64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/cds/rollup', '{replica}', (num, den, n)) ORDER BY n", ""},
		{"replacing", "CREATE TABLE IF NOT EXISTS {db}.units (v UInt8) ENGINE = ReplacingMergeTree(loaded_at) ORDER BY v",
			"CREATE TABLE IF NOT EXISTS {db}.units (v UInt8) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/cds/units', '{replica}', loaded_at) ORDER BY v", ""},
		{"comments dropped", "CREATE TABLE IF NOT EXISTS {db}.h (a Date   COMMENT 'it''s \\'a\\' date', b UInt8 COMMENT 'b') ENGINE = MergeTree() ORDER BY a",
			"CREATE TABLE IF NOT EXISTS {db}.h (a Date, b UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/cds/h', '{replica}') ORDER BY a", ""},
		{"view unchanged", "CREATE VIEW IF NOT EXISTS {db}.cells AS SELECT 1", "CREATE VIEW IF NOT EXISTS {db}.cells AS SELECT 1", ""},
		{"table without engine", "CREATE TABLE IF NOT EXISTS {db}.x (v UInt8) ENGINE = Log", "", "without a *MergeTree"},
		{"unbalanced", "CREATE TABLE IF NOT EXISTS {db}.x (v UInt8) ENGINE = MergeTree(", "", "unbalanced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replicated(tt.in, "cds")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

// TestEveryMigrationReplicates: each shipped migration has a replicated
// form (a CREATE TABLE gets a Replicated engine; the rest is unchanged).
func TestEveryMigrationReplicates(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		got, err := Replicated(m.SQL, "cds")
		if err != nil {
			t.Errorf("migration %d: %v", m.Version, err)
			continue
		}
		if strings.Contains(m.SQL, "CREATE TABLE") != strings.Contains(got, "ENGINE = Replicated") {
			t.Errorf("migration %d: replicated form %q", m.Version, got)
		}
	}
}
