// Package foldstore keeps the projector's fold index on local disk: an
// embedded LSM (Pebble) of index rows by lookup, and the ClickHouse commit
// (Mark) they reflect. It is a cache of cds.fold_index, never ahead of it.
package foldstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/go-faster/city"

	"github.com/bacgiang/cds/internal/blockbloom"
)

// Mark is the ClickHouse commit a store reflects: the last stream sequence
// folded, the fingerprint of the index rows up to it (their number and
// their sum of seq mod 2^20, as the commit markers of cds.rollup count
// them), and the hash of the message at Seq (0 when unknown).
type Mark struct {
	Seq, Rows, Sum, Hash uint64
}

// Options says where a store lives and how much memory it may use.
type Options struct {
	// Dir is the store's directory, created if missing; "" keeps the store
	// in memory (it starts empty at every Open).
	Dir string
	// Identity names what the store is a copy of (a database and a
	// stream): a store written under another identity is emptied at Open.
	Identity string
	// CacheBytes is the room for blocks in the block cache (Pebble also
	// reserves the memtables in it: the cache is made that much larger);
	// default DefaultCacheBytes.
	// It holds the tables' index and data blocks that the lookups the
	// filter lets through read (docs/performance.md, "The fold store at
	// scale (branch h16s)").
	CacheBytes int64
	// FilterBytes is the most memory the filter of the store's records
	// takes; default DefaultFilterBytes. The filter starts small and
	// doubles as the store grows, up to FilterBytes (10 bits per record:
	// 32 MiB hold about 27M records, 13M events, at that rate; beyond,
	// more absent lookups fall through to Pebble: about 7% at 20M events).
	FilterBytes int64
	// MemTableBytes is the size of a memtable; default
	// DefaultMemTableBytes.
	MemTableBytes uint64
	// Logger receives Pebble's messages (nil: none).
	Logger *slog.Logger
	// BeforeGrowth, when set, is called before the filter is rebuilt
	// larger as the store grows, with the memory the store holds outside
	// the Go heap now and the most the rebuild adds to it at once: the
	// larger filter, and the block cache's unused room (the rebuild reads
	// every record through the cache, which fills). The projector takes
	// that room back from the Go heap first. It is called with the store's
	// lock held: it must not call the store.
	BeforeGrowth func(now MemoryUse, more int64)
	// l0Compaction is the number of flushed memtables that start a
	// compaction into the base level; default 8 (benchmarks set it).
	l0Compaction int
	// noFilter leaves the filter out: every lookup reads Pebble, whose
	// tables then keep Bloom filters (benchmarks set it).
	noFilter bool
	// memtablesInCache sizes Pebble's cache at CacheBytes alone, as before
	// the memtables' reservations were added to it (benchmarks set it).
	memtablesInCache bool
	// epochRecords is the number of records written under one epoch
	// before the next; default defaultEpochRecords, negative: one epoch
	// (benchmarks and tests set it).
	epochRecords int64
}

// defaultEpochRecords is the records of an epoch: about 2M events'.
const defaultEpochRecords = 4 << 20

// The defaults of Options.
const (
	DefaultCacheBytes    = 32 << 20
	DefaultMemTableBytes = 16 << 20
	DefaultFilterBytes   = 32 << 20
)

// withDefaults fills in the defaults of o.
func (o Options) withDefaults() Options {
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.FilterBytes <= 0 {
		o.FilterBytes = DefaultFilterBytes
	}
	if o.noFilter {
		o.FilterBytes = 0
	}
	if o.epochRecords == 0 {
		o.epochRecords = defaultEpochRecords
	}
	return o
}

// Memory returns about the most memory a store opened with o takes outside
// the Go heap (Pebble allocates its cache and memtables itself, the filter
// is mapped): the block cache, two memtables (one written, one flushed)
// and the filter at its largest.
func (o Options) Memory() int64 {
	o = o.withDefaults()
	return o.CacheBytes + 2*int64(o.MemTableBytes) + o.FilterBytes
}

// OffHeap returns the memory the store holds outside the Go heap now: its
// block cache's contents, its memtables (those written and those waiting
// to be reused) and its filter. It grows to about Options.Memory.
func (s *Store) OffHeap() int64 { return s.MemoryUse().Total() }

// MemoryUse is the memory a store holds outside the Go heap, by part
// (Store.MemoryUse).
type MemoryUse struct {
	// Cache is the blocks in Pebble's block cache (their bytes, not what
	// the C allocator holds for them).
	Cache int64
	// MemTables is Pebble's memtables, those written and those waiting to
	// be reused, at their allocated size.
	MemTables int64
	// Filter is the filter of the store's keys.
	Filter int64
}

// Total returns the sum of the parts.
func (u MemoryUse) Total() int64 { return u.Cache + u.MemTables + u.Filter }

// MemoryUse returns the memory the store holds outside the Go heap now, by
// part; its Total is OffHeap.
func (s *Store) MemoryUse() MemoryUse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memoryUse()
}

// memoryUse is MemoryUse for a caller that holds mu.
func (s *Store) memoryUse() MemoryUse {
	var u MemoryUse
	s.fmu.RLock()
	if s.filter != nil {
		u.Filter = s.filter.Bytes()
	}
	s.fmu.RUnlock()
	if s.db != nil {
		m := s.db.Metrics()
		u.Cache = m.BlockCache.Size
		u.MemTables = int64(m.MemTable.Size) + int64(m.MemTable.ZombieSize)
	}
	return u
}

// MaxOffHeap returns about the most memory the store takes outside the Go
// heap: Options.Memory of the options it was opened with.
func (s *Store) MaxOffHeap() int64 { return s.opts.Memory() }

// Store is the local fold index. It is safe for concurrent use: a reader
// may Get while a writer Writes.
type Store struct {
	opts  Options
	db    *pebble.DB
	lock  *pebble.Lock // the directory's lock, held from Open to Close
	mem   vfs.FS       // the file system of an in-memory store
	mu    sync.Mutex
	mark  Mark
	reset bool // Open found the store unusable and emptied it

	// wb is Write's batch, kept from one write to the next with its buffer
	// (a batch grows its buffer from 1 KiB to the megabytes of a drain's
	// batch in a dozen allocations, and Pebble keeps none above 1 MiB); wbOf
	// is the database it was made for. mu guards both.
	wb   *pebble.Batch
	wbOf *pebble.DB

	// The filter of the records' keys: a key it reports absent is not in
	// the store. Every key written is added before Pebble has it, and at
	// Open the filter is made from the keys the store holds, so it holds
	// exactly the store's keys (and the few of a write that failed). fmu
	// guards the pointer: Get and the adds hold it shared, the swap for a
	// larger filter exclusively.
	fmu    sync.RWMutex
	filter *blockbloom.Filter

	// epoch is the epoch of the records written now; epochCount the
	// records written under it (mu guards it).
	epoch      atomic.Uint32
	epochCount int64
}

// ErrInUse is returned by Open when another process has the store open.
var ErrInUse = errors.New("foldstore: the store is in use by another process")

// ErrMarkMismatch is returned by Write when the store does not reflect the
// commit the batch continues: a write was lost, or the store was reset.
var ErrMarkMismatch = errors.New("foldstore: the store is not at the commit the batch continues")

// markKey holds the store's Mark and identity. Records' keys start with
// epochTag, so none sorts before or equals it.
var markKey = []byte("\x00mark")

// metaVersion is the version of the mark record's layout (and of the
// records' keys and values): a store of another version is emptied.
const metaVersion = 3

// Open opens the store in opts.Dir, creating it if missing. It fails if
// another process has it open. A store that Pebble cannot open (a damaged
// directory), that was left in the middle of a Load, or that holds another
// identity or layout is emptied (WasReset reports it): the caller refills
// it from the durable copy.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	s := &Store{opts: opts}
	if opts.Dir == "" {
		s.mem = vfs.NewMem()
	} else {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("fold store: %w", err)
		}
		lock, err := pebble.LockDirectory(opts.Dir, vfs.Default)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInUse, opts.Dir, err)
		}
		s.lock = lock
	}
	if err := s.open(); err != nil {
		if opts.Dir == "" {
			return nil, err
		}
		s.logger().Warn("fold store: cannot open; emptying it", "dir", opts.Dir, "err", err)
		if err := s.recreate(); err != nil {
			s.unlock()
			return nil, err
		}
		s.reset = true
		return s, nil
	}
	m, ok, err := s.readMark()
	if err == nil && !ok {
		m, err = Mark{}, s.writeMark(Mark{}, false, pebble.Sync) // a new store
	}
	if err != nil {
		s.logger().Warn("fold store: unusable; emptying it", "dir", opts.Dir, "err", err)
		if err := s.recreate(); err != nil {
			_ = s.Close()
			return nil, err
		}
		s.reset = true
		return s, nil
	}
	s.mark = m
	if ok, err := s.loadFilter(); err != nil {
		_ = s.Close()
		return nil, err
	} else if ok {
		return s, nil
	}
	if err := s.rebuildFilter(int64(s.db.Metrics().DiskSpaceUsage()/64), true); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) logger() *slog.Logger {
	if s.opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.opts.Logger
}

func (s *Store) open() error {
	// Pebble reserves every memtable it holds (the one written and the one
	// kept for reuse) inside its block cache, which shrinks by as much: a
	// cache of CacheBytes alone held nothing once two memtables of 16 MiB
	// were reserved in its 32 MiB. Sized with their room, it keeps
	// CacheBytes of blocks, and the store's memory is still Options.Memory.
	size := s.opts.CacheBytes + 2*int64(s.opts.MemTableBytes)
	if s.opts.memtablesInCache {
		size = s.opts.CacheBytes
	}
	cache := pebble.NewCache(size)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:        cache,
		MemTableSize: s.opts.MemTableBytes,
		Logger:       pebbleLogger{s.logger()},
		// Absent lookups, most of them, are answered by the store's filter
		// and read nothing: the tables need no Bloom filters of their own
		// (but without the store's filter, noFilter). Blocks of 16 KiB keep
		// the index blocks, which every lookup that reaches Pebble reads, a
		// quarter of their size with the default 4 KiB.
		Levels: [7]pebble.LevelOptions{{Compression: noCompression, BlockSize: 16 << 10}},
		// A base level of 256 MB instead of 64 puts fewer levels between the
		// memtables and the last one: each row is rewritten fewer times
		// (BenchmarkBatchCycle: about 8.6 → 7 CPU µs per event). Compactions
		// are the store's largest cost.
		LBaseMaxBytes: 256 << 20,
		// A compaction into the base level when 8 memtables have been
		// flushed, not 4: it rewrites the base level's tables that the new
		// rows overlap (new keys land all over it), so twice the rows per
		// compaction is about half the rewriting, for a few more filters
		// checked per lookup (BenchmarkBatchCycle: 9.5 → 6.7 and 8.2 → 5.6
		// CPU µs per event in two pairs; 16 did no better).
		L0CompactionThreshold: 8,
		L0StopWritesThreshold: 24,
	}
	if s.opts.noFilter {
		po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	}
	if n := s.opts.l0Compaction; n > 0 {
		po.L0CompactionThreshold, po.L0StopWritesThreshold = n, 3*n
	}
	// No compactions triggered by reads: the lookups that find something
	// are few and spread over the whole key space.
	po.Experimental.ReadSamplingMultiplier = -1
	dir := s.opts.Dir
	if s.mem != nil {
		po.FS, dir = s.mem, "fold"
	} else {
		po.Lock = s.lock
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return fmt.Errorf("fold store: open %s: %w", dir, err)
	}
	s.db = db
	return nil
}

// recreate deletes the store's files but its lock and opens an empty
// store.
func (s *Store) recreate() error {
	if s.db != nil {
		_ = s.db.Close() // its files go anyway
		s.db = nil
	}
	if s.mem != nil {
		s.mem = vfs.NewMem()
	} else {
		entries, err := os.ReadDir(s.opts.Dir)
		if err != nil {
			return fmt.Errorf("fold store: empty %s: %w", s.opts.Dir, err)
		}
		for _, e := range entries {
			if e.Name() == lockFile {
				continue
			}
			if err := os.RemoveAll(filepath.Join(s.opts.Dir, e.Name())); err != nil {
				return fmt.Errorf("fold store: empty %s: %w", s.opts.Dir, err)
			}
		}
	}
	if err := s.open(); err != nil {
		return err
	}
	s.mark = Mark{}
	if err := s.writeMark(Mark{}, false, pebble.Sync); err != nil {
		return err
	}
	return s.rebuildFilter(0, true)
}

// WasReset reports whether Open found the store unusable (damaged, left in
// the middle of a Load, another identity) and emptied it.
func (s *Store) WasReset() bool { return s.reset }

// Mark returns the commit the store reflects.
func (s *Store) Mark() Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mark
}

// Reset empties the store: its Mark becomes zero.
func (s *Store) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recreate()
}

// Get calls fn(i, v) with each value v stored for lookups[i], in the
// order written. The lookups the filter reports absent, nearly all of
// them, are not read. The others are read in key order with one iterator, each
// seek starting where the last one ended (a batch's lookups are near one
// another: new event ids sort last), instead of a search from the top of
// every level per lookup; an event id's row and its superseded marks share
// one record, read once. The bytes are valid only during the call.
func (s *Store) Get(lookups []string, fn func(i int, v []byte) error) error {
	// The keys sought and their records' keys (a superseded mark's is
	// made) are a call's before, emptied: a batch's lookups are tens of
	// thousands.
	g := getScratch.Get().(*getBuffers)
	defer func() {
		clear(g.ws)
		g.ws, g.keys = g.ws[:0], g.keys[:0]
		getScratch.Put(g)
	}()
	size := 0
	for _, l := range lookups {
		size += len(l)
	}
	if cap(g.keys) < size {
		g.keys = make([]byte, 0, size)
	}
	if cap(g.ws) < len(lookups) {
		g.ws = make([]want, 0, len(lookups))
	}
	ws := g.ws
	s.fmu.RLock()
	for i, l := range lookups {
		k, start, ok := l, len(g.keys), false
		// recordKey's, in the call's bytes: a record key is never longer
		// than its lookup, so the bytes are never moved.
		if g.keys, ok = appendRecordKey(g.keys, l); ok {
			k = unsafe.String(&g.keys[start], len(g.keys)-start)
		}
		if s.filter == nil || s.filter.MayContain(keyHash(k)) {
			ws = append(ws, want{k, i})
		}
	}
	s.fmu.RUnlock()
	g.ws = ws
	if len(ws) == 0 {
		return nil
	}
	slices.SortFunc(ws, func(a, b want) int { return strings.Compare(a.key, b.key) })
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("fold store: get: %w", err)
	}
	// A record's rows are in the epochs it was written in: each epoch is
	// read in turn, the oldest first.
	last := s.epoch.Load()
	var k []byte
	for e, j := uint32(0), 0; e <= last; {
		if j == len(ws) {
			e, j = e+1, 0
			continue
		}
		start, key := j, ws[j].key
		for j++; j < len(ws) && ws[j].key == key; {
			j++
		}
		group := ws[start:j] // the lookups kept in this record
		k = appendKey(k[:0], e, key)
		if !it.SeekPrefixGE(k) || !bytes.Equal(it.Key(), k) {
			continue
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = splitRecord(v, func(agency, v []byte) error {
				for _, w := range group {
					if rowOf(lookups[w.i], agency) {
						if err := fn(w.i, v); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("fold store: get %q: %w", key, err)
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("fold store: get: %w", err)
	}
	return nil
}

// want is a lookup that Get seeks: its record's key and its index.
type want struct {
	key string
	i   int
}

// getBuffers is what a call of Get fills, kept for the next call.
type getBuffers struct {
	ws   []want
	keys []byte
}

var getScratch = sync.Pool{New: func() any { return new(getBuffers) }}

// Write adds the rows of one committed batch (lookups[i] has value
// vals[i]) and moves the store from prev to next, in one atomic write.
// It returns ErrMarkMismatch, writing nothing, unless the store is at prev.
// The write is not synced: a crash of the machine may lose the last
// writes, which leaves the store behind, never ahead.
func (s *Store) Write(prev, next Mark, lookups, vals []string) error {
	if len(lookups) != len(vals) {
		return fmt.Errorf("fold store: %d lookups and %d values", len(lookups), len(vals))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mark != prev {
		return fmt.Errorf("%w: at seq %d, the batch continues seq %d", ErrMarkMismatch, s.mark.Seq, prev.Seq)
	}
	if err := s.growFilter(len(lookups)); err != nil {
		return err
	}
	b := s.writeBatch(lookups, vals)
	defer b.Reset() // emptied, its buffer kept for the next write
	var buf, k []byte
	epoch := s.nextEpoch(len(lookups))
	// A record the filter does not have is new: its first row is Set, not
	// merged, which a compaction or a read then need not merge with
	// anything. The filter has it before Pebble does (the batch is
	// committed below).
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	for i, l := range lookups {
		rk := recordKey(l)
		write := b.Merge
		if s.filter != nil {
			h := keyHash(rk)
			if !s.filter.MayContain(h) {
				write = b.Set
			}
			s.filter.Add(h)
		}
		buf = appendRow(buf[:0], l, vals[i])
		k = appendKey(k[:0], epoch, rk)
		if err := write(k, buf, nil); err != nil {
			return fmt.Errorf("fold store: write: %w", err)
		}
	}
	if err := b.Set(markKey, encodeMark(next, false, s.opts.Identity), nil); err != nil {
		return fmt.Errorf("fold store: write: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("fold store: write: %w", err)
	}
	s.mark = next
	return nil
}

// maxWriteBatch is the largest buffer Write's batch keeps between writes.
const maxWriteBatch = 32 << 20

// writeBatch returns Write's batch, empty, with room for the records of
// lookups and vals; the caller holds mu.
func (s *Store) writeBatch(lookups, vals []string) *pebble.Batch {
	if s.wb != nil && s.wbOf == s.db {
		return s.wb
	}
	if s.wb != nil {
		_ = s.wb.Close()
	}
	size := 64
	for i, l := range lookups {
		size += 2*len(l) + len(vals[i]) + 24 // key, value (a superseded mark's agency), lengths, epoch
	}
	s.wb, s.wbOf = s.db.NewBatchWithSize(size, pebble.WithMaxRetainedSizeBytes(maxWriteBatch)), s.db
	return s.wb
}

// Row is one row for Load.
type Row struct{ Lookup, Value string }

// loadChunk is the most rows one write of Load holds.
const loadChunk = 50000

// Load adds rows to the store and moves it to next: to fill it from the
// durable copy, with every row above the store's Mark up to next. rows
// calls add with each row. A Load interrupted (an error, a crash) leaves
// the store marked unfinished: the next Open empties it.
func (s *Store) Load(next Mark, rows func(add func(Row) error) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeMark(s.mark, true, pebble.Sync); err != nil {
		return err
	}
	b := s.db.NewBatch()
	var buf, k []byte
	add := func(r Row) error {
		buf = appendRow(buf[:0], r.Lookup, r.Value)
		k = appendKey(k[:0], s.nextEpoch(1), recordKey(r.Lookup))
		if err := b.Merge(k, buf, nil); err != nil {
			return fmt.Errorf("fold store: load: %w", err)
		}
		if b.Count() < loadChunk {
			return nil
		}
		// The filter, made larger from Pebble's keys if need be, has b's
		// before Pebble does.
		if err := s.growFilter(int(b.Count())); err != nil {
			return err
		}
		if err := s.addBatchKeys(b); err != nil {
			return err
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("fold store: load: %w", err)
		}
		_ = b.Close()
		b = s.db.NewBatch()
		return nil
	}
	err := rows(add)
	if err == nil {
		err = s.growFilter(int(b.Count()))
	}
	if err == nil {
		err = s.addBatchKeys(b)
	}
	if err == nil {
		err = b.Commit(pebble.NoSync)
	}
	_ = b.Close()
	if err != nil {
		return fmt.Errorf("fold store: load: %w", err)
	}
	if err := s.writeMark(next, false, pebble.Sync); err != nil {
		return err
	}
	s.mark = next
	return nil
}

// DiskBytes returns the size of the store's files.
func (s *Store) DiskBytes() uint64 { return s.db.Metrics().DiskSpaceUsage() }

// The filter. Its size is a power of two times the smallest, enough for
// twice the records the store holds at 10 bits each, and at most
// Options.FilterBytes: it is made again, larger, from the store's keys
// when the records added since reach its capacity (docs/performance.md,
// "The fold store at scale (branch h16s)").

// filterBitsPerKey is the filter's bits per record at its capacity: about
// 1% of absent lookups pass it.
const filterBitsPerKey = 10

// minFilterBytes is the smallest filter (tests make it smaller).
var minFilterBytes int64 = 1 << 20

// keyHash is the hash by which the filter knows a record's key (without
// its epoch): the one hash of every add and every probe.
// The key's bytes are hashed in place, not copied.
func keyHash(key string) uint64 {
	return city.CH64(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// addKey adds a record's key to the filter; the caller holds fmu shared.
func (s *Store) addKey(key string) {
	if s.filter != nil {
		s.filter.Add(keyHash(key))
	}
}

// addBatchKeys adds the keys of b's records to the filter (after a
// growFilter that made it from Pebble's keys, which b's are not yet).
func (s *Store) addBatchKeys(b *pebble.Batch) error {
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	r := b.Reader()
	for {
		kind, k, _, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("fold store: filter: %w", err)
		}
		if !ok {
			return nil
		}
		if _, rk, ok := splitKey(k); ok && (kind == pebble.InternalKeyKindMerge || kind == pebble.InternalKeyKindSet) {
			s.addKey(string(rk))
		}
	}
}

// findEpoch sets the current epoch to the last record's, for a store
// without a filter (whose making finds it otherwise).
func (s *Store) findEpoch() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{epochTag}})
	if err != nil {
		return fmt.Errorf("fold store: epoch: %w", err)
	}
	last := uint32(0)
	if it.Last() {
		if e, _, ok := splitKey(it.Key()); ok {
			last = e
		}
	}
	s.epoch.Store(last)
	s.epochCount = 0
	return it.Close()
}

// filterCapacity returns the records a filter of size bytes holds at
// filterBitsPerKey.
func filterCapacity(size int64) int64 { return size * 8 / filterBitsPerKey }

// growFilter makes a larger filter when n more records would take the
// filter past its capacity and it is below Options.FilterBytes. The
// caller holds mu.
func (s *Store) growFilter(n int) error {
	s.fmu.RLock()
	f := s.filter
	s.fmu.RUnlock()
	if f == nil || f.Bytes() >= s.opts.FilterBytes || f.Added()+int64(n) <= filterCapacity(f.Bytes()) {
		return nil
	}
	records := 2 * (f.Added() + int64(n))
	if s.opts.BeforeGrowth != nil {
		now := s.memoryUse()
		s.opts.BeforeGrowth(now, s.filterSize(records)+max(s.opts.CacheBytes-now.Cache, 0))
	}
	return s.rebuildFilter(records, false)
}

// filterSize returns the size of a filter made for records records: the
// least power-of-two multiple of minFilterBytes that holds them, within
// Options.FilterBytes.
func (s *Store) filterSize(records int64) int64 {
	n := minFilterBytes
	for n < s.opts.FilterBytes && filterCapacity(n) < records {
		n *= 2
	}
	return min(n, max(s.opts.FilterBytes, minFilterBytes))
}

// rebuildFilter replaces the filter with one made from every key of the
// store, sized for at least records records (and for twice those it
// finds); atOpen, it also takes the current epoch from the keys (else a
// batch not yet written may be in a later one). The caller holds mu, or
// has the store to itself.
func (s *Store) rebuildFilter(records int64, atOpen bool) error {
	if s.opts.noFilter {
		if !atOpen {
			return nil
		}
		return s.findEpoch()
	}
	for {
		f, err := blockbloom.New(s.filterSize(records))
		if err != nil {
			return fmt.Errorf("fold store: filter: %w", err)
		}
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{epochTag}})
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("fold store: filter: %w", err)
		}
		n, last, inLast := int64(0), uint32(0), int64(0)
		for ok := it.First(); ok; ok = it.Next() {
			e, rk, valid := splitKey(it.Key())
			if !valid {
				_ = it.Close()
				_ = f.Close()
				return fmt.Errorf("fold store: filter: a key of an unknown layout %q", it.Key())
			}
			if e != last {
				last, inLast = e, 0
			}
			f.Add(keyHash(unsafe.String(unsafe.SliceData(rk), len(rk))))
			n, inLast = n+1, inLast+1
		}
		if err := it.Close(); err != nil {
			_ = f.Close()
			return fmt.Errorf("fold store: filter: %w", err)
		}
		if f.Bytes() < s.opts.FilterBytes && filterCapacity(f.Bytes()) < 2*n {
			_ = f.Close() // the store holds more than thought: larger
			records = 2 * n
			continue
		}
		s.fmu.Lock()
		old := s.filter
		s.filter = f
		s.fmu.Unlock()
		if atOpen {
			s.epoch.Store(last)
			s.epochCount = inLast
		}
		if old != nil {
			_ = old.Close()
		}
		return nil
	}
}

// The saved filter. Close writes the filter, with the mark and identity of
// the store and its epoch, to filterFile (through a temporary file renamed
// over it); Open reads it back when they match the store's, and deletes it
// before anything is written, so that a filter read is always one of the
// store as it is, whatever the crash: one not saved or not matching (a
// kill -9, a store emptied) is made again from the store's keys.

// filterFile is the name of the saved filter in the store's directory.
const filterFile = "FOLDFILTER"

// filterCRC is the checksum's table of a saved filter (CRC-32C).
var filterCRC = crc32.MakeTable(crc32.Castagnoli)

// filterMagic starts a saved filter.
const filterMagic = "cdsfilt1"

// filterHeader lays out a saved filter's header: the magic, the store's
// layout version, its mark, the epoch and the records written under it,
// the filter's size and the records added, then the identity.
func (s *Store) filterHeader(f *blockbloom.Filter) []byte {
	b := append([]byte(filterMagic), metaVersion)
	for _, x := range []uint64{s.mark.Seq, s.mark.Rows, s.mark.Sum, s.mark.Hash, uint64(s.epoch.Load()), uint64(s.epochCount), uint64(f.Bytes()), uint64(f.Added())} {
		b = binary.AppendUvarint(b, x)
	}
	b = binary.AppendUvarint(b, uint64(len(s.opts.Identity)))
	return append(b, s.opts.Identity...)
}

// saveFilter writes the filter at Close (the caller holds mu; Pebble is
// closed). A filter not saved is made again at the next Open.
func (s *Store) saveFilter() {
	if s.mem != nil || s.filter == nil {
		return
	}
	if err := s.writeFilterFile(); err != nil {
		s.logger().Warn("fold store: filter not saved; the next open makes it again", "err", err)
	}
}

func (s *Store) writeFilterFile() error {
	tmp := filepath.Join(s.opts.Dir, filterFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the rename, nothing
	head := s.filterHeader(s.filter)
	sum := crc32.New(filterCRC)
	w := io.MultiWriter(f, sum)
	_, err = w.Write(binary.AppendUvarint(nil, uint64(len(head))))
	if err == nil {
		_, err = w.Write(head)
	}
	if err == nil {
		_, err = w.Write(s.filter.Raw())
	}
	if err == nil {
		_, err = f.Write(binary.BigEndian.AppendUint32(nil, sum.Sum32()))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.opts.Dir, filterFile)); err != nil {
		return err
	}
	return syncDir(s.opts.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// loadFilter reads the saved filter, if there is one of the store as
// Open found it, and deletes the file either way. It reports whether the
// store has its filter.
func (s *Store) loadFilter() (bool, error) {
	if s.mem != nil || s.opts.noFilter {
		return false, nil
	}
	path := filepath.Join(s.opts.Dir, filterFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fold store: read the saved filter: %w", err)
	}
	// The file goes before anything is written, durably: from now on the
	// store moves away from what it describes.
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("fold store: delete the saved filter: %w", err)
	}
	if err := syncDir(s.opts.Dir); err != nil {
		return false, fmt.Errorf("fold store: delete the saved filter: %w", err)
	}
	f, ok := s.parseFilter(data)
	if !ok {
		s.logger().Info("fold store: the saved filter is not of this store; making it again")
		return false, nil
	}
	s.fmu.Lock()
	s.filter = f
	s.fmu.Unlock()
	return true, nil
}

// parseFilter returns the filter saved in data if it is whole and of the
// store as it is (the epoch is set from it).
func (s *Store) parseFilter(data []byte) (*blockbloom.Filter, bool) {
	if len(data) < 4 {
		return nil, false
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	if crc32.Checksum(body, filterCRC) != binary.BigEndian.Uint32(tail) {
		return nil, false
	}
	n, k := binary.Uvarint(body)
	if k <= 0 || uint64(len(body)-k) < n {
		return nil, false
	}
	head, bits := body[k:k+int(n)], body[k+int(n):]
	if !bytes.HasPrefix(head, []byte(filterMagic)) || len(head) < len(filterMagic)+1 || head[len(filterMagic)] != metaVersion {
		return nil, false
	}
	r := head[len(filterMagic)+1:]
	var x [9]uint64
	for i := range x {
		v, k := binary.Uvarint(r)
		if k <= 0 {
			return nil, false
		}
		x[i], r = v, r[k:]
	}
	if uint64(len(r)) != x[8] || string(r) != s.opts.Identity {
		return nil, false
	}
	if (Mark{Seq: x[0], Rows: x[1], Sum: x[2], Hash: x[3]}) != s.mark || int64(x[6]) != int64(len(bits)) {
		return nil, false
	}
	f, err := blockbloom.New(int64(len(bits)))
	if err != nil || f.Bytes() != int64(len(bits)) {
		if f != nil {
			_ = f.Close()
		}
		return nil, false
	}
	copy(f.Raw(), bits)
	f.SetAdded(int64(x[7]))
	s.epoch.Store(uint32(x[4]))
	s.epochCount = int64(x[5])
	return f, true
}

// lockFile is the name of Pebble's lock file in the store's directory.
const lockFile = "LOCK"

// Close closes the store and releases its directory. It may be called
// more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.wb != nil {
		_ = s.wb.Close()
		s.wb, s.wbOf = nil, nil
	}
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
		if err == nil {
			s.saveFilter()
		}
	}
	s.fmu.Lock()
	if s.filter != nil {
		_ = s.filter.Close()
		s.filter = nil
	}
	s.fmu.Unlock()
	s.unlock()
	if err != nil {
		return fmt.Errorf("fold store: close: %w", err)
	}
	return nil
}

func (s *Store) unlock() {
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
}

func (s *Store) readMark() (Mark, bool, error) {
	v, closer, err := s.db.Get(markKey)
	if errors.Is(err, pebble.ErrNotFound) {
		// A store without a mark holds nothing it could vouch for.
		if it, ierr := s.db.NewIter(nil); ierr == nil {
			empty := !it.First()
			_ = it.Close()
			if !empty {
				return Mark{}, false, errors.New("fold store: rows without a mark")
			}
		}
		return Mark{}, false, nil
	}
	if err != nil {
		return Mark{}, false, fmt.Errorf("fold store: read mark: %w", err)
	}
	defer closer.Close()
	m, loading, id, err := decodeMark(v)
	switch {
	case err != nil:
		return Mark{}, false, err
	case loading:
		return Mark{}, false, errors.New("fold store: a load was interrupted")
	case id != s.opts.Identity:
		return Mark{}, false, fmt.Errorf("fold store: holds %q, not %q", id, s.opts.Identity)
	}
	return m, true, nil
}

func (s *Store) writeMark(m Mark, loading bool, wo *pebble.WriteOptions) error {
	if err := s.db.Set(markKey, encodeMark(m, loading, s.opts.Identity), wo); err != nil {
		return fmt.Errorf("fold store: write mark: %w", err)
	}
	return nil
}

// encodeMark lays out the mark record: version, loading flag, the four
// numbers, then the identity.
func encodeMark(m Mark, loading bool, identity string) []byte {
	b := make([]byte, 0, 2+4*binary.MaxVarintLen64+len(identity))
	b = append(b, metaVersion, 0)
	if loading {
		b[1] = 1
	}
	for _, x := range []uint64{m.Seq, m.Rows, m.Sum, m.Hash} {
		b = binary.AppendUvarint(b, x)
	}
	return append(b, identity...)
}

func decodeMark(b []byte) (m Mark, loading bool, identity string, err error) {
	if len(b) < 2 || b[0] != metaVersion || b[1] > 1 {
		return Mark{}, false, "", fmt.Errorf("fold store: mark of an unknown layout %x", b[:min(len(b), 2)])
	}
	loading, b = b[1] == 1, b[2:]
	for _, x := range []*uint64{&m.Seq, &m.Rows, &m.Sum, &m.Hash} {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return Mark{}, false, "", errors.New("fold store: damaged mark")
		}
		*x, b = v, b[n:]
	}
	return m, loading, string(b), nil
}

// The layout. A record's key is epochTag, its epoch (4 bytes, big endian)
// and the record's own key (recordKey): the records written come under the
// current epoch, and the next epoch begins every epochRecords records, so
// that the keys new rows bring, spread over the whole space of natural
// keys, land in the last epoch's range only, and compactions rewrite that
// range, not the whole store (docs/performance.md, "The fold store at
// scale (branch h16s)"). A record's rows written in several epochs are
// read from each, the oldest first.
//
// The rows of a lookup are kept in a record under its lookup,
// except a superseded mark "s:<agency>/<id>", kept in the record of the
// event id, "i:<id>": the two lookups every event needs are one read. A
// record is its rows one after the other (Pebble's default merger
// concatenates what Write and Load append), each a uvarint length and the
// row: a tag byte, then for a superseded mark (tag 1) its agency (a
// uvarint length and the bytes), then the row's value (tag 0: the row of
// the record's own lookup).

// epochTag starts the key of every record.
const epochTag = 0x01

// epochLen is the length of a key's epoch tag and epoch.
const epochLen = 5

// appendKey appends the key of the record of key in epoch.
func appendKey(b []byte, epoch uint32, key string) []byte {
	return append(binary.BigEndian.AppendUint32(append(b, epochTag), epoch), key...)
}

// splitKey returns the epoch and record key of a Pebble key.
func splitKey(k []byte) (uint32, []byte, bool) {
	if len(k) < epochLen || k[0] != epochTag {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(k[1:epochLen]), k[epochLen:], true
}

// nextEpoch returns the epoch of a write of n records and counts them
// (the caller holds mu).
func (s *Store) nextEpoch(n int) uint32 {
	if s.opts.epochRecords > 0 && s.epochCount >= s.opts.epochRecords {
		s.epoch.Add(1)
		s.epochCount = 0
	}
	s.epochCount += int64(n)
	return s.epoch.Load()
}

// recordKey returns the key of the record that holds lookup's rows.
func recordKey(lookup string) string {
	if b, ok := appendRecordKey(nil, lookup); ok {
		return string(b)
	}
	return lookup
}

// appendRecordKey appends to b the record key of a superseded mark
// ("i:<id>", its event id's record) and reports true; for any other
// lookup, its own record key, it appends nothing and reports false.
func appendRecordKey(b []byte, lookup string) ([]byte, bool) {
	if agency, id, ok := supersededMark(lookup); ok && agency != "" {
		return append(append(b, "i:"...), id...), true
	}
	return b, false
}

// supersededMark splits a lookup "s:<agency>/<id>" (agency codes have no
// '/'; event ids may).
func supersededMark(lookup string) (agency, id string, ok bool) {
	if !strings.HasPrefix(lookup, "s:") {
		return "", "", false
	}
	agency, id, ok = strings.Cut(lookup[2:], "/")
	return agency, id, ok
}

// appendRow appends the row of lookup holding value, as its record keeps
// it.
func appendRow(b []byte, lookup, value string) []byte {
	agency, _, ok := supersededMark(lookup)
	if !ok || agency == "" {
		b = binary.AppendUvarint(b, uint64(1+len(value)))
		return append(append(b, 0), value...)
	}
	n := 1 + uvarintLen(uint64(len(agency))) + len(agency) + len(value)
	b = append(binary.AppendUvarint(b, uint64(n)), 1)
	b = append(binary.AppendUvarint(b, uint64(len(agency))), agency...)
	return append(b, value...)
}

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// splitRecord calls fn with each row of a record, in the order appended:
// the agency of a superseded mark (nil for the record's own lookup) and
// the row's value.
func splitRecord(r []byte, fn func(agency, v []byte) error) error {
	for len(r) > 0 {
		n, k := binary.Uvarint(r)
		if k <= 0 || n == 0 || uint64(len(r)-k) < n {
			return errors.New("damaged record")
		}
		row := r[k : k+int(n)]
		r = r[k+int(n):]
		var agency []byte
		switch row[0] {
		case 0:
			row = row[1:]
		case 1:
			an, ak := binary.Uvarint(row[1:])
			if ak <= 0 || uint64(len(row)-1-ak) < an {
				return errors.New("damaged record")
			}
			agency, row = row[1+ak:1+ak+int(an)], row[1+ak+int(an):]
			if agency == nil {
				agency = []byte{}
			}
		default:
			return fmt.Errorf("damaged record: row tag %d", row[0])
		}
		if err := fn(agency, row); err != nil {
			return err
		}
	}
	return nil
}

// rowOf reports whether a row of a record, with agency (nil for the
// record's own lookup), is a row of lookup, one of the lookups kept there.
func rowOf(lookup string, agency []byte) bool {
	a, _, ok := supersededMark(lookup)
	if !ok || a == "" {
		return agency == nil
	}
	return agency != nil && a == string(agency)
}

// noCompression leaves the tables' blocks as they are: the store is a
// cache of small rows, and compressing and decompressing them was a large
// part of its CPU time (the projector's scarcest resource).
func noCompression() *sstable.CompressionProfile { return sstable.NoCompression }

// pebbleLogger sends Pebble's messages to slog. Fatalf panics, as Pebble
// expects of it.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Warn("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble: " + msg)
	panic("pebble: " + msg)
}
