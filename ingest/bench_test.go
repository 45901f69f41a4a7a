package ingest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bacgiang/cds/ingest"
)

// batchMaker builds NDJSON batches of distinct, valid events of one agency,
// shaped like those of cds bench (~200 bytes each).
type batchMaker struct{ n atomic.Int64 }

func (m *batchMaker) batch(agency string, size int) []byte {
	var b bytes.Buffer
	for range size {
		i := m.n.Add(1)
		fmt.Fprintf(&b, `{"id":"bench-%012d","type":"workfile.processed","v":1,"agency":%q,"occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"WF-%d","online":true}}`+"\n", i, agency, i)
	}
	return b.Bytes()
}

// benchAgencies post in turn; each has its own in-flight limit.
var benchAgencies = []string{"bg-vietyen", "bg-stttt", "bg-hiephoa", "bg-ctk", "bg-syt", "bg-sgddt", "bg-stnmt", "bg-sct",
	"bg-skhdt", "bg-snnptnt", "bg-sgtvt", "bg-vpubnd", "bg-yenthe", "bg-tanyen", "bg-langgiang", "bg-lucnam"}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRates reports events/s and the process's CPU µs per event (steadier
// than the rate on a shared machine).
func reportRates(b *testing.B, events int, cpu0 time.Duration) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(events), "cpu-µs/event")
}

// BenchmarkServeHTTP posts NDJSON batches of 1000 events to the handler in
// front of a real JetStream server (in this process, as in cds up and cds
// bench) and reports events/s and CPU time per event; both, and the
// allocations, include the JetStream server's and the clients'. handler
// calls ServeHTTP directly, one batch at a time; httpN posts from N clients
// of different agencies at once over a real HTTP server.
//
//	go test -run '^$' -bench ServeHTTP -benchtime 200x ./ingest/
func BenchmarkServeHTTP(b *testing.B) {
	const size = 1000
	b.Run("handler", func(b *testing.B) {
		fx := newFixture(b, ingest.Config{Rate: -1})
		var mk batchMaker
		token := "Bearer " + fx.token(benchAgencies[0])
		bodies := make([][]byte, b.N)
		for i := range bodies {
			bodies[i] = mk.batch(benchAgencies[0], size)
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime(b)
		for _, body := range bodies {
			req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", token)
			req.Header.Set("Content-Type", "application/x-ndjson")
			rec := httptest.NewRecorder()
			fx.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				b.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
			}
		}
		reportRates(b, b.N*size, cpu0)
	})
	for _, clients := range []int{4, 16} {
		b.Run(fmt.Sprintf("http%d", clients), func(b *testing.B) {
			fx := newFixture(b, ingest.Config{Rate: -1})
			var mk batchMaker
			bodies := make([][]byte, b.N)
			for i := range bodies {
				bodies[i] = mk.batch(benchAgencies[i%clients], size)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for range clients {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= len(bodies) {
							return
						}
						req, _ := http.NewRequest(http.MethodPost, fx.url, bytes.NewReader(bodies[i]))
						req.Header.Set("Authorization", "Bearer "+fx.token(benchAgencies[i%clients]))
						req.Header.Set("Content-Type", "application/x-ndjson")
						res, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						answer, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusAccepted {
							b.Errorf("status %d: %.300s", res.StatusCode, answer)
							return
						}
					}
				})
			}
			wg.Wait()
			reportRates(b, b.N*size, cpu0)
		})
	}
}
