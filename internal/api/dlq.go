package api

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bacgiang/cds/internal/authguard"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/httpx"
)

// DeadLetters is what GET /v1/dlq reads: *deadletter.Store.
type DeadLetters interface {
	Newest(ctx context.Context, f deadletter.Filter, before uint64, limit int) ([]*deadletter.Letter, error)
}

// Page sizes of GET /v1/dlq.
const (
	DLQDefaultLimit = 50
	DLQMaxLimit     = 500
)

// DeadLetter is one refused event as GET /v1/dlq shows it.
type DeadLetter struct {
	Seq     uint64    `json:"seq"` // in CDS_DLQ: the cursor of the next page (before=)
	ID      string    `json:"id,omitempty"`
	Agency  string    `json:"agency"`
	Source  string    `json:"source"` // http, nats (refused at the door) or projector
	Reason  string    `json:"reason"`
	Field   string    `json:"field,omitempty"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`                // when it was dead-lettered
	Subject string    `json:"subject,omitempty"` // the event subject
	// Original is the event as sent, byte for byte when it is UTF-8;
	// OriginalBase64 replaces it when it is not.
	Original       string `json:"original,omitempty"`
	OriginalBase64 []byte `json:"original_base64,omitempty"`
}

// DeadLetterPage is the answer of GET /v1/dlq: newest first; Next, when
// present, is the URL of the next (older) page.
type DeadLetterPage struct {
	Letters []DeadLetter `json:"letters"`
	Next    string       `json:"next,omitempty"`
}

// dlq lists refused events (docs/integrators.md "Refused events"). An
// agency's HTTP token sees its own; a read token sees every agency's, as
// does a request without a token when no read token is configured (an
// operator on the server). agency= and reason= filter.
func (s *Server) dlq(w http.ResponseWriter, r *http.Request) {
	agency, ok := s.dlqViewer(w, r)
	if !ok {
		return
	}
	if s.deps.DeadLetters == nil {
		httpx.WriteError(w, &httpx.Error{Code: httpx.CodeUnavailable, Message: "the dead-letter listing is not enabled on this server"})
		return
	}
	v := r.URL.Query()
	f := deadletter.Filter{Agency: v.Get("agency"), Reason: v.Get("reason")}
	if agency != "" {
		if f.Agency != "" && f.Agency != agency {
			httpx.WriteError(w, &httpx.Error{Code: httpx.CodeForbidden, Message: fmt.Sprintf("an agency's token lists only its own refused events (%s)", agency)})
			return
		}
		f.Agency = agency
	}
	limit, err := intParam(r, "limit", DLQDefaultLimit)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	if limit == 0 || limit > DLQMaxLimit {
		httpx.WriteError(w, &httpx.Error{Code: httpx.CodeInvalid, Message: fmt.Sprintf("limit: at most %d, at least 1; got %d", DLQMaxLimit, limit)})
		return
	}
	var before uint64
	if b := v.Get("before"); b != "" {
		if before, err = strconv.ParseUint(b, 10, 64); err != nil || before == 0 {
			httpx.WriteError(w, &httpx.Error{Code: httpx.CodeInvalid, Message: fmt.Sprintf("before: expected the seq of a dead letter (a whole number >= 1), got %q", b)})
			return
		}
	}
	letters, err := s.deps.DeadLetters.Newest(r.Context(), f, before, limit+1)
	if err != nil {
		httpx.WriteError(w, s.translate(fmt.Errorf("list dead letters: %w", err)))
		return
	}
	page := DeadLetterPage{Letters: make([]DeadLetter, 0, min(len(letters), limit))}
	for i, l := range letters {
		if i == limit {
			q := r.URL.Query()
			q.Set("before", strconv.FormatUint(letters[limit-1].Seq, 10))
			q.Set("limit", strconv.Itoa(limit))
			page.Next = "/v1/dlq?" + q.Encode()
			break
		}
		page.Letters = append(page.Letters, shownLetter(l))
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

func shownLetter(l *deadletter.Letter) DeadLetter {
	d := DeadLetter{
		Seq: l.Seq, ID: l.ID, Agency: l.Agency(), Source: l.Source(), Reason: l.Reason, Field: l.Field,
		Message: l.Error, At: l.Time.UTC(), Subject: l.Subject,
	}
	if utf8.Valid(l.Data) {
		d.Original = string(l.Data)
	} else {
		d.OriginalBase64 = l.Data
	}
	return d
}

// dlqViewer authenticates a request of GET /v1/dlq: it returns the agency
// whose letters it may see, "" for all of them, or answers 401 and false.
func (s *Server) dlqViewer(w http.ResponseWriter, r *http.Request) (string, bool) {
	source := authguard.SourceOf(r)
	if d := s.dlqGuard.Blocked(source); d > 0 {
		w.Header().Set("Retry-After", authguard.RetryAfter(d))
		httpx.WriteError(w, &httpx.Error{Code: httpx.CodeRateLimited, Message: "too many failed authentications from this address: retry after " + authguard.RetryAfter(d) + " s"})
		return "", false
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		if len(s.cfg.ReadTokens) == 0 && r.Header.Get("Authorization") == "" {
			return "", true // an operator on a server with an open read API
		}
	} else {
		if validReadToken(r, s.readDigests()) {
			return "", true
		}
		if s.deps.AgencyOf != nil {
			if agency, ok := s.deps.AgencyOf(token); ok {
				return agency, true
			}
		}
	}
	if r.Header.Get("Authorization") != "" {
		s.dlqGuard.Fail(source, "dlq token")
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="cds"`)
	httpx.WriteError(w, &httpx.Error{Code: httpx.CodeUnauthorized, Message: "GET /v1/dlq needs Authorization: Bearer <the agency's http_token> (its own refused events) or <a read token> (every agency's)"})
	return "", false
}

// readDigests returns the SHA-256 digests of the read tokens.
func (s *Server) readDigests() [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, t := range s.cfg.ReadTokens {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, sha256.Sum256([]byte(t)))
		}
	}
	return out
}
