// Package chtest starts throwaway clickhouse-server instances for integration tests.
package chtest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/bacgiang/cds/internal/chserver"
)

// attempts is how often Start retries when a free port it picked was taken
// by another process before the server could bind it.
const attempts = 5

// Start runs a fresh clickhouse-server on free loopback ports with its data
// in tb.TempDir() and stops it in tb.Cleanup. It fails the test, never skips
// it, when the server binary is missing.
func Start(tb testing.TB) *chserver.Server {
	tb.Helper()
	return StartConfig(tb, chserver.Config{})
}

// StartConfig is Start with cfg as the base configuration (for example to
// set AnalystPassword). Dir, TCPAddr, HTTPAddr and NoAdopt are chosen by
// StartConfig.
func StartConfig(tb testing.TB, cfg chserver.Config) *chserver.Server {
	tb.Helper()
	cfg.NoAdopt = true
	var err error
	for range attempts {
		ports := freePorts(tb, 2)
		cfg.Dir = tb.TempDir()
		cfg.TCPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		cfg.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		var srv *chserver.Server
		srv, err = chserver.Start(context.Background(), cfg)
		switch {
		case err == nil:
			tb.Cleanup(func() {
				if err := srv.Close(); err != nil {
					tb.Errorf("chtest: %v", err)
				}
			})
			return srv
		case errors.Is(err, chserver.ErrNoBinary):
			tb.Fatalf("chtest: %v\nThe ClickHouse server is not installed: run `make test`, which installs it (Debian: apt-get install clickhouse-server).", err)
		case errors.Is(err, chserver.ErrAddrInUse):
			continue // lost a race for a free port; pick new ones
		default:
			tb.Fatalf("chtest: %v", err)
		}
	}
	tb.Fatalf("chtest: no free ports after %d attempts: %v", attempts, err)
	return nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("chtest: pick a free port: %v", err)
		}
		defer ln.Close() // held until all are picked, so they differ
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Open connects to the server at addr as the default user over the native
// protocol and closes the connection in tb.Cleanup. It sends no setting:
// current servers refuse 18.16's allow_experimental_low_cardinality_type as
// unknown, and cds uses no LowCardinality.
func Open(tb testing.TB, addr string) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.Native,
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		tb.Fatalf("chtest: open %s: %v", addr, err)
	}
	tb.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		tb.Fatalf("chtest: ping %s: %v", addr, err)
	}
	return conn
}
