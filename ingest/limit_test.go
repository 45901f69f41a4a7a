package ingest

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestLimitPerAgency: an agency's own rate and burst replace the defaults for
// it alone.
func TestLimitPerAgency(t *testing.T) {
	cfg := Config{Rate: 100, Burst: 2000, Agencies: map[string]Limit{"bg-ctk": {Rate: 500, Burst: 5000}, "bg-yenthe": {Rate: -1}}}.withDefaults()
	l := newLimiter(cfg)
	now := time.Now()
	if d := l.take("bg-ctk", 5000, now); d != 0 {
		t.Errorf("bg-ctk: a burst of 5000 waits %s, want 0", d)
	}
	if d := l.take("bg-ctk", 500, now); d != time.Second {
		t.Errorf("bg-ctk: 500 more wait %s, want 1s at 500 events/s", d)
	}
	if d := l.take("bg-vietyen", 2001, now); d == 0 {
		t.Error("bg-vietyen: a burst of 2001 passed the default of 2000")
	}
	if d := l.take("bg-yenthe", 100000, now); d != 0 {
		t.Errorf("bg-yenthe (no limit): waits %s", d)
	}
	if got := cfg.LimitOf("bg-ctk"); got != (Limit{Rate: 500, Burst: 5000}) {
		t.Errorf("LimitOf(bg-ctk) = %+v", got)
	}
}

// TestGuessingTokensSlowed: past a budget of wrong tokens, an address gets
// 429 without its token being checked, even a right one; the log names the
// address, never the token.
func TestGuessingTokensSlowed(t *testing.T) {
	var logs bytes.Buffer
	auth := func(token string) (string, bool) { return "bg-vietyen", token == "right-token" }
	h := New(Config{}, Deps{Auth: auth, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	try := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(""))
		req.RemoteAddr = "203.0.113.9:4000"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 10 {
		if rec := try(fmt.Sprintf("guess-%d", i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, rec.Code)
		}
	}
	for _, token := range []string{"guess-10", "right-token"} {
		if rec := try(token); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s after 10 failures: %d, Retry-After %q; want 429 with Retry-After", token, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if strings.Contains(logs.String(), "guess-") || !strings.Contains(logs.String(), "authentication failed") || !strings.Contains(logs.String(), "203.0.113.9") {
		t.Errorf("log: %s", logs.String())
	}
}
