package foldstore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func mustOpen(tb testing.TB, dir, identity string) *Store {
	tb.Helper()
	s, err := Open(Options{Dir: dir, Identity: identity})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func values(tb testing.TB, s *Store, lookup string) []string {
	tb.Helper()
	var out []string
	if err := s.Get([]string{lookup}, func(_ int, v []byte) error { out = append(out, string(v)); return nil }); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestWriteGetReopen writes batches to a store on disk, reads them back,
// and finds them and the mark again after a reopen.
func TestWriteGetReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fold")
	s := mustOpen(t, dir, "cds/CDS_EVENTS")
	if s.WasReset() || s.Mark() != (Mark{}) {
		t.Fatalf("new store: reset %v, mark %+v", s.WasReset(), s.Mark())
	}
	m1 := Mark{Seq: 10, Rows: 3, Sum: 27, Hash: 99}
	if err := s.Write(Mark{}, m1, []string{"i:a", "k:K", "s:x/y"}, []string{"K", "+a", ""}); err != nil {
		t.Fatal(err)
	}
	m2 := Mark{Seq: 12, Rows: 4, Sum: 39, Hash: 7}
	if err := s.Write(m1, m2, []string{"k:K"}, []string{"-a"}); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		if got := s.Mark(); got != m2 {
			t.Fatalf("mark %+v, want %+v", got, m2)
		}
		for l, want := range map[string][]string{"i:a": {"K"}, "k:K": {"+a", "-a"}, "s:x/y": {""}, "i:none": nil} {
			if got := values(t, s, l); !slices.Equal(got, want) {
				t.Errorf("%s: %q, want %q", l, got, want)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	again := mustOpen(t, dir, "cds/CDS_EVENTS")
	if again.WasReset() {
		t.Fatal("reopened store was reset")
	}
	check(again)
	if again.DiskBytes() == 0 {
		t.Error("DiskBytes is 0")
	}
}

// TestGetSharedRecords reads, in one Get, lookups kept in one record (an
// event id's row and its superseded marks), repeated, absent, in any
// order: each value goes to each lookup it belongs to, and only there.
func TestGetSharedRecords(t *testing.T) {
	s := mustOpen(t, "", "x")
	lookups := []string{"i:a/1", "s:x/a/1", "s:y/a/1", "s:x/b", "k:a/1"}
	vals := []string{"K", "", "", "", "+a"}
	if err := s.Write(Mark{}, Mark{Seq: 1, Rows: 5, Sum: 1}, lookups, vals); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(Mark{Seq: 1, Rows: 5, Sum: 1}, Mark{Seq: 2, Rows: 6, Sum: 3}, []string{"k:a/1"}, []string{"-a"}); err != nil {
		t.Fatal(err)
	}
	ask := []string{"s:y/a/1", "i:a/1", "s:z/a/1", "k:a/1", "i:b", "s:x/b", "i:a/1", "s:x/a/1", "i:none", "s:x/none"}
	got := make([][]string, len(ask))
	err := s.Get(ask, func(i int, v []byte) error { got[i] = append(got[i], string(v)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{""}, {"K"}, nil, {"+a", "-a"}, nil, {""}, {"K"}, {""}, nil, nil}
	for i := range ask {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: %q, want %q", ask[i], got[i], want[i])
		}
	}
}

func TestWriteRefusesAnotherCommit(t *testing.T) {
	s := mustOpen(t, "", "x")
	m1 := Mark{Seq: 5, Rows: 1, Sum: 5}
	if err := s.Write(Mark{}, m1, []string{"i:a"}, []string{""}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		prev Mark
	}{
		{"behind", Mark{}},
		{"ahead", Mark{Seq: 9, Rows: 2, Sum: 14}},
		{"same seq, other rows", Mark{Seq: 5, Rows: 2, Sum: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Write(tt.prev, Mark{Seq: 20}, []string{"i:b"}, []string{""})
			if !errors.Is(err, ErrMarkMismatch) {
				t.Fatalf("err = %v, want ErrMarkMismatch", err)
			}
			if s.Mark() != m1 || values(t, s, "i:b") != nil {
				t.Fatalf("a refused write changed the store: mark %+v", s.Mark())
			}
		})
	}
	if err := s.Write(m1, m1, []string{"i:a"}, nil); err == nil {
		t.Fatal("lookups without values: no error")
	}
}

func TestLoadOnTopAndReset(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "x")
	m1 := Mark{Seq: 1, Rows: 1, Sum: 1}
	if err := s.Write(Mark{}, m1, []string{"k:K"}, []string{"+a"}); err != nil {
		t.Fatal(err)
	}
	m2 := Mark{Seq: 100000, Rows: 100001, Sum: 123}
	err := s.Load(m2, func(add func(Row) error) error {
		for i := range 100000 { // more than one chunk
			l := "i:" + string(rune('a'+i%26)) + string(rune(i))
			if err := add(Row{Lookup: l, Value: "K"}); err != nil {
				return err
			}
		}
		return add(Row{Lookup: "k:K", Value: "-a"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Mark() != m2 || !slices.Equal(values(t, s, "k:K"), []string{"+a", "-a"}) {
		t.Fatalf("after Load: mark %+v, k:K %q", s.Mark(), values(t, s, "k:K"))
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if s.Mark() != (Mark{}) || values(t, s, "k:K") != nil {
		t.Fatalf("after Reset: mark %+v, k:K %q", s.Mark(), values(t, s, "k:K"))
	}
}

// TestOpenEmptiesWhatItCannotTrust opens stores left in states the store
// cannot vouch for: each is emptied, and says so.
func TestOpenEmptiesWhatItCannotTrust(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir string)
	}{
		{"interrupted load", func(t *testing.T, dir string) {
			s := mustOpen(t, dir, "x")
			err := s.Load(Mark{Seq: 9}, func(add func(Row) error) error {
				if err := add(Row{Lookup: "i:b", Value: ""}); err != nil {
					return err
				}
				return errors.New("connection lost")
			})
			if err == nil {
				t.Fatal("Load: no error")
			}
			_ = s.Close()
		}},
		{"another identity", func(t *testing.T, dir string) {
			s := mustOpen(t, dir, "other/CDS_EVENTS")
			_ = s.Close()
		}},
		{"damaged files", func(t *testing.T, dir string) {
			s := mustOpen(t, dir, "x")
			_ = s.Close()
			files, err := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no manifest: %v", err)
			}
			for _, f := range files {
				if err := os.WriteFile(f, []byte("not a manifest"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, "x")
			if err := s.Write(Mark{}, Mark{Seq: 3, Rows: 1, Sum: 3}, []string{"i:a"}, []string{"K"}); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			tt.spoil(t, dir)
			again := mustOpen(t, dir, "x")
			if !again.WasReset() || again.Mark() != (Mark{}) || values(t, again, "i:a") != nil {
				t.Fatalf("reset %v, mark %+v, i:a %q: want an empty store", again.WasReset(), again.Mark(), values(t, again, "i:a"))
			}
		})
	}
}

func TestMarkLayout(t *testing.T) {
	m := Mark{Seq: 1 << 40, Rows: 3, Sum: 1<<20 - 1, Hash: 1<<48 - 1}
	got, loading, id, err := decodeMark(encodeMark(m, true, "cds/CDS_EVENTS"))
	if err != nil || got != m || !loading || id != "cds/CDS_EVENTS" {
		t.Fatalf("round trip: %+v %v %q %v", got, loading, id, err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other version", []byte{9, 0, 1, 1, 1, 1}},
		{"bad flag", []byte{metaVersion, 2, 1, 1, 1, 1}},
		{"truncated", []byte{metaVersion, 0, 1, 1}},
		{"unterminated varint", []byte{metaVersion, 0, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := decodeMark(tt.b); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestOpenRefusesAStoreInUse: a second Open of a directory in use fails
// and leaves the store alone.
func TestOpenRefusesAStoreInUse(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "x")
	if err := s.Write(Mark{}, Mark{Seq: 1, Rows: 1, Sum: 1}, []string{"i:a"}, []string{"K"}); err != nil {
		t.Fatal(err)
	}
	if other, err := Open(Options{Dir: dir, Identity: "x"}); !errors.Is(err, ErrInUse) {
		if err == nil {
			_ = other.Close()
		}
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if !slices.Equal(values(t, s, "i:a"), []string{"K"}) {
		t.Fatal("the store in use lost its rows")
	}
	_ = s.Close()
	again := mustOpen(t, dir, "x")
	if again.WasReset() || again.Mark().Seq != 1 {
		t.Fatalf("after the refused Open: reset %v, mark %+v", again.WasReset(), again.Mark())
	}
}

// TestOffHeap: a store just opened holds its filter and a memtable
// outside the Go heap, and never more than Options.Memory.
func TestOffHeap(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "fold"), "cds/CDS_EVENTS")
	if err := s.Write(Mark{}, Mark{Seq: 1, Rows: 1, Sum: 1}, []string{"i:a"}, []string{"K"}); err != nil {
		t.Fatal(err)
	}
	n, most := s.OffHeap(), s.MaxOffHeap()
	if most != (Options{}).Memory() {
		t.Errorf("MaxOffHeap %d, want the default options' Memory %d", most, (Options{}).Memory())
	}
	if n < minFilterBytes || n > most {
		t.Errorf("OffHeap %d, want at least the filter's %d and at most %d", n, minFilterBytes, most)
	}
}
