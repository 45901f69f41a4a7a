//go:build linux

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/projector/projtest"
)

// TestFaultKillProjector loads ≥ 200k events (with duplicates, corrections,
// retractions and invalid events) while the projector, a separate process,
// is killed with SIGKILL again and again: in the middle of an INSERT, in the
// middle of its recovery, and at random instants. At the end ClickHouse must
// hold each valid id once, cells equal to a recomputation from the raw
// events and from the load, and the watermark at the stream's last sequence.
//
// Knobs: CDS_FAULT_EVENTS (messages, default 210000), CDS_FAULT_KILLS
// (default 12), CDS_FAULT_SEED (default: the clock, printed).
func TestFaultKillProjector(t *testing.T) {
	if os.Getenv("CDS_FAULTS") != "1" {
		t.Skip("fault injection: set CDS_FAULTS=1 (make test-faults)")
	}
	began := time.Now()
	msgs := envInt(t, "CDS_FAULT_EVENTS", 210000)
	kills := envInt(t, "CDS_FAULT_KILLS", 12)
	seed := uint64(envInt(t, "CDS_FAULT_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d (CDS_FAULT_SEED=%d reproduces the load and the kill plan)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))

	e := newEnv(t)
	cdsBinary(t)
	load := projtest.Generate(seed, msgs, e.reg.Codes())
	valid := len(load.IDs())
	if valid < 200000 && msgs >= 210000 {
		t.Fatalf("the load has %d valid events, want ≥ 200000", valid)
	}

	// Publish at a pace that spreads the load over the kills, so that the
	// projector has work whenever it runs.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan error, 1)
	span := time.Duration(kills) * 1200 * time.Millisecond
	go func() { published <- publishPaced(ctx, e.js, load.Msgs, span) }()

	plan := []string{"insert", "random", "rollup", "recovery", "index", "random", "rollup"}
	how := map[string]int{}
	for i := 0; i < kills; i++ {
		p := e.startProjector(t)
		what := e.kill(t, p, plan[i%len(plan)], rng)
		how[what]++
		if code := p.wait(t, 30*time.Second); code != -1 {
			t.Fatalf("kill %d (%s): projector exited with %d before the kill:\n%s", i+1, what, code, p.tail())
		}
		t.Logf("kill %d: %s at watermark %d of %d", i+1, what, e.watermark(t), e.lastSeq(t))
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	final := e.startProjector(t)
	e.waitCaughtUp(t, final, 5*time.Minute)
	// A killed process takes its counters with it: its repairs are known
	// from its log only. The last start's are read from its metric.
	// The commit is visible in ClickHouse a moment before the process has
	// its answer and sets the metric: poll it.
	last := e.lastSeq(t)
	w, err := final.metric("cds_projector_watermark_seq")
	for deadline := time.Now().Add(10 * time.Second); (err != nil || w != float64(last)) && time.Now().Before(deadline); {
		poll()
		w, err = final.metric("cds_projector_watermark_seq")
	}
	if err != nil || w != float64(last) {
		t.Fatalf("cds_projector_watermark_seq %v (%v), want the last seq %d", w, err, last)
	}
	if n, err := final.metric("cds_projector_repairs_total"); err != nil || n > 0 {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("cds_projector_repairs_total %v after the last kill: the projections disagreed with their commit markers, which only a lost part (power cut) may cause", n)
	}
	final.signal(t, syscall.SIGTERM)
	if code := final.wait(t, time.Minute); code != 0 {
		t.Fatalf("projector exited with %d after SIGTERM:\n%s", code, final.tail())
	}

	r, err := projtest.Check(context.Background(), e.db, load, e.lastSeq(t))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	for i := 1; i <= e.starts; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("%s/%02d-projector.log", e.logDir, i))
		logs.Write(b)
	}
	out := logs.String()
	t.Logf("fault test: messages %d (valid events %d, duplicates %d, invalid %d), stream last seq %d",
		len(load.Msgs), valid, load.Count(projtest.Duplicate), load.Count(projtest.Invalid), r.LastSeq)
	t.Logf("fault test: kills %d (%s); on restart: unfinished batches deleted %d, waits for a dead insert %d, repairs %d",
		kills, fmtCounts(how), count(out, "deleting rows of an unfinished batch"),
		count(out, "waiting for the inserts of an earlier attempt"), count(out, "refolding from the log"))
	t.Logf("fault test: events %d, missing %d, doubled %d, extra %d; cells %d, differing from the raw events %d, from the load %d; watermark %d = last seq %d; took %s",
		r.Events, r.Missing, r.Doubled, r.Extra, r.Cells, len(r.RawDiffs), len(r.LoadDiffs), r.Watermark, r.LastSeq, time.Since(began).Round(time.Second))
	if !r.OK() {
		t.Fatalf("ClickHouse does not hold exactly the stream: %s", r)
	}
	if n := count(out, "refolding from the log"); n > 0 {
		t.Errorf("%d repairs: after a kill the projections disagreed with their commit markers, which only a lost part (power cut) may cause", n)
	}
	if how["mid-insert events"]+how["mid-insert fold_index"]+how["mid-insert rollup"] == 0 {
		t.Errorf("no kill landed in the middle of an INSERT: %s", fmtCounts(how))
	}
}

// kill waits for the moment mode asks for, then sends SIGKILL, and says
// where the kill landed.
func (e *env) kill(tb testing.TB, p *proc, mode string, rng *rand.Rand) string {
	tb.Helper()
	what := "random"
	switch mode {
	case "random":
		// At a random instant once it is the active projector (before, it
		// waits for the killed one's lease to expire).
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !p.exited() && !p.active(); {
			poll()
		}
		select {
		case <-time.After(time.Duration(100+rng.IntN(1500)) * time.Millisecond):
		case <-p.done:
		}
	case "insert", "index", "rollup":
		// Kill as soon as an INSERT of the projector runs (for "index":
		// of the fold index; for "rollup": the commit): while its data is
		// being prepared, sent or written.
		what = "idle"
		suffix := map[string]string{"index": "/fold_index", "rollup": "/rollup"}[mode]
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !p.exited(); {
			if id := e.runningInsert(tb); id != "" && (mode == "insert" || strings.HasSuffix(id, suffix)) {
				what = "mid-insert " + id[strings.LastIndex(id, "/")+1:]
				break
			}
		}
	case "recovery":
		// Kill while the restarted projector deletes an unfinished batch
		// or reloads its fold state (the Bloom filter) from cds.fold_index.
		what = "recovery missed"
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !p.exited(); {
			if s := e.recovering(tb); s != "" {
				what = "mid-recovery " + s
				break
			}
		}
	}
	p.signal(tb, syscall.SIGKILL)
	return what
}

// recovering says what recovery step runs in ClickHouse: a delete of raw
// rows, or the reload of the fold state; "" for neither.
func (e *env) recovering(tb testing.TB) string {
	tb.Helper()
	var n uint64
	q := "SELECT count() FROM system.mutations WHERE database = 'cds' AND is_done = 0"
	if err := e.db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n > 0 {
		return "(delete)"
	}
	q = "SELECT count() FROM system.processes WHERE query LIKE 'SELECT h FROM%fold_index%'"
	if err := e.db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n > 0 {
		return "(reload)"
	}
	return ""
}

// publishPaced publishes msgs spread over about span.
func publishPaced(ctx context.Context, js jetstream.JetStream, msgs []projtest.Msg, span time.Duration) error {
	const window = 2000
	start := time.Now()
	for i := 0; i < len(msgs); i += window {
		due := start.Add(time.Duration(float64(span) * float64(i) / float64(len(msgs))))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(due)):
		}
		if _, err := projtest.Publish(ctx, js, msgs[i:min(i+window, len(msgs))]); err != nil {
			return err
		}
	}
	return nil
}

func envInt(tb testing.TB, key string, def int) int {
	tb.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		tb.Fatalf("%s: %v", key, err)
	}
	return n
}

func fmtCounts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
