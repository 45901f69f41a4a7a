// Package httpx is the HTTP vocabulary cds's handlers share (the query API
// and the ingest gateway): one coded error type, one table from codes to
// statuses, JSON answers and the bearer token of a request.
package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error codes; each maps to one HTTP status (Status).
const (
	CodeInvalid          = "invalid"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeTooLarge         = "too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

var statusOf = map[string]int{
	CodeInvalid:          http.StatusBadRequest,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
}

// Status returns the HTTP status of an error code; 500 for a code not in
// the table.
func Status(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error shown to a client, answered as {"error": {code, message}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, when > 0, is sent as the Retry-After header (seconds):
	// how long a client should wait before it asks again.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Body is the JSON body of an error answer.
type Body struct {
	Error Error `json:"error"`
}

// ErrorBody returns the body and status that answer err. An err that is not
// an *Error is internal: its text is not shown.
func ErrorBody(err error) (Body, int) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Message: "internal error"}
	}
	return Body{Error: *e}, Status(e.Code)
}

// WriteError answers with err (ErrorBody).
func WriteError(w http.ResponseWriter, err error) {
	body, status := ErrorBody(err)
	if body.Error.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(body.Error.RetryAfter))
	}
	WriteJSON(w, status, body)
}

// WriteJSON answers with status and v as JSON, without escaping HTML
// characters (messages quote <, > and &).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Bearer returns the token of the request's "Authorization: Bearer <token>"
// header (the scheme in any case, spaces trimmed), and false when there is
// none.
func Bearer(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
