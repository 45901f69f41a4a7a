package natsserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/deadletter"
)

// Per-agency limits over NATS, the same defaults as over HTTP (ingest).
const (
	DefaultRate  = 100  // events per second, sustained
	DefaultBurst = 2000 // events at once
)

// Limit is what one agency may publish over NATS: a token bucket of Burst
// events refilled at Rate events per second.
type Limit struct {
	Rate  float64
	Burst int
}

// Limits bound what each agency may publish over NATS. A message beyond its
// agency's limit is not stored: its publisher gets an error PubAck (code
// 429) and should retry later, as over HTTP.
type Limits struct {
	// Rate is the default sustained rate per agency, events per second:
	// 0 means DefaultRate, a negative value no limit.
	Rate float64
	// Burst is the default bucket size; 0 means DefaultBurst.
	Burst int
	// Agencies overrides the default for some agencies (zero fields take
	// the default).
	Agencies map[string]Limit
}

// of returns the limit of agency.
func (l Limits) of(agency string) Limit {
	out := Limit{Rate: l.Rate, Burst: l.Burst}
	if o, ok := l.Agencies[agency]; ok {
		if o.Rate != 0 {
			out.Rate = o.Rate
		}
		if o.Burst != 0 {
			out.Burst = o.Burst
		}
	}
	if out.Rate == 0 {
		out.Rate = DefaultRate
	}
	if out.Burst == 0 {
		out.Burst = DefaultBurst
	}
	return out
}

// Per-agency buffers of the gate: a flood fills its own agency's buffer, and
// what does not fit is dropped (its publisher gets no PubAck and retries),
// while the other agencies' messages keep flowing.
const (
	gatePendingMsgs  = 4096
	gatePendingBytes = 16 << 20
)

// gate receives every message an agency publishes (on the ingress subjects
// of the cds account, accounts.go), applies the agency's limit and
// republishes it on its event subject, where CDS_EVENTS stores it. Each
// agency has its own subscription, so its own goroutine and buffer.
//
// nats-server lets no client publish with a reply subject of its service
// imports (_R_.…), so the gate publishes with its own reply subject,
// replyPrefix + the original one, and relays the PubAck that arrives there.
//
// In a cluster every node runs a gate (docs/operations.md, "A NATS
// cluster"). The agency accounts of a node lead to its own gate's ingress
// subjects (cds.ingress.<node>.…, accounts.go), so each message passes
// exactly one gate, the one of the node its publisher is connected to, and
// an agency's limit holds per node: a connection (nats.go keeps one server
// at a time) gets the agency's rate; an agency connected to k nodes at
// once may send up to k times it. Each gate's reply prefix is its own too,
// so a PubAck comes back only to the gate that sent the message on, which
// alone can reach the agency's reply subject (a service-import reply of its
// node).
type gate struct {
	nc          *nats.Conn
	acks        *nats.Subscription
	node        string // the token of this node's ingress subjects
	replyPrefix string // gateReplyPrefix + node + "."
	limits      Limits
	check       Check // nil: every message passes
	log         *slog.Logger

	mu    sync.Mutex
	lanes map[string]*lane // by sending agency
}

// lane is one agency's subscription and bucket.
type lane struct {
	sub     *nats.Subscription
	bucket  *rate.Limiter // nil: no limit
	refused atomic.Uint64
	logged  time.Time // last refusal logged; only the lane's goroutine uses it
}

// startGate connects to ns in process as the gate user of loc.
func startGate(ns *server.Server, loc local, limits Limits, check Check, log *slog.Logger) (*gate, error) {
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(gateUser, loc.gatePassword), nats.Name(gateUser),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats gate: messages dropped", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("nats gate", "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("natsserver: gate: %w", err)
	}
	g := &gate{nc: nc, limits: limits, check: check, log: log, lanes: map[string]*lane{},
		node: loc.node, replyPrefix: gateReplyPrefix + loc.node + "."}
	g.acks, err = nc.Subscribe(g.replyPrefix+">", g.relay)
	if err == nil {
		err = g.acks.SetPendingLimits(-1, -1)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsserver: gate: %w", err)
	}
	return g, nil
}

// gateReplyPrefix starts the reply subjects of the messages the gate
// republishes: _GATE.<node>.<the reply subject of the agency's message>.
const gateReplyPrefix = "_GATE."

// relay sends a PubAck on to the reply subject of the agency's message.
func (g *gate) relay(m *nats.Msg) {
	to, ok := strings.CutPrefix(m.Subject, g.replyPrefix)
	if !ok || to == "" {
		return
	}
	out := nats.Msg{Subject: to, Header: m.Header, Data: m.Data}
	if err := g.nc.PublishMsg(&out); err != nil {
		g.log.Warn("nats gate: relay PubAck", "err", err)
	}
}

// sync gives every agency of agencies a lane and closes the lanes of the
// others (revoked agencies).
func (g *gate) sync(agencies []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for code, l := range g.lanes {
		if !slices.Contains(agencies, code) {
			if err := l.sub.Unsubscribe(); err != nil {
				return fmt.Errorf("natsserver: gate: close lane of %s: %w", code, err)
			}
			delete(g.lanes, code)
		}
	}
	return g.openLocked(agencies)
}

// open gives every agency of agencies a lane, before its account exists, so
// that its first message finds the gate.
func (g *gate) open(agencies []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.openLocked(agencies)
}

func (g *gate) openLocked(agencies []string) error {
	for _, code := range agencies {
		if _, ok := g.lanes[code]; ok {
			continue
		}
		l := &lane{}
		if lim := g.limits.of(code); lim.Rate > 0 {
			l.bucket = rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst)
		}
		sub, err := g.nc.Subscribe(ingressSubject(g.node, code, ">"), func(m *nats.Msg) { g.pass(code, l, m) })
		if err != nil {
			return fmt.Errorf("natsserver: gate: lane of %s: %w", code, err)
		}
		if err := sub.SetPendingLimits(gatePendingMsgs, gatePendingBytes); err != nil {
			return fmt.Errorf("natsserver: gate: lane of %s: %w", code, err)
		}
		l.sub = sub
		g.lanes[code] = l
	}
	return g.nc.Flush()
}

// pass republishes m on its event subject if sender's bucket allows it and
// the event is valid.
func (g *gate) pass(sender string, l *lane, m *nats.Msg) {
	_, subject, ok := parseIngress(m.Subject)
	if !ok {
		return
	}
	if l.bucket != nil && !l.bucket.Allow() {
		g.refuse(sender, l, m)
		return
	}
	if g.check != nil {
		if err := g.check(subject, m.Data); err != nil {
			g.invalid(sender, subject, m, err)
			return
		}
	}
	out := nats.Msg{Subject: subject, Header: m.Header, Data: m.Data}
	if m.Reply != "" {
		out.Reply = g.replyPrefix + m.Reply
	}
	if err := g.nc.PublishMsg(&out); err != nil {
		g.log.Warn("nats gate: republish", "agency", sender, "subject", subject, "err", err)
	}
}

// refusal is the error PubAck of a message beyond its agency's limit, in
// the form JetStream clients read (nats.go returns it as a *jetstream.APIError).
type refusal struct {
	Error struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

func (g *gate) refuse(sender string, l *lane, m *nats.Msg) {
	n := l.refused.Add(1)
	lim := g.limits.of(sender)
	if now := time.Now(); now.Sub(l.logged) >= 10*time.Second {
		l.logged = now
		g.log.Warn("nats publish above the agency's limit: not stored", "agency", sender,
			"rate", lim.Rate, "burst", lim.Burst, "refused_total", n)
	}
	if m.Reply == "" {
		return
	}
	var r refusal
	r.Error.Code = 429
	r.Error.Description = fmt.Sprintf("rate limited: agency %s may publish %g events/s, bursts of %d; retry later", sender, lim.Rate, lim.Burst)
	b, _ := json.Marshal(r) // a struct of strings and ints always marshals
	if err := g.nc.Publish(m.Reply, b); err != nil {
		g.log.Warn("nats gate: refusal", "agency", sender, "err", err)
	}
}

// Check validates an event published on subject (cds.events.<agency>.<type>)
// as ingest does: it returns nil, or why the event can never be valid
// (an *events.Error names the reason and the field).
type Check func(subject string, data []byte) error

// invalid refuses an event that check rejected: it is not stored in the
// log, so its id stays free for the corrected event (JetStream's duplicate
// window would answer duplicate to it otherwise). The event is
// dead-lettered, filed under its sender (GET /v1/dlq), and the publisher
// gets an error PubAck (code 400) naming the reason and the field.
func (g *gate) invalid(sender, subject string, m *nats.Msg, cause error) {
	why := deadletter.Cause{Reason: string(events.ReasonMalformed), Err: cause}
	var ee *events.Error
	if errors.As(cause, &ee) {
		why.Reason, why.Field = string(ee.Reason), ee.Field
	}
	letter := deadletter.RefusedAtDoor(m.Data, deadletter.Door{
		Source: deadletter.SourceNATS, Sender: sender, Subject: subject, Header: m.Header, At: time.Now(),
	}, why)
	if err := g.nc.PublishMsg(letter); err != nil {
		g.log.Warn("nats gate: dead-letter a refused event", "agency", sender, "subject", subject, "err", err)
	}
	g.log.Info("nats event refused at the gate: not stored", "agency", sender, "subject", subject, "reason", why.Reason, "field", why.Field)
	if m.Reply == "" {
		return
	}
	var r refusal
	r.Error.Code = 400
	r.Error.Description = fmt.Sprintf("%s: not stored (fix it and send it again with the same id; see GET /v1/dlq)", cause)
	b, _ := json.Marshal(r) // a struct of strings and ints always marshals
	if err := g.nc.Publish(m.Reply, b); err != nil {
		g.log.Warn("nats gate: refusal", "agency", sender, "err", err)
	}
}

// refused returns, per agency, the messages refused since start.
func (g *gate) refused() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]uint64, len(g.lanes))
	for code, l := range g.lanes {
		out[code] = l.refused.Load()
	}
	return out
}

func (g *gate) close() {
	g.nc.Close()
}
