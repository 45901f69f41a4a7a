//go:build linux && cgo

package cmalloc

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"unsafe"
)

// resident returns the process's resident set in bytes (/proc/self/statm).
func resident(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := strconv.ParseInt(string(bytes.Fields(b)[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestTrimReturnsFreedBlocks frees 64 MiB of small C blocks, each between
// two that stay (so that no arena's top is free and glibc keeps the
// memory), and checks that Trim returns most of it to the OS.
func TestTrimReturnsFreedBlocks(t *testing.T) {
	if err := Tune(DefaultArenas, DefaultMmapAbove, DefaultTrimAbove); err != nil {
		t.Fatal(err)
	}
	const size, n = 16 << 10, 4096 // 64 MiB, half of it freed
	blocks := cBlocks(2*n, size)
	var gone, stay []unsafe.Pointer
	for i, b := range blocks {
		if i%2 == 0 {
			gone = append(gone, b)
		} else {
			stay = append(stay, b)
		}
	}
	freeCBlocks(gone)
	before := resident(t)
	if !Trim() {
		t.Fatal("Trim returned nothing of 32 MiB of freed blocks")
	}
	after := resident(t)
	if d := before - after; d < 16<<20 {
		t.Fatalf("Trim returned %d KiB of the 32 MiB freed (resident %d → %d KiB), want at least 16 MiB", d>>10, before>>10, after>>10)
	}
	freeCBlocks(stay)
}

// TestTuneAccepted checks that glibc takes every setting of Tune.
func TestTuneAccepted(t *testing.T) {
	if err := Tune(DefaultArenas, DefaultMmapAbove, DefaultTrimAbove); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][3]int{{0, DefaultMmapAbove, DefaultTrimAbove}, {1, 0, DefaultTrimAbove}, {1, DefaultMmapAbove, -1}} {
		if err := Tune(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("Tune(%d, %d, %d): accepted, want an error", bad[0], bad[1], bad[2])
		}
	}
}
