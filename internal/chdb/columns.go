package chdb

import (
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// AppendColumns appends whole columns, in the INSERT's column order, to b.
// A []string column first gets the room for all of its bytes: ch-go's String
// column keeps them in one buffer that grows by about a quarter at a time,
// which for a batch's data column allocates about five times its size and
// copies it four times (measured: a quarter of the projector's allocations).
func AppendColumns(b driver.Batch, cols []any) error {
	room := b.Columns()
	for i, c := range cols {
		if ss, ok := c.([]string); ok && i < len(room) {
			reserve(room[i], ss)
		}
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

// reserveMin is the fewest bytes of a string column worth reserving.
const reserveMin = 16 << 10

// reserve gives an empty String column the room for the bytes of ss: one
// string as long as all of them, appended, then Reset, which keeps the
// capacity (ch-go's ColStr.Reset). Two allocations of that size instead of
// about five. Other columns, and columns holding rows, are left alone.
func reserve(col column.Interface, ss []string) {
	if _, ok := col.(*column.String); !ok || col.Rows() != 0 {
		return
	}
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	if n < reserveMin {
		return
	}
	_, _ = col.Append([]string{strings.Repeat("\x00", n)})
	col.Reset()
}
