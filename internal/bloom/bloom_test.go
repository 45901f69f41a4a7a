package bloom

import (
	"math/rand/v2"
	"testing"
)

func TestNoFalseNegatives(t *testing.T) {
	f := New(1000, 0.01)
	r := rand.New(rand.NewPCG(1, 2))
	added := make([]uint64, 50000) // 50× the initial capacity: several slices
	for i := range added {
		added[i] = r.Uint64()
		f.Add(added[i])
	}
	for _, h := range added {
		if !f.Has(h) {
			t.Fatalf("Has(%x) = false after Add", h)
		}
	}
	if f.Len() != len(added) {
		t.Fatalf("Len = %d, want %d", f.Len(), len(added))
	}
}

func TestFalsePositiveRate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		items    int
		rate     float64
		bound    float64
	}{
		{"within capacity", 100000, 100000, 0.01, 0.01},
		{"grown 16x", 10000, 160000, 0.01, 0.02}, // below 2·fpRate once grown
		{"tight", 100000, 100000, 0.001, 0.001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(tc.capacity, tc.rate)
			r := rand.New(rand.NewPCG(3, 4))
			for range tc.items {
				f.Add(r.Uint64())
			}
			const probes = 1000000
			fp := 0
			for range probes {
				if f.Has(r.Uint64()) { // 2^-64 chance of probing an added item
					fp++
				}
			}
			got := float64(fp) / probes
			if got > tc.bound {
				t.Fatalf("false-positive rate %.5f above %.5f (%d slices, %d bytes)", got, tc.bound, len(f.slices), f.Bytes())
			}
			if got == 0 {
				t.Fatalf("no false positive in %d probes: the filter is larger than asked", probes)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	f := New(0, 0.5)
	if f.Has(42) {
		t.Fatal("empty filter says maybe")
	}
}

func BenchmarkAddHas(b *testing.B) {
	f := New(b.N, 0.001)
	b.ReportAllocs()
	for i := range b.N {
		h := mix(uint64(i))
		f.Add(h)
		if !f.Has(h) {
			b.Fatal("lost")
		}
	}
}
