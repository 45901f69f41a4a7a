package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chdb"
)

// Settled reports what keeps h from being settled for want distinct
// events: every replica of hosts reachable, holding want events once each,
// its watermark at the stream's last sequence and its replication queue
// empty; the stream led, with every follower current. Empty means settled.
func (h Health) Settled(want uint64) []string {
	var out []string
	if h.StreamErr != nil {
		return []string{h.StreamErr.Error()}
	}
	if h.Stream.Leader == "" && len(h.Stream.Replicas) > 0 {
		out = append(out, "stream: no leader")
	}
	for _, p := range h.Stream.Replicas {
		if !p.Current || p.Offline {
			out = append(out, fmt.Sprintf("stream replica %s: not current (lag %d, offline %t)", p.Name, p.Lag, p.Offline))
		}
	}
	for _, r := range h.Replicas {
		switch {
		case r.Err != nil:
			out = append(out, fmt.Sprintf("%s: %v", r.Addr, r.Err))
		case r.Events != want || r.Distinct != want:
			out = append(out, fmt.Sprintf("%s: %d events (%d distinct), want %d", r.Addr, r.Events, r.Distinct, want))
		case r.Watermark != h.Stream.LastSeq:
			out = append(out, fmt.Sprintf("%s: watermark %d, stream last sequence %d", r.Addr, r.Watermark, h.Stream.LastSeq))
		case r.Queue != 0:
			out = append(out, fmt.Sprintf("%s: replication queue %d", r.Addr, r.Queue))
		}
	}
	return out
}

// Settle polls the health of the cluster until it is settled for want
// distinct events (Health.Settled) and returns it, or returns the last
// health read and an error naming what was not settled when ctx ends.
func Settle(ctx context.Context, js jetstream.JetStream, hosts []chdb.Config, want uint64) (Health, error) {
	for {
		h := Read(ctx, js, hosts)
		missing := h.Settled(want)
		if len(missing) == 0 {
			return h, nil
		}
		select {
		case <-ctx.Done():
			return h, fmt.Errorf("cluster: not settled: %s", strings.Join(missing, "; "))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
