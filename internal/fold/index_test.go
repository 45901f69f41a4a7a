package fold

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/eventtest"
)

// indexStore keeps index rows by lookup, as cds.fold_index does, and
// writes each batch's rows only a few batches after it was committed in
// the State, as the projector's pipeline does.
type indexStore struct {
	rows    map[string][]IndexRow
	pending [][]IndexRow
	lag     int
	double  bool // write every batch's rows twice (a part landed twice)
}

func (x *indexStore) commit(rows []IndexRow) {
	x.pending = append(x.pending, rows)
	for len(x.pending) > x.lag {
		for _, r := range x.pending[0] {
			l := r.Lookup()
			x.rows[l] = append(x.rows[l], r)
			if x.double {
				x.rows[l] = append(x.rows[l], r)
			}
		}
		x.pending = x.pending[1:]
	}
}

func (x *indexStore) fetch(lookups []string) []IndexRow {
	var out []IndexRow
	for _, l := range lookups {
		out = append(out, x.rows[l]...)
	}
	return out
}

// applyIndexed folds one batch into an indexed State the way the projector
// does: lookups first, then the events.
func applyIndexed(t *testing.T, s *State, x *indexStore, evs []*events.Event) []Row {
	t.Helper()
	for range 4 {
		need := s.Lookups(evs)
		if len(need) == 0 {
			break
		}
		if err := s.Provide(need, x.fetch(need)); err != nil {
			t.Fatal(err)
		}
	}
	if need := s.Lookups(evs); len(need) != 0 {
		t.Fatalf("lookups still needed after 4 rounds: %v", need)
	}
	txn := s.Begin()
	for i, e := range evs {
		txn.ApplyAt(e, uint64(i+1))
	}
	rows := txn.Rows()
	x.commit(slices.Clone(txn.Index()))
	txn.Commit()
	return rows
}

// TestIndexedMatchesNaive is TestShuffleInvariance for an indexed State that
// keeps almost nothing in memory: a generation of 1 item, a Bloom filter
// that answers "maybe" half the time, index rows written two batches late,
// and, in some rounds, written twice.
func TestIndexedMatchesNaive(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		log := randomLog(rng, 300)
		want := naive(t, log)
		for round := 0; round < 4; round++ {
			order := append([]string(nil), log...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			s := NewIndexed(0, 1)
			x := &indexStore{rows: map[string][]IndexRow{}, lag: 2, double: round%2 == 1}
			var rows []Row
			for i := 0; i < len(order); {
				n := 1 + rng.IntN(40)
				var evs []*events.Event
				for ; n > 0 && i < len(order); n, i = n-1, i+1 {
					evs = append(evs, mustEvent(t, order[i]))
				}
				rows = append(rows, applyIndexed(t, s, x, evs)...)
			}
			for _, d := range checkDays {
				if got := sumsAt(rows, day(d)); !sameAmounts(got, want[d]) {
					t.Fatalf("seed %d round %d at %s:\ngot  %v\nwant %v", seed, round, d, got, want[d])
				}
			}
		}
	}
}

// TestIndexedForgets checks that an indexed State lets old batches go, and
// that without their index rows it would not know them: it asks for them.
func TestIndexedForgets(t *testing.T) {
	s := NewIndexed(0, 1)
	x := &indexStore{rows: map[string][]IndexRow{}}
	first := mustEvent(t, eventtest.Service("e1", "bg-syt", "2024-01-01T08:00:00+07:00", "S1", 4, true))
	applyIndexed(t, s, x, []*events.Event{first})
	for i := range 2*minCommitsPerGeneration + 1 {
		applyIndexed(t, s, x, []*events.Event{mustEvent(t, eventtest.Workfile("w"+string(rune('a'+i)), "bg-syt", "2024-01-02T08:00:00+07:00", "W"+string(rune('a'+i)), true))})
	}
	if s.holds(KindID, s.digest("e1")) || s.holds(KindKey, s.digest(first.Key())) {
		t.Fatal("the first batch is still in memory after two generations")
	}
	again := mustEvent(t, eventtest.Service("e2", "bg-syt", "2024-02-01T08:00:00+07:00", "S1", 3, true))
	need := s.Lookups([]*events.Event{first, again})
	if !slices.Contains(need, LookupID("e1")) || !slices.Contains(need, LookupKey(first.Key())) {
		t.Fatalf("lookups = %v: want the forgotten id and key", need)
	}
	// A replay of e1 is a duplicate, and e2 replaces e1's state in the
	// timeline fetched from the index: −e1 +e2 on the service cells.
	if err := s.Provide(need, x.fetch(need)); err != nil {
		t.Fatal(err)
	}
	txn := s.Begin()
	if txn.Apply(first) != Duplicate {
		t.Fatal("replayed e1 is not a duplicate")
	}
	txn.Apply(again)
	var n int64
	for _, r := range txn.Rows() {
		n += r.N
	}
	if n != 0 {
		t.Fatalf("rows %v: a replacement should leave the number of states unchanged", txn.Rows())
	}
}

func TestApplyWithoutProvidePanics(t *testing.T) {
	s := NewIndexed(0, 1)
	x := &indexStore{rows: map[string][]IndexRow{}}
	e := mustEvent(t, eventtest.Workfile("w1", "bg-syt", "2024-01-02T08:00:00+07:00", "W1", true))
	applyIndexed(t, s, x, []*events.Event{e})
	for i := range 2*minCommitsPerGeneration + 1 {
		w := string(rune('a' + i))
		applyIndexed(t, s, x, []*events.Event{mustEvent(t, eventtest.Workfile("w1"+w, "bg-syt", "2024-01-02T08:00:00+07:00", "W1"+w, true))})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Apply of a forgotten id without Provide did not panic")
		}
	}()
	s.Begin().Apply(e)
}
