package chdb

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// TestReserveStrings checks that a reserved String column holds exactly the
// strings appended after, and that reserving saves the buffer's growth.
func TestReserveStrings(t *testing.T) {
	ss := make([]string, 3000)
	for i := range ss {
		ss[i] = fmt.Sprintf("%d:%s", i, strings.Repeat("x", i%200))
	}
	fill := func(reserved bool) *column.String {
		col := &column.String{}
		if reserved {
			reserve(col, ss)
		}
		if _, err := col.Append(ss); err != nil {
			t.Fatal(err)
		}
		return col
	}
	col := fill(true)
	if col.Rows() != len(ss) {
		t.Fatalf("%d rows, want %d", col.Rows(), len(ss))
	}
	for i, want := range ss {
		if got := col.Row(i, false).(string); got != want {
			t.Fatalf("row %d: %q, want %q", i, got, want)
		}
	}
	plain := testing.AllocsPerRun(5, func() { fill(false) })
	reserved := testing.AllocsPerRun(5, func() { fill(true) })
	t.Logf("allocations to fill a column of %d strings: %.0f, reserved first %.0f", len(ss), plain, reserved)
	if reserved >= plain-5 {
		t.Errorf("reserving saved no growth of the buffer: %.0f allocations, %.0f without", reserved, plain)
	}
}

// TestReserveLeavesOthersAlone checks that reserve does not touch a column
// that holds rows (Reset would drop them).
func TestReserveLeavesOthersAlone(t *testing.T) {
	ss := []string{strings.Repeat("y", reserveMin)}
	held := &column.String{}
	if _, err := held.Append([]string{"kept"}); err != nil {
		t.Fatal(err)
	}
	reserve(held, ss)
	if held.Rows() != 1 || held.Row(0, false).(string) != "kept" {
		t.Fatalf("a column holding a row: %d rows after reserve", held.Rows())
	}
}
