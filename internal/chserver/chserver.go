// Package chserver runs a managed clickhouse-server child process, or adopts one already listening, for cds up and for tests.
package chserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Defaults of Config.
const (
	DefaultTCPAddr        = "127.0.0.1:9000"
	DefaultHTTPAddr       = "127.0.0.1:8123"
	DefaultAnalystUser    = "analyst"
	DefaultStartTimeout   = 60 * time.Second
	DefaultMaxMemoryUsage = 4 << 30
)

// stopTimeout is how long Close waits after SIGTERM before it sends SIGKILL.
const stopTimeout = 20 * time.Second

var (
	// ErrNoBinary is returned by Start when no clickhouse-server executable
	// can be found.
	ErrNoBinary = errors.New("chserver: clickhouse-server binary not found")

	// ErrAddrInUse is returned by Start when an address the server needs is
	// held by a process cds cannot use: something that does not speak the
	// ClickHouse native protocol, a ClickHouse that refuses the default user,
	// or, with Config.NoAdopt, any server at all.
	ErrAddrInUse = errors.New("chserver: address in use")
)

// Config says where and how to run the managed server.
type Config struct {
	// Dir is the root for the generated configuration, data, temporary
	// files and logs (for example <data dir>/clickhouse). It is created if
	// missing, and required unless a running server is adopted.
	Dir string
	// TCPAddr is the native-protocol address; default DefaultTCPAddr.
	// Its host is also the server's listen_host.
	TCPAddr string
	// HTTPAddr is the HTTP-interface address; default DefaultHTTPAddr.
	HTTPAddr string
	// Binary is the server executable. Default: the first of
	// clickhouse-server on PATH, /usr/sbin/clickhouse-server and
	// /usr/bin/clickhouse (the multi-call binary, run as "clickhouse server").
	Binary string
	// AnalystUser names the read-only analyst user; default
	// DefaultAnalystUser. It must be a plain identifier other than "default".
	AnalystUser string
	// AnalystPassword, if non-empty, defines the analyst user: read-only
	// (readonly=1: it cannot write, run DDL, change a setting or call a
	// table function; limits in docs/security.md),
	// allowed from localhost only, limited to database cds (and system).
	// Only the SHA-256 of the password is written to disk.
	AnalystPassword string
	// MaxMemoryUsage caps, in bytes, the memory of one query and of all
	// queries together (max_memory_usage and
	// max_memory_usage_for_all_queries; 18.16 has no server-wide
	// max_server_memory_usage). Default DefaultMaxMemoryUsage.
	MaxMemoryUsage int64
	// ServiceUser, if non-empty, defines the user the cds services connect
	// as (cds clickhouse names it "cds"), with the default user's rights.
	// With ServicePassword it may connect from any address and only the
	// password's SHA-256 is written to disk; without, from localhost only.
	ServiceUser     string
	ServicePassword string
	// Replica, when set, makes the server a replica of a ClickHouse cluster
	// (ZooKeeper, remote_servers, the {shard} and {replica} macros and the
	// interserver HTTP port).
	Replica *Replica
	// QueryLog turns on ClickHouse's system.query_log (the query_log
	// section of config.xml and log_queries in the services' profile):
	// one row per query with its rows read, duration and CPU time
	// (ProfileEvents). For measurements (cds bench --query-log): it costs
	// an insert per flush and the log's disk.
	QueryLog bool
	// NoAdopt makes Start fail with ErrAddrInUse instead of adopting a
	// ClickHouse server that already listens on TCPAddr. Tests set it so
	// that they never share a server by accident.
	NoAdopt bool
	// StartTimeout bounds how long Start waits for the server to answer;
	// default DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c Config) withDefaults() (Config, error) {
	if c.TCPAddr == "" {
		c.TCPAddr = DefaultTCPAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.AnalystUser == "" {
		c.AnalystUser = DefaultAnalystUser
	}
	if !identifier.MatchString(c.AnalystUser) || c.AnalystUser == "default" {
		return c, fmt.Errorf("config: analyst user %q: want a plain identifier other than default", c.AnalystUser)
	}
	if c.ServiceUser != "" && (!identifier.MatchString(c.ServiceUser) || c.ServiceUser == "default" || c.ServiceUser == c.AnalystUser) {
		return c, fmt.Errorf("config: service user %q: want a plain identifier other than default and the analyst user", c.ServiceUser)
	}
	if c.Replica != nil {
		r, err := c.Replica.withDefaults(c.TCPAddr)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		c.Replica = &r
	}
	if c.MaxMemoryUsage == 0 {
		c.MaxMemoryUsage = DefaultMaxMemoryUsage
	}
	if c.MaxMemoryUsage < 0 {
		return c, fmt.Errorf("config: negative MaxMemoryUsage %d", c.MaxMemoryUsage)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// splitAddr returns the listen host (127.0.0.1 when empty) and port of addr.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: port must be 1-65535", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// Server is a running ClickHouse server: a child process that Start
// launched, or an adopted server that was already listening.
type Server struct {
	addr     string
	httpAddr string
	managed  bool
	logger   *slog.Logger

	// Managed servers only.
	cmd      *exec.Cmd
	files    layout
	errOff   int64 // size of the error log before this start
	conOff   int64 // size of the console log before this start
	done     chan struct{}
	stopping atomic.Bool
	exitErr  error // set before done is closed

	closeOnce sync.Once
	closeErr  error
}

// Start runs clickhouse-server as described by cfg and returns once it
// answers on its native port, or adopts a ClickHouse server that already
// answers on cfg.TCPAddr. ctx bounds only the start; the child outlives it
// until Close or Kill.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("start clickhouse-server: %w", err)
	}
	if _, _, err := splitAddr(cfg.TCPAddr); err != nil {
		return nil, fmt.Errorf("start clickhouse-server: tcp %w", err)
	}
	if _, _, err := splitAddr(cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("start clickhouse-server: http %w", err)
	}
	found, err := probe(ctx, cfg.TCPAddr)
	if err != nil {
		return nil, fmt.Errorf("start clickhouse-server: %w", err)
	}
	if found {
		if cfg.NoAdopt {
			return nil, fmt.Errorf("start clickhouse-server: %w: a ClickHouse server already listens on %s", ErrAddrInUse, cfg.TCPAddr)
		}
		cfg.Logger.Info("using the ClickHouse server already running", "addr", cfg.TCPAddr)
		if cfg.AnalystPassword != "" {
			cfg.Logger.Warn("analyst user not configured: the adopted server keeps its own users.xml", "addr", cfg.TCPAddr)
		}
		return &Server{addr: cfg.TCPAddr, httpAddr: cfg.HTTPAddr, logger: cfg.Logger}, nil
	}
	id := newServerID()
	files, argv, err := configure(cfg, id)
	if err != nil {
		return nil, fmt.Errorf("start clickhouse-server: %w", err)
	}
	bin, args := argv[0], argv[1:]

	s := &Server{
		addr:     cfg.TCPAddr,
		httpAddr: cfg.HTTPAddr,
		managed:  true,
		logger:   cfg.Logger,
		files:    files,
		errOff:   fileSize(files.errorLog()),
		conOff:   fileSize(files.consoleLog()),
		done:     make(chan struct{}),
	}
	console, err := os.OpenFile(files.consoleLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("start clickhouse-server: %w", err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = files.root
	s.cmd.Stdout = console
	s.cmd.Stderr = console
	detach(s.cmd)

	began := time.Now()
	err = s.cmd.Start()
	console.Close() // the child holds its own descriptor
	if err != nil {
		return nil, fmt.Errorf("start clickhouse-server: %s: %w", bin, err)
	}
	go s.wait()

	if err := s.waitReady(ctx, id, cfg.StartTimeout); err != nil {
		return nil, fmt.Errorf("start clickhouse-server: %w", err)
	}
	s.logger.Info("clickhouse-server started", "addr", s.addr, "http", s.httpAddr,
		"pid", s.cmd.Process.Pid, "dir", files.root, "took", time.Since(began).Round(time.Millisecond))
	return s, nil
}

// Foreground writes the configuration of cfg (which names no running
// server: nothing is adopted) and returns the command line that runs
// clickhouse-server with it, for a caller that execs it in its own place
// (cds clickhouse), so that the process id is the server's.
func Foreground(cfg Config) ([]string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("clickhouse-server: %w", err)
	}
	_, argv, err := configure(cfg, newServerID())
	if err != nil {
		return nil, fmt.Errorf("clickhouse-server: %w", err)
	}
	return argv, nil
}

// configure finds the binary, creates the directory tree of cfg.Dir and
// writes config.xml and users.xml for the start named id. It returns the
// layout and the command line (binary first).
func configure(cfg Config, id string) (layout, []string, error) {
	tcpHost, tcpPort, err := splitAddr(cfg.TCPAddr)
	if err != nil {
		return layout{}, nil, fmt.Errorf("tcp %w", err)
	}
	httpHost, httpPort, err := splitAddr(cfg.HTTPAddr)
	if err != nil {
		return layout{}, nil, fmt.Errorf("http %w", err)
	}
	if cfg.Dir == "" {
		return layout{}, nil, errors.New("config: Dir is required")
	}
	bin, args, err := findBinary(cfg.Binary)
	if err != nil {
		return layout{}, nil, err
	}
	root, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return layout{}, nil, err
	}
	files := layout{root: filepath.Clean(root)}
	hosts := []string{tcpHost}
	if httpHost != tcpHost {
		hosts = append(hosts, httpHost)
	}
	if cfg.Replica != nil {
		if h, _, _ := splitAddr(cfg.Replica.InterserverAddr); !slices.Contains(hosts, h) && !slices.Contains(hosts, "0.0.0.0") {
			hosts = append(hosts, h)
		}
	}
	if err := prepare(files, cfg, id, hosts, tcpPort, httpPort); err != nil {
		return layout{}, nil, err
	}
	argv := append([]string{bin}, args...)
	return files, append(argv, "--config-file="+files.config()), nil
}

// prepare creates the directory tree and writes config.xml and users.xml.
func prepare(files layout, cfg Config, id string, hosts []string, tcpPort, httpPort int) error {
	for _, d := range []string{files.data(), files.tmp(), files.userFiles(), files.formatSchema(), files.logDir()} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
	}
	if err := os.WriteFile(files.config(), serverConfig(files, id, hosts, tcpPort, httpPort, cfg.Replica, cfg.QueryLog), 0o640); err != nil {
		return err
	}
	// users.xml holds a password hash: owner only.
	if err := os.WriteFile(files.users(), usersConfig(cfg.MaxMemoryUsage, cfg.AnalystUser, cfg.AnalystPassword, cfg.ServiceUser, cfg.ServicePassword, cfg.QueryLog), 0o600); err != nil {
		return err
	}
	return os.Chmod(files.users(), 0o600) // WriteFile keeps the mode of an existing file
}

// findBinary resolves the server executable and any leading arguments.
func findBinary(name string) (string, []string, error) {
	candidates := []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse"}
	if name != "" {
		candidates = []string{name}
	}
	for _, c := range candidates {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if filepath.Base(p) == "clickhouse" {
			return p, []string{"server"}, nil
		}
		return p, nil, nil
	}
	return "", nil, fmt.Errorf("%w (looked for %s)", ErrNoBinary, strings.Join(candidates, ", "))
}

// probe reports whether a ClickHouse server answers the native protocol as
// the default user on addr. It returns false and no error when nothing
// listens there, and an error wrapping ErrAddrInUse when something else
// does.
func probe(ctx context.Context, addr string) (bool, error) {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, nil
	}

	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{addr},
		Protocol: clickhouse.Native,
		// Speak over the connection just made rather than dialling again:
		// a second connection would leave "Client has not sent any data"
		// in the server's error log.
		DialContext:  func(context.Context, string) (net.Conn, error) { return c, nil },
		MaxOpenConns: 1,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
	})
	if err != nil {
		c.Close()
		return false, err
	}
	defer conn.Close()
	err = conn.Ping(ctx)
	var ex *clickhouse.Exception
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ex):
		return false, fmt.Errorf("%w: the ClickHouse server on %s refuses the default user: %w", ErrAddrInUse, addr, err)
	default:
		return false, fmt.Errorf("%w: %s is held by something that does not speak the ClickHouse native protocol: %w", ErrAddrInUse, addr, err)
	}
}

// wait reaps the child and records how it ended.
func (s *Server) wait() {
	err := s.cmd.Wait()
	if !s.stopping.Load() {
		if err == nil {
			err = errors.New("exit status 0")
		}
		s.exitErr = fmt.Errorf("clickhouse-server (pid %d) exited unexpectedly: %w%s", s.cmd.Process.Pid, err, s.logTail())
		s.logger.Error("clickhouse-server exited unexpectedly", "pid", s.cmd.Process.Pid, "err", err)
	}
	close(s.done)
}

// newServerID returns a random token that names one start of a server.
func newServerID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails on supported systems
	return hex.EncodeToString(b)
}

// waitReady polls the native port until the child answers, the child
// exits, the timeout passes or ctx ends. On failure it kills the child.
// The answering server must report id: another server that grabbed the
// port between the probe and the child's bind must not pass for the child.
func (s *Server) waitReady(ctx context.Context, id string, timeout time.Duration) error {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{s.addr},
		Protocol:     clickhouse.Native,
		DialTimeout:  time.Second,
		ReadTimeout:  5 * time.Second,
		MaxOpenConns: 1,
	})
	if err != nil {
		_ = s.Kill()
		return err
	}
	defer conn.Close()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := conn.Ping(ctx)
		if err == nil {
			var got string
			err = conn.QueryRow(ctx, "SELECT substitution FROM system.macros WHERE macro = '"+serverIDMacro+"'").Scan(&got)
			switch {
			case err == nil && got == id:
				return nil
			case err == nil || errors.Is(err, sql.ErrNoRows):
				_ = s.Kill()
				return fmt.Errorf("%w: another ClickHouse server answered on %s", ErrAddrInUse, s.addr)
			}
		}
		select {
		case <-s.done:
			if strings.Contains(s.exitErr.Error(), "Address already in use") {
				return fmt.Errorf("%w: %w", ErrAddrInUse, s.exitErr)
			}
			return s.exitErr
		case <-ctx.Done():
			_ = s.Kill()
			return fmt.Errorf("no answer on %s after %s (last error: %v): %w%s",
				s.addr, time.Since(began).Round(time.Millisecond), err, context.Cause(ctx), s.logTail())
		case <-tick.C:
		}
	}
}

// Addr returns the native-protocol host:port to hand to clickhouse-go.
func (s *Server) Addr() string { return s.addr }

// HTTPAddr returns the HTTP-interface host:port. For an adopted server it is
// the configured address, not verified.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// Managed reports whether Start launched the server (true) or adopted one
// that was already running (false).
func (s *Server) Managed() bool { return s.managed }

// PID returns the process id of the managed child, or 0 for an adopted
// server.
func (s *Server) PID() int {
	if !s.managed {
		return 0
	}
	return s.cmd.Process.Pid
}

// Dir returns the absolute root directory of a managed server, or "" for an
// adopted one.
func (s *Server) Dir() string { return s.files.root }

// Done returns a channel that is closed when the managed child has exited,
// whether through Close, Kill or on its own. For an adopted server it
// returns nil, which never becomes ready.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns why the child exited when it did so on its own (a crash, or
// killed from outside), with the tail of its logs. It returns nil while the
// child runs, after Close or Kill, and for an adopted server.
func (s *Server) Err() error {
	if !s.managed {
		return nil
	}
	select {
	case <-s.done:
		return s.exitErr
	default:
		return nil
	}
}

// Close stops a managed server: SIGTERM, then SIGKILL if it has not exited
// within 20 seconds. It is idempotent, returns nil if the child had already
// exited (see Err), and does nothing for an adopted server.
func (s *Server) Close() error {
	if !s.managed {
		return nil
	}
	s.closeOnce.Do(func() {
		s.closeErr = s.stop(sigTerm, stopTimeout)
		if s.closeErr == nil {
			s.logger.Info("clickhouse-server stopped", "pid", s.cmd.Process.Pid)
		}
	})
	return s.closeErr
}

// Kill sends SIGKILL to a managed server at once and waits for it to exit;
// it is meant for fault-injection tests. It fails for an adopted server.
func (s *Server) Kill() error {
	if !s.managed {
		return fmt.Errorf("kill clickhouse-server: %s was adopted, not started by cds", s.addr)
	}
	return s.stop(sigKill, 0)
}

// stop signals the child's process group and waits for the child to exit,
// escalating to SIGKILL after grace (when grace > 0).
func (s *Server) stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.stopping.Store(true)
	pid := s.cmd.Process.Pid
	if err := signalGroup(pid, sig); err != nil {
		return fmt.Errorf("stop clickhouse-server (pid %d): %w", pid, err)
	}
	if grace <= 0 {
		<-s.done
		return nil
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.done:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("stop clickhouse-server (pid %d): %s%s", pid, s.cmd.ProcessState, s.logTail())
		}
		return nil
	case <-t.C:
	}
	s.logger.Warn("clickhouse-server did not stop in time; killing it", "pid", pid, "after", grace)
	if err := signalGroup(pid, sigKill); err != nil {
		return fmt.Errorf("stop clickhouse-server (pid %d): %w", pid, err)
	}
	<-s.done
	return fmt.Errorf("stop clickhouse-server (pid %d): did not exit within %s of SIGTERM; killed", pid, grace)
}

// banner matches the lines ClickHouse prints to the console on every start.
var banner = regexp.MustCompile(`(?m)^Logging \w+ to .*$\n?`)

// logTail returns the last lines the child wrote to its console and error
// log since this start, formatted to append to an error message.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, f := range []struct {
		path string
		off  int64
	}{{s.files.consoleLog(), s.conOff}, {s.files.errorLog(), s.errOff}} {
		t := tail(f.path, f.off, 20)
		t = strings.TrimSpace(banner.ReplaceAllString(t, ""))
		if t != "" {
			fmt.Fprintf(&b, "\n%s:\n%s", filepath.Base(f.path), t)
		}
	}
	return b.String()
}

// tail returns the last n lines of path from offset on (from the start if
// the file has since been rotated), reading at most 16 KiB.
func tail(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	if st.Size() < offset {
		offset = 0
	}
	const limit = 16 << 10
	if st.Size()-offset > limit {
		offset = st.Size() - limit
	}
	buf, err := io.ReadAll(io.NewSectionReader(f, offset, st.Size()-offset))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
