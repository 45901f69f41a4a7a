package fold

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/eventtest"
)

// BenchmarkLongTimelines applies batches of 1,000 events to a State whose
// 10 keys already hold long timelines (entries per key: the sub-benchmark's
// name), at random days of four years: what an event costs on a key whose
// timeline grows with the log (a reported figure of a year gets an entry
// per report). Its ns/op, B/op and allocs/op are per event:
//
//	go test -run '^$' -bench LongTimelines -benchmem ./internal/fold/
func BenchmarkLongTimelines(b *testing.B) {
	const keys, batch = 10, 1000
	for _, per := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprint(per), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(per), 3))
			base := time.Date(2022, 1, 1, 0, 0, 0, 0, events.Zone)
			n := 0
			next := func() *events.Event {
				n++
				at := base.Add(time.Duration(rng.IntN(4*365*24)) * time.Hour).Format(time.RFC3339)
				return mustEvent(b, eventtest.Service(fmt.Sprintf("e%d", n), "bg-vietyen", at, fmt.Sprintf("S%d", n%keys), 1+rng.IntN(4), rng.IntN(2) == 0))
			}
			s := New()
			for done := 0; done < keys*per; done += batch {
				txn := s.Begin()
				for range batch {
					txn.Apply(next())
				}
				txn.Rows()
				txn.Commit()
			}
			evs := make([]*events.Event, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				b.StopTimer()
				for j := range evs {
					evs[j] = next()
				}
				b.StartTimer()
				txn := s.Begin()
				for _, e := range evs[:min(batch, b.N-i)] {
					txn.Apply(e)
				}
				txn.Rows()
				txn.Commit()
			}
		})
	}
}
