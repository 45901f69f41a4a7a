package chdb

import (
	"reflect"
	"testing"
)

// TestBatchColumnsReset: Reset of each batch's columns empties every column
// (found by reflection, so that a column added later and left out of
// Reset fails here) and drops the strings, which hold a batch's bytes.
func TestBatchColumnsReset(t *testing.T) {
	for _, c := range []interface{ Reset() }{&EventColumns{}, &RollupColumns{}, &DrillColumns{}} {
		v := reflect.ValueOf(c).Elem()
		var cols []int
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Type.Kind() != reflect.Slice {
				continue
			}
			col := reflect.MakeSlice(f.Type, 1, 4)
			if f.Type.Elem().Kind() == reflect.String {
				col.Index(0).SetString("row of the last batch")
			}
			v.Field(i).Set(col)
			cols = append(cols, i)
		}
		c.Reset()
		for _, i := range cols {
			f, col := v.Type().Field(i), v.Field(i)
			if col.Len() != 0 || col.Cap() != 4 {
				t.Errorf("%T.%s after Reset: %d rows, room for %d; want 0, the room kept (4)", c, f.Name, col.Len(), col.Cap())
				continue
			}
			if kept := col.Slice(0, 1).Index(0); kept.Kind() == reflect.String && kept.String() != "" {
				t.Errorf("%T.%s after Reset still holds %q", c, f.Name, kept.String())
			}
		}
	}
}
