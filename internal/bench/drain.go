package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
)

// projectorProc is a cds projector process started by the bench.
type projectorProc struct {
	cmd  *exec.Cmd
	stop func() error // SIGTERM, then wait for the exit (once)
}

// startProjector starts binary as a cds projector process over the bench's
// NATS and ClickHouse, its data (and local fold store) in the bench's
// directory.
func (e *env) startProjector(ctx context.Context, binary string) (*projectorProc, error) {
	c, err := startChild(ctx, 60*time.Second, binary, "projector", "--nats", e.natsURL, "--clickhouse", e.chAddr,
		"--database", e.dbName, "--data", e.dir, "--log", "warn")
	if err != nil {
		return nil, err
	}
	return &projectorProc{cmd: c.cmd, stop: c.stop}, nil
}

// child is a process the bench started (startChild).
type child struct {
	cmd    *exec.Cmd
	exited <-chan error // receives the exit once
	stop   func() error // SIGTERM, then wait for the exit (once)
}

// startChild starts binary with args, its output on the bench's stderr.
// stop sends SIGTERM and waits up to grace for the exit, then kills it; it
// runs once, so a deferred call after an explicit one does not wait for an
// exit already received.
func startChild(ctx context.Context, grace time.Duration, binary string, args ...string) (*child, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := sync.OnceValue(func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			return fmt.Errorf("%s %s did not stop on SIGTERM", filepath.Base(binary), args[0])
		}
	})
	return &child{cmd: cmd, exited: exited, stop: stop}, nil
}

// drainFigures are what one drain of the queued events measured.
type drainFigures struct {
	rate        float64 // events/s over the whole drain, from the process's start
	first, last float64 // events/s over the first tenth and the last fifth of the queue
	// events/s over the first million events (from the first commit),
	// measured when at least twice that many are queued: what a queue of
	// a million drains at, against which the whole drain of a larger one
	// is compared (issue 14: 20M at ≥ 0.8 × 1M).
	firstMillion float64
	cpu          cpuShare
}

// cpuShare is the CPU time per event, in µs, of each process during a step.
type cpuShare struct{ projector, clickhouse, nats float64 }

// drainPoll is how often drain reads the watermark. Each read is a query
// of cds.rollup's commit markers, one granule per part: every 5 ms, they
// were about 200 queries a second that the ClickHouse and bench CPU figures
// counted as the drain's, and that took the projector's cores. A drain's
// tenth lasts seconds, so 50 ms keeps its rates within a few percent.
const drainPoll = 50 * time.Millisecond

// drain starts binary as the projector, waits until it has folded the
// queued events, and measures it; the process keeps running.
func (e *env) drain(ctx context.Context, binary string) (*projectorProc, drainFigures, error) {
	var f drainFigures
	var th0 threadTimes
	if e.chPID != 0 {
		th0 = threadCPU(e.chPID)
	}
	scan0, stall0 := vmCounters()
	load0 := loadAverage()
	start := time.Now()
	p, err := e.startProjector(ctx, binary)
	if err != nil {
		return nil, f, err
	}
	cpu0 := e.cpuNow(p.cmd.Process.Pid)
	n := e.last
	firstMark, lastMark := n/10, n-n/5
	var t0, t1, t2, tm time.Time
	var w0, w1, w2, wm uint64
	const million = 1_000_000
	report := time.Now()
	for {
		w, err := e.watermark(ctx)
		if err != nil {
			_ = p.stop()
			return nil, f, err
		}
		now := time.Now()
		switch {
		case t0.IsZero() && w > 0:
			t0, w0 = now, w
		case t1.IsZero() && w >= firstMark && w > w0:
			t1, w1 = now, w
		}
		if t2.IsZero() && w >= lastMark {
			t2, w2 = now, w
		}
		if tm.IsZero() && n >= 2*million && w >= million && w > w0 {
			tm, wm = now, w
		}
		if w >= n {
			f.rate = rate(int(n), now.Sub(start))
			if !t1.IsZero() {
				f.first = float64(w1-w0) / t1.Sub(t0).Seconds()
			}
			if now.After(t2) {
				f.last = float64(w-w2) / now.Sub(t2).Seconds()
			}
			if !tm.IsZero() {
				f.firstMillion = float64(wm-w0) / tm.Sub(t0).Seconds()
			}
			break
		}
		if now.Sub(report) > 2*time.Second {
			e.Progressf("  drained %d / %d", w, n)
			report = now
		}
		select {
		case <-ctx.Done():
			_ = p.stop()
			return nil, f, ctx.Err()
		case <-time.After(drainPoll):
		}
	}
	f.cpu = e.cpuNow(p.cmd.Process.Pid).since(cpu0, int(n))
	if e.chPID != 0 {
		e.Progressf("  ClickHouse's threads over the drain, user+system CPU:%s", threadCPU(e.chPID).since(th0))
	}
	scan, stall := vmCounters()
	e.Progressf("  the machine over the drain: direct reclaim scanned %d pages, %d stalls; load average %s, then %s",
		scan-scan0, stall-stall0, load0, loadAverage())
	return p, f, nil
}

// report prints a drain's figures, their names prefixed.
func (e *env) reportDrain(prefix string, f drainFigures) {
	e.Figure(prefix+"projector_drain_events_per_s", f.rate, "events/s")
	e.Figure(prefix+"projector_vs_raw", f.rate/e.raw, "")
	e.Figure(prefix+"projector_drain_first_tenth_events_per_s", f.first, "events/s")
	e.Figure(prefix+"projector_drain_last_fifth_events_per_s", f.last, "events/s")
	if f.first > 0 {
		e.Figure(prefix+"projector_drain_last_vs_first", f.last/f.first, "")
	}
	if f.firstMillion > 0 {
		e.Figure(prefix+"projector_drain_first_million_events_per_s", f.firstMillion, "events/s")
		e.Figure(prefix+"projector_drain_vs_first_million", f.rate/f.firstMillion, "")
	}
	e.cpuFigures(prefix+"drain", f.cpu)
}

func (e *env) cpuFigures(step string, c cpuShare) {
	e.Figure(step+"_cpu_us_per_event_projector", c.projector, "")
	if e.chPID != 0 {
		e.Figure(step+"_cpu_us_per_event_clickhouse", c.clickhouse, "")
	}
	e.Figure(step+"_cpu_us_per_event_nats", c.nats, "")
}

// baselineDrain drains the queue with the baseline binary, stops it and
// empties the projections (and the local fold store) for the drain
// measured next.
func (e *env) baselineDrain(ctx context.Context) error {
	e.Progressf("projector drain with the baseline %s", e.cfg.Baseline)
	rate, err := e.resetDrain(ctx, e.cfg.Baseline, "baseline_")
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	e.baseDrain = rate
	return nil
}

// resetDrain drains the queue with binary, reports its figures prefixed,
// stops it and empties the projections (and the local fold store) for the
// next drain; it returns the drain's rate.
func (e *env) resetDrain(ctx context.Context, binary, prefix string) (float64, error) {
	p, f, err := e.drain(ctx, binary)
	if err != nil {
		return 0, err
	}
	rss, rssErr := peakRSS(p.cmd.Process.Pid)
	if err := p.stop(); err != nil {
		return 0, err
	}
	e.reportDrain(prefix, f)
	if rssErr == nil {
		e.Figure(prefix+"projector_rss_mb", rss, "MB")
	}
	return f.rate, e.emptyProjections(ctx)
}

// emptyProjections gives the next drain empty projections and no local
// fold store (moved aside). On the managed server the drained database is detached, not
// dropped, and the next drain writes a new one: removing the drained
// tables' files just before the next drain made that drain's INSERTs cost
// ClickHouse several seconds more kernel time (ext4 without a journal
// passes over inodes freed in the last minutes when it creates a file;
// docs/performance.md, "The order of a pair"). The managed server's
// directory goes with the run. An external server's database is dropped
// and made again.
func (e *env) emptyProjections(ctx context.Context) error {
	e.drained++
	if e.chPID != 0 {
		if err := e.db.Exec(ctx, "DETACH DATABASE `"+e.dbName+"`"); err != nil {
			return fmt.Errorf("detach database %s: %w", e.dbName, err)
		}
		name := e.dbName + "_" + strconv.Itoa(e.drained)
		db, err := chdb.Open(ctx, chdb.Config{Addr: e.chAddr, Database: name})
		if err != nil {
			return err
		}
		e.db.Close()
		e.db, e.dbName = db, name
	} else if err := e.db.Exec(ctx, "DROP DATABASE `"+e.dbName+"`"); err != nil {
		return err
	}
	if _, err := e.db.Migrate(ctx); err != nil {
		return err
	}
	fold := filepath.Join(e.dir, "foldstate")
	if e.chPID == 0 {
		return os.RemoveAll(fold)
	}
	// Moved aside, not removed, for the same reason as the database.
	if err := os.Rename(fold, fold+"-"+strconv.Itoa(e.drained)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// cpuTimes are CPU times read at one instant.
type cpuTimes struct{ projector, clickhouse, self time.Duration }

// cpuNow reads the CPU time of the projector process, the managed
// ClickHouse and this process (which runs the NATS server; its own work
// while a projector drains is polling the watermark).
func (e *env) cpuNow(projectorPID int) cpuTimes {
	t := cpuTimes{self: cpuTime()}
	t.projector, _ = procCPU(projectorPID)
	if e.chPID != 0 {
		t.clickhouse, _ = procCPU(e.chPID)
	}
	return t
}

func (t cpuTimes) since(t0 cpuTimes, events int) cpuShare {
	return cpuShare{
		projector:  perEvent(t.projector-t0.projector, events),
		clickhouse: perEvent(t.clickhouse-t0.clickhouse, events),
		nats:       perEvent(t.self-t0.self, events),
	}
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// procCPU reads a process's user and system CPU time from /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	var total time.Duration
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		total += time.Duration(v) * clockTick
	}
	return total, nil
}
