package projector

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestLostPullRequest: the projector's first pull requests never reach the
// server (as when one is sent while a new consumer's leader is being
// elected on a NATS cluster: TestCluster stalled so, with 77,720 events
// queued and nothing logged). The consumer then sends no heartbeat; the
// projector notices within 2 heartbeats, pulls again and folds everything.
// With the library's default heartbeat (checked only within a single Next
// call of 30 s) it waited for ever.
func TestLostPullRequest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	load := projtest.Generate(17, 2000, registry.Sample().Codes())
	last, err := projtest.Publish(ctx, h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	// The projector's connection goes through a proxy that drops its
	// first two pull requests (one more would fail the consume and
	// recover: also exact, but not what this test is about).
	proxy := newPullDropper(t, h.natsAddr, 2)
	hp := *h
	hp.js = natstest.JetStream(t, "nats://"+proxy.addr, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	r := hp.start(t, Config{})
	waitFor(t, time.Minute, "the load folded past the lost pull requests", func() bool { return r.p.Watermark() >= last })
	if n := proxy.dropped.Load(); n != 2 {
		t.Fatalf("the proxy dropped %d pull requests, want 2", n)
	}
	if got := metric(t, r.reg, "cds_projector_pulls_renewed_total"); got < 2 {
		t.Errorf("cds_projector_pulls_renewed_total = %v, want ≥ 2", got)
	}
	if got := metric(t, r.reg, "cds_projector_recoveries_total"); got != 1 {
		t.Errorf("cds_projector_recoveries_total = %v, want 1 (renewed pulls, no recovery)", got)
	}
	h.check(t, load)
}

// pullDropper is a TCP proxy in front of a NATS server that drops the
// first n pull requests (PUB or HPUB to $JS.API.CONSUMER.MSG.NEXT.>) its
// clients send, and forwards everything else.
type pullDropper struct {
	addr    string
	left    atomic.Int64
	dropped atomic.Int64
}

func newPullDropper(t *testing.T, server string, n int64) *pullDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &pullDropper{addr: ln.Addr().String()}
	d.left.Store(n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", server)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(c, s); c.Close() }()
			go func() { defer wg.Done(); d.forward(s, c); s.Close() }()
		}
	}()
	return d
}

// forward copies the client's protocol to the server frame by frame,
// leaving out the pull requests it is to drop.
func (d *pullDropper) forward(dst io.Writer, src io.Reader) {
	r := bufio.NewReader(src)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		frame := []byte(line)
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "PUB" || f[0] == "HPUB") {
			size, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return
			}
			payload := make([]byte, size+2) // and its CRLF
			if _, err := io.ReadFull(r, payload); err != nil {
				return
			}
			frame = append(frame, payload...)
			if strings.HasPrefix(f[1], "$JS.API.CONSUMER.MSG.NEXT.") && d.left.Add(-1) >= 0 {
				d.dropped.Add(1)
				continue
			}
		}
		if _, err := dst.Write(frame); err != nil {
			return
		}
	}
}
