package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/bacgiang/cds/events"
)

// TestOpenAPIReadTokens: on a server with read tokens, every read route of
// the description refuses a request without one with the 401 the
// description states, and GET /healthz stays open. (The answers of a
// running system are checked in internal/app, TestOpenAPIAgainstRunningSystem.)
func TestOpenAPIReadTokens(t *testing.T) {
	h := New(Config{ReadTokens: []string{"reader"}}, Deps{}).Handler()
	get := func(path, token string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	res := get("/v1/openapi.json", "reader")
	var raw struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	doc, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json with the read token: %d %v", res.StatusCode, err)
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	for _, spec := range events.Types() {
		if _, ok := raw.Components.Schemas["data."+spec.Name]; !ok {
			t.Errorf("components.schemas has no data.%s", spec.Name)
		}
	}
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("not a valid OpenAPI 3.1 document: %v", verrs)
	}
	params := strings.NewReplacer("{unit}", "bg", "{indicator}", "HSCV", "{type}", "workfile.processed")
	var checked int
	for path, ops := range raw.Paths {
		op, ok := ops["get"]
		if !ok {
			continue
		}
		concrete := params.Replace(path)
		res := get(concrete, "")
		want := http.StatusUnauthorized
		if len(op.Security) == 1 && len(op.Security[0]) == 0 {
			want = http.StatusOK // open to all: /healthz
		}
		if res.StatusCode != want {
			t.Errorf("GET %s without a token: %d, want %d", concrete, res.StatusCode, want)
			continue
		}
		if want == http.StatusUnauthorized {
			checked++
			req := httptest.NewRequest("GET", concrete, nil)
			if ok, verrs := v.ValidateHttpResponse(req, res); !ok {
				t.Errorf("GET %s: the 401 does not match the description: %v", concrete, verrs)
			}
		}
	}
	if checked < 8 {
		t.Errorf("%d read routes checked, want every one of the description", checked)
	}
}
