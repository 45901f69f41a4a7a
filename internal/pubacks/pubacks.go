// Package pubacks waits for the acknowledgements of a window of JetStream
// asynchronous publishes: what a publisher that retries a whole window
// through another server (cds cluster's publisher, the projector's test
// loads) needs to know of it.
package pubacks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrTimeout is returned by Await when an acknowledgement did not arrive in
// time.
var ErrTimeout = errors.New("pubacks: no acknowledgement in time")

// Await waits for every future in order and returns the highest stream
// sequence acknowledged. It fails at the first refused publish, when
// timeout has passed since the call, or when ctx ends; the caller then
// publishes the window again (with Nats-Msg-Id, the stream stores each
// message once).
func Await(ctx context.Context, futures []jetstream.PubAckFuture, timeout time.Duration) (uint64, error) {
	var last uint64
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			return 0, fmt.Errorf("publish %d of %d: %w", i+1, len(futures), err)
		case <-deadline.C:
			return 0, fmt.Errorf("%w (%s, %d of %d acknowledged)", ErrTimeout, timeout, i, len(futures))
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return last, nil
}
