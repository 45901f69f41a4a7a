package ingest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

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

// BenchmarkServeHTTP posts NDJSON batches of 1000 events to the handler in
// front of a real JetStream server (in this process, as in cds up and cds
// bench) and reports events/s; allocations include the server's. handler
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
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			body := mk.batch(benchAgencies[0], size)
			req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", token)
			req.Header.Set("Content-Type", "application/x-ndjson")
			rec := httptest.NewRecorder()
			b.StartTimer()
			fx.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				b.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
			}
		}
		b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
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
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
