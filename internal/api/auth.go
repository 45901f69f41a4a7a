package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/bacgiang/cds/internal/authguard"
)

// readAuth protects the read side of the API. With no read tokens
// configured (Config.ReadTokens) everything is open, as on a developer
// machine. With read tokens, every request needs Authorization: Bearer
// <one of them>, except:
//
//   - GET /healthz, for load balancers and service managers, which rarely
//     send credentials; it tells only whether the server works;
//   - POST /v1/events, which authenticates agencies with their own tokens;
//   - GET /v1/dlq, which takes an agency's token or a read token (dlq.go).
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
		if openRoute(r) {
			next.ServeHTTP(w, r)
			return
		}
		source := authguard.SourceOf(r)
		if d := guard.Blocked(source); d > 0 {
			w.Header().Set("Retry-After", authguard.RetryAfter(d))
			writeError(w, &Error{Code: CodeRateLimited, Message: "too many failed authentications from this address: retry after " + authguard.RetryAfter(d) + " s"})
			return
		}
		if validReadToken(r, digests) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "" {
			guard.Fail(source, "read token")
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="cds-read"`)
		writeError(w, &Error{Code: CodeUnauthorized, Message: "this server's read API needs Authorization: Bearer <read token> (CDS_READ_TOKEN of the server); agency tokens only send events"})
	})
}

func openRoute(r *http.Request) bool {
	switch {
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
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, d := range digests {
		ok |= subtle.ConstantTimeCompare(d[:], sum[:])
	}
	return ok == 1
}
