package scores

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bacgiang/cds/internal/admission"
)

// TestFlightCacheOneRead: concurrent gets of one key share one read, a
// value is kept under the key its read returns, and the least recently used
// entry goes first.
func TestFlightCacheOneRead(t *testing.T) {
	c := newFlightCache[string, int](2, admission.Light)
	var reads atomic.Int32
	release := make(chan struct{})
	read := func(context.Context) (int, string, error) {
		reads.Add(1)
		<-release
		return 7, "a", nil
	}
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Go(func() {
			v, err := c.get(context.Background(), "a", read)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	// Every get is either the read or waiting for it once the read counts.
	for {
		c.mu.Lock()
		waiting := c.hits + c.misses
		c.mu.Unlock()
		if waiting == uint64(len(got)) {
			break
		}
	}
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != 7 {
			t.Fatalf("get %d: %d, want 7", i, v)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d reads for %d concurrent gets, want 1", n, len(got))
	}

	// Read at a newer key than asked: kept under the newer one only.
	v, err := c.get(context.Background(), "old", func(context.Context) (int, string, error) { return 9, "new", nil })
	if err != nil || v != 9 {
		t.Fatalf("get old: %d, %v", v, err)
	}
	if _, ok := c.entries["old"]; ok {
		t.Fatal("a value read at a newer key is kept under the older one")
	}
	if _, ok := c.entries["new"]; !ok {
		t.Fatal("a value read at a newer key is not kept under it")
	}
	// "a" was used before "new": it goes when a third key comes.
	if _, err := c.get(context.Background(), "b", func(context.Context) (int, string, error) { return 1, "b", nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.entries["a"]; ok || c.lru.Len() != 2 {
		t.Fatalf("after a third key: %d entries, \"a\" held %t; want 2, false", c.lru.Len(), ok)
	}
}

// TestFlightCacheFailedRead: a failed read is not kept, and those that
// waited for it read on their own.
func TestFlightCacheFailedRead(t *testing.T) {
	c := newFlightCache[string, int](4, admission.Light)
	started, release := make(chan struct{}), make(chan struct{})
	boom := errors.New("boom")
	done := make(chan error)
	go func() {
		_, err := c.get(context.Background(), "k", func(context.Context) (int, string, error) {
			close(started)
			<-release
			return 0, "k", boom
		})
		done <- err
	}()
	<-started
	waiter := make(chan int)
	go func() {
		v, _ := c.get(context.Background(), "k", func(context.Context) (int, string, error) { return 5, "k", nil })
		waiter <- v
	}()
	for {
		c.mu.Lock()
		n := c.hits
		c.mu.Unlock()
		if n == 1 {
			break
		}
	}
	close(release)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("first get: %v, want boom", err)
	}
	if v := <-waiter; v != 5 {
		t.Fatalf("waiter: %d, want its own read's 5", v)
	}
}

// TestMarkReadsNeverOlder: a read of the markers that a request shares
// started after the request arrived, and requests that arrive while one
// read is in flight share the next one.
func TestMarkReadsNeverOlder(t *testing.T) {
	var g markReads
	var version atomic.Uint64 // what "the markers" say now
	var reads atomic.Int32
	gate := make(chan struct{})
	fn := func(context.Context) (mark, error) {
		v := version.Load() // before the count the test waits on: the first read's markers are of before the commit
		reads.Add(1)
		<-gate
		return mark{watermark: v}, nil
	}
	first := make(chan mark)
	go func() {
		m, _ := g.read(context.Background(), fn, fn)
		first <- m
	}()
	for reads.Load() != 1 {
		runtime.Gosched()
	}
	// A commit lands while the first read is in flight; the requests that
	// come now must not get the first read's answer.
	version.Store(1)
	var wg sync.WaitGroup
	later := make([]mark, 6)
	for i := range later {
		wg.Go(func() {
			m, err := g.read(context.Background(), fn, fn)
			if err != nil {
				t.Error(err)
			}
			later[i] = m
		})
	}
	waitMarks(&g, func(g *markReads) bool { return g.next != nil })
	close(gate)
	if m := <-first; m.watermark != 0 {
		t.Fatalf("first read: %d, want 0", m.watermark)
	}
	wg.Wait()
	for i, m := range later {
		if m.watermark != 1 {
			t.Fatalf("request %d arrived after the commit and got the markers of before: %d", i, m.watermark)
		}
	}
	if n := reads.Load(); n < 2 || n > 1+int32(len(later)) {
		t.Fatalf("%d reads", n)
	}
}

// TestMarkReadsAloneOnFailure: when the shared read fails, the requests
// that waited for it read on their own, by the alone read (which holds a
// read slot), not by the shared one.
func TestMarkReadsAloneOnFailure(t *testing.T) {
	var g markReads
	gate := make(chan struct{})
	var shared, alone atomic.Int32
	sharedRead := func(context.Context) (mark, error) {
		switch n := shared.Add(1); n {
		case 1:
			<-gate // the read in flight while the others arrive
			return mark{watermark: 1}, nil
		case 2:
			return mark{}, errors.New("the shared read failed")
		default:
			t.Errorf("shared read %d: the waiter of a failed shared read read by the shared read again", n)
			return mark{watermark: 3}, nil
		}
	}
	aloneRead := func(context.Context) (mark, error) {
		alone.Add(1)
		return mark{watermark: 2}, nil
	}
	first := make(chan error, 1)
	go func() {
		_, err := g.read(context.Background(), sharedRead, aloneRead)
		first <- err
	}()
	for shared.Load() != 1 {
		runtime.Gosched()
	}
	// The runner of the next read, then one that joins it.
	runner := make(chan error, 1)
	go func() {
		_, err := g.read(context.Background(), sharedRead, aloneRead)
		runner <- err
	}()
	waitMarks(&g, func(g *markReads) bool { return g.next != nil })
	waiter := make(chan mark, 1)
	go func() {
		m, err := g.read(context.Background(), sharedRead, aloneRead)
		if err != nil {
			t.Error(err)
		}
		waiter <- m
	}()
	// The waiter has joined the next read before the first one ends.
	waitMarks(&g, func(g *markReads) bool { return g.joined == 1 })
	close(gate)
	if err := <-first; err != nil {
		t.Fatalf("the first read: %v", err)
	}
	if err := <-runner; err == nil {
		t.Fatal("the runner of the failing shared read: no error")
	}
	m := <-waiter
	if s, a := shared.Load(), alone.Load(); s != 2 || a != 1 || m.watermark != 2 {
		t.Fatalf("waiter after the shared read failed: watermark %d after %d shared and %d alone reads, want 2 after 2 shared and 1 alone", m.watermark, s, a)
	}
}

// waitMarks yields until cond holds of g, read under g's mutex.
func waitMarks(g *markReads, cond func(*markReads) bool) {
	for {
		g.mu.Lock()
		ok := cond(g)
		g.mu.Unlock()
		if ok {
			return
		}
		runtime.Gosched()
	}
}
