package natsserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkClusterPublish measures what sync_interval always costs in a
// three-node cluster with R3 streams (the default there) against the
// single server's default interval of 1 s, for a publisher that waits for
// each PubAck and one that keeps up to 4,000 in flight:
//
//	go test -run x -bench ClusterPublish -benchtime 5000x ./internal/natsserver/
func BenchmarkClusterPublish(b *testing.B) {
	for _, sync := range []struct {
		name string
		cfg  Config
	}{
		{"1s", Config{}},
		{"always", Config{SyncAlways: true}},
	} {
		for _, mode := range []string{"wait-each", "async"} {
			b.Run("sync="+sync.name+"/"+mode, func(b *testing.B) {
				c := newTestCluster(b, 3, sync.cfg)
				js := mustJetStream(b, c.admin(b))
				c.ensureStreams(b, js, 3)
				c.waitReplicas(b, js, EventsStream, 3)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				i := 0
				for b.Loop() {
					id := jetstream.WithMsgID(fmt.Sprint(i))
					i++
					if mode == "wait-each" {
						if _, err := js.Publish(ctx, benchSubject, []byte(event), id); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if _, err := js.PublishAsync(benchSubject, []byte(event), id, jetstream.WithStallWait(time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-js.PublishAsyncComplete():
				case <-time.After(time.Minute):
					b.Fatal("pub acks did not arrive")
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkClusterFailover measures, in a three-node cluster with R3
// streams and sync always, what stopping the leader of CDS_EVENTS (a
// clean shutdown of its server, in this process) costs a publisher
// connected to every node: the time until another node leads the stream
// (elect-ms) and until the publisher, which retries every 500 ms with the
// same Nats-Msg-Id (10 ms after a refusal such as "no responders"), gets
// its next PubAck (gap-ms). Each round then starts
// the stopped node again and waits until it has caught up (not timed):
//
//	go test -run x -bench ClusterFailover -benchtime 5x ./internal/natsserver/
func BenchmarkClusterFailover(b *testing.B) {
	c := newTestCluster(b, 3, Config{SyncAlways: true})
	js := mustJetStream(b, c.admin(b))
	c.ensureStreams(b, js, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var elect, gap time.Duration
	n, stored := 0, uint64(0)
	publish := func() {
		id := fmt.Sprint(n)
		n++
		for {
			actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			ack, err := js.Publish(actx, benchSubject, []byte(event), jetstream.WithMsgID(id))
			cancel()
			if err == nil {
				if !ack.Duplicate {
					stored++
				}
				return
			}
			if ctx.Err() != nil {
				b.Fatalf("publish %s: %v", id, err)
			}
			// No responders answers at once while no node leads the
			// stream: a pause keeps the loop from starving the election.
			time.Sleep(10 * time.Millisecond)
		}
	}
	for b.Loop() {
		b.StopTimer()
		c.waitReplicas(b, js, EventsStream, 3)
		for range 100 {
			publish()
		}
		old := c.leader(b, EventsStream)
		b.StartTimer()

		start := time.Now()
		c.stop(old)
		elected := make(chan time.Duration, 1)
		go func() {
			for ctx.Err() == nil {
				for i, s := range c.nodes {
					if i != old && s != nil && s.Inner().JetStreamIsStreamLeader("$G", EventsStream) {
						elected <- time.Since(start)
						return
					}
				}
				time.Sleep(time.Millisecond)
			}
			elected <- 0
		}()
		publish()
		gap += time.Since(start)
		elect += <-elected

		b.StopTimer()
		c.start(old)
		c.waitStored(b, EventsStream, stored)
		b.StartTimer()
	}
	b.ReportMetric(float64(elect.Milliseconds())/float64(b.N), "elect-ms")
	b.ReportMetric(float64(gap.Milliseconds())/float64(b.N), "gap-ms")
}
