package chdb

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestFoldIndexStatements writes index rows and reads them back the ways
// the projector does: by sequence range (the local fold store's fills),
// the fingerprint up to a sequence, and the key rows of a hash range.
func TestFoldIndexStatements(t *testing.T) {
	db := migratedDB(t, "cds_foldindex_test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Lookups "i:a" and "i:b" share hash 7 (a collision, as the projector
	// must expect); "k:x" has hash 9.
	h := []uint64{7, 7, 9}
	lookup := []string{"i:a", "i:b", "k:x"}
	if err := db.InsertFoldIndex(ctx, "cds-test/foldindex/1", h, lookup, []uint64{1, 2, 3}, []string{"va", "vb", "vx"}); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertFoldIndex(ctx, "cds-test/foldindex/2", nil, nil, nil, nil); err != nil {
		t.Fatalf("no rows: %v", err)
	}

	var got []string
	collect := func(l, v string) error { got = append(got, l+"="+v); return nil }
	if err := db.ScanFoldIndexSeqs(ctx, 1, 3, collect); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"i:b=vb", "k:x=vx"}; !slices.Equal(got, want) {
		t.Errorf("seqs (1, 3]: %v, want %v", got, want)
	}

	rows, sum, err := db.FoldIndexFingerprintUpTo(ctx, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 2 || sum != 3 {
		t.Errorf("fingerprint up to 2: %d rows, sum %d; want 2, 3", rows, sum)
	}

	got = nil
	if err := db.ScanFoldIndexKeys(ctx, 0, 100, collect); err != nil {
		t.Fatal(err)
	}
	if want := []string{"k:x=vx"}; !slices.Equal(got, want) {
		t.Errorf("key rows of [0, 100]: %v, want %v", got, want)
	}
}
