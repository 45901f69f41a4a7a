// Package ingest is the HTTP gateway for agency systems: POST /v1/events
// takes one JSON event or an NDJSON batch, authenticates the agency by its
// bearer token, validates every event with the projector's rules, publishes
// the valid ones to JetStream with Nats-Msg-Id = event id and answers per
// event once JetStream has acknowledged them.
package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/events"
)

// Config limits what one request may carry.
type Config struct {
	MaxEventBytes int           // default 64 KiB
	MaxBatch      int           // events per request, default 1000
	MaxBodyBytes  int64         // default 8 MiB
	MaxFuture     time.Duration // default 24h
	AckTimeout    time.Duration // wait for JetStream acks, default 10s
}

func (c Config) withDefaults() Config {
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = 64 << 10
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = 24 * time.Hour
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 10 * time.Second
	}
	return c
}

// Authenticator maps a bearer token to an agency code.
type Authenticator func(token string) (agency string, ok bool)

// Handler serves POST /v1/events.
type Handler struct {
	cfg       Config
	js        jetstream.JetStream
	auth      Authenticator
	known     func(string) bool
	mayReport func(agency, unit string) bool
	now       func() time.Time
	log       *slog.Logger
	events    *prometheus.CounterVec
}

// New returns the ingest handler. known reports registry membership;
// mayReport whether an agency may send events for a unit (itself, or units
// it reports for). now may be nil (time.Now); reg may be nil.
func New(cfg Config, js jetstream.JetStream, auth Authenticator, known func(string) bool, mayReport func(agency, unit string) bool, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) *Handler {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg.withDefaults(), js: js, auth: auth, known: known, mayReport: mayReport, now: now, log: logger,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cds_ingest_events_total", Help: "Events received over HTTP, by outcome (accepted, duplicate, rejected).",
		}, []string{"outcome"})}
	if reg != nil {
		reg.MustRegister(h.events)
	}
	return h
}

// Result is the answer for one event of a request.
type Result struct {
	Index  int           `json:"index"` // line number from 0
	ID     string        `json:"id,omitempty"`
	Status string        `json:"status"` // accepted, duplicate, rejected
	Error  *events.Error `json:"error,omitempty"`
	Seq    uint64        `json:"seq,omitempty"` // stream sequence when accepted
}

// Response is the body of every answer to POST /v1/events.
type Response struct {
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	Rejected   int      `json:"rejected"`
	Results    []Result `json:"results"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cds"`)
	}
	writeJSON(w, status, e)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		fail(w, http.StatusUnauthorized, "unauthorized", "missing Authorization: Bearer <agency token> (the http_token of credentials.json)")
		return
	}
	agency, ok := h.auth(strings.TrimSpace(token))
	if !ok {
		fail(w, http.StatusUnauthorized, "unauthorized", "the bearer token is not valid (unknown, rotated or revoked)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body above %d bytes; send at most %d events of at most %d bytes each", h.cfg.MaxBodyBytes, h.cfg.MaxBatch, h.cfg.MaxEventBytes))
			return
		}
		fail(w, http.StatusBadRequest, "invalid", "reading the request body: "+err.Error())
		return
	}
	lines := splitEvents(body)
	switch {
	case len(lines) == 0:
		fail(w, http.StatusBadRequest, "invalid", "empty body: expected one JSON event or NDJSON (one event per line)")
		return
	case len(lines) > h.cfg.MaxBatch:
		fail(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("%d events in one request; the limit is %d", len(lines), h.cfg.MaxBatch))
		return
	}
	resp, status := h.process(r.Context(), agency, lines)
	writeJSON(w, status, resp)
}

// splitEvents splits an NDJSON body into non-empty lines; a single JSON
// object spread over several lines (pretty-printed) is one event.
func splitEvents(body []byte) [][]byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	if json.Valid(trimmed) {
		return [][]byte{trimmed}
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), len(body)+1)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, append([]byte(nil), line...))
		}
	}
	return out
}

type pending struct {
	idx int
	f   jetstream.PubAckFuture
}

func (h *Handler) process(ctx context.Context, agency string, lines [][]byte) (Response, int) {
	resp := Response{Results: make([]Result, len(lines))}
	rules := events.Rules{Now: h.now, MaxFuture: h.cfg.MaxFuture, KnownAgency: h.known}
	var inflight []pending
	forbidden := false
	for i, line := range lines {
		res := &resp.Results[i]
		res.Index = i
		e, err := h.check(line, agency, rules)
		if e != nil {
			res.ID = e.ID
		}
		if err != nil {
			var ee *events.Error
			errors.As(err, &ee)
			res.Status, res.Error = "rejected", ee
			if ee.Reason == events.ReasonNotAllowed {
				forbidden = true
			}
			continue
		}
		msg := nats.NewMsg(e.Subject())
		msg.Data = line
		msg.Header.Set(jetstream.MsgIDHeader, e.ID)
		f, err := h.js.PublishMsgAsync(msg)
		if err != nil {
			res.Status, res.Error = "rejected", &events.Error{Reason: "unavailable", Msg: "could not publish, retry later: " + err.Error()}
			continue
		}
		inflight = append(inflight, pending{idx: i, f: f})
	}
	timeout := time.NewTimer(h.cfg.AckTimeout)
	defer timeout.Stop()
	unavailable := false
	for _, p := range inflight {
		res := &resp.Results[p.idx]
		select {
		case ack := <-p.f.Ok():
			res.Seq = ack.Sequence
			res.Status = "accepted"
			if ack.Duplicate {
				res.Status = "duplicate"
			}
		case err := <-p.f.Err():
			res.Status, res.Error = "rejected", &events.Error{Reason: "unavailable", Msg: "JetStream did not store the event, retry later: " + err.Error()}
			unavailable = true
		case <-timeout.C:
			res.Status, res.Error = "rejected", &events.Error{Reason: "unavailable", Msg: "no acknowledgement from JetStream in time, retry later (retrying is safe)"}
			unavailable = true
		case <-ctx.Done():
			res.Status, res.Error = "rejected", &events.Error{Reason: "unavailable", Msg: "request cancelled"}
			unavailable = true
		}
	}
	for _, r := range resp.Results {
		switch r.Status {
		case "accepted":
			resp.Accepted++
		case "duplicate":
			resp.Duplicates++
		default:
			resp.Rejected++
		}
	}
	h.events.WithLabelValues("accepted").Add(float64(resp.Accepted))
	h.events.WithLabelValues("duplicate").Add(float64(resp.Duplicates))
	h.events.WithLabelValues("rejected").Add(float64(resp.Rejected))
	switch {
	case unavailable:
		return resp, http.StatusServiceUnavailable
	case forbidden:
		return resp, http.StatusForbidden
	case resp.Rejected > 0:
		return resp, http.StatusBadRequest
	case resp.Accepted == 0:
		return resp, http.StatusOK // all duplicates: nothing new stored
	}
	return resp, http.StatusAccepted
}

func (h *Handler) check(line []byte, agency string, rules events.Rules) (*events.Event, error) {
	if len(line) > h.cfg.MaxEventBytes {
		return nil, &events.Error{Reason: events.ReasonTooLarge, Msg: fmt.Sprintf("event of %d bytes; the limit is %d", len(line), h.cfg.MaxEventBytes)}
	}
	e, err := events.Decode(line)
	if err != nil {
		return nil, err
	}
	if err := rules.Check(e); err != nil {
		return e, err
	}
	if e.Agency != agency && (h.mayReport == nil || !h.mayReport(agency, e.Agency)) {
		return e, &events.Error{Reason: events.ReasonNotAllowed, Field: "agency", Msg: fmt.Sprintf("token of %q may not send events for %q", agency, e.Agency)}
	}
	return e, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
