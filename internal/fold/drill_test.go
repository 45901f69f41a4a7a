package fold

import (
	"fmt"
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/eventtest"
)

// TestLinksOfATimeline: a key's first event is its latest; an event after
// it moves its next; one before it gets the first's occurred_at; a
// retraction of the middle one links its neighbours and removes it; a
// State that does not track links has none.
func TestLinksOfATimeline(t *testing.T) {
	s := New()
	s.TrackLinks()
	apply := func(evs ...*events.Event) []Link {
		txn := s.Begin()
		for _, e := range evs {
			txn.Apply(e)
		}
		l := txn.Links()
		txn.Commit()
		return l
	}
	at := func(v string) int64 {
		return mustEvent(t, eventtest.Workfile("x", "bg-vietyen", v, "W1", true)).OccurredAt.Unix()
	}
	t1, t2, t3 := "2025-03-01T10:00:00+07:00", "2025-03-05T10:00:00+07:00", "2025-03-09T10:00:00+07:00"
	links := apply(mustEvent(t, eventtest.Workfile("e2", "bg-vietyen", t2, "W1", true)))
	if len(links) != 1 || links[0].At != at(t2) || links[0].Next != NoNext || links[0].Entity != "workfile" || links[0].Agency != "bg-vietyen" || links[0].Removes || links[0].Before != at(t2) {
		t.Fatalf("first event: %+v", links)
	}
	links = apply(mustEvent(t, eventtest.Workfile("e3", "bg-vietyen", t3, "W1", false)), mustEvent(t, eventtest.Workfile("e1", "bg-vietyen", t1, "W1", false)))
	want := map[int64]int64{at(t1): at(t2), at(t2): at(t3), at(t3): NoNext}
	was := map[int64]int64{at(t1): at(t1), at(t2): NoNext, at(t3): at(t3)}
	if len(links) != 3 {
		t.Fatalf("later and earlier events: %+v", links)
	}
	for _, l := range links {
		if want[l.At] != l.Next || was[l.At] != l.Before {
			t.Errorf("link %+v, want next %d, before %d", l, want[l.At], was[l.At])
		}
	}
	links = apply(mustEvent(t, retract("r2", "bg-vietyen", "2025-03-10T10:00:00+07:00", "e2")))
	want = map[int64]int64{at(t1): at(t3), at(t2): at(t2)}
	was = map[int64]int64{at(t1): at(t2), at(t2): at(t3)}
	if len(links) != 2 {
		t.Fatalf("retraction: %+v", links)
	}
	for _, l := range links {
		if want[l.At] != l.Next || was[l.At] != l.Before {
			t.Errorf("link %+v, want next %d, before %d", l, want[l.At], was[l.At])
		}
	}
	if l := New().Begin().Links(); l != nil {
		t.Errorf("links without TrackLinks: %v", l)
	}
}

// TestRemovesIsNoContribution: Link.Removes is an entry without
// contributions, which must be exactly an event of a type that ends its
// key (cds.drill_list's removes, the refill's type IN removes).
func TestRemovesIsNoContribution(t *testing.T) {
	for _, ty := range events.Types() {
		plain := 0
		for _, f := range ty.Feeds {
			if !f.PerSector {
				plain++
			}
		}
		if ty.Removes != (plain == 0) {
			t.Errorf("type %s: removes %v but %d contributions whatever its data", ty.Name, ty.Removes, plain)
		}
	}
}

// BenchmarkApplyLinks is BenchmarkApply with and without the links that
// the drill-down's table needs (TrackLinks, Txn.Links).
func BenchmarkApplyLinks(b *testing.B) {
	evs := make([]*events.Event, 10000)
	for i := range evs {
		evs[i] = mustEvent(b, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i%7000), i%3 == 0))
	}
	for _, track := range []bool{false, true} {
		b.Run(fmt.Sprintf("links=%v", track), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := New()
				if track {
					s.TrackLinks()
				}
				txn := s.Begin()
				for _, e := range evs {
					txn.Apply(e)
				}
				_ = txn.Rows()
				_ = txn.Links()
				txn.Commit()
			}
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}
