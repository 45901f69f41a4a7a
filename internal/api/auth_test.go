package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// startServer runs the API on a free port with the registry and catalogue
// and no score engine: enough for the routes that do not read ClickHouse.
func startServer(tb testing.TB, cfg Config) string {
	tb.Helper()
	cfg.Addr = "127.0.0.1:0"
	s := New(cfg, Deps{Registry: registry.Sample(), Catalog: catalog.Default(), Gatherer: prometheus.NewRegistry()})
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	return "http://" + s.Addr()
}

func request(tb testing.TB, method, url, auth string) (int, http.Header, string) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func TestReadOpenByDefault(t *testing.T) {
	base := startServer(t, Config{})
	for _, path := range []string{"/v1/units", "/v1/indicators", "/metrics", "/healthz"} {
		if code, _, body := request(t, http.MethodGet, base+path, ""); code != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, code, body)
		}
	}
}

func TestReadTokens(t *testing.T) {
	base := startServer(t, Config{ReadTokens: []string{"r3ad-one", " r3ad-two "}})
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"units without token", "GET", "/v1/units", "", 401},
		{"units with a wrong token", "GET", "/v1/units", "Bearer r3ad", 401},
		{"units with a token as Basic", "GET", "/v1/units", "Basic r3ad-one", 401},
		{"units", "GET", "/v1/units", "Bearer r3ad-one", 200},
		{"second token", "GET", "/v1/units", "Bearer r3ad-two", 200},
		{"lower-case scheme", "GET", "/v1/indicators", "bearer r3ad-one", 200},
		{"indicators without token", "GET", "/v1/indicators", "", 401},
		{"scores without token", "GET", "/v1/scores?milestone=2025&level=commune", "", 401},
		{"unit score without token", "GET", "/v1/scores/bg", "", 401},
		{"head without token", "HEAD", "/v1/units", "", 401},
		{"metrics without token", "GET", "/metrics", "", 401},
		{"metrics", "GET", "/metrics", "Bearer r3ad-two", 200},
		{"healthz is open", "GET", "/healthz", "", 200},
		{"healthz head is open", "HEAD", "/healthz", "", 200},
		{"unknown route without token", "GET", "/v1/secret", "", 401},
		{"unknown route with token", "GET", "/v1/secret", "Bearer r3ad-one", 404},
		{"trailing slash", "GET", "/v1/units/", "", 401},
		{"ingest authenticates agencies itself", "POST", "/v1/events", "", 503}, // no ingest in this server
		{"ingest under another path", "POST", "/v1/events/", "", 401},
		{"get of the ingest path", "GET", "/v1/events", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := request(t, tt.method, base+tt.path, tt.auth)
			if code != tt.want {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, code, tt.want, body)
			}
			if code == 401 && tt.method != "HEAD" {
				if h.Get("WWW-Authenticate") == "" || !strings.Contains(body, `"code":"unauthorized"`) || !strings.Contains(body, "read token") {
					t.Errorf("401 answer: %v %s", h, body)
				}
			}
		})
	}
}

// TestSecurityHeaders: every answer, an error or not, carries nosniff and a
// referrer policy.
func TestSecurityHeaders(t *testing.T) {
	base := startServer(t, Config{ReadTokens: []string{"r3ad"}})
	for _, tt := range []struct{ path, auth string }{{"/healthz", ""}, {"/v1/units", "Bearer r3ad"}, {"/v1/units", ""}, {"/nowhere", "Bearer r3ad"}} {
		_, h, _ := request(t, http.MethodGet, base+tt.path, tt.auth)
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", tt.path, h)
		}
	}
}

// TestReadTokenGuessingSlowed: after 10 wrong read tokens from one address,
// its requests get 429 unchecked, the right token too.
func TestReadTokenGuessingSlowed(t *testing.T) {
	base := startServer(t, Config{ReadTokens: []string{"r3ad"}})
	for i := range 10 {
		if code, _, _ := request(t, http.MethodGet, base+"/v1/units", "Bearer guess"+string(rune('a'+i))); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code, h, _ := request(t, http.MethodGet, base+"/v1/units", "Bearer r3ad"); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("right token after 10 wrong ones: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
	if code, _, _ := request(t, http.MethodGet, base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz during the block: %d", code)
	}
}
