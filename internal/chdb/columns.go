package chdb

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// AppendColumns appends whole columns, in the INSERT's column order, to b.
// Every column that Lend gave buffers to is sized for its rows first, so
// that the appends allocate nothing (see insertColumns).
func AppendColumns(b driver.Batch, cols []any) error {
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

// The buffers of the columns of an INSERT. clickhouse-go makes new columns
// for every batch (PrepareBatch decodes the server's header block), whose
// ch-go buffers grow from nothing by appending row by row: for the
// projector's batches, the columns of its inserts were 37% of what it
// allocated, and as much again in the growth of the String columns' bytes
// (docs/performance.md, "The projector's allocations (branch h21m)"). An
// insert instead lends each new column the buffers of the same column of
// the previous insert of the same statement, emptied and grown once to the
// rows it appends, and takes them back after Send: the columns allocate
// nothing once every statement was run with its largest batch.
//
// clickhouse-go gives no access to a column's ch-go buffers: they are
// reached by reflection, in the column's field "col" (a ch-go column: a
// slice, or a struct of exported slices such as ColStr's Buf and Pos and
// ColDateTime's Data). Only empty slices of element types without
// pointers are exchanged (they hold no strings nor anything else to keep
// alive); a column of another shape is left alone, as before.

// columnBuffers holds the buffers of the columns of the inserts last run
// by statement; an insert takes them out while it runs, so that two
// inserts of the same statement at once never share one (the second
// allocates its own).
var columnBuffers = struct {
	sync.Mutex
	m map[string][][]reflect.Value // statement → column → its slices
}{m: map[string][][]reflect.Value{}}

// maxKeptBytes is the most a column's buffers may hold to be kept for the
// next insert: a batch far above the usual (a rewind, a recovery) leaves
// its columns to the collector.
const maxKeptBytes = 64 << 20

// lendBuffers gives the empty columns cols of an insert of statement the
// buffers its last insert kept, each grown to hold the rows of vals (the
// values appended to it, column by column). It returns the columns' slices,
// for keepBuffers after the insert.
func lendBuffers(statement string, cols []column.Interface, vals []any) [][]reflect.Value {
	columnBuffers.Lock()
	kept := columnBuffers.m[statement]
	delete(columnBuffers.m, statement)
	columnBuffers.Unlock()
	lent := make([][]reflect.Value, len(cols))
	for i, col := range cols {
		if i >= len(vals) || col.Rows() != 0 {
			continue
		}
		slices := bufferSlices(col)
		for j, s := range slices {
			if s.Len() != 0 {
				slices = nil
				break
			}
			if i < len(kept) && j < len(kept[i]) && kept[i][j].Type() == s.Type() {
				s.Set(kept[i][j].Slice(0, 0))
			}
			need := rowsOf(vals[i])
			if _, ok := col.(*column.String); ok && s.Type() == bytesType {
				need = bytesOf(vals[i]) // ColStr.Buf
			}
			if need > s.Cap() {
				s.Set(reflect.MakeSlice(s.Type(), 0, need))
			}
		}
		lent[i] = slices
	}
	return lent
}

// keepBuffers keeps the slices that lendBuffers returned, as the inserted
// columns left them, for the next insert of statement.
func keepBuffers(statement string, lent [][]reflect.Value) {
	kept := make([][]reflect.Value, len(lent))
	for i, slices := range lent {
		size := 0
		for _, s := range slices {
			size += s.Cap() * int(s.Type().Elem().Size())
		}
		if size > maxKeptBytes {
			continue
		}
		for _, s := range slices {
			kept[i] = append(kept[i], reflect.ValueOf(s.Interface()).Slice(0, 0))
			s.Set(reflect.Zero(s.Type())) // the column lets them go
		}
	}
	columnBuffers.Lock()
	columnBuffers.m[statement] = kept
	columnBuffers.Unlock()
}

var bytesType = reflect.TypeFor[[]byte]()

// bufferSlices returns the settable slices of col's ch-go column: the
// field "col" when it is a slice, or its exported slice fields when it is
// a struct; none when col has another shape or a slice's elements hold
// pointers.
func bufferSlices(col column.Interface) []reflect.Value {
	v := reflect.ValueOf(col)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("col")
	if !f.IsValid() {
		return nil
	}
	f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	var out []reflect.Value
	switch f.Kind() {
	case reflect.Slice:
		out = append(out, f)
	case reflect.Struct:
		for i := range f.NumField() {
			if fi := f.Field(i); f.Type().Field(i).IsExported() && fi.Kind() == reflect.Slice {
				out = append(out, fi)
			}
		}
	}
	for _, s := range out {
		if !pointerFree(s.Type().Elem()) {
			return nil
		}
	}
	return out
}

// pointerFree reports whether values of t hold no pointers.
func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Array:
		return pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// rowsOf is the number of values in v, a slice of a column's values.
func rowsOf(v any) int {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return 0
}

// bytesOf is the bytes of the strings of v when it is a []string.
func bytesOf(v any) int {
	n := 0
	if ss, ok := v.([]string); ok {
		for _, s := range ss {
			n += len(s)
		}
	}
	return n
}
