package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/ingest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/natsserver"
)

// watchCredentials keeps the users of the embedded NATS server in step with
// <data>/credentials.hashes.json, which cds agency add, rotate and revoke
// rewrite. Two ways lead to the same Live.Sync:
//
//   - cds agency asks on natsserver.CredentialsReloadSubject, as the admin
//     user, and gets the answer once the server has the new users and has
//     closed the connections of revoked or rotated agencies: the command
//     returns only when the change is in force;
//   - the file is looked at every credentials.DefaultPollInterval, so a
//     change made any other way (by hand, by a restored backup, by cds
//     agency while NATS was unreachable) applies too.
//
// The file stays the one source of truth; the request only says "now".
func (s *System) watchCredentials(runCtx context.Context, srv *natsserver.Server) error {
	logger := s.log.With("component", "credentials")
	live, err := credentials.OpenLive(s.Config.DataDir, logger)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	// The server started with what Ensure returned; apply anything newer.
	if err := srv.ReloadUsers(live.Hashes()); err != nil {
		return err
	}
	s.Go("credentials watch", func() error { return live.Watch(runCtx, 0, srv.ReloadUsers) })

	f, err := credentials.LoadFile(s.Config.DataDir)
	if err != nil || f.Admin.Password == "" {
		logger.Warn("no admin password in credentials.json: cds agency cannot ask this server to apply changes at once; it sees them within the poll interval", "poll", credentials.DefaultPollInterval)
		return nil
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv.Inner()), nats.Name("cds-credentials"),
		nats.UserInfo(f.Admin.User, f.Admin.Password), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("credentials: connect as %s: %w", f.Admin.User, err)
	}
	s.onClose(func(context.Context) error { nc.Close(); return nil })
	_, err = nc.Subscribe(natsserver.CredentialsReloadSubject, func(m *nats.Msg) {
		changed, err := live.Sync(srv.ReloadUsers)
		h := live.Hashes()
		r := ReloadReply{Changed: changed, Agencies: len(h.Agencies), Revoked: len(h.Revoked)}
		if err != nil {
			r.Error = err.Error()
			logger.Error("applying reloaded credentials", "err", err)
		}
		b, _ := json.Marshal(r)
		_ = m.Respond(b)
	})
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nc.Flush()
}

// ReloadReply is the answer of a cds NATS server on
// natsserver.CredentialsReloadSubject.
type ReloadReply struct {
	Changed  bool   `json:"changed"`  // the server applied a change now (false: it had already)
	Agencies int    `json:"agencies"` // agencies with credentials in force
	Revoked  int    `json:"revoked"`
	Error    string `json:"error,omitempty"`
}

// Errors of NotifyCredentials.
var (
	// ErrNoServer: no NATS server answered at the address; nothing to notify.
	ErrNoServer = errors.New("app: no NATS server at the address")
	// ErrNotApplied: a server was reached but did not apply the change.
	ErrNotApplied = errors.New("app: the NATS server did not apply the credentials")
)

// NotifyCredentials asks the cds NATS server of cfg (Config.NATSURL, else
// the embedded server's address) to apply the credentials of cfg.DataDir now,
// and returns its answer once it has. It connects as the admin user of
// <data>/credentials.json. ErrNoServer means that nothing answered (a server
// started later reads the files); ErrNotApplied, that a server answered but
// the change is not in force there.
func NotifyCredentials(ctx context.Context, cfg Config) (ReloadReply, string, error) {
	url := cfg.NATSClientURL()
	f, err := credentials.LoadFile(cfg.DataDir)
	if err != nil {
		return ReloadReply{}, url, fmt.Errorf("admin credentials: %w", err)
	}
	nc, err := connectDuringReload(ctx, url, nats.Name("cds-agency"), nats.UserInfo(f.Admin.User, f.Admin.Password),
		nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			return ReloadReply{}, url, fmt.Errorf("%w %s: %v", ErrNoServer, url, err)
		}
		return ReloadReply{}, url, fmt.Errorf("%w at %s: connect as %s: %v", ErrNotApplied, url, f.Admin.User, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, natsserver.CredentialsReloadSubject, nil)
	if err != nil {
		return ReloadReply{}, url, fmt.Errorf("%w at %s: %v", ErrNotApplied, url, err)
	}
	var r ReloadReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return r, url, fmt.Errorf("%w at %s: answer %q: %v", ErrNotApplied, url, m.Data, err)
	}
	if r.Error != "" {
		return r, url, fmt.Errorf("%w at %s: %s", ErrNotApplied, url, r.Error)
	}
	return r, url, nil
}

// reloadGrace is how long a refused connection is tried again: while
// nats-server applies new users and accounts (a reload, which the
// credentials watcher starts within 0.2 s of a change of the files), the
// connection of a user that exists before and after can be refused
// ("Authorization Violation") or closed in its handshake (a broken pipe).
const reloadGrace = 3 * time.Second

// connectDuringReload connects like nats.Connect, trying again for up to
// reloadGrace while a server answers but refuses or drops the connection.
// When no server listens it returns at once.
func connectDuringReload(ctx context.Context, url string, opts ...nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(reloadGrace)
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil || errors.Is(err, nats.ErrNoServers) || time.Now().After(deadline) {
			return nc, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newIngest returns the POST /v1/events handler, publishing over nc. Agency
// tokens are checked against the hashes file as it is at each request, so
// a revoked token fails from the next request on.
func (s *System) newIngest(nc *nats.Conn) (*ingest.Handler, ingest.Authenticator, error) {
	cfg := s.Config.Ingest
	ackTimeout := cfg.AckTimeout
	if ackTimeout <= 0 {
		ackTimeout = ingest.DefaultAckTimeout
	}
	// Without a timeout, the futures of messages lost in a NATS outage would
	// stay pending for ever and finally stall every publish.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	tokens, err := credentials.OpenLive(s.Config.DataDir, s.log.With("component", "credentials"))
	if err != nil {
		return nil, nil, fmt.Errorf("http tokens: %w", err)
	}
	return ingest.New(cfg, ingest.Deps{
		JetStream: js, Auth: tokens.CheckHTTPToken, Units: s.Registry, MayReport: s.Registry.MayReportFor,
		Logger: s.log.With("component", "ingest"), Registerer: s.Metrics,
	}), tokens.CheckHTTPToken, nil
}

// deadLetters opens CDS_DLQ at its first use, so that an API started before
// the streams exist (a cluster whose projector starts later) still starts.
type deadLetters struct {
	js jetstream.JetStream
	mu sync.Mutex
	st *deadletter.Store
}

// Newest lists refused events for GET /v1/dlq.
func (d *deadLetters) Newest(ctx context.Context, f deadletter.Filter, before uint64, limit int) ([]*deadletter.Letter, error) {
	d.mu.Lock()
	if d.st == nil {
		st, err := deadletter.Open(ctx, d.js)
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		d.st = st
	}
	st := d.st
	d.mu.Unlock()
	return st.Newest(ctx, f, before, limit)
}
