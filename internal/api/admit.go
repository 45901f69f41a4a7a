package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/httpx"
)

// readClass says whether a request reads ClickHouse and how heavily when it
// is admitted whole: the score routes and the board's pages do (a CSV
// export is heavy), the reference routes, the schemas,
// /metrics, /healthz, ingest and the board's static files do not and are
// never queued. The requests admitted per read (perRead) take a slot of
// each read's own class instead.
func readClass(r *http.Request) (admission.Class, bool) {
	p := r.URL.Path
	csv := wantsCSV(r) && (p == "/v1/scores" || !strings.HasPrefix(p, "/v1/"))
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		return 0, false
	case strings.HasPrefix(p, "/v1/scores/") && strings.HasSuffix(p, "/events"):
		return admission.Heavy, true
	case p == "/v1/scores" || strings.HasPrefix(p, "/v1/scores/") || p == "/v1/silence":
		if csv {
			return admission.Heavy, true
		}
		return admission.Light, true
	case strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/metrics" ||
		strings.HasPrefix(p, "/static/") || p == "/favicon.ico" || p == "/signin":
		return 0, false
	case csv:
		return admission.Heavy, true // a page's CSV (the drill-down page is admitted per read)
	default:
		return admission.Light, true
	}
}

// perRead reports whether a request reading ClickHouse is admitted per read
// (admission.Controller.Defer) rather than whole: the JSON score routes and
// silence, whose every read of ClickHouse goes through package scores and
// its caches, and the board's drill-down page, whose other reads (the
// commit markers of its cache, the freshness line) take a light slot each
// (admission.Hold in package board). CSV exports and the board's other
// pages are admitted whole.
func perRead(r *http.Request) bool {
	if wantsCSV(r) {
		return false
	}
	p := r.URL.Path
	return p == "/v1/scores" || strings.HasPrefix(p, "/v1/scores/") || p == "/v1/silence" || boardDrill(p)
}

// boardDrill reports whether p is the board's drill-down page,
// /units/{code}/{indicator}.
func boardDrill(p string) bool {
	return strings.HasPrefix(p, "/units/") && strings.Count(strings.Trim(p, "/"), "/") >= 2
}

// busyBoard is the board's answer to a shed request (board.Board.Busy).
type busyBoard interface {
	Busy(w http.ResponseWriter, r *http.Request)
}

// admit runs next for a request that reads ClickHouse only once the
// controller gives it a slot; a request not admitted is answered 503 with
// Retry-After (JSON under /v1/, the board's busy page elsewhere).
func (s *Server) admit(next http.Handler) http.Handler {
	ac := s.deps.Admission
	if ac == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl, reads := readClass(r)
		if !reads {
			next.ServeHTTP(w, r)
			return
		}
		if perRead(r) {
			// Slots around each read of ClickHouse (admission.Hold in
			// package scores), none for answers from its caches; a read
			// not admitted is answered as below (translate).
			next.ServeHTTP(w, r.WithContext(ac.Defer(r.Context())))
			return
		}
		release, err := ac.Acquire(r.Context(), cl)
		if err != nil {
			// ErrShed, or the client went away while it waited.
			w.Header().Set("Retry-After", ac.RetryAfter())
			if b, ok := s.deps.Board.(busyBoard); ok && !strings.HasPrefix(r.URL.Path, "/v1/") {
				b.Busy(w, r)
				return
			}
			retry, _ := strconv.Atoi(ac.RetryAfter())
			httpx.WriteError(w, &httpx.Error{Code: httpx.CodeUnavailable, RetryAfter: retry,
				Message: "too many requests in progress (" + cl.String() + " reads); try again after Retry-After seconds"})
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}
