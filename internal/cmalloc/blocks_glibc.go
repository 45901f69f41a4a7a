//go:build linux && cgo

package cmalloc

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

// cBlocks allocates n blocks of size bytes with C's calloc, as Pebble's
// block cache does; the tests use it (cgo is not allowed in test files).
func cBlocks(n, size int) []unsafe.Pointer {
	p := make([]unsafe.Pointer, n)
	for i := range p {
		p[i] = C.calloc(C.size_t(size), 1)
	}
	return p
}

// freeCBlocks frees blocks of cBlocks.
func freeCBlocks(p []unsafe.Pointer) {
	for _, b := range p {
		C.free(b)
	}
}
