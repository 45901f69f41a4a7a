package admission

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHold: a request marked by Defer takes a slot only inside Hold, a
// read nested in another runs at once, a context not marked runs at once
// whatever the slots, and a read that finds every slot taken for longer
// than the wait is shed.
func TestHold(t *testing.T) {
	c := New(Config{Slots: 1, Wait: 50 * time.Millisecond}, nil)
	ctx := c.Defer(context.Background())

	var inside, nested int
	err := Hold(ctx, Light, func(ctx context.Context) error {
		inside = len(c.slots)
		return Hold(ctx, Light, func(context.Context) error {
			nested = len(c.slots)
			return nil
		})
	})
	if err != nil || inside != 1 || nested != 1 {
		t.Fatalf("Hold: err %v, slots taken inside %d, nested %d; want nil, 1, 1", err, inside, nested)
	}
	if n := len(c.slots); n != 0 {
		t.Fatalf("%d slots taken after Hold, want 0", n)
	}

	release := mustAcquire(t, c, Light)
	defer release()
	ran := false
	if err := Hold(context.Background(), Light, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("Hold without Defer while the slots are taken: err %v, ran %t; want nil, true", err, ran)
	}
	ran = false
	err = Hold(ctx, Light, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, ErrShed) || ran {
		t.Fatalf("Hold with every slot taken: err %v, ran %t; want ErrShed, false", err, ran)
	}
}

// TestAwait: a request marked by Defer waits for another's read no longer
// than for a slot, then is shed; a context not marked waits until the read
// ends.
func TestAwait(t *testing.T) {
	c := New(Config{Slots: 1, Wait: 50 * time.Millisecond}, nil)
	never := make(chan struct{})
	if err := Await(c.Defer(context.Background()), Heavy, never); !errors.Is(err, ErrShed) {
		t.Fatalf("Await of a read that does not end: %v, want ErrShed", err)
	}
	done := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(done) })
	if err := Await(context.Background(), Heavy, done); err != nil {
		t.Fatalf("Await without Defer: %v", err)
	}
}
