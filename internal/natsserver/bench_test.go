package natsserver

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
)

// event is a ~200-byte envelope, the size of the yardstick in docs/performance.md.
const event = `{"id":"0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f60","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"VY-2025-000123","online":true}}`

const benchSubject = "cds.events.bg-vietyen.workfile.processed"

func benchServer(b *testing.B, cfg Config) jetstream.JetStream {
	b.Helper()
	s := mustStart(b, cfg)
	js := mustJetStream(b, mustConnect(b, s.ClientURL()))
	if err := EnsureStreams(testContext(b), js, StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	return js
}

// BenchmarkPublish measures what the fsync policy costs, for a publisher that waits for each
// PubAck (an agency sending one event at a time) and for one that keeps up to 4,000 in flight:
//
//	go test -run x -bench Publish -benchtime 20000x -count 3 ./natsserver/
func BenchmarkPublish(b *testing.B) {
	for _, sync := range []struct {
		name string
		cfg  Config
	}{
		{"2m", Config{SyncInterval: 2 * time.Minute}}, // the nats-server default
		{"1s", Config{}}, // DefaultSyncInterval
		{"always", Config{SyncAlways: true}},
	} {
		b.Run("sync="+sync.name+"/wait-each", func(b *testing.B) {
			js := benchServer(b, sync.cfg)
			ctx := testContext(b)
			i := 0
			for b.Loop() {
				if _, err := js.Publish(ctx, benchSubject, []byte(event), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run("sync="+sync.name+"/async", func(b *testing.B) {
			js := benchServer(b, sync.cfg)
			i := 0
			for b.Loop() {
				_, err := js.PublishAsync(benchSubject, []byte(event), jetstream.WithMsgID(fmt.Sprint(i)),
					jetstream.WithStallWait(time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				i++
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

// BenchmarkDedupMemory estimates the server memory one Nats-Msg-Id costs while it is inside
// the duplicate window, against the same messages carrying the id in another header:
//
//	go test -run x -bench DedupMemory -benchtime 500000x ./natsserver/
func BenchmarkDedupMemory(b *testing.B) {
	heap := func(header string) uint64 {
		s := mustStart(b, Config{})
		js := mustJetStream(b, mustConnect(b, s.ClientURL()))
		ctx := testContext(b)
		if err := EnsureStreams(ctx, js, StreamConfig{DuplicateWindow: time.Hour}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range b.N {
			m := nats.NewMsg(benchSubject)
			m.Header.Set(header, fmt.Sprintf("0193a1f4-5c2e-7d3a-9f00-%012d", i))
			m.Data = []byte(event)
			if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
		st, err := js.Stream(ctx, EventsStream)
		if err != nil || st.CachedInfo().State.Msgs != uint64(b.N) {
			b.Fatalf("stream: %v %+v", err, st.CachedInfo().State)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		s.Close()
		return after.HeapAlloc - before.HeapAlloc
	}
	without := heap("X-Event-Id")
	with := heap(jetstream.MsgIDHeader)
	b.ReportMetric(float64(int64(with)-int64(without))/float64(b.N), "B/id")
	b.ReportMetric(float64(with)/float64(b.N), "heap-B/msg")
}

// BenchmarkConnectStorm measures 200 agencies connecting at once (as after a restart) and a
// ReloadUsers with all of them connected, which re-checks every password (see
// credentials.BcryptCost):
//
//	go test -run x -bench ConnectStorm -benchtime 3x ./natsserver/
func BenchmarkConnectStorm(b *testing.B) {
	const n = 200
	codes := make([]string, n)
	for i := range codes {
		codes[i] = fmt.Sprintf("bg-agency%d", i)
	}
	f, h, err := credentials.Ensure(b.TempDir(), codes)
	if err != nil {
		b.Fatal(err)
	}
	s := mustStart(b, Config{Hashes: h})
	var connect, reload time.Duration
	for b.Loop() {
		start := time.Now()
		conns := make([]*nats.Conn, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, code := range codes {
			wg.Go(func() {
				conns[i], errs[i] = nats.Connect(s.ClientURL(), agencyOptions(code, f.Agencies[code].NATSPassword)...)
			})
		}
		wg.Wait()
		connect += time.Since(start)
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := s.ReloadUsers(h); err != nil {
			b.Fatal(err)
		}
		reload += time.Since(start)
		for _, c := range conns {
			c.Close()
		}
	}
	b.ReportMetric(float64(connect.Milliseconds())/float64(b.N), "connect-ms")
	b.ReportMetric(float64(reload.Milliseconds())/float64(b.N), "reload-ms")
}
