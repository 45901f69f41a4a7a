// Package zktest starts a throwaway ZooKeeper for integration tests.
package zktest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/bacgiang/cds/internal/zkserver"
)

// Start runs a standalone ZooKeeper on a free loopback port with its data in
// tb.TempDir() and stops it in tb.Cleanup. It fails the test, never skips
// it, when ZooKeeper is not installed.
func Start(tb testing.TB) *zkserver.Server {
	tb.Helper()
	var err error
	for range 5 {
		ln, lerr := net.Listen("tcp", "127.0.0.1:0")
		if lerr != nil {
			tb.Fatalf("zktest: pick a free port: %v", lerr)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		var srv *zkserver.Server
		srv, err = zkserver.Start(context.Background(), zkserver.Config{
			Dir:  tb.TempDir(),
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		})
		switch {
		case err == nil:
			tb.Cleanup(func() {
				if err := srv.Close(); err != nil {
					tb.Errorf("zktest: %v", err)
				}
			})
			return srv
		case errors.Is(err, zkserver.ErrNotInstalled):
			tb.Fatalf("zktest: %v\nZooKeeper is not installed: run `make test`, which installs it (Debian: apt-get install zookeeper).", err)
		}
	}
	tb.Fatalf("zktest: %v", err)
	return nil
}
