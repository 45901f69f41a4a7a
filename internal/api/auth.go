package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/bacgiang/cds/internal/authguard"
	"github.com/bacgiang/cds/internal/board"
	"github.com/bacgiang/cds/internal/httpx"
)

// readAuth protects the read side of the API. With no read tokens
// configured (Config.ReadTokens) everything is open, as on a developer
// machine. With read tokens, every request needs Authorization: Bearer
// <one of them>, except:
//
//   - GET /healthz, for load balancers and service managers, which rarely
//     send credentials; it tells only whether the server works;
//
//   - POST /v1/events, which authenticates agencies with their own tokens;
//
//   - GET /v1/dlq, which takes an agency's token or a read token (dlq.go);
//
//   - the board's sign-in page and its static assets (GET, POST /signin,
//     GET /static/…), which show no figures.
//
// A person's browser cannot send a header: after sign-in the board keeps
// the read token in an HttpOnly, SameSite=Strict cookie (board.CookieName),
// which counts like the header for GET and HEAD. A page request without a
// valid token is sent to the sign-in page; other requests get 401.
//
// That covers GET /v1/* and /metrics (Prometheus sends the token with its
// authorization setting), and any route added later: closed unless listed
// here. An agency token is not a read token. Tokens are compared by their
// SHA-256 digests in constant time; several may be in force at once, so a
// new one can be handed out before the old one is withdrawn.
func (s *Server) readAuth(next http.Handler) http.Handler {
	if len(s.cfg.ReadTokens) == 0 {
		return next
	}
	var digests [][sha256.Size]byte
	for _, t := range s.cfg.ReadTokens {
		if t = strings.TrimSpace(t); t != "" {
			digests = append(digests, sha256.Sum256([]byte(t)))
		}
	}
	guard := authguard.New(s.log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		source := authguard.SourceOf(r)
		signin := s.deps.Board != nil && r.URL.Path == "/signin" && r.Method == http.MethodPost
		if openRoute(r, s.deps.Board != nil) && !signin {
			next.ServeHTTP(w, r)
			return
		}
		if d := guard.Blocked(source); d > 0 {
			w.Header().Set("Retry-After", authguard.RetryAfter(d))
			httpx.WriteError(w, &httpx.Error{Code: httpx.CodeRateLimited, Message: "too many failed authentications from this address: retry after " + authguard.RetryAfter(d) + " s"})
			return
		}
		if signin {
			// The board checks the token of its sign-in form; a refusal
			// (401) counts as a failed authentication of the address.
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status == http.StatusUnauthorized {
				guard.Fail(source, "read token (sign-in)")
			}
			return
		}
		if validReadToken(r, digests) || validCookie(r, digests) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "" {
			guard.Fail(source, "read token")
		} else if _, err := r.Cookie(board.CookieName); err == nil {
			guard.Fail(source, "read token (cookie)")
		}
		if s.deps.Board != nil && r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/metrics" {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="cds-read"`)
		httpx.WriteError(w, &httpx.Error{Code: httpx.CodeUnauthorized, Message: "this server's read API needs Authorization: Bearer <read token> (CDS_READ_TOKEN of the server); agency tokens only send events"})
	})
}

func openRoute(r *http.Request, hasBoard bool) bool {
	switch {
	case hasBoard && r.URL.Path == "/signin" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return true
	case hasBoard && strings.HasPrefix(r.URL.Path, "/static/") && r.Method == http.MethodGet:
		return true
	case r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return true
	case r.URL.Path == "/v1/events" && r.Method == http.MethodPost:
		return true
	case r.URL.Path == "/v1/dlq" && r.Method == http.MethodGet:
		return true // dlq.go authenticates: an agency's token or a read token
	}
	return false
}

func validReadToken(r *http.Request, digests [][sha256.Size]byte) bool {
	token, ok := httpx.Bearer(r)
	return ok && knownToken(token, digests)
}

// validCookie accepts the board's sign-in cookie for reading (GET, HEAD).
func validCookie(r *http.Request, digests [][sha256.Size]byte) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	c, err := r.Cookie(board.CookieName)
	return err == nil && knownToken(c.Value, digests)
}

func knownToken(token string, digests [][sha256.Size]byte) bool {
	token = strings.TrimSpace(token)
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, d := range digests {
		ok |= subtle.ConstantTimeCompare(d[:], sum[:])
	}
	return ok == 1
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}
