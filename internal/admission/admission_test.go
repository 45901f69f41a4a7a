package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// value is the value of the series name{class} in reg; -1 when absent.
func value(tb testing.TB, reg *prometheus.Registry, name, class string) float64 {
	tb.Helper()
	fams, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() != class {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func mustAcquire(tb testing.TB, c *Controller, cl Class) func() {
	tb.Helper()
	release, err := c.Acquire(context.Background(), cl)
	if err != nil {
		tb.Fatalf("acquire %s: %v", cl, err)
	}
	return release
}

// TestHeavyShare: heavy requests hold at most HeavySlots, so light ones
// still get the other slots, and a heavy one beyond the share is shed
// after the wait.
func TestHeavyShare(t *testing.T) {
	c := New(Config{Slots: 3, HeavySlots: 1, Wait: 50 * time.Millisecond}, nil)
	h := mustAcquire(t, c, Heavy)
	if _, err := c.Acquire(context.Background(), Heavy); !errors.Is(err, ErrShed) {
		t.Fatalf("second heavy with a share of 1: %v, want ErrShed", err)
	}
	l1, l2 := mustAcquire(t, c, Light), mustAcquire(t, c, Light)
	if _, err := c.Acquire(context.Background(), Light); !errors.Is(err, ErrShed) {
		t.Fatalf("light with every slot taken: %v, want ErrShed", err)
	}
	h()
	h() // a second release gives nothing back twice
	l3 := mustAcquire(t, c, Light)
	if _, err := c.Acquire(context.Background(), Light); !errors.Is(err, ErrShed) {
		t.Fatalf("after a double release: %v, want ErrShed (3 slots)", err)
	}
	l1()
	l2()
	l3()
	mustAcquire(t, c, Heavy)()
}

// TestQueueBound: beyond Queue waiters, a request is shed at once; the
// waiters get the slots as they are released.
func TestQueueBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := New(Config{Slots: 1, Queue: 2, Wait: time.Minute}, reg)
	hold := mustAcquire(t, c, Light)
	var wg sync.WaitGroup
	got := make(chan func(), 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Acquire(context.Background(), Light)
			if err != nil {
				t.Errorf("queued request: %v", err)
				return
			}
			got <- r
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reg, "cds_api_reads_queued", "light") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two requests never queued")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := c.Acquire(context.Background(), Light); !errors.Is(err, ErrShed) || time.Since(start) > 30*time.Second {
		t.Fatalf("third waiter with a queue of 2: %v", err)
	}
	hold()
	(<-got)()
	(<-got)()
	wg.Wait()
	if n := value(t, reg, "cds_api_reads_shed_total", "light"); n != 1 {
		t.Errorf("shed: %v, want 1", n)
	}
	if n := value(t, reg, "cds_api_reads_in_flight", "light"); n != 0 {
		t.Errorf("in flight after every release: %v", n)
	}
	if n := value(t, reg, "cds_api_reads_shed_total", "heavy"); n != 0 {
		t.Errorf("heavy shed: %v, want 0 (registered, none shed)", n)
	}
}

// TestCancelWhileQueued: a request whose client goes away leaves the queue
// with the context's error and is not counted as shed.
func TestCancelWhileQueued(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := New(Config{Slots: 1, Wait: time.Minute}, reg)
	defer mustAcquire(t, c, Light)()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for value(t, reg, "cds_api_reads_queued", "light") < 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := c.Acquire(ctx, Light); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while queued: %v", err)
	}
	if n := value(t, reg, "cds_api_reads_shed_total", "light"); n != 0 {
		t.Errorf("shed: %v, want 0", n)
	}
	if n := value(t, reg, "cds_api_reads_queued", "light"); n != 0 {
		t.Errorf("queued after leaving: %v", n)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}} {
		if got := RetryAfterHeader(tt.d); got != tt.want {
			t.Errorf("RetryAfterHeader(%s) = %s, want %s", tt.d, got, tt.want)
		}
	}
}
