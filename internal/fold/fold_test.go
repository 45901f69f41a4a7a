package fold

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/go-faster/city"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/eventtest"
)

func mustEvent(tb testing.TB, js string) *events.Event {
	tb.Helper()
	e, err := events.Decode([]byte(js))
	if err != nil {
		tb.Fatalf("decode %s: %v", js, err)
	}
	return e
}

func retract(id, agency, at, sup string) string {
	return fmt.Sprintf(`{"id":%q,"type":"workfile.processed","v":1,"agency":%q,"occurred_at":%q,"supersedes":%q,"data":null}`, id, agency, at, sup)
}

func correct(js, sup string) string { return js[:len(js)-1] + fmt.Sprintf(`,"supersedes":%q}`, sup) }

// sums folds rows into totals per (indicator, unit, period, dim) up to day d.
func sumsAt(rows []Row, d int32) map[string]events.Amount {
	out := map[string]events.Amount{}
	for _, r := range rows {
		if r.Day > d {
			continue
		}
		k := fmt.Sprintf("%s|%s|%d|%s", r.Indicator, r.Unit, r.Period, r.Dim)
		a := out[k]
		a.Num += r.Num
		a.Den += r.Den
		a.N += r.N
		out[k] = a
	}
	for k, a := range out {
		if a.N == 0 && math.Abs(a.Num) < 1e-9 && math.Abs(a.Den) < 1e-9 {
			delete(out, k)
		}
	}
	return out
}

func day(s string) int32 { t, _ := time.Parse("2006-01-02", s); return DayNumber(t) }

func TestFold(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		at   string
		want map[string]events.Amount
	}{
		{
			name: "flow counts its year",
			in: []string{
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true),
				eventtest.Workfile("b", "bg-vietyen", "2025-02-05T10:00:00+07:00", "W2", false),
				eventtest.Workfile("c", "bg-vietyen", "2024-12-05T10:00:00+07:00", "W3", true),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 2, N: 2}, "HSCV|bg-vietyen|2024|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "event after as_of is not counted",
			in:   []string{eventtest.Workfile("a", "bg-vietyen", "2025-07-05T10:00:00+07:00", "W1", true)},
			at:   "2025-06-30",
			want: map[string]events.Amount{},
		},
		{
			name: "duplicate id counted once",
			in: []string{
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true),
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "later event about the same workfile replaces",
			in: []string{
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", false),
				eventtest.Workfile("b", "bg-vietyen", "2025-03-05T10:00:00+07:00", "W1", true),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "as of before the replacement sees the first state",
			in: []string{
				eventtest.Workfile("b", "bg-vietyen", "2025-03-05T10:00:00+07:00", "W1", true),
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", false),
			},
			at:   "2025-02-01",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 0, Den: 1, N: 1}},
		},
		{
			name: "correction replaces",
			in: []string{
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", false),
				correct(eventtest.Workfile("b", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true), "a"),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "correction before the corrected event",
			in: []string{
				correct(eventtest.Workfile("b", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true), "a"),
				eventtest.Workfile("a", "bg-vietyen", "2025-01-04T10:00:00+07:00", "W1", false),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "retraction removes",
			in: []string{
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true),
				eventtest.Workfile("b", "bg-vietyen", "2025-01-06T10:00:00+07:00", "W2", true),
				retract("c", "bg-vietyen", "2025-01-07T10:00:00+07:00", "a"),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "another agency cannot retract",
			in: []string{
				eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true),
				retract("c", "bg-hiephoa", "2025-01-07T10:00:00+07:00", "a"),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"HSCV|bg-vietyen|2025|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "stock follows the latest state and withdrawal",
			in: []string{
				eventtest.Service("a", "bg-syt", "2022-01-05T10:00:00+07:00", "S1", 3, false),
				eventtest.Service("b", "bg-syt", "2023-01-05T10:00:00+07:00", "S1", 4, true),
				eventtest.Service("c", "bg-syt", "2023-01-05T10:00:00+07:00", "S2", 4, false),
				eventtest.Withdrawn("d", "bg-syt", "2024-01-05T10:00:00+07:00", "S2"),
			},
			at:   "2025-06-30",
			want: map[string]events.Amount{"DVC_L4|bg-syt|0|": {Num: 1, Den: 1, N: 1}, "DVC_MOBILE|bg-syt|0|": {Num: 1, Den: 1, N: 1}},
		},
		{
			name: "stock as of an earlier date",
			in: []string{
				eventtest.Withdrawn("d", "bg-syt", "2024-01-05T10:00:00+07:00", "S2"),
				eventtest.Service("c", "bg-syt", "2023-01-05T10:00:00+07:00", "S2", 4, false),
				eventtest.Service("b", "bg-syt", "2023-01-05T10:00:00+07:00", "S1", 4, true),
				eventtest.Service("a", "bg-syt", "2022-01-05T10:00:00+07:00", "S1", 3, false),
			},
			at:   "2023-06-30",
			want: map[string]events.Amount{"DVC_L4|bg-syt|0|": {Num: 2, Den: 2, N: 2}, "DVC_MOBILE|bg-syt|0|": {Num: 1, Den: 2, N: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			var rows []Row
			for _, js := range tt.in {
				txn := s.Begin()
				txn.Apply(mustEvent(t, js))
				rows = append(rows, txn.Rows()...)
				txn.Commit()
			}
			got := sumsAt(rows, day(tt.at))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestTxnDiscard(t *testing.T) {
	s := New()
	txn := s.Begin()
	txn.Apply(mustEvent(t, eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true)))
	// Dropped without Commit: the State must not know the event.
	txn = s.Begin()
	if got := txn.Apply(mustEvent(t, eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true))); got != Applied {
		t.Fatalf("after a dropped batch the event was %v, want Applied", got)
	}
	if len(txn.Rows()) != 1 {
		t.Fatalf("rows = %v", txn.Rows())
	}
	// A batch after a commit reuses the committed batch's room; dropped, it
	// must leave nothing behind either, and the next starts empty.
	txn.Commit()
	txn = s.Begin()
	if len(txn.Rows()) != 0 || len(txn.Index()) != 0 {
		t.Fatalf("a new batch holds rows %v, index %v", txn.Rows(), txn.Index())
	}
	txn.Apply(mustEvent(t, eventtest.Workfile("b", "bg-vietyen", "2025-01-05T11:00:00+07:00", "W2", true)))
	txn = s.Begin()
	if got := txn.Apply(mustEvent(t, eventtest.Workfile("b", "bg-vietyen", "2025-01-05T11:00:00+07:00", "W2", true))); got != Applied {
		t.Fatalf("after a dropped batch following a commit the event was %v, want Applied", got)
	}
	if got := txn.Apply(mustEvent(t, eventtest.Workfile("a", "bg-vietyen", "2025-01-05T10:00:00+07:00", "W1", true))); got != Duplicate {
		t.Fatalf("the committed event was %v, want Duplicate", got)
	}
}

// TestShuffleInvariance is the property that answers do not depend on arrival
// order or batching: random logs, folded in random orders and batch sizes,
// give the same cells as a naive recomputation from the final set of events.
func TestShuffleInvariance(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		log := randomLog(rng, 300)
		want := naive(t, log)
		for round := 0; round < 4; round++ {
			order := append([]string(nil), log...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			s := New()
			var rows []Row
			for i := 0; i < len(order); {
				n := 1 + rng.IntN(40)
				txn := s.Begin()
				for ; n > 0 && i < len(order); n, i = n-1, i+1 {
					txn.Apply(mustEvent(t, order[i]))
				}
				rows = append(rows, txn.Rows()...)
				txn.Commit()
			}
			for _, d := range checkDays {
				got := sumsAt(rows, day(d))
				if !sameAmounts(got, want[d]) {
					t.Fatalf("seed %d round %d at %s:\ngot  %v\nwant %v", seed, round, d, got, want[d])
				}
			}
		}
	}
}

var checkDays = []string{"2022-06-30", "2023-12-31", "2024-03-01", "2025-06-30", "2026-01-01"}

func randomLog(rng *rand.Rand, n int) []string {
	agencies := []string{"bg-vietyen", "bg-syt"}
	var log []string
	var ids []string
	base := time.Date(2022, 1, 1, 0, 0, 0, 0, events.Zone)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("e%d", i)
		ag := agencies[rng.IntN(len(agencies))]
		// Whole hours: many events of a key share a second, so ties are exercised.
		at := base.Add(time.Duration(rng.IntN(4*365))*24*time.Hour + time.Duration(rng.IntN(2))*time.Hour).Format(time.RFC3339)
		var js string
		switch r := rng.IntN(10); {
		case r < 4:
			js = eventtest.Workfile(id, ag, at, fmt.Sprintf("W%d", rng.IntN(60)), rng.IntN(2) == 0)
		case r < 7:
			js = eventtest.Service(id, ag, at, fmt.Sprintf("S%d", rng.IntN(15)), 1+rng.IntN(4), rng.IntN(2) == 0)
		case r < 8:
			js = eventtest.Withdrawn(id, ag, at, fmt.Sprintf("S%d", rng.IntN(15)))
		case r < 9 && len(ids) > 0:
			js = retract(id, ag, at, ids[rng.IntN(len(ids))])
		case len(ids) > 0:
			js = correct(eventtest.Workfile(id, ag, at, fmt.Sprintf("W%d", rng.IntN(60)), rng.IntN(2) == 0), ids[rng.IntN(len(ids))])
		default:
			js = eventtest.Workfile(id, ag, at, "W0", true)
		}
		ids = append(ids, id)
		log = append(log, js)
		if rng.IntN(20) == 0 {
			log = append(log, js) // a duplicate delivery
		}
	}
	return log
}

// naive recomputes, for each check day, the sums straight from the definitions.
func naive(t *testing.T, log []string) map[string]map[string]events.Amount {
	byID := map[string]*events.Event{}
	var evs []*events.Event
	for _, js := range log {
		e := mustEvent(t, js)
		if _, dup := byID[e.ID]; dup {
			continue
		}
		byID[e.ID] = e
		evs = append(evs, e)
	}
	out := map[string]map[string]events.Amount{}
	for _, d := range checkDays {
		dn := day(d)
		latest := map[string]*events.Event{}
		for _, e := range evs {
			if e.Retraction() || DayNumber(e.Day()) > dn {
				continue
			}
			superseded := false
			for _, o := range evs {
				if o.Supersedes == e.ID && o.Agency == e.Agency {
					superseded = true
				}
			}
			if superseded {
				continue
			}
			k := e.Key()
			if l, ok := latest[k]; !ok || e.OccurredAt.Unix() > l.OccurredAt.Unix() ||
				(e.OccurredAt.Unix() == l.OccurredAt.Unix() && city.CH64([]byte(e.ID)) > city.CH64([]byte(l.ID))) {
				latest[k] = e
			}
		}
		sums := map[string]events.Amount{}
		for _, e := range latest {
			for _, c := range e.Contributions() {
				k := fmt.Sprintf("%s|%s|%d|%s", c.Indicator, e.Agency, e.Period(), c.Dim)
				a := sums[k]
				a.Num += c.Num
				a.Den += c.Den
				a.N++
				sums[k] = a
			}
		}
		out[d] = sums
	}
	return out
}

func sameAmounts(a, b map[string]events.Amount) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x, y := a[k], b[k]
		if x.N != y.N || math.Abs(x.Num-y.Num) > 1e-9 || math.Abs(x.Den-y.Den) > 1e-9 {
			return false
		}
	}
	return true
}
