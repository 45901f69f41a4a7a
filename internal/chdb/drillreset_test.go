package chdb

import (
	"reflect"
	"testing"
)

// TestDrillColumnsReset: columns reset and filled again hold the new rows
// only, every column as long as the others, and counts of the new rows
// only.
func TestDrillColumnsReset(t *testing.T) {
	var c DrillColumns
	c.Add("workfile", "bg-a", 100, 200000, 100, 1, false, 7)
	c.Add("workfile", "bg-b", 300, 400000, 300, 2, false, 7)
	c.AddMarker(7, 0)
	c.Reset()
	c.Add("inspection", "bg-c", 500, 600000, 500, 3, true, 9)
	c.AddMarker(9, 7)
	n := c.Len()
	if n != 2 {
		t.Fatalf("Len %d after a reset and two rows, want 2", n)
	}
	// Every column, by reflection: one added later and left out of Reset
	// fails here without a change to this test.
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.IsExported() && f.Type.Kind() == reflect.Slice {
			if l := v.Field(i).Len(); l != n {
				t.Errorf("column %s has %d rows, want %d", f.Name, l, n)
			}
		}
	}
	if c.Entity[0] != "inspection" || c.Seq[0] != 9 || c.Before[0] != 500 {
		t.Errorf("first row %q seq %d before %d, want the row added after the reset", c.Entity[0], c.Seq[0], c.Before[0])
	}
	for k := range c.days {
		if k.entity != "inspection" {
			t.Errorf("count of %q kept across the reset", k.entity)
		}
	}
	if c.mark != 9 || c.prev != 7 {
		t.Errorf("marker %d after %d, want 9 after 7", c.mark, c.prev)
	}
}
