package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/cluster"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
)

const clusterUsage = `usage: cds cluster <action> [flags]

  init     create the credentials of every agency of the registry, the admin
           and the services in --data (credentials.json), as cds up does:
           the processes of a cluster on one host then share them
  wait     wait until the event stream has a leader and every replica of it
           is current (--timeout), e.g. before starting the projectors
  status   the event stream's leader and replicas, each ClickHouse replica's
           events and replication lag, the projector lease holder
           (--nats: every server URL, --clickhouse: a DSN naming every replica;
           --run DIR names holders after the pid files NAME.pid in DIR)

deployments/cluster/local runs both; see docs/cluster.md.`

// runCluster runs the helpers of deployments/cluster/local.
func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println(clusterUsage)
		return nil
	}
	action := args[0]
	fs, c := newFlags("cluster " + action)
	runDir := fs.String("run", "", "status: directory of pid files NAME.pid, to name the lease holder")
	timeout := fs.Duration("timeout", 2*time.Minute, "wait: how long to wait")
	if err := c.parse(fs, args[1:]); err != nil {
		return err
	}
	switch action {
	case "init":
		reg, _, err := c.cfg.Domain()
		if err != nil {
			return err
		}
		if _, _, err := credentials.Ensure(c.cfg.DataDir, reg.Codes()); err != nil {
			return fmt.Errorf("cluster init: %w", err)
		}
		return nil
	case "wait":
		return clusterWait(ctx, c, *timeout)
	case "status":
		return clusterStatus(ctx, os.Stdout, c, *runDir)
	}
	return fmt.Errorf("cluster: unknown action %q (init, wait, status)", action)
}

// adminJetStream connects to the servers of --nats as the admin of the
// credentials in --data.
func adminJetStream(c *common) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := cluster.ConnectAdmin(c.cfg.NATSClientURL(), c.cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// clusterWait waits until the event stream is placed and led, with every
// replica current.
func clusterWait(ctx context.Context, c *common, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, js, err := adminJetStream(c)
	if err != nil {
		return fmt.Errorf("cluster wait: %w", err)
	}
	defer nc.Close()
	for {
		// A request made while the cluster elects its leaders may get no
		// answer at all: each attempt has a deadline of its own.
		try, stop := context.WithTimeout(ctx, 5*time.Second)
		s, err := cluster.StreamInfo(try, js, natsserver.EventsStream)
		stop()
		if err == nil && s.Leader != "" && len((cluster.Health{Stream: s}).Settled(0)) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("leader %q, followers %+v", s.Leader, s.Replicas)
			}
			return fmt.Errorf("cluster wait: stream %s not ready after %s: %w", natsserver.EventsStream, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func clusterStatus(ctx context.Context, w io.Writer, c *common, runDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, js, err := adminJetStream(c)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	defer nc.Close()
	hosts, err := cluster.Hosts(c.cfg.ClickHouseAddr, c.cfg.ClickHousePassword)
	if err != nil {
		return err
	}
	h := cluster.Read(ctx, js, hosts)
	if h.StreamErr != nil {
		fmt.Fprintf(w, "NATS: %v\n", h.StreamErr)
	} else {
		s := h.Stream
		leader := s.Leader
		if leader == "" {
			leader = "none (single server, or no quorum)"
		}
		fmt.Fprintf(w, "NATS stream %s: leader %s, %d messages, last sequence %d\n", s.Name, leader, s.Msgs, s.LastSeq)
		for _, p := range s.Replicas {
			state := "catching up"
			switch {
			case p.Offline:
				state = "offline"
			case p.Current:
				state = "current"
			}
			fmt.Fprintf(w, "  replica %s: %s, lag %d, last seen %s ago\n", p.Name, state, p.Lag, p.Active.Round(time.Millisecond))
		}
	}
	fmt.Fprintln(w, "ClickHouse replicas:")
	for _, r := range h.Replicas {
		if r.Err != nil {
			fmt.Fprintf(w, "  %s: unreachable: %v\n", r.Addr, r.Err)
			continue
		}
		repl := "not replicated"
		if r.Replicated {
			repl = fmt.Sprintf("replication queue %d, delay %s", r.Queue, r.Delay)
			if r.Readonly {
				repl += ", READ-ONLY (no ZooKeeper session)"
			}
		}
		fmt.Fprintf(w, "  %s: %d events (%d distinct ids), watermark %d, %s\n", r.Addr, r.Events, r.Distinct, r.Watermark, repl)
	}
	if h.LeaseErr != nil {
		fmt.Fprintf(w, "projector lease: %v\n", h.LeaseErr)
		return nil
	}
	if len(h.Leases) == 0 {
		fmt.Fprintln(w, "projector lease: none taken yet")
	}
	names := map[int]string{}
	if runDir != "" {
		names = cluster.PidNames(runDir)
	}
	for _, l := range h.Leases {
		who := l.Holder
		if n, ok := names[l.Pid()]; ok {
			who = n + " (" + l.Holder + ")"
		}
		state := "held by " + who
		if l.Released {
			state = "released by " + who
		}
		fmt.Fprintf(w, "projector lease %s: %s, epoch %d, renewed %s ago\n", l.Key, state, l.Epoch, l.Age.Round(time.Millisecond))
	}
	return nil
}
