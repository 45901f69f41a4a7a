// Package blockbloom is a split-block Bloom filter of 64-bit hashes whose
// bits live outside the Go heap (an anonymous memory mapping), so that the
// garbage collector neither scans them nor counts them in its target.
//
// A hash sets one bit in each of the eight 32-bit words of one 32-byte
// block: a query reads one cache line. With 10 bits per key about 1% of
// the hashes never added are reported present; a hash added is always
// reported present. Add and MayContain are safe for concurrent use.
package blockbloom

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// BlockBytes is the size of a block, the unit of a filter's size.
const BlockBytes = 32

// salts spread a hash's low 32 bits over the eight words of its block
// (the constants of Parquet's split-block Bloom filter).
var salts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

// Filter is a split-block Bloom filter. Its zero value is not usable:
// make one with New, and Close it.
type Filter struct {
	mem    []byte   // the mapping
	words  []uint32 // mem as words, 8 per block
	blocks uint64
	added  atomic.Int64
}

// New returns an empty filter of about size bytes (at least one block,
// rounded down to whole blocks).
func New(size int64) (*Filter, error) {
	blocks := max(size/BlockBytes, 1)
	n := blocks * BlockBytes
	if n > int64(^uint(0)>>1) {
		return nil, fmt.Errorf("blockbloom: size %d: too large", size)
	}
	mem, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("blockbloom: map %d bytes: %w", n, err)
	}
	return &Filter{
		mem:    mem,
		words:  unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(mem))), n/4),
		blocks: uint64(blocks),
	}, nil
}

// Bytes returns the filter's size.
func (f *Filter) Bytes() int64 { return int64(len(f.mem)) }

// Added returns the number of hashes added (a hash added twice counts
// twice).
func (f *Filter) Added() int64 { return f.added.Load() }

// block returns the index of the first word of h's block: the high 32
// bits of h scaled to the number of blocks.
func (f *Filter) block(h uint64) uint64 { return ((h >> 32) * f.blocks >> 32) * 8 }

// Add adds h.
func (f *Filter) Add(h uint64) {
	b, x := f.block(h), uint32(h)
	for i, s := range salts {
		atomic.OrUint32(&f.words[b+uint64(i)], 1<<((x*s)>>27))
	}
	f.added.Add(1)
}

// MayContain reports whether h may have been added: false means it never
// was.
func (f *Filter) MayContain(h uint64) bool {
	b, x := f.block(h), uint32(h)
	for i, s := range salts {
		if atomic.LoadUint32(&f.words[b+uint64(i)])&(1<<((x*s)>>27)) == 0 {
			return false
		}
	}
	return true
}

// Raw returns the filter's bits, to save them and to restore them into a
// new filter of the same size (with SetAdded). Not while hashes are added.
func (f *Filter) Raw() []byte { return f.mem }

// SetAdded sets the count Added returns, for a filter restored with Raw.
func (f *Filter) SetAdded(n int64) { f.added.Store(n) }

// Close releases the filter's memory. The filter must not be used after.
func (f *Filter) Close() error {
	if f.mem == nil {
		return nil
	}
	err := syscall.Munmap(f.mem)
	f.mem, f.words, f.blocks = nil, nil, 0
	if err != nil {
		return fmt.Errorf("blockbloom: unmap: %w", err)
	}
	return nil
}
