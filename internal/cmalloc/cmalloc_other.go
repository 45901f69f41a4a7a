//go:build !(linux && cgo)

package cmalloc

// Supported reports whether this build tunes the C allocator: without cgo
// Pebble allocates in the Go heap, and there is nothing to tune.
const Supported = false

// Tune does nothing in this build.
func Tune(arenas int, mmapAbove, trimAbove int) error { return nil }

// Trim does nothing in this build; it reports false.
func Trim() bool { return false }
