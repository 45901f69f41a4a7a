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
// allocated, and the growth of the String columns' bytes (reserved before
// by a string as long as all of them) 6% more (docs/performance.md, "The
// projector's allocations (branch h21m)"). An insert instead lends each
// new column a spare buffer of its type, emptied, one at least as large as
// the rows it appends (else a new one of exactly that size), and takes
// them back after Send: once the largest inserts have run, the columns
// allocate nothing. The spares are shared by every statement (inserts run
// one after the other), so they hold about one insert's columns, not one
// per table.
//
// clickhouse-go gives no access to a column's ch-go buffers: they are
// reached by reflection, in the column's field "col" (a ch-go column: a
// slice, or a struct of exported slices such as ColStr's Buf and Pos and
// ColDateTime's Data). Only empty slices of element types without
// pointers are exchanged (they hold no strings nor anything else to keep
// alive); a column of another shape is left alone, as before.

// spareBuffers holds the buffers of the columns of the inserts that ran,
// by slice type. An insert takes out those it lends, so that two inserts
// at once never share one.
var spareBuffers = struct {
	sync.Mutex
	free map[reflect.Type][]reflect.Value
	// most is, by type, the most buffers one insert took: as many
	// spares are kept, the largest (an insert of cds.events takes 5 for
	// its String columns' bytes, and 5 for their offsets).
	most map[reflect.Type]int
}{free: map[reflect.Type][]reflect.Value{}, most: map[reflect.Type]int{}}

// maxSpareBytes is the largest buffer kept: a batch far above the usual (a
// rewind, a recovery) leaves its columns to the collector.
const maxSpareBytes = 64 << 20

// lendBuffers gives the empty columns cols of an insert spare buffers,
// each large enough for the rows of vals (the values appended to it,
// column by column). It returns the columns' slices, for keepBuffers after
// the insert.
func lendBuffers(cols []column.Interface, vals []any) []reflect.Value {
	var lent []reflect.Value
	spareBuffers.Lock()
	defer spareBuffers.Unlock()
	took := map[reflect.Type]int{}
	defer func() {
		for t, n := range took {
			spareBuffers.most[t] = max(spareBuffers.most[t], n)
		}
	}()
	for i, col := range cols {
		if i >= len(vals) || col.Rows() != 0 {
			continue
		}
		slices := bufferSlices(col)
		for _, s := range slices {
			if s.Len() != 0 {
				slices = nil
				break
			}
		}
		for _, s := range slices {
			need := rowsOf(vals[i])
			if _, ok := col.(*column.String); ok && s.Type() == bytesType {
				need = bytesOf(vals[i]) // ColStr.Buf
			}
			if need == 0 {
				continue
			}
			took[s.Type()]++
			if spare, ok := takeSpare(s.Type(), need); ok {
				s.Set(spare)
			} else if need > s.Cap() {
				s.Set(reflect.MakeSlice(s.Type(), 0, need))
			}
			lent = append(lent, s)
		}
	}
	return lent
}

// takeSpare takes out the least spare buffer of type t that holds need
// elements, emptied. The caller holds spareBuffers.
func takeSpare(t reflect.Type, need int) (reflect.Value, bool) {
	free := spareBuffers.free[t]
	best := -1
	for i, s := range free {
		if s.Cap() >= need && (best < 0 || s.Cap() < free[best].Cap()) {
			best = i
		}
	}
	if best < 0 {
		return reflect.Value{}, false
	}
	s := free[best]
	free[best] = free[len(free)-1]
	free[len(free)-1] = reflect.Value{}
	spareBuffers.free[t] = free[:len(free)-1]
	return s.Slice(0, 0), true
}

// keepBuffers keeps the slices that lendBuffers returned, as the inserted
// columns left them, as spares, and takes them from the columns.
func keepBuffers(lent []reflect.Value) {
	spareBuffers.Lock()
	defer spareBuffers.Unlock()
	for _, s := range lent {
		t := s.Type()
		spare := reflect.ValueOf(s.Interface()).Slice(0, 0)
		s.Set(reflect.Zero(t)) // the column lets it go
		if spare.Cap()*int(t.Elem().Size()) > maxSpareBytes {
			continue
		}
		free := append(spareBuffers.free[t], spare)
		if len(free) > spareBuffers.most[t] {
			least := 0
			for i := range free {
				if free[i].Cap() < free[least].Cap() {
					least = i
				}
			}
			free[least] = free[len(free)-1]
			free[len(free)-1] = reflect.Value{}
			free = free[:len(free)-1]
		}
		spareBuffers.free[t] = free
	}
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
