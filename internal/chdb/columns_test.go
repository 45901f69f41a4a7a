package chdb

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// newColumns makes empty columns of the types the projector inserts, as
// PrepareBatch does.
func newColumns(t testing.TB, types ...string) []column.Interface {
	t.Helper()
	cols := make([]column.Interface, len(types))
	for i, ty := range types {
		c, err := column.Type(ty).Column(fmt.Sprint("c", i), &column.ServerContext{})
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = c
	}
	return cols
}

// fillLent lends spare buffers to new columns, appends vals,
// keeps the buffers, and returns the columns as they were before keeping
// (their rows read through Row before keepBuffers).
func fillLent(t testing.TB, types []string, vals []any, check func([]column.Interface)) {
	cols := newColumns(t, types...)
	lent := lendBuffers(cols, vals)
	for i, v := range vals {
		if _, err := cols[i].Append(v); err != nil {
			t.Fatal(err)
		}
	}
	if check != nil {
		check(cols)
	}
	keepBuffers(lent)
}

// TestLentColumns checks that columns given the buffers of a former
// insert hold exactly the rows appended after (fewer, then more rows than
// before), and that once the buffers are kept the appends allocate only
// clickhouse-go's own slices.
func TestLentColumns(t *testing.T) {
	types := []string{"String", "UInt64", "DateTime", "UInt8", "Float64", "Int64", "UInt16", "Date"}
	values := func(n, salt int) []any {
		ss := make([]string, n)
		u := make([]uint64, n)
		ts := make([]time.Time, n)
		b := make([]uint8, n)
		f := make([]float64, n)
		i64 := make([]int64, n)
		u16 := make([]uint16, n)
		days := make([]time.Time, n)
		for i := range n {
			ss[i] = fmt.Sprintf("%d:%d:%s", salt, i, strings.Repeat("x", (i+salt)%50))
			u[i], ts[i], b[i] = uint64(i*salt), time.Unix(int64(1_700_000_000+i+salt), 0), uint8(i+salt)
			f[i], i64[i], u16[i] = float64(i)/3+float64(salt), int64(-i-salt), uint16(i+salt)
			days[i] = time.Date(2025, 1, 1+(i+salt)%300, 0, 0, 0, 0, time.UTC)
		}
		return []any{ss, u, ts, b, f, i64, u16, days}
	}
	for round, n := range []int{1000, 300, 2500, 2500} {
		vals := values(n, round+1)
		fillLent(t, types, vals, func(cols []column.Interface) {
			for c, col := range cols {
				if col.Rows() != n {
					t.Fatalf("round %d, column %s: %d rows, want %d", round, types[c], col.Rows(), n)
				}
			}
			for i := range n {
				if got, want := cols[0].Row(i, false).(string), vals[0].([]string)[i]; got != want {
					t.Fatalf("round %d, row %d: %q, want %q", round, i, got, want)
				}
				if got, want := cols[1].Row(i, false).(uint64), vals[1].([]uint64)[i]; got != want {
					t.Fatalf("round %d, row %d: %d, want %d", round, i, got, want)
				}
				if got, want := cols[2].Row(i, false).(time.Time), vals[2].([]time.Time)[i]; !got.Equal(want) {
					t.Fatalf("round %d, row %d: %v, want %v", round, i, got, want)
				}
				if got, want := cols[4].Row(i, false).(float64), vals[4].([]float64)[i]; got != want {
					t.Fatalf("round %d, row %d: %v, want %v", round, i, got, want)
				}
				if got, want := cols[7].Row(i, false).(time.Time), vals[7].([]time.Time)[i]; !got.Equal(want) {
					t.Fatalf("round %d, row %d: %v, want %v", round, i, got, want)
				}
			}
		})
	}
	vals := values(2500, 9)
	plain := allocatedBytes(func() {
		cols := newColumns(t, types...)
		for i, v := range vals {
			if _, err := cols[i].Append(v); err != nil {
				t.Fatal(err)
			}
		}
	})
	lent := allocatedBytes(func() { fillLent(t, types, vals, nil) })
	t.Logf("bytes allocated to fill %d columns of 2500 rows: %d new, %d lent", len(types), plain, lent)
	if lent >= plain/4 {
		t.Errorf("lent buffers saved no growth: %d bytes allocated, %d without", lent, plain)
	}
}

// allocatedBytes returns the bytes f allocates, the least of five runs.
func allocatedBytes(f func()) uint64 {
	least := ^uint64(0)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestLendLeavesOthersAlone checks that a column holding rows keeps them.
func TestLendLeavesOthersAlone(t *testing.T) {
	fillLent(t, []string{"String"}, []any{[]string{strings.Repeat("y", 100)}}, nil)
	held := newColumns(t, "String")
	if _, err := held[0].Append([]string{"kept"}); err != nil {
		t.Fatal(err)
	}
	keepBuffers(lendBuffers(held, []any{[]string{"z"}}))
	if held[0].Rows() != 1 || held[0].Row(0, false).(string) != "kept" {
		t.Fatalf("a column holding a row: %d rows after lending", held[0].Rows())
	}
}
