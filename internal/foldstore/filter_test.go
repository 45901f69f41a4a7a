package foldstore

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// smallFilters makes the filter start at two blocks and stop at maxBytes
// for the test, so that it grows, and is full, within a few hundred rows.
func smallFilters(t *testing.T) {
	old := minFilterBytes
	minFilterBytes = 64
	t.Cleanup(func() { minFilterBytes = old })
}

// filterHasEveryRecord checks that the filter reports present every
// record Pebble holds.
func filterHasEveryRecord(t *testing.T, s *Store) {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{epochTag}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if s.filter == nil {
		if !s.opts.noFilter {
			t.Fatal("the store has no filter")
		}
		return
	}
	for ok := it.First(); ok; ok = it.Next() {
		_, rk, valid := splitKey(it.Key())
		if !valid {
			t.Fatalf("key %q of an unknown layout", it.Key())
		}
		if !s.filter.MayContain(keyHash(string(rk))) {
			t.Fatalf("record %q reported absent", it.Key())
		}
	}
}

// agrees checks that every record the store's Pebble holds is read back
// by Get, through the filter, with the rows the model says were written.
func agrees(t *testing.T, s *Store, model map[string][]string) {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{epochTag}})
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for ok := it.First(); ok; ok = it.Next() {
		records++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	lookups := make([]string, 0, len(model))
	for l := range model {
		lookups = append(lookups, l)
	}
	slices.Sort(lookups)
	got := make([][]string, len(lookups))
	if err := s.Get(lookups, func(i int, v []byte) error { got[i] = append(got[i], string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, l := range lookups {
		if !slices.Equal(got[i], model[l]) {
			t.Fatalf("%s: %q, want %q (%d records in Pebble)", l, got[i], model[l], records)
		}
	}
}

// TestFilterNeverHidesARow writes, loads, resets and reopens a store
// whose filter is tiny (it grows, then saturates) and whose epochs are
// short (a record's rows spread over several), with a model of what it
// holds: after every step, every lookup written is read back, its rows in
// the order written.
func TestFilterNeverHidesARow(t *testing.T) {
	smallFilters(t)
	for _, o := range []Options{
		{FilterBytes: 256, epochRecords: 7},
		{FilterBytes: 1 << 12, epochRecords: 100},
		{FilterBytes: 1 << 12, epochRecords: -1},
		{noFilter: true, epochRecords: 50},
	} {
		t.Run(fmt.Sprintf("filter=%dB/epoch=%d/nofilter=%v", o.FilterBytes, o.epochRecords, o.noFilter), func(t *testing.T) {
			dir := t.TempDir()
			opts := o
			opts.Dir, opts.Identity = dir, "x"
			filterBytes := o.FilterBytes
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			r := rand.New(rand.NewPCG(7, uint64(filterBytes)))
			model := map[string][]string{}
			var mark Mark
			var maxEpoch uint32
			lookup := func() string {
				id := fmt.Sprintf("e%04d", r.IntN(3000))
				switch r.IntN(3) {
				case 0:
					return "i:" + id
				case 1:
					return fmt.Sprintf("s:a%d/%s", r.IntN(3), id)
				}
				return fmt.Sprintf("k:K/%d", r.IntN(2000))
			}
			for step := range 60 {
				switch op := r.IntN(10); {
				case op < 6: // a batch
					n := 1 + r.IntN(60)
					ls, vs := make([]string, n), make([]string, n)
					for i := range n {
						ls[i], vs[i] = lookup(), fmt.Sprintf("v%d.%d", step, i)
					}
					next := Mark{Seq: mark.Seq + 1, Rows: mark.Rows + uint64(n)}
					if err := s.Write(mark, next, ls, vs); err != nil {
						t.Fatal(err)
					}
					for i, l := range ls {
						model[l] = append(model[l], vs[i])
					}
					mark = next
				case op < 7: // a load on top
					n := r.IntN(200)
					next := Mark{Seq: mark.Seq + 1, Rows: mark.Rows + uint64(n)}
					err := s.Load(next, func(add func(Row) error) error {
						for i := range n {
							row := Row{Lookup: lookup(), Value: fmt.Sprintf("l%d.%d", step, i)}
							if err := add(row); err != nil {
								return err
							}
							model[row.Lookup] = append(model[row.Lookup], row.Value)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					mark = next
				case op < 8: // emptied
					if err := s.Reset(); err != nil {
						t.Fatal(err)
					}
					model, mark = map[string][]string{}, Mark{}
				case op < 9: // reopened
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if s, err = Open(opts); err != nil {
						t.Fatal(err)
					}
				default: // a copy of the files as a crash leaves them
					crashed := filepath.Join(t.TempDir(), "crashed")
					copyDir(t, dir, crashed)
					copts := opts
					copts.Dir = crashed
					c, err := Open(copts)
					if err != nil {
						t.Fatal(err)
					}
					// Writes are not synced: the copy may be behind, never
					// ahead; whatever it holds, the filter has.
					if c.Mark().Seq > mark.Seq {
						t.Fatalf("crashed copy at %+v, ahead of %+v", c.Mark(), mark)
					}
					if c.Mark() == mark {
						agrees(t, c, model)
					}
					filterHasEveryRecord(t, c)
					_ = c.Close()
				}
				agrees(t, s, model)
				filterHasEveryRecord(t, s)
				maxEpoch = max(maxEpoch, s.epoch.Load())
			}
			if o.epochRecords > 0 && maxEpoch == 0 {
				t.Fatal("the records never left epoch 0")
			}
		})
	}
}

// copyDir copies the files of a store's directory, but its lock, while
// the store is open: what a kill -9 leaves.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == lockFile || e.IsDir() {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if os.IsNotExist(err) {
			continue // deleted since: the copy is of a moment later
		}
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		_ = src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFilterGrows: the filter starts small, doubles as records come, and
// stops at FilterBytes.
func TestFilterGrows(t *testing.T) {
	smallFilters(t)
	s, err := Open(Options{Identity: "x", FilterBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.filter.Bytes(); got != 64 {
		t.Fatalf("new store: filter of %d bytes, want 64", got)
	}
	var mark Mark
	for i := range 20 {
		ls := make([]string, 100)
		for j := range ls {
			ls[j] = fmt.Sprintf("i:%d.%d", i, j)
		}
		next := Mark{Seq: mark.Seq + 1}
		if err := s.Write(mark, next, ls, make([]string, len(ls))); err != nil {
			t.Fatal(err)
		}
		mark = next
	}
	if got := s.filter.Bytes(); got != 1<<10 {
		t.Fatalf("after 2,000 records: filter of %d bytes, want the largest, %d", got, 1<<10)
	}
	if got := (Options{FilterBytes: 1 << 10, CacheBytes: 1 << 20, MemTableBytes: 1 << 20}).Memory(); got != 3<<20+1<<10 {
		t.Fatalf("Memory() = %d", got)
	}
	if got := (Options{noFilter: true}).Memory(); got != DefaultCacheBytes+2*DefaultMemTableBytes {
		t.Fatalf("Memory() without a filter = %d", got)
	}
}

// TestSavedFilter: Close saves the filter and Open reads it back (and
// deletes it); a saved filter of another state of the store (stale, or
// damaged) is not used: the filter is made again from the keys.
func TestSavedFilter(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, Identity: "x", epochRecords: 3}
	saved := filepath.Join(dir, filterFile)
	model := map[string][]string{}
	var mark Mark
	write := func(s *Store, ls ...string) {
		t.Helper()
		next := Mark{Seq: mark.Seq + 1, Rows: mark.Rows + uint64(len(ls))}
		vs := make([]string, len(ls))
		for i, l := range ls {
			vs[i] = fmt.Sprintf("%s@%d", l, next.Seq)
			model[l] = append(model[l], vs[i])
		}
		if err := s.Write(mark, next, ls, vs); err != nil {
			t.Fatal(err)
		}
		mark = next
	}
	open := func() *Store {
		t.Helper()
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(saved); !os.IsNotExist(err) {
			t.Fatalf("the saved filter is still there after Open: %v", err)
		}
		agrees(t, s, model)
		filterHasEveryRecord(t, s)
		return s
	}
	s := open()
	write(s, "i:a", "k:A", "s:x/a")
	write(s, "k:A", "i:b", "k:B") // k:A twice: the filter counts 6 adds, the store 4 records
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(saved); err != nil {
		t.Fatalf("Close saved no filter: %v", err)
	}
	s = open()
	if got := s.filter.Added(); got != 6 {
		t.Fatalf("reopened: the filter counts %d adds, want the saved 6 (not made again)", got)
	}
	if s.epoch.Load() != 1 || s.epochCount != 3 {
		t.Fatalf("reopened: epoch %d with %d records, want 1 with 3", s.epoch.Load(), s.epochCount)
	}
	write(s, "i:c", "k:C")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stale, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	s = open()
	write(s, "i:d", "k:D", "k:A")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"stale":   stale,
		"damaged": append([]byte{}, stale[:len(stale)-1]...),
		"empty":   nil,
	} {
		if err := os.WriteFile(saved, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s = open()
		// Made again: one add per Pebble key, a record written in two
		// epochs (k:A in three) counted in each: 10.
		if got := s.filter.Added(); got != 10 {
			t.Fatalf("%s saved filter: the filter counts %d adds, want the store's 10 keys", name, got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBeforeGrowth writes batches into a store whose filter starts tiny:
// before every rebuild of the filter for a larger one, BeforeGrowth is
// called with the filter the store holds then and, as the most the rebuild
// adds, at least the larger filter's size and the block cache's unused
// room; the filter never grows without it.
func TestBeforeGrowth(t *testing.T) {
	smallFilters(t)
	var calls []MemoryUse
	var mores []int64
	s, err := Open(Options{Identity: "x", FilterBytes: 1 << 12, BeforeGrowth: func(now MemoryUse, more int64) {
		calls, mores = append(calls, now), append(mores, more)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var mark Mark
	size := s.MemoryUse().Filter
	for step := range 40 {
		ls, vs := make([]string, 50), make([]string, 50)
		for i := range ls {
			ls[i], vs[i] = fmt.Sprintf("i:e%d.%d", step, i), "v"
		}
		next := Mark{Seq: mark.Seq + 1, Rows: mark.Rows + uint64(len(ls))}
		before := len(calls)
		if err := s.Write(mark, next, ls, vs); err != nil {
			t.Fatal(err)
		}
		mark = next
		now := s.MemoryUse()
		grew := now.Filter > size
		switch {
		case grew && len(calls) != before+1:
			t.Fatalf("step %d: the filter grew from %d to %d bytes with %d calls of BeforeGrowth, want 1", step, size, now.Filter, len(calls)-before)
		case !grew && len(calls) != before:
			t.Fatalf("step %d: BeforeGrowth called, the filter stayed at %d bytes", step, size)
		case grew:
			got, more := calls[before], mores[before]
			if least := now.Filter + max(s.opts.CacheBytes-got.Cache, 0); got.Filter != size || more < least {
				t.Fatalf("step %d: BeforeGrowth(filter %d, more %d), want the filter %d then and more at least %d (the new filter and the cache's room)", step, got.Filter, more, size, least)
			}
		}
		size = now.Filter
	}
	if len(calls) == 0 {
		t.Fatal("the filter never grew")
	}
}
