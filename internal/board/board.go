// Package board serves the scoreboard in a browser: server-rendered pages
// of the province, each level's league table, each unit and the events
// behind a figure, in Vietnamese or English, with CSV and print styles
// (docs/board.md).
package board

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CookieName is the cookie that carries a read token after sign-in.
const CookieName = "cds_read"

// DefaultSilenceDays is the window of the "not reporting" panel.
const DefaultSilenceDays = 30

// Config is what the board shows and how.
type Config struct {
	Engine *scores.Engine
	// Trends draws the trend charts (EngineTrends, or one over the score
	// history in ClickHouse).
	Trends Trends
	// Days answers a level's scores and the silence at a day (EngineTrends
	// caches them exactly); nil means Trends if it can, else the engine
	// uncached.
	Days DayScores
	// Freshness, when not nil, says how current the figures are.
	Freshness func(context.Context) (Freshness, error)
	// ReadTokens, when not empty, make the board ask for one on a sign-in
	// page and keep it in an HttpOnly, SameSite=Strict cookie; the server's
	// read-token check (internal/api) accepts that cookie.
	ReadTokens []string
	// SilenceDays is the window of the "not reporting" panel; 0 means
	// DefaultSilenceDays.
	SilenceDays int
	// Now gives the time of freshness figures; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// DayScores answers what the pages show for one day: a level's scores and
// the units not reporting.
type DayScores interface {
	LevelAt(ctx context.Context, level registry.Level, milestone int, day registry.Date) (*scores.LevelScores, error)
	SilenceAt(ctx context.Context, level registry.Level, day registry.Date, window int) (*scores.Silence, error)
	EventsAt(ctx context.Context, unit, indicator string, milestone int, day registry.Date, offset, limit int) (*scores.Drill, error)
}

// beginner is a DayScores or Trends that reads the state of the data once
// per request (EngineTrends.Begin).
type beginner interface {
	Begin(ctx context.Context) (context.Context, error)
}

// begin prepares a request's context for the figures it reads.
func (b *Board) begin(r *http.Request) (*http.Request, error) {
	ctx := r.Context()
	for _, x := range []any{b.cfg.Days, b.cfg.Trends} {
		if bg, ok := x.(beginner); ok {
			var err error
			if ctx, err = bg.Begin(ctx); err != nil {
				return r, err
			}
		}
	}
	return r.WithContext(ctx), nil
}

// engineDays is DayScores straight from the engine, without a cache.
type engineDays struct{ e *scores.Engine }

func (d engineDays) LevelAt(ctx context.Context, level registry.Level, milestone int, day registry.Date) (*scores.LevelScores, error) {
	return d.e.Level(ctx, level, scores.Query{AsOf: day, Milestone: milestone})
}

func (d engineDays) EventsAt(ctx context.Context, unit, indicator string, milestone int, day registry.Date, offset, limit int) (*scores.Drill, error) {
	return d.e.Events(ctx, unit, indicator, scores.Query{AsOf: day, Milestone: milestone}, offset, limit)
}

func (d engineDays) SilenceAt(ctx context.Context, level registry.Level, day registry.Date, window int) (*scores.Silence, error) {
	return d.e.Silence(ctx, scores.Query{AsOf: day}, window, level)
}

// Board is the board's HTTP handler.
type Board struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	pages   map[string]*template.Template
	assets  map[string]asset // by versioned name
	css, js string           // versioned URLs
	icon    string
	digests [][sha256.Size]byte
}

type asset struct {
	body        []byte
	contentType string
}

// New returns the board; it fails only on a broken embedded template.
func New(cfg Config) (*Board, error) {
	if cfg.Engine == nil || cfg.Trends == nil {
		return nil, errors.New("board: Engine and Trends are required")
	}
	if cfg.SilenceDays <= 0 {
		cfg.SilenceDays = DefaultSilenceDays
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Days == nil {
		if d, ok := cfg.Trends.(DayScores); ok {
			cfg.Days = d
		} else {
			cfg.Days = engineDays{cfg.Engine}
		}
	}
	b := &Board{cfg: cfg, log: cfg.Logger, pages: map[string]*template.Template{}, assets: map[string]asset{}}
	for _, tok := range cfg.ReadTokens {
		if tok = strings.TrimSpace(tok); tok != "" {
			b.digests = append(b.digests, sha256.Sum256([]byte(tok)))
		}
	}
	if err := b.loadAssets(); err != nil {
		return nil, err
	}
	for _, name := range []string{"overview", "league", "unit", "drill", "signin", "message"} {
		tpl, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("board: template %s: %w", name, err)
		}
		b.pages[name] = tpl
	}
	b.mux = http.NewServeMux()
	b.mux.HandleFunc("GET /{$}", b.home)
	b.mux.HandleFunc("GET /units/{code}", b.unit)
	b.mux.HandleFunc("GET /units/{code}/{indicator}", b.drill)
	b.mux.HandleFunc("GET /static/{name}", b.static)
	b.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b.icon, http.StatusMovedPermanently)
	})
	b.mux.HandleFunc("GET /signin", b.signinForm)
	b.mux.HandleFunc("POST /signin", b.signin)
	b.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.message(w, r, http.StatusNotFound, "notfound", "notfound.lead")
	})
	return b, nil
}

// loadAssets versions the embedded CSS and script by their content hash, so
// they can be cached for ever.
func (b *Board) loadAssets() error {
	for _, f := range []struct{ name, ctype string }{{"board.css", "text/css; charset=utf-8"}, {"board.js", "text/javascript; charset=utf-8"}, {"icon.svg", "image/svg+xml"}} {
		body, err := fs.ReadFile(staticFS, "static/"+f.name)
		if err != nil {
			return fmt.Errorf("board: asset %s: %w", f.name, err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(f.name)
		v := strings.TrimSuffix(f.name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		b.assets[v] = asset{body: body, contentType: f.ctype}
		switch ext {
		case ".css":
			b.css = "/static/" + v
		case ".js":
			b.js = "/static/" + v
		default:
			b.icon = "/static/" + v
		}
	}
	return nil
}

// contentSecurityPolicy allows only the board's own versioned assets: no
// inline script or style, no other origin, no frames.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// ServeHTTP serves the board with its security headers.
func (b *Board) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	b.mux.ServeHTTP(w, r)
}

func (b *Board) static(w http.ResponseWriter, r *http.Request) {
	a, ok := b.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}

// ValidToken reports whether tok is one of the read tokens, comparing
// SHA-256 digests in constant time.
func (b *Board) ValidToken(tok string) bool {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	ok := 0
	for _, d := range b.digests {
		ok |= subtle.ConstantTimeCompare(d[:], sum[:])
	}
	return ok == 1
}

func (b *Board) signinForm(w http.ResponseWriter, r *http.Request) {
	p := b.newPage(r, "signin")
	p.Body = signinView{Next: safeNext(r.URL.Query().Get("next"))}
	b.render(w, http.StatusOK, "signin", p)
}

func (b *Board) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		b.message(w, r, http.StatusBadRequest, "error", "signin.wrong")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if len(b.digests) == 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	tok := r.PostForm.Get("token")
	if !b.ValidToken(tok) {
		p := b.newPage(r, "signin")
		p.Body = signinView{Next: next, Wrong: true}
		b.render(w, http.StatusUnauthorized, "signin", p)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: strings.TrimSpace(tok), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		MaxAge: 12 * 60 * 60,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a redirect target on this site: a path, not "//host".
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return "/"
	}
	return s
}

type signinView struct {
	Next  string
	Wrong bool
}

// render executes a page; the body is written only once rendered.
func (b *Board) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf strings.Builder
	if err := b.pages[name].Execute(&buf, p); err != nil {
		b.log.Error("board: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// message answers a page with a heading and a sentence (not found, errors).
func (b *Board) message(w http.ResponseWriter, r *http.Request, status int, title, lead string) {
	p := b.newPage(r, title)
	p.Body = messageView{Lead: p.T(lead)}
	b.render(w, status, "message", p)
}

type messageView struct{ Lead string }

// Busy answers 503 with a page that asks the reader to reload in a few
// seconds: the server's read slots were all taken (internal/admission),
// or ClickHouse's connections. The caller sets Retry-After.
func (b *Board) Busy(w http.ResponseWriter, r *http.Request) {
	b.message(w, r, http.StatusServiceUnavailable, "busy", "busy.lead")
}

// fail answers an error of the engine: bad parameters and unknown units are
// the reader's (400/404), a shed read or a client that went away the busy
// page, anything else is logged and not shown.
func (b *Board) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, scores.ErrUnknownUnit), errors.Is(err, scores.ErrUnitNotInForce), errors.Is(err, scores.ErrUnknownIndicator):
		b.message(w, r, http.StatusNotFound, "notfound", "notfound.lead")
	case errors.Is(err, scores.ErrUnknownMilestone), errors.Is(err, scores.ErrUnknownLevel), errors.Is(err, scores.ErrInvalidQuery), errors.Is(err, errBadParam):
		p := b.newPage(r, "error")
		p.Body = messageView{Lead: err.Error()}
		b.render(w, http.StatusBadRequest, "message", p)
	case chdb.Busy(err):
		w.Header().Set("Retry-After", "1")
		b.Busy(w, r)
	case errors.Is(err, admission.ErrShed), r.Context().Err() != nil, errors.Is(err, context.Canceled):
		// A read of a page admitted per read was shed, or the client went
		// away (while such a read queued, say): answered as when the whole
		// page is shed or left while queued (internal/api admit), not logged.
		w.Header().Set("Retry-After", admission.RetryAfterOf(r.Context()))
		b.Busy(w, r)
	default:
		b.log.Error("board: request failed", "path", r.URL.Path, "err", err)
		b.message(w, r, http.StatusInternalServerError, "error", "error.lead")
	}
}

var errBadParam = errors.New("board: invalid parameter")

// params are the query parameters every page takes.
type params struct {
	lang      string
	q         scores.Query
	level     string
	sort, dir string
	show      string // all, top, bottom
	n         int
	offset    int
}

func parseParams(r *http.Request) (params, error) {
	v := r.URL.Query()
	p := params{lang: LangVI, level: v.Get("level"), sort: v.Get("sort"), dir: v.Get("dir"), show: v.Get("show"), n: 10}
	if v.Get("lang") == LangEN {
		p.lang = LangEN
	}
	if s := v.Get("as_of"); s != "" {
		d, err := registry.ParseDate(s)
		if err != nil {
			return p, fmt.Errorf("%w: as_of: expected a date YYYY-MM-DD, got %q", errBadParam, s)
		}
		p.q.AsOf = d
	}
	if s := v.Get("milestone"); s != "" {
		y, err := strconv.Atoi(s)
		if err != nil {
			return p, fmt.Errorf("%w: milestone: expected a year such as 2025, got %q", errBadParam, s)
		}
		p.q.Milestone = y
	}
	if p.level != "" && !registry.Level(p.level).Valid() {
		return p, fmt.Errorf("%w: level: expected one of %v, got %q", errBadParam, registry.Levels(), p.level)
	}
	if s := v.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return p, fmt.Errorf("%w: n: expected a number from 1 to 1000, got %q", errBadParam, s)
		}
		p.n = n
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: offset: expected a whole number, got %q", errBadParam, s)
		}
		p.offset = n
	}
	if p.dir != "asc" {
		p.dir = "desc"
	}
	return p, nil
}

// freshness starts reading the freshness figures for a page, alongside
// the page's own reads, and returns a func that waits for them.
func (b *Board) freshness(ctx context.Context) func() *freshView {
	done := make(chan *freshView, 1)
	go func() { done <- b.readFreshness(ctx) }()
	return func() *freshView { return <-done }
}

// readFreshness reads the freshness figures; a failure is logged and the
// page says the lag is unknown.
func (b *Board) readFreshness(ctx context.Context) *freshView {
	if b.cfg.Freshness == nil {
		return nil
	}
	f, err := admission.HoldValue(ctx, admission.Light, b.cfg.Freshness)
	if err != nil {
		b.log.Warn("board: freshness", "err", err)
		return &freshView{Unknown: true}
	}
	v := &freshView{Lag: f.Lag()}
	if !f.LastReceived.IsZero() {
		v.Received = f.LastReceived.In(events.Zone).Format("2006-01-02 15:04:05")
		v.Occurred = f.LastOccurred.In(events.Zone).Format("2006-01-02 15:04")
	}
	return v
}

type freshView struct {
	Unknown            bool
	Received, Occurred string
	Lag                int64
}

func url2(p string, v url.Values) string {
	if len(v) == 0 {
		return p
	}
	return p + "?" + v.Encode()
}
