package app

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/credentials"
	"github.com/bacgiang/cds/ingest"
	"github.com/bacgiang/cds/natsserver"
)

// watchCredentials keeps the users of the embedded NATS server in step with
// <data>/credentials.hashes.json: cds agency add, rotate and revoke rewrite
// the file, and within credentials.DefaultPollInterval the server has the
// new users and has closed the connections of revoked or rotated ones. The
// file is the one source of truth, so this works whatever changed it and
// whether or not a server was running at the time, with no signal, PID file
// or NATS admin subject to secure.
func (s *System) watchCredentials(runCtx context.Context, srv *natsserver.Server) error {
	live, err := credentials.OpenLive(s.Config.DataDir, s.log.With("component", "credentials"))
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	// The server started with what Ensure returned; apply anything newer.
	if err := srv.ReloadUsers(live.Hashes()); err != nil {
		return err
	}
	s.Go(func() error { return live.Watch(runCtx, 0, srv.ReloadUsers) })
	return nil
}

// newIngest returns the POST /v1/events handler, publishing over nc. Agency
// tokens are checked against the hashes file as it is at each request, so
// a revoked token fails from the next request on.
func (s *System) newIngest(nc *nats.Conn) (*ingest.Handler, error) {
	cfg := s.Config.Ingest
	ackTimeout := cfg.AckTimeout
	if ackTimeout <= 0 {
		ackTimeout = ingest.DefaultAckTimeout
	}
	// Without a timeout, the futures of messages lost in a NATS outage would
	// stay pending for ever and finally stall every publish.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	tokens, err := credentials.OpenLive(s.Config.DataDir, s.log.With("component", "credentials"))
	if err != nil {
		return nil, fmt.Errorf("http tokens: %w", err)
	}
	known := func(code string) bool { _, ok := s.Registry.Unit(code); return ok }
	return ingest.New(cfg, js, tokens.CheckHTTPToken, known, s.Registry.MayReportFor, nil, s.log.With("component", "ingest"), s.Metrics), nil
}
