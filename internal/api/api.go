// Package api serves the query API of cds over HTTP: units, indicators,
// scores, health and metrics, and mounts the ingest handler at POST /v1/events.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/authguard"
	"github.com/bacgiang/cds/internal/board"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/httpx"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// Config configures the HTTP server.
type Config struct {
	Addr              string        // default 127.0.0.1:8080
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // default 30s
	WriteTimeout      time.Duration // default 60s
	IdleTimeout       time.Duration // default 2m
	// ReadTokens, when not empty, protect everything but /healthz and
	// POST /v1/events with Authorization: Bearer <one of them> (auth.go).
	ReadTokens []string
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	return c
}

// Deps are what the server serves.
type Deps struct {
	Engine   *scores.Engine
	Registry *registry.Registry
	Catalog  *catalog.Catalog
	// Board serves the pages for people (GET /, /units/…, /static/…,
	// /signin; internal/board); nil leaves / to the JSON 404.
	Board http.Handler
	// Ingest handles POST /v1/events; nil answers 503.
	Ingest http.Handler
	// Health checks the dependencies for /healthz; nil means healthy. Each
	// failing dependency is an error "<name>: <cause>", several joined with
	// errors.Join; /healthz shows only the names.
	Health func(ctx context.Context) error
	// Gatherer serves /metrics; nil means prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// DeadLetters serves GET /v1/dlq (dlq.go); nil answers 503.
	DeadLetters DeadLetters
	// AgencyOf maps an agency's HTTP token to its code, for GET /v1/dlq.
	AgencyOf func(token string) (agency string, ok bool)
	// Admission, when not nil, bounds the requests that read ClickHouse
	// at once (admit.go); nil admits every request at once.
	Admission *admission.Controller
}

// Server is the HTTP API.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
	done chan error
	once sync.Once

	dlqGuard *authguard.Guard // failed tokens of GET /v1/dlq
}

// New returns a server; Start binds it.
func New(cfg Config, deps Deps) *Server {
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Gatherer == nil {
		deps.Gatherer = prometheus.DefaultGatherer
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, dlqGuard: authguard.New(deps.Logger)}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}
	return s
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/units", s.units)
	mux.HandleFunc("GET /v1/indicators", s.indicators)
	mux.HandleFunc("GET /v1/scores", s.levelScores)
	mux.HandleFunc("GET /v1/scores/{unit}", s.unitScore)
	mux.HandleFunc("GET /v1/scores/{unit}/{indicator}/events", s.drill)
	mux.HandleFunc("GET /v1/silence", s.silence)
	mux.HandleFunc("GET /v1/schemas", s.eventTypes)
	mux.HandleFunc("GET /v1/schemas/{type}", s.dataSchema)
	mux.HandleFunc("GET /v1/openapi.json", s.openAPI)
	mux.HandleFunc("GET /v1/dlq", s.dlq)
	if s.deps.Ingest != nil {
		mux.Handle("POST /v1/events", s.deps.Ingest)
	} else {
		mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, &httpx.Error{Code: httpx.CodeUnavailable, Message: "ingest is not enabled on this server"})
		})
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, &httpx.Error{Code: httpx.CodeNotFound, Message: fmt.Sprintf("no route %s %s; see GET /v1/units, /v1/indicators, /v1/scores, /v1/scores/{unit}, /v1/scores/{unit}/{indicator}/events, /v1/silence, /v1/schemas, /v1/openapi.json, /v1/dlq, POST /v1/events", r.Method, r.URL.Path)})
	}
	mux.HandleFunc("/v1/", notFound)
	if s.deps.Board != nil {
		mux.Handle("/", s.deps.Board)
	} else {
		mux.HandleFunc("/", notFound)
	}
	return securityHeaders(s.readAuth(s.admit(mux)))
}

// Start binds the address (errors surface here) and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.done = make(chan error, 1)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info("http api listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close shuts down gracefully within ctx. It is idempotent.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.ln == nil {
			return
		}
		err = s.srv.Shutdown(ctx)
		if serr := <-s.done; err == nil {
			err = serr
		}
	})
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.deps.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.deps.Health(ctx); err != nil {
			// The cause goes to the log; anonymous callers learn only which
			// dependencies fail.
			s.log.Warn("health check failed", "err", err)
			httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "failing": failingNames(err)})
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// failingNames names the dependencies an error of Deps.Health reports: the
// text before the first colon of err, or of each error errors.Join joined
// into it, separated by commas ("clickhouse,nats").
func failingNames(err error) string {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	names := make([]string, 0, len(errs))
	for _, e := range errs {
		name, _, _ := strings.Cut(e.Error(), ":")
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

func (s *Server) units(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var list []registry.Unit
	if q.Get("as_of") == "" && q.Get("all") != "" {
		list = s.deps.Registry.Units()
	} else {
		d, err := parseAsOf(q.Get("as_of"))
		if err != nil {
			httpx.WriteError(w, err)
			return
		}
		if d.IsZero() {
			d = registry.DateOf(time.Now())
		}
		list = s.deps.Registry.InForce(d)
	}
	if lv := q.Get("level"); lv != "" {
		if !registry.Level(lv).Valid() {
			httpx.WriteError(w, &httpx.Error{Code: httpx.CodeInvalid, Message: fmt.Sprintf("level: expected one of %v, got %q", registry.Levels(), lv)})
			return
		}
		var f []registry.Unit
		for _, u := range list {
			if string(u.Level) == lv {
				f = append(f, u)
			}
		}
		list = f
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"registry": s.deps.Registry.Version(), "units": list})
}

func (s *Server) indicators(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"version": s.deps.Catalog.Version(), "source": s.deps.Catalog.Source(),
		"baseline_date": s.deps.Catalog.BaselineDate(), "indicators": s.deps.Catalog.Indicators(),
	})
}

func (s *Server) levelScores(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	level := r.URL.Query().Get("level")
	if level == "" {
		level = string(registry.LevelDistrict)
	}
	res, err := s.deps.Engine.Level(r.Context(), registry.Level(level), q)
	if err != nil {
		httpx.WriteError(w, s.translate(err))
		return
	}
	if wantsCSV(r) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Vary", "Accept")
		if r.URL.Query().Get("format") == "csv" {
			w.Header().Set("Content-Disposition", `attachment; filename="cds-scores-`+res.Level+"-"+res.AsOf+`.csv"`)
		}
		if err := board.LevelCSV(w, res, s.deps.Registry); err != nil {
			s.log.Warn("scores csv", "err", err)
		}
		return
	}
	w.Header().Set("Vary", "Accept")
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (s *Server) unitScore(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	res, err := s.deps.Engine.Unit(r.Context(), r.PathValue("unit"), q)
	if err != nil {
		httpx.WriteError(w, s.translate(err))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (s *Server) drill(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	offset, err := intParam(r, "offset", 0)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	limit, err := intParam(r, "limit", scores.DefaultDrillLimit)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	find := scores.Find{ID: r.URL.Query().Get("id"), Key: r.URL.Query().Get("key")}
	res, err := s.deps.Engine.FindEvents(r.Context(), r.PathValue("unit"), r.PathValue("indicator"), q, find, offset, limit)
	if err != nil {
		httpx.WriteError(w, s.translate(err))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (s *Server) silence(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	days, err := intParam(r, "days", 30)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	res, err := s.deps.Engine.Silence(r.Context(), q, days, registry.Level(r.URL.Query().Get("level")))
	if err != nil {
		httpx.WriteError(w, s.translate(err))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// wantsCSV reports whether the client asked for CSV: ?format=csv (for a
// link) or an Accept header that prefers text/csv to JSON.
func wantsCSV(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "csv"
	}
	csvQ, jsonQ := -1.0, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && k == "q" {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json", "*/*", "application/*":
			jsonQ = max(jsonQ, q)
		}
	}
	return csvQ > 0 && csvQ >= jsonQ
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &httpx.Error{Code: httpx.CodeInvalid, Message: fmt.Sprintf("%s: expected a whole number >= 0, got %q", name, v)}
	}
	return n, nil
}

func parseQuery(r *http.Request) (scores.Query, error) {
	var q scores.Query
	v := r.URL.Query()
	d, err := parseAsOf(v.Get("as_of"))
	if err != nil {
		return q, err
	}
	q.AsOf = d
	if m := v.Get("milestone"); m != "" {
		y, err := strconv.Atoi(m)
		if err != nil {
			return q, &httpx.Error{Code: httpx.CodeInvalid, Message: fmt.Sprintf("milestone: expected a year such as 2025, got %q", m)}
		}
		q.Milestone = y
	}
	return q, nil
}

func parseAsOf(s string) (registry.Date, error) {
	if s == "" {
		return registry.Date{}, nil
	}
	d, err := registry.ParseDate(s)
	if err != nil {
		return d, &httpx.Error{Code: httpx.CodeInvalid, Message: fmt.Sprintf("as_of: expected a date YYYY-MM-DD, got %q", s)}
	}
	return d, nil
}

// translate maps domain errors to API errors; anything else is internal and
// is logged, not shown.
func (s *Server) translate(err error) error {
	switch {
	case errors.Is(err, scores.ErrUnknownUnit):
		return &httpx.Error{Code: httpx.CodeNotFound, Message: err.Error()}
	case errors.Is(err, scores.ErrUnitNotInForce):
		return &httpx.Error{Code: httpx.CodeNotFound, Message: err.Error()}
	case errors.Is(err, scores.ErrUnknownIndicator):
		return &httpx.Error{Code: httpx.CodeNotFound, Message: err.Error()}
	case errors.Is(err, scores.ErrUnknownMilestone), errors.Is(err, scores.ErrUnknownLevel), errors.Is(err, scores.ErrInvalidQuery):
		return &httpx.Error{Code: httpx.CodeInvalid, Message: err.Error()}
	case errors.Is(err, admission.ErrShed):
		retry := 1
		if s.deps.Admission != nil {
			retry, _ = strconv.Atoi(s.deps.Admission.RetryAfter())
		}
		return &httpx.Error{Code: httpx.CodeUnavailable, RetryAfter: retry,
			Message: "too many requests in progress; try again after Retry-After seconds"}
	case chdb.Busy(err):
		s.log.Warn("request shed: clickhouse busy", "err", err)
		return &httpx.Error{Code: httpx.CodeUnavailable, RetryAfter: 1, Message: "the score store is busy; try again after Retry-After seconds"}
	}
	s.log.Error("request failed", "err", err)
	return err
}
