// Package ingest is the HTTP gateway for agency systems: POST /v1/events
// takes one JSON event or an NDJSON batch, authenticates the agency by its
// bearer token, validates every event with the projector's rules, publishes
// the valid ones to JetStream with Nats-Msg-Id = event id and answers per
// event once JetStream has acknowledged them.
//
// # Answers
//
// Whole-request refusals carry {"error": {"code", "message"}}: 401
// unauthorized (no or bad token), 429 rate_limited (with Retry-After), 415
// unsupported_media_type, 413 too_large (body or batch above the limits),
// 400 invalid (empty body, a JSON array). Nothing of such a request is stored.
//
// Otherwise every event is decided on its own and the answer lists each one
// (Response). A batch is not all-or-nothing: the valid events are stored even
// when others are refused, because every event is independent and a retry is
// harmless (the same id is never stored or counted twice). A client fixes the
// refused lines and sends the whole batch again; what was stored comes back
// as duplicate. The status is that of the most serious outcome: 503 when
// JetStream did not acknowledge some event (retry later), else 403 when some
// event is for an agency the token may not speak for, else 413 when some
// event is above MaxEventBytes, else 400 when some event is invalid, else 202
// when at least one event was stored, else 200 (all duplicates).
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/authguard"
	"github.com/bacgiang/cds/internal/httpx"
)

// Defaults of Config.
const (
	DefaultMaxEventBytes = 64 << 10
	DefaultMaxBatch      = 1000
	DefaultMaxBodyBytes  = 8 << 20
	DefaultMaxFuture     = 24 * time.Hour
	DefaultAckTimeout    = 10 * time.Second
	// DefaultRate, in events per second per agency, is far above what an
	// agency system produces (the whole province sends well under 100
	// events/s) and still lets one agency replay a backlog of 360,000 events
	// an hour; a bulk load goes faster over NATS.
	DefaultRate = 100
	// DefaultBurst lets an agency send two full batches at once.
	DefaultBurst       = 2 * DefaultMaxBatch
	DefaultMaxInFlight = 4
)

// Config limits what one request, and one agency, may send.
type Config struct {
	MaxEventBytes int           // bytes of one event; default DefaultMaxEventBytes (64 KiB)
	MaxBatch      int           // events per request; default DefaultMaxBatch (1000)
	MaxBodyBytes  int64         // bytes of a request body; default DefaultMaxBodyBytes (8 MiB)
	MaxFuture     time.Duration // how far occurred_at may be ahead of now; default 24h
	AckTimeout    time.Duration // wait for JetStream (room to publish, then acks) per request; default 10s
	// Rate is each agency's sustained rate in events per second (every
	// line of a request counts, valid or not); 0 means DefaultRate and a
	// negative value turns rate limiting off.
	Rate float64
	// Burst is how many events an agency may send at once after a pause;
	// default DefaultBurst, and never less than MaxBatch.
	Burst int
	// MaxInFlight is how many requests of one agency may be in progress at
	// once; default DefaultMaxInFlight, negative for no limit.
	MaxInFlight int
	// Agencies overrides Rate and Burst for some agencies (a zero field
	// takes the default). cds applies the same limits over NATS
	// (docs/security.md).
	Agencies map[string]Limit
}

// Limit is one agency's rate, events per second (negative: no limit), and
// burst.
type Limit struct {
	Rate  float64
	Burst int
}

// LimitOf returns the rate and burst of agency, defaults applied.
func (c Config) LimitOf(agency string) Limit {
	c = c.withDefaults()
	out := Limit{Rate: c.Rate, Burst: c.Burst}
	if o, ok := c.Agencies[agency]; ok {
		if o.Rate != 0 {
			out.Rate = o.Rate
		}
		if o.Burst > 0 {
			out.Burst = max(o.Burst, c.MaxBatch)
		}
	}
	return out
}

func (c Config) withDefaults() Config {
	if c.MaxEventBytes <= 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxFuture <= 0 {
		c.MaxFuture = DefaultMaxFuture
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	c.Burst = max(c.Burst, c.MaxBatch)
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return c
}

// Authenticator maps a bearer token to an agency code.
type Authenticator func(token string) (agency string, ok bool)

// Handler serves POST /v1/events.
type Handler struct {
	guard     *authguard.Guard // failed tokens per source address
	cfg       Config
	js        jetstream.JetStream
	auth      Authenticator
	units     events.Units
	mayReport func(agency, unit string) bool
	now       func() time.Time
	log       *slog.Logger
	limits    *limiter

	requests   *prometheus.CounterVec
	events     *prometheus.CounterVec
	rejections *prometheus.CounterVec
}

// Deps are what the handler works with, as the API's Deps (one constructor
// shape for every component: a Config with defaults, then Deps).
type Deps struct {
	// JetStream publishes accepted events into the log.
	JetStream jetstream.JetStream
	// Auth maps a bearer token to its agency.
	Auth Authenticator
	// Units is the registry the rules ask (events.Rules); nil accepts any
	// agency and type.
	Units events.Units
	// MayReport reports whether an agency may send events for a unit
	// (itself, or the units it reports for); nil allows only itself.
	MayReport func(agency, unit string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger may be nil (no logs); Registerer may be nil (no metrics).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// New returns the ingest handler.
func New(cfg Config, deps Deps) *Handler {
	now, logger := deps.Now, deps.Logger
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	h := &Handler{guard: authguard.New(logger), cfg: cfg, js: deps.JetStream, auth: deps.Auth, units: deps.Units, mayReport: deps.MayReport, now: now, log: logger, limits: newLimiter(cfg),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_ingest_requests_total", Help: "POST /v1/events requests, by HTTP status.",
		}, []string{"status"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_ingest_events_total", Help: "Events received over HTTP, by outcome (accepted, duplicate, rejected).",
		}, []string{"outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_ingest_rejected_events_total", Help: "Events refused over HTTP, by reason.",
		}, []string{"reason"}),
	}
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(h.requests, h.events, h.rejections)
	}
	return h
}

// Config returns the configuration in force, defaults applied.
func (h *Handler) Config() Config { return h.cfg }

// Event outcomes of Result.Status.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"
)

// Reasons of whole-request and per-event refusals that are not about the
// event's content (see events.Reason for those).
const (
	ReasonUnavailable events.Reason = "unavailable" // JetStream did not store the event: retry
)

// Result is the answer for one event of a request.
type Result struct {
	Index  int           `json:"index"` // position among the events of the request, from 0
	Line   int           `json:"line"`  // line of the body where the event starts, from 1
	ID     string        `json:"id,omitempty"`
	Status string        `json:"status"` // accepted, duplicate, rejected
	Error  *events.Error `json:"error,omitempty"`
	Seq    uint64        `json:"seq,omitempty"` // stream sequence when accepted or duplicate
}

// Response is the body of every answer to POST /v1/events that got as far
// as looking at the events.
type Response struct {
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	Rejected   int      `json:"rejected"`
	Results    []Result `json:"results"`
}

// fail refuses the whole request with code (its status from httpx.Status).
func (h *Handler) fail(w http.ResponseWriter, code, msg string) {
	h.writeJSON(w, httpx.Status(code), httpx.Body{Error: httpx.Error{Code: code, Message: msg}})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agency, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if !h.limits.enter(agency) {
		w.Header().Set("Retry-After", "1")
		h.fail(w, httpx.CodeRateLimited, fmt.Sprintf("more than %d requests of %s in progress at once; wait for the answers before sending more", h.cfg.MaxInFlight, agency))
		return
	}
	defer h.limits.leave(agency)
	if d := h.limits.wait(agency, h.now()); d > 0 {
		h.rateLimited(w, agency, d)
		return
	}
	if msg := checkContentType(r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding")); msg != "" {
		h.fail(w, httpx.CodeUnsupportedMedia, msg)
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.tooLarge(w)
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.tooLarge(w)
			return
		}
		h.fail(w, httpx.CodeInvalid, "reading the request body: "+err.Error())
		return
	}
	parts, err := splitBody(body)
	switch {
	case err != nil:
		h.fail(w, httpx.CodeInvalid, err.Error())
		return
	case len(parts) == 0:
		h.fail(w, httpx.CodeInvalid, "empty body: expected one JSON event or NDJSON (one event per line)")
		return
	case len(parts) > h.cfg.MaxBatch:
		h.fail(w, httpx.CodeTooLarge, fmt.Sprintf("%d events in one request; the limit is %d: split the batch", len(parts), h.cfg.MaxBatch))
		return
	}
	if d := h.limits.take(agency, len(parts), h.now()); d > 0 {
		h.rateLimited(w, agency, d)
		return
	}
	resp, status := h.process(r.Context(), agency, parts)
	h.writeJSON(w, status, resp)
}

// readBody reads a request body of size bytes (-1 when unknown) in one
// allocation when the size is known, instead of io.ReadAll's doublings.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// authenticate answers 401 unless the request carries the bearer token of an agency.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := httpx.Bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cds"`)
		h.fail(w, httpx.CodeUnauthorized, "missing Authorization: Bearer <agency token> (the http_token of the agency in credentials.json)")
		return "", false
	}
	// Guessing tokens: past a budget of failures, an address's attempts are
	// refused unchecked (docs/security.md).
	source := authguard.SourceOf(r)
	if d := h.guard.Blocked(source); d > 0 {
		w.Header().Set("Retry-After", authguard.RetryAfter(d))
		h.fail(w, httpx.CodeRateLimited, "too many failed authentications from this address: retry after "+authguard.RetryAfter(d)+" s")
		return "", false
	}
	agency, ok := h.auth(token)
	if !ok {
		h.guard.Fail(source, "agency token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="cds", error="invalid_token"`)
		h.fail(w, httpx.CodeUnauthorized, "the bearer token is not valid (unknown, rotated or revoked): ask the operators for the agency's current http_token")
		return "", false
	}
	return agency, true
}

func (h *Handler) rateLimited(w http.ResponseWriter, agency string, d time.Duration) {
	secs := retryAfter(d)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.log.Info("rate limited", "agency", agency, "retry_after_s", secs)
	lim := h.cfg.LimitOf(agency)
	h.fail(w, httpx.CodeRateLimited, fmt.Sprintf("%s is above its rate of %g events/s (bursts up to %d): retry after %d s; nothing of this request was stored", agency, lim.Rate, lim.Burst, secs))
}

func (h *Handler) tooLarge(w http.ResponseWriter) {
	h.fail(w, httpx.CodeTooLarge, fmt.Sprintf("request body above %d bytes; send at most %d events of at most %d bytes each per request", h.cfg.MaxBodyBytes, h.cfg.MaxBatch, h.cfg.MaxEventBytes))
}

// publisher publishes the valid events of one request, then collects
// JetStream's acknowledgements. It allocates the messages of a request in
// one slice and reuses subjects, because per-event garbage is what a busy
// ingest server mostly spends its GC on.
type publisher struct {
	js       jetstream.JetStream
	deadline time.Time // of the whole request's publishing and acks
	msgs     []nats.Msg
	ids      []string // backing of each message's Nats-Msg-Id header value
	futures  []pending
	subjects []subjectOf
}

type pending struct {
	idx int
	f   jetstream.PubAckFuture
}

type subjectOf struct{ agency, typ, subject string }

func newPublisher(js jetstream.JetStream, n int, deadline time.Time) *publisher {
	return &publisher{js: js, deadline: deadline, msgs: make([]nats.Msg, n), ids: make([]string, n), futures: make([]pending, 0, n)}
}

// subject returns the subject of e, built once per agency and type of a request.
func (p *publisher) subject(e *events.Event) string {
	for _, s := range p.subjects {
		if s.agency == e.Agency && s.typ == e.Type {
			return s.subject
		}
	}
	s := e.Subject()
	if len(p.subjects) < 16 {
		p.subjects = append(p.subjects, subjectOf{e.Agency, e.Type, s})
	}
	return s
}

// publish sends event i of the request (body data, decoded e) with
// Nats-Msg-Id = its id. When the client's window of unacknowledged messages
// is full (PublishAsyncMaxPending), it waits for room until the deadline:
// many agencies posting full batches at once slow each other down rather
// than being refused. The common case passes no options, which cost two
// allocations per message.
func (p *publisher) publish(i int, e *events.Event, data []byte) *events.Error {
	if !time.Now().Before(p.deadline) {
		return &events.Error{Reason: ReasonUnavailable, Msg: "JetStream is too busy to take the event in time, retry later (retrying is safe)"}
	}
	p.ids[i] = e.ID
	m := &p.msgs[i]
	m.Subject, m.Data, m.Header = p.subject(e), data, nats.Header{jetstream.MsgIDHeader: p.ids[i : i+1 : i+1]}
	f, err := p.js.PublishMsgAsync(m)
	for errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		wait := time.Until(p.deadline)
		if wait <= 0 {
			break
		}
		f, err = p.js.PublishMsgAsync(m, jetstream.WithStallWait(wait))
	}
	if err != nil {
		return &events.Error{Reason: ReasonUnavailable, Msg: "could not publish, retry later (retrying is safe): " + err.Error()}
	}
	p.futures = append(p.futures, pending{idx: i, f: f})
	return nil
}

// collect waits for the acknowledgement of every published event and fills
// in its result. It waits for the last message first: JetStream acks in
// order, so by then the others are mostly in and need no second channel.
func (p *publisher) collect(ctx, ackCtx context.Context, results []Result) {
	for k := len(p.futures) - 1; k >= 0; k-- {
		f := p.futures[k]
		res := &results[f.idx]
		ok := f.f.Ok()
		select {
		case ack := <-ok:
			res.accepted(ack)
			continue
		default:
		}
		select {
		case ack := <-ok:
			res.accepted(ack)
		case err := <-f.f.Err():
			res.reject(&events.Error{Reason: ReasonUnavailable, Msg: "JetStream did not store the event, retry later (retrying is safe): " + err.Error()})
		case <-ackCtx.Done():
			msg := "no acknowledgement from JetStream in time, retry later (retrying is safe)"
			if ctx.Err() != nil {
				msg = "request cancelled before JetStream acknowledged the event"
			}
			res.reject(&events.Error{Reason: ReasonUnavailable, Msg: msg})
		}
	}
}

func (r *Result) accepted(ack *jetstream.PubAck) {
	r.Seq = ack.Sequence
	r.Status = StatusAccepted
	if ack.Duplicate {
		r.Status = StatusDuplicate
	}
}

func (r *Result) reject(err *events.Error) {
	r.Status, r.Error = StatusRejected, err
}

func (h *Handler) process(ctx context.Context, agency string, parts []part) (Response, int) {
	resp := Response{Results: make([]Result, len(parts))}
	rules := events.Rules{Now: h.now, MaxFuture: h.cfg.MaxFuture, Units: h.units}
	ackCtx, cancel := context.WithTimeout(ctx, h.cfg.AckTimeout)
	defer cancel()
	deadline, _ := ackCtx.Deadline()
	pub := newPublisher(h.js, len(parts), deadline)
	for i, p := range parts {
		res := &resp.Results[i]
		res.Index, res.Line = i, p.line
		e, err := h.check(p, agency, rules)
		if e != nil {
			res.ID = e.ID
		}
		if err != nil {
			var ee *events.Error
			if !errors.As(err, &ee) {
				ee = &events.Error{Reason: events.ReasonMalformed, Msg: err.Error()}
			}
			if e == nil && len(p.data) <= h.cfg.MaxEventBytes {
				res.ID = idOf(p.data)
			}
			res.reject(ee)
			h.keepRefusal(agency, p, e, ee)
			continue
		}
		if err := pub.publish(i, e, p.data); err != nil {
			res.reject(err)
		}
	}
	pub.collect(ctx, ackCtx, resp.Results)
	worst := 0
	for _, r := range resp.Results {
		switch r.Status {
		case StatusAccepted:
			resp.Accepted++
		case StatusDuplicate:
			resp.Duplicates++
		default:
			resp.Rejected++
			h.rejections.WithLabelValues(string(r.Error.Reason)).Inc()
			worst = max(worst, severity[r.Error.Reason])
		}
	}
	h.events.WithLabelValues(StatusAccepted).Add(float64(resp.Accepted))
	h.events.WithLabelValues(StatusDuplicate).Add(float64(resp.Duplicates))
	h.events.WithLabelValues(StatusRejected).Add(float64(resp.Rejected))
	status := http.StatusAccepted
	switch {
	case resp.Rejected > 0:
		status = statusOf[worst]
	case resp.Accepted == 0:
		status = http.StatusOK // all duplicates: nothing new stored
	}
	lvl := slog.LevelDebug
	if status == http.StatusForbidden {
		lvl = slog.LevelWarn
	}
	h.log.Log(ctx, lvl, "events received", "agency", agency, "batch", len(parts), "accepted", resp.Accepted, "duplicates", resp.Duplicates, "rejected", resp.Rejected, "status", status)
	return resp, status
}

// severity orders the reasons of refused events; statusOf maps the most
// serious one of a request to its status.
var (
	severity = map[events.Reason]int{
		ReasonUnavailable:       3,
		events.ReasonNotAllowed: 2,
		events.ReasonTooLarge:   1,
	}
	statusOf = [...]int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusForbidden, http.StatusServiceUnavailable}
)

func (h *Handler) check(p part, agency string, rules events.Rules) (*events.Event, error) {
	if len(p.data) > h.cfg.MaxEventBytes {
		return nil, &events.Error{Reason: events.ReasonTooLarge, Msg: fmt.Sprintf("event of %d bytes; the limit is %d", len(p.data), h.cfg.MaxEventBytes)}
	}
	if !utf8.Valid(p.data) {
		i := 0
		for i < len(p.data) {
			r, n := utf8.DecodeRune(p.data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		line, col := position(p.data, i)
		if line == 1 {
			col += p.col - 1
		}
		return nil, &events.Error{Reason: events.ReasonMalformed, Msg: fmt.Sprintf("not UTF-8 at line %d, column %d: events are UTF-8 JSON", line+p.line-1, col)}
	}
	e, err := events.Decode(p.data)
	if err != nil {
		if ee, ok := err.(*events.Error); ok && ee.Reason == events.ReasonMalformed && ee.Field == "" {
			if msg := syntaxError(p); msg != "" {
				return nil, &events.Error{Reason: events.ReasonMalformed, Msg: msg}
			}
		}
		return nil, err
	}
	if err := rules.Check(e); err != nil {
		return e, err
	}
	if e.Agency != agency && (h.mayReport == nil || !h.mayReport(agency, e.Agency)) {
		return e, &events.Error{Reason: events.ReasonNotAllowed, Field: "agency", Msg: fmt.Sprintf("the token of %q may not send events for %q: an agency sends only its own events (or those of the units the registry says it reports for)", agency, e.Agency)}
	}
	return e, nil
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	h.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, status, v)
}
