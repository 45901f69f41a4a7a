//go:build linux && cgo

package cmalloc

/*
#include <malloc.h>
*/
import "C"

import "fmt"

// Supported reports whether this build tunes the C allocator (a cgo build
// on Linux, against glibc).
const Supported = true

// Tune sets glibc's arena count to arenas, its mmap threshold to mmapAbove
// and its trim threshold to trimAbove (mallopt; setting either threshold
// also stops glibc from raising them as large blocks are freed). Arenas
// made before the call stay; call it before the allocations it is for.
func Tune(arenas int, mmapAbove, trimAbove int) error {
	if arenas < 1 || mmapAbove < 1 || trimAbove < 0 {
		return fmt.Errorf("mallopt: %d arenas, mmap threshold %d, trim threshold %d: want at least 1, 1 and 0", arenas, mmapAbove, trimAbove)
	}
	for _, o := range []struct {
		name  string
		param C.int
		value int
	}{
		{"M_ARENA_MAX", C.M_ARENA_MAX, arenas},
		{"M_MMAP_THRESHOLD", C.M_MMAP_THRESHOLD, mmapAbove},
		{"M_TRIM_THRESHOLD", C.M_TRIM_THRESHOLD, trimAbove},
	} {
		if C.mallopt(o.param, C.int(o.value)) != 1 {
			return fmt.Errorf("mallopt(%s, %d): refused", o.name, o.value)
		}
	}
	return nil
}

// Trim returns the free memory of every arena to the OS (malloc_trim(0)):
// whole free pages inside an arena too, not only at its top. It reports
// whether any memory was returned.
func Trim() bool { return C.malloc_trim(0) == 1 }
