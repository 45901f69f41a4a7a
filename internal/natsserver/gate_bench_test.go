package natsserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/credentials"
)

// BenchmarkGate measures one agency publishing through the gate, 1,000
// PubAcks in flight, without and with the check of each event (what
// internal/app passes: decode, subject, rules without the registry here).
func BenchmarkGate(b *testing.B) {
	check := func(subject string, data []byte) error {
		e, err := events.Decode(data)
		if err != nil {
			return err
		}
		if err := events.CheckSubject(subject, e); err != nil {
			return err
		}
		return events.Rules{}.Check(e)
	}
	for _, bc := range []struct {
		name  string
		check Check
	}{{"nocheck", nil}, {"check", check}} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			f, h, err := credentials.Ensure(dir, testAgencies)
			if err != nil {
				b.Fatal(err)
			}
			srv := mustStart(b, Config{Hashes: h, Limits: Limits{Rate: -1}, Check: bc.check})
			fx := &fixture{srv: srv, dir: dir, creds: f}
			if err := EnsureStreams(testContext(b), mustJetStream(b, fx.admin(b)), StreamConfig{}); err != nil {
				b.Fatal(err)
			}
			js, err := jetstream.New(fx.agency(b, "bg-vietyen").Conn, jetstream.WithPublishAsyncMaxPending(1000))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprintf("g-%d", i)
				body := []byte(`{"id":"` + id + event[len(`{"id":"0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f60"`):])
				if _, err := js.PublishAsync("cds.events.bg-vietyen.workfile.processed", body, jetstream.WithMsgID(id)); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				b.Fatal("PubAcks did not all arrive")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
