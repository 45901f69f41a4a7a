package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{name: "invalid", err: &Error{Code: CodeInvalid, Message: "as_of: expected a date"}, wantStatus: 400, wantBody: `{"error":{"code":"invalid","message":"as_of: expected a date"}}`},
		{name: "unauthorized", err: &Error{Code: CodeUnauthorized, Message: "m"}, wantStatus: 401, wantBody: `{"error":{"code":"unauthorized","message":"m"}}`},
		{name: "forbidden", err: &Error{Code: CodeForbidden, Message: "m"}, wantStatus: 403, wantBody: `{"error":{"code":"forbidden","message":"m"}}`},
		{name: "not found", err: &Error{Code: CodeNotFound, Message: "m"}, wantStatus: 404, wantBody: `{"error":{"code":"not_found","message":"m"}}`},
		{name: "too large", err: &Error{Code: CodeTooLarge, Message: "m"}, wantStatus: 413, wantBody: `{"error":{"code":"too_large","message":"m"}}`},
		{name: "unsupported media", err: &Error{Code: CodeUnsupportedMedia, Message: "m"}, wantStatus: 415, wantBody: `{"error":{"code":"unsupported_media_type","message":"m"}}`},
		{name: "rate limited", err: &Error{Code: CodeRateLimited, Message: "m"}, wantStatus: 429, wantBody: `{"error":{"code":"rate_limited","message":"m"}}`},
		{name: "unavailable", err: &Error{Code: CodeUnavailable, Message: "m"}, wantStatus: 503, wantBody: `{"error":{"code":"unavailable","message":"m"}}`},
		{name: "wrapped", err: fmt.Errorf("scores: %w", &Error{Code: CodeNotFound, Message: "bg-x"}), wantStatus: 404, wantBody: `{"error":{"code":"not_found","message":"bg-x"}}`},
		{name: "internal error text not shown", err: errors.New("clickhouse: password wrong"), wantStatus: 500, wantBody: `{"error":{"code":"internal","message":"internal error"}}`},
		{name: "unknown code", err: &Error{Code: "odd", Message: "m"}, wantStatus: 500, wantBody: `{"error":{"code":"odd","message":"m"}}`},
		{name: "HTML not escaped", err: &Error{Code: CodeInvalid, Message: "<a & b>"}, wantStatus: 400, wantBody: `{"error":{"code":"invalid","message":"<a & b>"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, tt.err)
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Body.String(); got != tt.wantBody+"\n" {
				t.Errorf("body %s, want %s", got, tt.wantBody)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		name, header, want string
		wantOK             bool
	}{
		{name: "token", header: "Bearer abc", want: "abc", wantOK: true},
		{name: "scheme in any case", header: "bearer abc", want: "abc", wantOK: true},
		{name: "spaces trimmed", header: "  Bearer   abc  ", want: "abc", wantOK: true},
		{name: "no header", header: "", wantOK: false},
		{name: "no token", header: "Bearer ", wantOK: false},
		{name: "basic", header: "Basic YWxhZGRpbjpvcGVuc2VzYW1l", wantOK: false},
		{name: "scheme alone", header: "Bearer", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, ok := Bearer(r)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Bearer(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
