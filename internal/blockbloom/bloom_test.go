package blockbloom

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int64
		keys     int
		maxFalse float64 // the most hashes never added that may be reported present
	}{
		{"one block", 1, 3, 1},
		{"10 bits per key", 10 * 100000 / 8, 100000, 0.02},
		{"20 bits per key", 20 * 100000 / 8, 100000, 0.002},
		{"4 bits per key", 4 * 100000 / 8, 100000, 0.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.size)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := rand.New(rand.NewPCG(1, uint64(tc.keys)))
			added := make(map[uint64]bool, tc.keys)
			for range tc.keys {
				h := r.Uint64()
				added[h] = true
				f.Add(h)
			}
			for h := range added {
				if !f.MayContain(h) {
					t.Fatalf("hash %x added, reported absent", h)
				}
			}
			if f.Added() != int64(tc.keys) {
				t.Fatalf("Added() = %d, want %d", f.Added(), tc.keys)
			}
			falses, tries := 0, 100000
			for range tries {
				h := r.Uint64()
				if !added[h] && f.MayContain(h) {
					falses++
				}
			}
			if rate := float64(falses) / float64(tries); rate > tc.maxFalse {
				t.Fatalf("%.4f of the hashes never added reported present, want at most %.4f", rate, tc.maxFalse)
			}
		})
	}
}

func TestEmptyReportsAbsent(t *testing.T) {
	f, err := New(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for h := range uint64(1000) {
		if f.MayContain(h * 0x9e3779b97f4a7c15) {
			t.Fatalf("empty filter: hash %d reported present", h)
		}
	}
	if f.Bytes() != 1<<16 {
		t.Fatalf("Bytes() = %d", f.Bytes())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// FuzzNoFalseAbsent: whatever is added, and however small the filter, a
// string added is never reported absent.
func FuzzNoFalseAbsent(f *testing.F) {
	f.Add([]byte("i:b000000001"), uint16(1))
	f.Add([]byte("k:WORKFILE/bg-unit01/WF-1\x00s:x/y"), uint16(300))
	seed := maphash.MakeSeed()
	f.Fuzz(func(t *testing.T, data []byte, size uint16) {
		fl, err := New(int64(size))
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		var keys [][]byte
		for i := 0; i < len(data); i += 3 {
			k := data[i:min(i+5, len(data))]
			keys = append(keys, k)
			fl.Add(maphash.Bytes(seed, k))
		}
		for _, k := range keys {
			if !fl.MayContain(maphash.Bytes(seed, k)) {
				t.Fatalf("%q added, reported absent", k)
			}
		}
	})
}
