package chserver_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/chserver/chtest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// freeAddr returns a loopback address nothing listened on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func mustExec(t *testing.T, conn driver.Conn, query string) {
	t.Helper()
	if err := conn.Exec(testContext(t), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func queryUint64(t *testing.T, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(testContext(t), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// processGone reports whether no process has the given pid any more.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestStartTwoServers(t *testing.T) {
	t.Parallel()
	began := time.Now()
	a := chtest.Start(t)
	t.Logf("first start took %s", time.Since(began))
	began = time.Now()
	b := chtest.Start(t)
	t.Logf("second start took %s", time.Since(began))

	if a.Addr() == b.Addr() || a.HTTPAddr() == b.HTTPAddr() || a.PID() == b.PID() {
		t.Fatalf("servers collide: %s/%s pid %d and %s/%s pid %d",
			a.Addr(), a.HTTPAddr(), a.PID(), b.Addr(), b.HTTPAddr(), b.PID())
	}
	for _, s := range []*chserver.Server{a, b} {
		if !s.Managed() {
			t.Errorf("%s: Managed() = false, want true", s.Addr())
		}
	}
	ca, cb := chtest.Open(t, a.Addr()), chtest.Open(t, b.Addr())
	mustExec(t, ca, "CREATE TABLE default.only_on_a (x UInt8) ENGINE = Memory")
	if n := queryUint64(t, cb, "SELECT count() FROM system.tables WHERE database = 'default' AND name = 'only_on_a'"); n != 0 {
		t.Fatalf("table created on %s is visible on %s: the servers are the same", a.Addr(), b.Addr())
	}
}

func TestServerSQL(t *testing.T) {
	t.Parallel()
	srv := chtest.Start(t)
	conn := chtest.Open(t, srv.Addr())

	t.Run("version", func(t *testing.T) {
		var v string
		if err := conn.QueryRow(testContext(t), "SELECT version()").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v == "" || v[0] < '0' || v[0] > '9' {
			t.Fatalf("version() = %q, want a version number", v)
		}
		t.Logf("ClickHouse %s", v)
	})

	t.Run("batch insert", func(t *testing.T) {
		ctx := testContext(t)
		mustExec(t, conn, "CREATE DATABASE IF NOT EXISTS cds")
		mustExec(t, conn, `CREATE TABLE cds.batch_test (
			id String, agency String, occurred_at DateTime('Asia/Ho_Chi_Minh'), n UInt32
		) ENGINE = MergeTree PARTITION BY toYYYYMM(occurred_at) ORDER BY id`)
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO cds.batch_test (id, agency, occurred_at, n)")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2025, 3, 14, 9, 30, 0, 0, time.FixedZone("ICT", 7*3600))
		const rows = 1000
		for i := range rows {
			if err := batch.Append(string(rune('a'+i%26))+time.Duration(i).String(), "bg-vietyen", at, uint32(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
		if n := queryUint64(t, conn, "SELECT count() FROM cds.batch_test"); n != rows {
			t.Fatalf("count() = %d, want %d", n, rows)
		}
		var got time.Time
		if err := conn.QueryRow(ctx, "SELECT min(occurred_at) FROM cds.batch_test").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(at) {
			t.Fatalf("occurred_at = %s, want %s", got, at)
		}
	})

	t.Run("server time zone is UTC", func(t *testing.T) {
		var tz string
		if err := conn.QueryRow(testContext(t), "SELECT timezone()").Scan(&tz); err != nil {
			t.Fatal(err)
		}
		if tz != "UTC" && tz != "Etc/UTC" {
			t.Fatalf("timezone() = %q, want UTC", tz)
		}
	})
}

func TestAdopt(t *testing.T) {
	t.Parallel()
	running := chtest.Start(t)
	ctx := testContext(t)

	adopted, err := chserver.Start(ctx, chserver.Config{TCPAddr: running.Addr(), HTTPAddr: running.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	if adopted.Managed() {
		t.Fatal("Managed() = true, want false for an adopted server")
	}
	if adopted.Addr() != running.Addr() || adopted.PID() != 0 || adopted.Done() != nil {
		t.Fatalf("adopted server: addr %s pid %d done %v, want addr %s pid 0 done nil",
			adopted.Addr(), adopted.PID(), adopted.Done(), running.Addr())
	}
	if err := adopted.Kill(); err == nil {
		t.Error("Kill of an adopted server succeeded, want an error")
	}
	if err := adopted.Close(); err != nil {
		t.Fatalf("Close of an adopted server: %v", err)
	}
	// Closing the adopted handle must leave the server running.
	conn := chtest.Open(t, adopted.Addr())
	if n := queryUint64(t, conn, "SELECT toUInt64(1)"); n != 1 {
		t.Fatalf("SELECT 1 = %d", n)
	}

	_, err = chserver.Start(ctx, chserver.Config{Dir: t.TempDir(), TCPAddr: running.Addr(), NoAdopt: true})
	if !errors.Is(err, chserver.ErrAddrInUse) {
		t.Fatalf("Start with NoAdopt on a running server: err = %v, want ErrAddrInUse", err)
	}
}

func TestAddrHeldByOtherProcess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		serve func(net.Conn) // nil: accept nothing, let the backlog hold the connection
	}{
		{name: "silent listener"},
		{name: "closes at once", serve: func(c net.Conn) { c.Close() }},
		{name: "http server", serve: func(c net.Conn) {
			defer c.Close()
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			if tt.serve != nil {
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						go tt.serve(c)
					}
				}()
			}
			dir := t.TempDir()
			_, err = chserver.Start(testContext(t), chserver.Config{Dir: dir, TCPAddr: ln.Addr().String(), HTTPAddr: freeAddr(t)})
			if !errors.Is(err, chserver.ErrAddrInUse) {
				t.Fatalf("err = %v, want ErrAddrInUse", err)
			}
			if !strings.Contains(err.Error(), ln.Addr().String()) {
				t.Errorf("error %q does not name the address", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "config.xml")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a server was prepared although the port is taken (stat config.xml: %v)", err)
			}
		})
	}

	t.Run("http port", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		_, err = chserver.Start(testContext(t), chserver.Config{Dir: t.TempDir(), TCPAddr: freeAddr(t), HTTPAddr: ln.Addr().String()})
		if !errors.Is(err, chserver.ErrAddrInUse) {
			t.Fatalf("err = %v, want ErrAddrInUse", err)
		}
		if !strings.Contains(err.Error(), "Address already in use") {
			t.Errorf("error %q lacks the server's own log line", err)
		}
	})
}

func TestNoBinary(t *testing.T) {
	t.Parallel()
	_, err := chserver.Start(testContext(t), chserver.Config{
		Dir: t.TempDir(), TCPAddr: freeAddr(t), HTTPAddr: freeAddr(t),
		Binary: filepath.Join(t.TempDir(), "clickhouse-server"),
	})
	if !errors.Is(err, chserver.ErrNoBinary) {
		t.Fatalf("err = %v, want ErrNoBinary", err)
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  chserver.Config
	}{
		{name: "tcp addr without port", cfg: chserver.Config{TCPAddr: "127.0.0.1"}},
		{name: "http port out of range", cfg: chserver.Config{HTTPAddr: "127.0.0.1:70000"}},
		{name: "analyst named default", cfg: chserver.Config{AnalystUser: "default"}},
		{name: "analyst name with markup", cfg: chserver.Config{AnalystUser: "a<b>"}},
		{name: "negative memory", cfg: chserver.Config{MaxMemoryUsage: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Dir = t.TempDir()
			if _, err := chserver.Start(testContext(t), tt.cfg); err == nil {
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestStartGivesUp(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
		want    error
	}{
		{name: "start timeout", ctx: t.Context(), timeout: time.Nanosecond, want: context.DeadlineExceeded},
		{name: "cancelled context", ctx: cancelled, timeout: time.Minute, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tcp := freeAddr(t)
			_, err := chserver.Start(tt.ctx, chserver.Config{
				Dir: t.TempDir(), TCPAddr: tcp, HTTPAddr: freeAddr(t), StartTimeout: tt.timeout,
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// The child, if one was started, must be gone: the port is free.
			ln, err := net.Listen("tcp", tcp)
			if err != nil {
				t.Fatalf("port still held after a failed start: %v", err)
			}
			ln.Close()
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	srv := chtest.Start(t)
	pid := srv.PID()
	for i := range 3 {
		if err := srv.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := srv.Err(); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}
	if !processGone(pid) {
		t.Fatalf("process %d still exists after Close", pid)
	}
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", srv.Addr())
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	srv := chtest.Start(t)
	pid := srv.PID()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Fatalf("process %d still exists after Kill", pid)
	}
	if err := srv.Err(); err != nil {
		t.Fatalf("Err after Kill = %v, want nil", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close after Kill: %v", err)
	}
}

func TestUnexpectedExit(t *testing.T) {
	t.Parallel()
	srv := chtest.Start(t)
	if err := syscall.Kill(srv.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed 10s after the child was killed from outside")
	}
	err := srv.Err()
	if err == nil || !strings.Contains(err.Error(), "exited unexpectedly") {
		t.Fatalf("Err = %v, want an unexpected-exit error", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close after a crash: %v", err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cfg := chserver.Config{Dir: t.TempDir(), TCPAddr: freeAddr(t), HTTPAddr: freeAddr(t), NoAdopt: true}
	srv, err := chserver.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn := chtest.Open(t, srv.Addr())
	mustExec(t, conn, "CREATE TABLE default.kept (x UInt8) ENGINE = MergeTree ORDER BY x")
	mustExec(t, conn, "INSERT INTO default.kept SELECT 7")
	// The connection stays open: Close must not wait for it.
	began := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Close with an idle client connection took %s", took)
	}

	srv, err = chserver.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn = chtest.Open(t, srv.Addr())
	if n := queryUint64(t, conn, "SELECT toUInt64(sum(x)) FROM default.kept"); n != 7 {
		t.Fatalf("sum after restart = %d, want 7", n)
	}
}

func TestAnalyst(t *testing.T) {
	t.Parallel()
	const password = "s3cret pass"
	srv := chtest.StartConfig(t, chserver.Config{AnalystPassword: password})
	admin := chtest.Open(t, srv.Addr())
	mustExec(t, admin, "CREATE DATABASE cds")
	mustExec(t, admin, "CREATE TABLE cds.facts (id String, n UInt32) ENGINE = MergeTree ORDER BY id")
	mustExec(t, admin, "INSERT INTO cds.facts SELECT 'a', 1")
	mustExec(t, admin, "CREATE TABLE default.private (x UInt8) ENGINE = Memory")

	open := func(t *testing.T, user, password string) driver.Conn {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:     []string{srv.Addr()},
			Protocol: clickhouse.Native,
			Auth:     clickhouse.Auth{Username: user, Password: password, Database: "cds"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	if err := open(t, chserver.DefaultAnalystUser, "wrong").Ping(testContext(t)); err == nil {
		t.Error("analyst logged in with a wrong password")
	}

	analyst := open(t, chserver.DefaultAnalystUser, password)
	probe := listenProbe(t)
	tests := []struct {
		name    string
		query   string
		wantErr bool
	}{
		{name: "select", query: "SELECT count() FROM cds.facts"},
		{name: "select system", query: "SELECT count() FROM system.tables"},
		{name: "select with settings", query: "SELECT count() FROM cds.facts SETTINGS max_threads = 1", wantErr: true},
		{name: "lift the memory limit", query: "SELECT count() FROM cds.facts SETTINGS max_memory_usage = 0", wantErr: true},
		{name: "SET", query: "SET max_memory_usage = 0", wantErr: true},
		{name: "SET readonly", query: "SET readonly = 2", wantErr: true},
		{name: "url()", query: "SELECT * FROM url('http://127.0.0.1:" + strconv.Itoa(probe.port) + "/', CSV, 'x String')", wantErr: true},
		{name: "remote()", query: "SELECT * FROM remote('127.0.0.1:" + strconv.Itoa(probe.port) + "', system.one)", wantErr: true},
		{name: "file()", query: "SELECT * FROM file('x.csv', CSV, 'x String')", wantErr: true},
		{name: "numbers() is a table function too", query: "SELECT count() FROM numbers(10)", wantErr: true},
		{name: "other database", query: "SELECT count() FROM default.private", wantErr: true},
		{name: "insert select", query: "INSERT INTO cds.facts SELECT 'b', 2", wantErr: true},
		{name: "create table", query: "CREATE TABLE cds.mine (x UInt8) ENGINE = Memory", wantErr: true},
		{name: "create database", query: "CREATE DATABASE mine", wantErr: true},
		{name: "drop table", query: "DROP TABLE cds.facts", wantErr: true},
		{name: "truncate", query: "TRUNCATE TABLE cds.facts", wantErr: true},
		{name: "alter delete", query: "ALTER TABLE cds.facts DELETE WHERE 1", wantErr: true},
		{name: "rename", query: "RENAME TABLE cds.facts TO cds.gone", wantErr: true},
		{name: "optimize", query: "OPTIMIZE TABLE cds.facts FINAL", wantErr: true},
		{name: "lift readonly", query: "SELECT 1 SETTINGS readonly = 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := analyst.Exec(testContext(t), tt.query)
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s: err = %v, wantErr %v", tt.query, err, tt.wantErr)
			}
		})
	}

	t.Run("settings from the client", func(t *testing.T) {
		// 18.16 ignores the settings a client sends in readonly=1 mode.
		for _, name := range []string{"max_threads", "max_memory_usage", "readonly", "max_execution_time", "max_concurrent_queries_for_user"} {
			ctx := clickhouse.Context(testContext(t), clickhouse.WithSettings(clickhouse.Settings{name: 0}))
			var v string
			err := analyst.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = '"+name+"'").Scan(&v)
			if err == nil && v == "0" {
				t.Errorf("the client set %s to 0", name)
			}
		}
	})

	t.Run("limits in force", func(t *testing.T) {
		want := map[string]string{
			"readonly":                        "1",
			"max_memory_usage":                strconv.FormatInt(chserver.DefaultMaxMemoryUsage/4, 10),
			"max_memory_usage_for_user":       strconv.FormatInt(chserver.DefaultMaxMemoryUsage/2, 10),
			"max_execution_time":              strconv.Itoa(chserver.AnalystMaxExecutionSeconds),
			"max_concurrent_queries_for_user": strconv.Itoa(chserver.AnalystMaxConcurrentQueries),
			"max_threads":                     strconv.Itoa(chserver.AnalystMaxThreads),
		}
		rows, err := analyst.Query(testContext(t), "SELECT name, value FROM system.settings WHERE changed")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for rows.Next() {
			var name, value string
			if err := rows.Scan(&name, &value); err != nil {
				t.Fatal(err)
			}
			got[name] = value
		}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("analyst setting %s = %q, want %q", name, got[name], v)
			}
		}
	})
	if probe.hits.Load() != 0 {
		t.Errorf("the analyst made the server connect to 127.0.0.1:%d %d times", probe.port, probe.hits.Load())
	}

	t.Run("batch insert", func(t *testing.T) {
		batch, err := analyst.PrepareBatch(testContext(t), "INSERT INTO cds.facts (id, n)")
		if err == nil {
			if err = batch.Append("c", uint32(3)); err == nil {
				err = batch.Send()
			}
		}
		if err == nil {
			t.Fatal("analyst batch insert succeeded")
		}
	})

	if n := queryUint64(t, admin, "SELECT toUInt64(sum(n)) FROM cds.facts"); n != 1 {
		t.Fatalf("after the analyst's attempts sum(n) = %d, want 1 (unchanged)", n)
	}
}

// probe counts the connections made to a loopback port: what url() and
// remote() would reach.
type probe struct {
	port int
	hits atomic.Int64
}

func listenProbe(t *testing.T) *probe {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.hits.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

// TestAnalystStorm: a storm of slow analyst queries takes at most
// AnalystMaxConcurrentQueries slots; the rest are refused at once, and the
// services' user keeps answering meanwhile.
func TestAnalystStorm(t *testing.T) {
	t.Parallel()
	const password = "storm"
	srv := chtest.StartConfig(t, chserver.Config{AnalystPassword: password})
	admin := chtest.Open(t, srv.Addr())
	mustExec(t, admin, "CREATE DATABASE cds")
	analyst, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{srv.Addr()},
		Protocol:     clickhouse.Native,
		Auth:         clickhouse.Auth{Username: chserver.DefaultAnalystUser, Password: password, Database: "cds"},
		MaxOpenConns: 64,
		ReadTimeout:  30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { analyst.Close() })

	const storm = 40
	ctx := testContext(t)
	errs := make(chan error, storm)
	for range storm {
		go func() { errs <- analyst.Exec(ctx, "SELECT sleep(3)") }()
	}
	// While the storm runs, the services' user answers.
	deadline := time.Now().Add(2 * time.Second)
	answered, peak := 0, uint64(0)
	for time.Now().Before(deadline) {
		n := queryUint64(t, admin, "SELECT toUInt64(count()) FROM system.processes WHERE user = '"+chserver.DefaultAnalystUser+"'")
		peak = max(peak, n)
		answered++
	}
	if answered == 0 {
		t.Fatal("the services' user got no answer during the storm")
	}
	ran, refused := 0, 0
	for range storm {
		switch err := <-errs; {
		case err == nil:
			ran++
		case strings.Contains(err.Error(), "Too many simultaneous queries"):
			refused++
		default:
			t.Errorf("analyst query: %v", err)
		}
	}
	if peak > chserver.AnalystMaxConcurrentQueries || ran == 0 || refused == 0 {
		t.Fatalf("%d analyst queries ran, %d were refused, %d at once, want at most %d at once", ran, refused, peak, chserver.AnalystMaxConcurrentQueries)
	}
	t.Logf("storm of %d: %d ran, %d refused, at most %d at once; %d service queries answered meanwhile", storm, ran, refused, peak, answered)
}

// TestQueryLog: with Config.QueryLog the services' queries land in
// system.query_log with their CPU time (cds bench --query-log).
func TestQueryLog(t *testing.T) {
	t.Parallel()
	srv, err := chserver.Start(testContext(t), chserver.Config{Dir: t.TempDir(), TCPAddr: freeAddr(t), HTTPAddr: freeAddr(t), NoAdopt: true, QueryLog: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	conn := chtest.Open(t, srv.Addr())
	queryUint64(t, conn, "SELECT count() FROM numbers(100000) WHERE number != 424242")
	// The server queues a query's log row when it finishes the query, which
	// can be after the client has read the answer and sent SYSTEM FLUSH LOGS
	// on another connection of the pool (CI saw exactly that): flush and
	// look again until the row is there or the test's deadline passes.
	const logged = "SELECT count() FROM system.query_log WHERE query LIKE '%number != 424242%' AND query NOT LIKE '%query_log%' AND read_rows >= 100000"
	ctx := testContext(t)
	for {
		mustExec(t, conn, "SYSTEM FLUSH LOGS")
		var n uint64
		err := conn.QueryRow(ctx, logged).Scan(&n)
		if err == nil && n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the query is not in system.query_log (last read: %d rows, error %v)", n, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
