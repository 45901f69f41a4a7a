package api

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/internal/board"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// startBoardServer runs the API with the board mounted. The engine has no
// store: these tests reach only routes that do not read ClickHouse (the
// pages themselves are tested against a real system in internal/board).
func startBoardServer(tb testing.TB, tokens []string) string {
	tb.Helper()
	reg, cat := registry.Sample(), catalog.Default()
	engine := &scores.Engine{Catalog: cat, Registry: reg}
	b, err := board.New(board.Config{Engine: engine, Trends: board.NewEngineTrends(engine, nil), ReadTokens: tokens})
	if err != nil {
		tb.Fatal(err)
	}
	s := New(Config{Addr: "127.0.0.1:0", ReadTokens: tokens}, Deps{Registry: reg, Catalog: cat, Engine: engine, Board: b, Gatherer: prometheus.NewRegistry()})
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	return "http://" + s.Addr()
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestBoardSignIn(t *testing.T) {
	base := startBoardServer(t, []string{"r3ad-one"})
	client := &http.Client{CheckRedirect: noRedirect}

	// A page without a token goes to the sign-in page, which is open.
	res, err := client.Get(base + "/units/bg-vietyen?as_of=2025-06-30")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin?next="+url.QueryEscape("/units/bg-vietyen?as_of=2025-06-30") {
		t.Fatalf("page without token: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	for _, path := range []string{"/signin", "/signin?lang=en"} {
		if code, h, body := request(t, http.MethodGet, base+path, ""); code != http.StatusOK || !strings.Contains(body, `name="token"`) ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Fatalf("GET %s: %d %v", path, code, h)
		}
	}
	// The API itself still answers 401 in JSON.
	if code, _, body := request(t, http.MethodGet, base+"/v1/units", ""); code != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
		t.Fatalf("GET /v1/units without token: %d %s", code, body)
	}

	post := func(token string) *http.Response {
		res, err := client.PostForm(base+"/signin", url.Values{"token": {token}, "next": {"/v1/units"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post("wrong"); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("wrong token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res = post("r3ad-one")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/v1/units" {
		t.Fatalf("sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || cookies[0].Name != board.CookieName || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v: want one HttpOnly, SameSite=Strict", cookies)
	}
	// With the cookie, reading works; the cookie does not authorise a POST.
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, cookies)
	withJar := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	res, err = withJar.Get(base + "/v1/units")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/units with the cookie: %d", res.StatusCode)
	}
	res, err = withJar.Post(base+"/v1/units", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST with only the cookie: %d", res.StatusCode)
	}
	// A redirect target off the site is refused.
	res, err = client.PostForm(base+"/signin", url.Values{"token": {"r3ad-one"}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Location") != "/" {
		t.Fatalf("next=//evil.example/ redirected to %s", res.Header.Get("Location"))
	}
}

func TestBoardRoutes(t *testing.T) {
	base := startBoardServer(t, nil)
	// Unknown API paths stay JSON; unknown pages are the board's.
	if code, h, body := request(t, http.MethodGet, base+"/v1/nope", ""); code != http.StatusNotFound || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("GET /v1/nope: %d %s %s", code, h.Get("Content-Type"), body)
	}
	if code, h, body := request(t, http.MethodGet, base+"/nope", ""); code != http.StatusNotFound || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `lang="vi"`) {
		t.Fatalf("GET /nope: %d %s", code, h.Get("Content-Type"))
	}
	if code, _, body := request(t, http.MethodGet, base+"/units/no-such-unit?lang=en", ""); code != http.StatusNotFound || !strings.Contains(body, `lang="en"`) {
		t.Fatalf("unknown unit: %d", code)
	}
	// The stylesheet is versioned and cached for ever.
	_, _, page := request(t, http.MethodGet, base+"/signin", "")
	i := strings.Index(page, "/static/board.")
	css := page[i : i+strings.Index(page[i:], `"`)]
	if code, h, _ := request(t, http.MethodGet, base+css, ""); code != http.StatusOK || !strings.Contains(h.Get("Cache-Control"), "immutable") || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("GET %s: %d %v", css, code, h)
	}
}

func TestWantsCSV(t *testing.T) {
	tests := []struct {
		name, query, accept string
		want                bool
	}{
		{"json by default", "", "", false},
		{"browser", "", "text/html,application/xhtml+xml,*/*;q=0.8", false},
		{"csv", "", "text/csv", true},
		{"csv preferred", "", "text/csv, application/json;q=0.5", true},
		{"json preferred", "", "application/json, text/csv;q=0.5", false},
		{"csv refused", "", "text/csv;q=0", false},
		{"link", "format=csv", "text/html", true},
		{"format wins", "format=json", "text/csv", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/v1/scores?"+tt.query, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if got := wantsCSV(r); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
