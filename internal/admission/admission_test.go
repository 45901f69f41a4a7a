package admission

import (
	"context"
	"errors"
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
	got := queueUp(t, c, reg, Light, 2)
	start := time.Now()
	if _, err := c.Acquire(context.Background(), Light); !errors.Is(err, ErrShed) || time.Since(start) > 30*time.Second {
		t.Fatalf("third waiter with a queue of 2: %v", err)
	}
	hold()
	releaseAll(t, got, 2)
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

// TestShares: drill and heavy reads each hold at most their share of the
// slots, every share apart from the others, and light reads keep the rest
// (and take a share's slots while it leaves them free). Each case acquires
// in order and says which acquisitions are admitted (the others are shed
// after the wait, holding nothing).
func TestShares(t *testing.T) {
	const L, D, H = Light, Drill, Heavy
	for _, tt := range []struct {
		name  string
		cfg   Config
		order []Class
		admit []bool
	}{
		{"drill share of 1", Config{Slots: 4, DrillSlots: 1, HeavySlots: 1},
			[]Class{D, D, L, L, H, L, L}, []bool{true, false, true, true, true, false, false}},
		{"drill share of 2, heavy idle", Config{Slots: 4, DrillSlots: 2, HeavySlots: 1},
			[]Class{D, D, D, L, L, L}, []bool{true, true, false, true, true, false}},
		{"light takes the free shares", Config{Slots: 4, DrillSlots: 1, HeavySlots: 1},
			[]Class{L, L, L, L, D, H}, []bool{true, true, true, true, false, false}},
		{"shares apart", Config{Slots: 3, DrillSlots: 1, HeavySlots: 1},
			[]Class{H, D, H, D, L, L}, []bool{true, true, false, false, true, false}},
		{"default shares of 8 slots", Config{Slots: 8},
			[]Class{D, D, D, H, H, H, L, L, L, L, L}, []bool{true, true, false, true, true, false, true, true, true, true, false}},
		{"share above the slots", Config{Slots: 2, DrillSlots: 5},
			[]Class{D, D, D}, []bool{true, true, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Wait = 20 * time.Millisecond
			reg := prometheus.NewRegistry()
			c := New(cfg, reg)
			var releases []func()
			shed := map[Class]float64{}
			for i, cl := range tt.order {
				r, err := c.Acquire(context.Background(), cl)
				switch {
				case tt.admit[i] && err != nil:
					t.Fatalf("acquisition %d (%s): %v, want admitted", i, cl, err)
				case !tt.admit[i] && !errors.Is(err, ErrShed):
					t.Fatalf("acquisition %d (%s): %v, want ErrShed", i, cl, err)
				case err == nil:
					releases = append(releases, r)
				default:
					shed[cl]++
				}
			}
			for _, cl := range []Class{Light, Drill, Heavy} {
				if n := value(t, reg, "cds_api_reads_shed_total", cl.String()); n != shed[cl] {
					t.Errorf("shed %s: %v, want %v", cl, n, shed[cl])
				}
			}
			for _, r := range releases {
				r()
			}
			// Every token is back, including the share tokens of the reads
			// shed on the slot wait ("light takes the free shares").
			if n := len(c.slots); n != 0 {
				t.Errorf("%d slots held after every release", n)
			}
			for _, cl := range []Class{Drill, Heavy} {
				if n := len(c.share[cl]); n != 0 {
					t.Errorf("%d tokens of the %s share held after every release", n, cl)
				}
				if n := value(t, reg, "cds_api_reads_in_flight", cl.String()); n != 0 {
					t.Errorf("%s in flight after every release: %v", cl, n)
				}
			}
			// So each share is whole again, and then all the slots.
			for _, share := range []struct {
				cl Class
				n  int
			}{{Drill, c.Config().DrillSlots}, {Heavy, c.Config().HeavySlots}, {Light, c.Config().Slots}} {
				var held []func()
				for i := range share.n {
					r, err := c.Acquire(context.Background(), share.cl)
					if err != nil {
						t.Fatalf("%s read %d of %d after every release: %v", share.cl, i+1, share.n, err)
					}
					held = append(held, r)
				}
				for _, r := range held {
					r()
				}
			}
		})
	}
}

// TestDrillQueue: drill reads beyond the share wait in their own queue
// (8 × DrillSlots) and get the share's slot as it is released, while
// light reads still find the slots outside the share.
func TestDrillQueue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := New(Config{Slots: 3, DrillSlots: 1, HeavySlots: 1, Wait: time.Minute}, reg)
	hold := mustAcquire(t, c, Drill)
	got := queueUp(t, c, reg, Drill, 8)
	if _, err := c.Acquire(context.Background(), Drill); !errors.Is(err, ErrShed) {
		t.Fatalf("ninth drill waiter with a queue of 8: %v, want ErrShed", err)
	}
	l1, l2 := mustAcquire(t, c, Light), mustAcquire(t, c, Light)
	hold()
	releaseAll(t, got, 8)
	l1()
	l2()
	if n := value(t, reg, "cds_api_reads_shed_total", "drill"); n != 1 {
		t.Errorf("drill shed: %v, want 1", n)
	}
}

// queueUp starts n requests of class cl that wait for a slot of c, and
// returns once the queued gauge of reg counts them: each sends its release
// on the channel once admitted, or nil when it was not.
func queueUp(t *testing.T, c *Controller, reg *prometheus.Registry, cl Class, n int) <-chan func() {
	t.Helper()
	got := make(chan func(), n)
	for range n {
		go func() {
			r, err := c.Acquire(context.Background(), cl)
			if err != nil {
				t.Errorf("queued %s request: %v", cl, err)
			}
			got <- r // nil when not admitted
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reg, "cds_api_reads_queued", cl.String()) < float64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("the %d %s requests never queued", n, cl)
		}
		time.Sleep(time.Millisecond)
	}
	return got
}

// releaseAll takes the n releases of queueUp's requests, as they are
// admitted, and gives each slot back; it stops the test at one not
// admitted.
func releaseAll(t *testing.T, got <-chan func(), n int) {
	t.Helper()
	for range n {
		r := <-got
		if r == nil {
			t.FailNow()
		}
		r()
	}
}

// TestQueueDelay: with the class's reads holding their slot 40 ms on
// average, a drill read that would wait behind more than QueueDelay
// (100 ms: two reads on one slot) is shed at once, long before Wait and
// with room left in the queue; those queued ahead keep their place.
func TestQueueDelay(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := New(Config{Slots: 3, DrillSlots: 1, QueueDelay: 100 * time.Millisecond, Wait: time.Hour}, reg)
	for range 3 {
		c.observeHold(Drill, 40*time.Millisecond)
	}
	hold := mustAcquire(t, c, Drill)
	got := queueUp(t, c, reg, Drill, 2)                                      // expected waits 40 and 80 ms
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // not shed: it would wait for ever
	defer cancel()
	if _, err := c.Acquire(ctx, Drill); !errors.Is(err, ErrShed) {
		t.Fatalf("third drill waiter, expected to wait 120 ms: %v, want ErrShed", err)
	}
	if n := value(t, reg, "cds_api_reads_shed_total", "drill"); n != 1 {
		t.Errorf("drill shed: %v, want 1", n)
	}
	hold()
	releaseAll(t, got, 2)
}

// TestObserveHold: the mean hold time starts at the first read's and
// moves by holdWeight's share of each new one.
func TestObserveHold(t *testing.T) {
	c := New(Config{}, nil)
	if w := c.expectedWait(Light, 4); w != 0 {
		t.Fatalf("expected wait before any read: %v, want 0", w)
	}
	c.observeHold(Light, 80*time.Millisecond)
	c.observeHold(Light, 160*time.Millisecond)
	if got, want := time.Duration(c.hold[Light].Load()), 90*time.Millisecond; got != want {
		t.Errorf("mean hold: %v, want %v", got, want)
	}
	if got, want := c.expectedWait(Light, 8), 180*time.Millisecond; got != want { // 8 × 90 ms over 4 slots
		t.Errorf("expected wait of the 8th: %v, want %v", got, want)
	}
}
