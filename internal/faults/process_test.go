//go:build linux

package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

var (
	binDir   string
	buildOne sync.Once
	binPath  string
	buildErr error
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "cds-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// cdsBinary builds ./cmd/cds once per test binary.
func cdsBinary(tb testing.TB) string {
	tb.Helper()
	buildOne.Do(func() {
		binPath = filepath.Join(binDir, "cds")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/bacgiang/cds/cmd/cds").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/cds: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// env is a data directory with credentials, an embedded NATS server that
// knows them (in the test process), and a clickhouse-server.
type env struct {
	dataDir string
	natsURL string
	ns      *natsserver.Server
	ch      *chserver.Server
	db      *chdb.DB
	js      jetstream.JetStream // as the admin user
	reg     *registry.Registry
	logDir  string
	starts  int
	environ []string // added to the processes' environment (cleanEnv)
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &env{dataDir: tb.TempDir(), logDir: tb.TempDir(), reg: registry.Sample()}
	creds, hashes, err := credentials.Ensure(e.dataDir, e.reg.Codes())
	if err != nil {
		tb.Fatal(err)
	}
	e.ns, err = natsserver.Start(ctx, natsserver.Config{
		Addr: "127.0.0.1:-1", StoreDir: filepath.Join(e.dataDir, "nats"), Hashes: hashes, ReportsFor: app.ReportsFor(e.reg),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.ns.Close() })
	e.natsURL = e.ns.ClientURL()
	nc, err := nats.Connect(e.natsURL, nats.UserInfo(creds.Admin.User, creds.Admin.Password), nats.MaxReconnects(-1))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	if e.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192)); err != nil {
		tb.Fatal(err)
	}
	if err := natsserver.EnsureStreams(ctx, e.js, natsserver.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	e.ch = chtest.Start(tb)
	if e.db, err = chdb.Open(ctx, chdb.Config{Addr: e.ch.Addr()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.db.Close() })
	if _, err := e.db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return e
}

// common returns the flags every cds command of the env needs.
func (e *env) common() []string {
	return []string{"--nats", e.natsURL, "--clickhouse", e.ch.Addr(), "--data", e.dataDir}
}

// proc is a cds process.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // how it ended, once done is closed
	// metrics is the address of its /metrics endpoint (cds projector).
	metrics string
}

// start runs cds with args; its stdout and stderr go to a file of its own.
func (e *env) start(tb testing.TB, args ...string) *proc {
	tb.Helper()
	e.starts++
	logPath := filepath.Join(e.logDir, fmt.Sprintf("%02d-%s.log", e.starts, args[0]))
	f, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(cdsBinary(tb), args...)
	cmd.Env = append(cleanEnv(), e.environ...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	f.Close()
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// faultLeaseTTL is the lease TTL of the projectors of the fault tests: a
// killed one's successor waits this long before it takes over.
const faultLeaseTTL = "2s"

// startProjector runs cds projector with extra flags, logging at info level
// and serving /metrics (proc.metric, which waitCaughtUp reads).
func (e *env) startProjector(tb testing.TB, extra ...string) *proc {
	tb.Helper()
	metrics := freeAddr(tb)
	args := append([]string{"projector", "--log", "info", "--lease-ttl", faultLeaseTTL, "--metrics", metrics}, e.common()...)
	p := e.start(tb, append(args, extra...)...)
	p.metrics = metrics
	return p
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// metric returns the sum of the samples of the metric name that p serves
// at /metrics, 0 when it has none.
func (p *proc) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read metrics: status %d, %v", resp.StatusCode, err)
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
	}
	return sum, nil
}

// active reports whether p runs and is the active projector
// (cds_projector_active is 1).
func (p *proc) active() bool {
	v, err := p.metric("cds_projector_active")
	return !p.exited() && err == nil && v == 1
}

// cleanEnv is the test's environment without CDS_* variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CDS_") {
			out = append(out, kv)
		}
	}
	return out
}

func (p *proc) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %v to pid %d: %v", sig, p.cmd.Process.Pid, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 when
// killed by a signal).
func (p *proc) wait(tb testing.TB, timeout time.Duration) int {
	tb.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		tb.Fatalf("pid %d did not exit within %s; log:\n%s", p.cmd.Process.Pid, timeout, p.tail())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func (p *proc) tail() string {
	lines := strings.Split(strings.TrimSpace(p.output()), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// run runs cds to completion and returns its exit code and output.
func (e *env) run(tb testing.TB, args ...string) (int, string) {
	tb.Helper()
	p := e.start(tb, args...)
	code := p.wait(tb, 2*time.Minute)
	return code, p.output()
}

// watermark reads the projector's position from ClickHouse.
func (e *env) watermark(tb testing.TB) uint64 {
	tb.Helper()
	w, err := projtest.Watermark(context.Background(), e.db)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func (e *env) lastSeq(tb testing.TB) uint64 {
	tb.Helper()
	s, err := e.js.Stream(context.Background(), natsserver.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// waitCaughtUp polls p's metrics until its fold state is loaded
// (cds_projector_state_loaded) and its watermark
// (cds_projector_watermark_seq) reaches the stream's last sequence,
// failing if p exits first. Once p serves /metrics it handles signals.
func (e *env) waitCaughtUp(tb testing.TB, p *proc, timeout time.Duration) {
	tb.Helper()
	last := e.lastSeq(tb)
	deadline := time.Now().Add(timeout)
	for {
		// The watermark in ClickHouse may be there already (the killed
		// projector's last commit landed): this process's own gauges say
		// that it has recovered and loaded its state too.
		loaded, lerr := p.metric("cds_projector_state_loaded")
		w, werr := p.metric("cds_projector_watermark_seq")
		if lerr == nil && werr == nil && loaded == 1 && w >= float64(last) {
			return
		}
		if p.exited() {
			tb.Fatalf("projector exited before catching up: %v\n%s", p.err, p.tail())
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: cds_projector_state_loaded %v (%v), cds_projector_watermark_seq %v (%v), want 1 and %d\n%s",
				timeout, loaded, lerr, w, werr, last, p.tail())
		}
		poll()
	}
}

// poll is the pause between two polls of a condition.
func poll() { time.Sleep(5 * time.Millisecond) }

// runningInsert returns the query id of a projector INSERT running in
// ClickHouse, or "".
func (e *env) runningInsert(tb testing.TB) string {
	tb.Helper()
	var ids []string
	rows, err := e.db.Query(context.Background(), "SELECT query_id FROM system.processes WHERE substring(query_id, 1, 18) = 'cds-projector/cds/'")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// count counts lines of out containing s.
func count(out, s string) int { return bytes.Count([]byte(out), []byte(s)) }
