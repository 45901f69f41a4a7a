package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bacgiang/cds/internal/chdb"
)

// Script is the path of the local cluster's script, from the repository root.
const Script = "deployments/cluster/local"

// Names of the local cluster's processes, as its pid files name them.
var (
	NATSNodes          = []string{"nats-1", "nats-2", "nats-3"}
	ClickHouseReplicas = []string{"clickhouse-1", "clickhouse-2"}
	Projectors         = []string{"projector-a", "projector-b"}
)

// Local is the cluster that deployments/cluster/local runs on this machine:
// its addresses are the script's (plus Offset), its state under Dir.
type Local struct {
	Root   string // the repository root, where the script runs
	Dir    string // the cluster's directory (CDS_CLUSTER_DIR), absolute
	Offset int    // added to every port (CDS_CLUSTER_PORT_OFFSET)
}

func (l *Local) port(p int) int { return p + l.Offset }

// NATSURLs returns the client URLs of the three NATS nodes, in node order.
func (l *Local) NATSURLs() []string {
	var out []string
	for _, p := range []int{4222, 4223, 4224} {
		out = append(out, "nats://127.0.0.1:"+strconv.Itoa(l.port(p)))
	}
	return out
}

// ClickHouseHosts returns a connection to each replica, in replica order.
func (l *Local) ClickHouseHosts() []chdb.Config {
	var out []chdb.Config
	for _, p := range []int{9000, 9010} {
		out = append(out, chdb.Config{Addr: "127.0.0.1:" + strconv.Itoa(l.port(p))})
	}
	return out
}

// ClickHouseDSN names both replicas, as the cluster's services use it.
func (l *Local) ClickHouseDSN() string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d,127.0.0.1:%d/cds", l.port(9000), l.port(9010))
}

// APIURL is the base URL of cds serve.
func (l *Local) APIURL() string { return "http://127.0.0.1:" + strconv.Itoa(l.port(8080)) }

// RunDir holds the pid files.
func (l *Local) RunDir() string { return filepath.Join(l.Dir, "run") }

// Run runs the script with args (up, down, start NAME…) and returns its
// output; a failure carries the output.
func (l *Local) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(l.Root, Script), args...)
	cmd.Dir = l.Root
	cmd.Env = append(os.Environ(), "CDS_CLUSTER_DIR="+l.Dir, "CDS_CLUSTER_PORT_OFFSET="+strconv.Itoa(l.Offset))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", Script, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Pid returns the pid in the pid file of name.
func (l *Local) Pid(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(l.RunDir(), name+".pid"))
	if err != nil {
		return 0, fmt.Errorf("cluster: pid of %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("cluster: pid file of %s: %w", name, err)
	}
	return pid, nil
}

// Alive reports whether the process of name runs.
func (l *Local) Alive(name string) bool {
	pid, err := l.Pid(name)
	return err == nil && syscall.Kill(pid, 0) == nil
}

// Kill sends SIGKILL to the process of name, as a crash would end it.
func (l *Local) Kill(name string) error {
	pid, err := l.Pid(name)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("cluster: kill -9 %s (pid %d): %w", name, pid, err)
	}
	return nil
}

// Start starts name again, as an operator would after a crash.
func (l *Local) Start(ctx context.Context, name string) error {
	_, err := l.Run(ctx, "start", name)
	return err
}

// NameOfPid returns the process name whose pid file holds pid, or "".
func (l *Local) NameOfPid(pid int) string {
	return PidNames(l.RunDir())[pid]
}

// PidNames maps the pids of the pid files NAME.pid in dir to their names.
func PidNames(dir string) map[int]string {
	out := map[int]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[pid] = strings.TrimSuffix(filepath.Base(f), ".pid")
		}
	}
	return out
}
