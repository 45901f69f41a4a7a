package pubacks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/pubacks"
)

// TestAwait publishes to a real JetStream server: a window to the stream is
// acknowledged up to its last sequence; one with a publish to a subject no
// stream holds fails.
func TestAwait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	js := natstest.JetStream(t, ns.ClientURL())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(subjects ...string) []jetstream.PubAckFuture {
		var fs []jetstream.PubAckFuture
		for _, s := range subjects {
			f, err := js.PublishAsync(s, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		return fs
	}

	last, err := pubacks.Await(ctx, publish("t.a", "t.b", "t.c"), 10*time.Second)
	if err != nil || last != 3 {
		t.Fatalf("Await = %d, %v; want 3, nil", last, err)
	}
	if _, err := pubacks.Await(ctx, publish("t.d", "none.e"), 10*time.Second); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("a publish no stream holds: err = %v, want %v", err, jetstream.ErrNoStreamResponse)
	}
}
