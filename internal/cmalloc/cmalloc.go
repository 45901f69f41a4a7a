// Package cmalloc tunes the C allocator that the local fold store's block
// cache and memtables come from in a cgo build (Pebble allocates them with
// calloc), and returns its free memory to the OS (docs/performance.md,
// "The C allocator's memory").
//
// glibc's defaults suit a C program, not a Go process that calls into C
// from whatever thread the Go scheduler picks: each thread that allocates
// gets an arena of its own (up to 8 per core), and once a large block has
// been freed the threshold above which blocks are mapped on their own
// rises to its size, with the threshold of the free memory kept at an
// arena's top at twice that. A 20M-event drain held about 140 MiB in 7
// arenas for 64 MiB of cache and memtables.
package cmalloc

// Defaults of Tune: two arenas (the fold store's writers and its readers
// seldom allocate at once), blocks of 128 KiB and more mapped on their own
// (glibc's initial threshold, kept fixed), free memory above 1 MiB at the
// top of an arena returned.
const (
	DefaultArenas    = 2
	DefaultMmapAbove = 128 << 10
	DefaultTrimAbove = 1 << 20
)
