//go:build linux

package faults

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacgiang/cds/projector/projtest"
)

// TestFaultTwoProjectors runs two cds projector processes at once against
// one stream and database while a load is published; again and again the
// active one is killed with SIGKILL (at random instants or in the middle of
// an INSERT) and a new standby started, so that there are always two; every
// third round the standby is killed first as well. A
// cds rebuild --force in the middle must refuse, the lease being held. At
// the end ClickHouse must hold each valid id once with exact cells. It
// reports the standby's takeover times.
//
// Knobs: CDS_FAULT_EVENTS (messages, default 210000), CDS_FAULT_KILLS
// (default 8), CDS_FAULT_SEED.
func TestFaultTwoProjectors(t *testing.T) {
	if os.Getenv("CDS_FAULTS") != "1" {
		t.Skip("fault injection: set CDS_FAULTS=1 (make test-faults)")
	}
	began := time.Now()
	msgs := envInt(t, "CDS_FAULT_EVENTS", 210000)
	kills := envInt(t, "CDS_FAULT_KILLS", 8)
	seed := uint64(envInt(t, "CDS_FAULT_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))

	e := newEnv(t)
	cdsBinary(t)
	load := projtest.Generate(seed, msgs, e.reg.Codes())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan error, 1)
	go func() { published <- publishPaced(ctx, e.js, load.Msgs, time.Duration(kills)*4*time.Second) }()

	// Both started at once: one takes the lease, the other waits.
	procs := []*proc{e.startProjector(t), e.startProjector(t)}
	active := func() *proc {
		var got *proc
		deadline := time.Now().Add(30 * time.Second)
		for got == nil {
			n := 0
			for _, p := range procs {
				if p.active() {
					got = p
					n++
				}
			}
			if n > 1 {
				t.Fatalf("two projectors active at once")
			}
			if time.Now().After(deadline) {
				t.Fatalf("no active projector after 30s:\n%s\n---\n%s", procs[0].tail(), procs[1].tail())
			}
			poll()
		}
		return got
	}
	var takeovers []time.Duration
	plan := []string{"random", "insert", "rollup", "random"}
	how := map[string]int{}
	standbyKills := 0
	for i := 0; i < kills; i++ {
		a := active()
		if i%3 == 1 {
			// Kill -9 of the standby too: harmless, and a new one replaces it.
			s := procs[slices.Index(procs, a)^1]
			s.signal(t, syscall.SIGKILL)
			s.wait(t, 30*time.Second)
			procs[slices.Index(procs, s)] = e.startProjector(t)
			standbyKills++
		}
		what := e.kill(t, a, plan[i%len(plan)], rng)
		killed := time.Now()
		how[what]++
		a.wait(t, 30*time.Second)
		standby := procs[slices.Index(procs, a)^1]
		procs[slices.Index(procs, a)] = e.startProjector(t) // the next standby
		// The standby takes over, or the process just started in the
		// killed one's place when it sees the lease expire first: either is
		// one active projector.
		for !standby.active() && !procs[slices.Index(procs, standby)^1].active() {
			if time.Since(killed) > 15*time.Second {
				t.Fatalf("kill %d: no standby took over within 15s:\n%s\n---\n%s", i+1, standby.tail(), procs[slices.Index(procs, standby)^1].tail())
			}
			if standby.exited() {
				t.Fatalf("kill %d: the standby exited: %v\n%s", i+1, standby.err, standby.tail())
			}
			poll()
		}
		takeovers = append(takeovers, time.Since(killed))
		t.Logf("kill %d: %s at watermark %d of %d; a standby took over after %s", i+1, what, e.watermark(t), e.lastSeq(t), time.Since(killed).Round(time.Millisecond))
		if i == kills/2 {
			// An operator's cds rebuild --force while the service runs.
			code, out := e.run(t, append([]string{"rebuild", "--force"}, e.common()...)...)
			if code == 0 || !strings.Contains(out, "holds the lease") {
				t.Fatalf("cds rebuild --force while a projector runs: exit %d:\n%s", code, out)
			}
			t.Logf("cds rebuild --force refused: %s", strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	a := active()
	e.waitCaughtUp(t, a, 5*time.Minute)
	for _, p := range procs {
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t, time.Minute); code != 0 {
			t.Fatalf("projector exited with %d after SIGTERM:\n%s", code, p.tail())
		}
	}
	r, err := projtest.Check(context.Background(), e.db, load, e.lastSeq(t))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(takeovers)
	t.Logf("two projectors: messages %d, kills of the active one %d (%s), of the standby %d; takeover min %s, median %s, max %s (lease TTL %s)",
		len(load.Msgs), kills, fmtCounts(how), standbyKills, takeovers[0].Round(time.Millisecond), takeovers[len(takeovers)/2].Round(time.Millisecond),
		takeovers[len(takeovers)-1].Round(time.Millisecond), faultLeaseTTL)
	t.Logf("two projectors: events %d, missing %d, doubled %d, extra %d; cells %d, differing from the raw events %d, from the load %d; watermark %d = last seq %d; took %s",
		r.Events, r.Missing, r.Doubled, r.Extra, r.Cells, len(r.RawDiffs), len(r.LoadDiffs), r.Watermark, r.LastSeq, time.Since(began).Round(time.Second))
	if !r.OK() {
		t.Fatalf("ClickHouse does not hold exactly the stream: %s", r)
	}
}
