package main

import (
	"testing"

	"github.com/bacgiang/cds/internal/registry"
)

// TestLevelWithUnits: the demo's periodic link names a level that has units
// on its day, before and after the districts end (2025-06-30).
func TestLevelWithUnits(t *testing.T) {
	reg := registry.Sample()
	for _, day := range []string{"2021-06-11", "2025-06-30", "2025-07-01", "2026-11-30"} {
		d, err := registry.ParseDate(day)
		if err != nil {
			t.Fatal(err)
		}
		level := levelWithUnits(reg, d)
		n := 0
		for _, u := range reg.InForce(d) {
			if u.Level == level {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: level %s has no unit in force", day, level)
		}
	}
	if d, _ := registry.ParseDate("2025-07-01"); levelWithUnits(reg, d) != registry.LevelCommune {
		t.Error("2025-07-01: want the communes, the districts have ended")
	}
}
