package chtest_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// recorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as the real one does.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartFailsWithoutBinary(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		chtest.StartConfig(r, chserver.Config{Binary: filepath.Join(t.TempDir(), "clickhouse-server")})
	}()
	<-done
	if !strings.Contains(r.fatal, "make test") {
		t.Fatalf("Fatalf message = %q, want one that says to run make test", r.fatal)
	}
}

func TestStartAndOpen(t *testing.T) {
	t.Parallel()
	srv := chtest.Start(t)
	if !srv.Managed() {
		t.Fatal("chtest.Start returned an adopted server")
	}
	conn := chtest.Open(t, srv.Addr())
	// SQL that 18.16 and current servers both run, with no setting sent.
	if err := conn.Exec(t.Context(), "CREATE TABLE default.lc (s String) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(t.Context(), "INSERT INTO default.lc SELECT 'bg-vietyen'"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := conn.QueryRow(t.Context(), "SELECT s FROM default.lc").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "bg-vietyen" {
		t.Fatalf("got %q, want bg-vietyen", got)
	}
}
