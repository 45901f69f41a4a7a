package history_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/app/apptest"
	"github.com/bacgiang/cds/internal/credentials"
)

// refreshEvery is the refresh interval of the test systems: short, so that
// polls for a late event's effect end quickly.
const refreshEvery = 200 * time.Millisecond

// changeShows is how soon a change of the cells must show in the history
// (docs/analysts.md); on an idle machine it takes the interval and a few
// seconds of recomputation.
const changeShows = 60 * time.Second

// mustSystem runs NATS, projector, API and the history refresher against a
// fresh clickhouse-server.
func mustSystem(tb testing.TB) *app.System {
	tb.Helper()
	sys := apptest.Start(tb, slog.LevelInfo, func(cfg *app.Config) { cfg.HistoryInterval = refreshEvery })
	if sys.History == nil {
		tb.Fatal("the API process runs no history refresher")
	}
	return sys
}

// publisher publishes events over NATS, each as the agency of its body.
type publisher struct {
	sys   *app.System
	conns map[string]jetstream.JetStream
}

func (p *publisher) publish(tb testing.TB, lines ...string) {
	tb.Helper()
	creds, err := credentials.LoadFile(p.sys.Config.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range lines {
		var env struct{ ID, Agency, Type string }
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			tb.Fatal(err)
		}
		js, ok := p.conns[env.Agency]
		if !ok {
			nc, err := nats.Connect(p.sys.NATSURL(), nats.UserInfo(env.Agency, creds.Agencies[env.Agency].NATSPassword), nats.CustomInboxPrefix("_INBOX."+env.Agency))
			if err != nil {
				tb.Fatalf("connect as %s: %v", env.Agency, err)
			}
			tb.Cleanup(nc.Close)
			if js, err = jetstream.New(nc); err != nil {
				tb.Fatal(err)
			}
			p.conns[env.Agency] = js
		}
		msg := nats.NewMsg("cds.events." + env.Agency + "." + env.Type)
		msg.Data = []byte(line)
		msg.Header.Set(jetstream.MsgIDHeader, env.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.PublishMsg(ctx, msg)
		cancel()
		// The fixture holds events the NATS gate refuses (a district's after
		// 2025-06-30): an error PubAck (400) is their expected answer.
		var apiErr *jetstream.APIError
		if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == 400) {
			tb.Fatalf("publish %s: %v", env.ID, err)
		}
	}
	apptest.WaitCaughtUp(tb, p.sys)
}

// eventually polls check until it returns nil, failing the test with its
// last error at the deadline.
func eventually(tb testing.TB, within time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond) // poll period; the deadline bounds the wait
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-9
}

func fmtFloat(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
