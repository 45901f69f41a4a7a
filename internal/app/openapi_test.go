package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
)

// apiCase is one request to a running system and the status it must get.
type apiCase struct {
	name   string
	method string
	path   string
	agency string // POST: send with this agency's token; "" sends none
	ctype  string
	body   string
	want   int
}

// openAPIChecker checks answers of a running system against the OpenAPI
// description the system itself serves, and records which operations were
// exercised.
type openAPIChecker struct {
	base   string
	tokens map[string]string
	v      validator.Validator
	spec   map[string]map[string]any // path → method → operation
	seen   map[string]bool           // "METHOD path" of the description
}

func newOpenAPIChecker(tb testing.TB, sys *System) *openAPIChecker {
	tb.Helper()
	c := &openAPIChecker{base: "http://" + sys.API.Addr(), seen: map[string]bool{}, tokens: map[string]string{}}
	res, err := http.Get(c.base + "/v1/openapi.json")
	if err != nil {
		tb.Fatalf("GET /v1/openapi.json: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("GET /v1/openapi.json: %s %s", res.Status, b)
	}
	var raw struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		tb.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(raw.OpenAPI, "3.1") {
		tb.Fatalf("openapi %q, want 3.1", raw.OpenAPI)
	}
	c.spec = map[string]map[string]any{}
	for p, ops := range raw.Paths {
		c.spec[p] = map[string]any{}
		for m, op := range ops {
			c.spec[p][strings.ToUpper(m)] = op
		}
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		tb.Fatalf("parse openapi.json: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		tb.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		tb.Fatalf("openapi.json is not a valid OpenAPI 3.1 document: %v", verrs)
	}
	c.v = v
	f, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	for code, a := range f.Agencies {
		c.tokens[code] = a.HTTPToken
	}
	return c
}

// do sends tc, checks its status and that request (when it should succeed)
// and answer match the description, and returns the body.
func (c *openAPIChecker) do(tb testing.TB, tc apiCase) []byte {
	tb.Helper()
	req, err := http.NewRequest(tc.method, c.base+tc.path, strings.NewReader(tc.body))
	if err != nil {
		tb.Fatal(err)
	}
	if tc.agency != "" {
		req.Header.Set("Authorization", "Bearer "+c.tokens[tc.agency])
	}
	if tc.ctype != "" {
		req.Header.Set("Content-Type", tc.ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", tc.method, tc.path, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != tc.want {
		tb.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, res.StatusCode, tc.want, b)
	}
	// The description's operation, for the record of what was exercised.
	path, _, _ := strings.Cut(tc.path, "?")
	for p, ops := range c.spec {
		if _, ok := ops[tc.method]; ok && pathMatches(p, path) {
			c.seen[tc.method+" "+p] = true
		}
	}
	if res.StatusCode < 300 {
		c.checkRequest(tb, tc, req.Header)
	}
	check, _ := http.NewRequest(tc.method, c.base+tc.path, strings.NewReader(tc.body))
	check.Header = req.Header.Clone()
	res.Body = io.NopCloser(bytes.NewReader(b))
	if ok, verrs := c.v.ValidateHttpResponse(check, res); !ok {
		tb.Errorf("%s %s: answer %d does not match the description: %s\n%s", tc.method, tc.path, res.StatusCode, validationText(verrs), clipBody(b))
	}
	return b
}

// checkRequest checks a request that succeeded against the description; an
// NDJSON body line by line, each as the one JSON event it is.
func (c *openAPIChecker) checkRequest(tb testing.TB, tc apiCase, h http.Header) {
	tb.Helper()
	bodies := []string{tc.body}
	if strings.Contains(tc.ctype, "ndjson") {
		bodies = slices.DeleteFunc(strings.Split(tc.body, "\n"), func(l string) bool { return strings.TrimSpace(l) == "" })
		h = h.Clone()
		h.Set("Content-Type", "application/json")
	}
	for _, body := range bodies {
		check, _ := http.NewRequest(tc.method, c.base+tc.path, strings.NewReader(body))
		check.Header = h
		if ok, verrs := c.v.ValidateHttpRequest(check); !ok {
			tb.Errorf("%s %s: request does not match the description: %s", tc.method, tc.path, validationText(verrs))
		}
	}
}

func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func validationText[T error](errs []T) string {
	var sb strings.Builder
	for _, e := range errs {
		sb.WriteString("\n  " + e.Error())
	}
	return sb.String()
}

func clipBody(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// exampleEvent wraps the example data of an event type in an envelope of an
// agency allowed to send it.
func exampleEvent(spec events.TypeSpec, id string) (agency, body string) {
	agency = "bg-vietyen"
	if spec.Emitters == events.EmitProvince {
		agency = "bg-ctk"
	}
	return agency, fmt.Sprintf(`{"id":%q,"type":%q,"v":%d,"agency":%q,"occurred_at":"2025-03-14T09:30:00+07:00","data":%s}`,
		id, spec.Name, spec.Version, agency, spec.Example())
}

// TestOpenAPIAgainstRunningSystem: every route of the OpenAPI description
// that the system serves is exercised on real servers, and every answer —
// successes and refusals — matches the description. The example of every
// event type is posted, accepted, and then counted.
func TestOpenAPIAgainstRunningSystem(t *testing.T) {
	sys := mustSystem(t)
	c := newOpenAPIChecker(t, sys)

	ids := map[string]string{} // event type → id of its posted example
	t.Run("examples accepted", func(t *testing.T) {
		for _, spec := range events.Types() {
			id := "ex-" + strings.ReplaceAll(spec.Name, ".", "-")
			ids[spec.Name] = id
			agency, body := exampleEvent(spec, id)
			var resp struct {
				Accepted int `json:"accepted"`
				Results  []struct {
					ID, Status string
				} `json:"results"`
			}
			b := c.do(t, apiCase{method: "POST", path: "/v1/events", agency: agency, ctype: "application/json", body: body, want: http.StatusAccepted})
			if err := json.Unmarshal(b, &resp); err != nil || resp.Accepted != 1 || len(resp.Results) != 1 || resp.Results[0].ID != id {
				t.Errorf("%s: answer %s (%v), want 1 accepted with id %s", spec.Name, b, err, id)
			}
		}
	})
	waitCaughtUp(t, sys)

	t.Run("examples counted", func(t *testing.T) {
		ctx := context.Background()
		rows, err := sys.CH.DB.Query(ctx, "SELECT type, id FROM "+sys.CH.DB.Table("events"))
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]string{}
		for rows.Next() {
			var typ, id string
			if err := rows.Scan(&typ, &id); err != nil {
				t.Fatal(err)
			}
			stored[typ] = id
		}
		rows.Close()
		for typ, id := range ids {
			if stored[typ] != id {
				t.Errorf("cds.events: %s holds %q, want the example %s", typ, stored[typ], id)
			}
		}
		// Each indicator a type feeds lists the example among the events
		// behind the province's value.
		for _, spec := range events.Types() {
			for _, ind := range spec.FeedsOf() {
				var d struct {
					Events []struct{ ID string } `json:"events"`
				}
				b := c.do(t, apiCase{method: "GET", path: "/v1/scores/bg/" + ind + "/events?as_of=2025-06-30&milestone=2025", want: http.StatusOK})
				_ = json.Unmarshal(b, &d)
				if !slices.ContainsFunc(d.Events, func(e struct{ ID string }) bool { return e.ID == ids[spec.Name] }) {
					t.Errorf("%s of bg: the events behind it do not include the example of %s (%s): %s", ind, spec.Name, ids[spec.Name], clipBody(b))
				}
			}
		}
	})

	wfBody := eventtest.Workfile("oa-1", "bg-vietyen", "2025-03-15T10:00:00+07:00", "VY-OA-1", true)
	cases := []apiCase{
		{name: "health", method: "GET", path: "/healthz", want: 200},
		{name: "metrics", method: "GET", path: "/metrics", want: 200},
		{name: "openapi", method: "GET", path: "/v1/openapi.json", want: 200},
		{name: "indicators", method: "GET", path: "/v1/indicators", want: 200},
		{name: "units", method: "GET", path: "/v1/units?as_of=2025-06-30", want: 200},
		{name: "units of a level", method: "GET", path: "/v1/units?as_of=2025-06-30&level=district", want: 200},
		{name: "every unit", method: "GET", path: "/v1/units?all=1", want: 200},
		{name: "units bad level", method: "GET", path: "/v1/units?level=village", want: 400},
		{name: "scores", method: "GET", path: "/v1/scores?milestone=2025&level=district&as_of=2025-06-30", want: 200},
		{name: "scores communes", method: "GET", path: "/v1/scores?level=commune&as_of=2025-06-30", want: 200},
		{name: "scores no units", method: "GET", path: "/v1/scores?level=district&as_of=2026-01-01", want: 200},
		{name: "scores bad as_of", method: "GET", path: "/v1/scores?as_of=30/06/2025", want: 400},
		{name: "scores bad milestone", method: "GET", path: "/v1/scores?milestone=2024&as_of=2025-06-30", want: 400},
		{name: "unit", method: "GET", path: "/v1/scores/bg-vietyen?milestone=2025&as_of=2025-06-30", want: 200},
		{name: "province", method: "GET", path: "/v1/scores/bg?as_of=2025-06-30", want: 200},
		{name: "unknown unit", method: "GET", path: "/v1/scores/bg-nowhere?as_of=2025-06-30", want: 404},
		{name: "unit not in force", method: "GET", path: "/v1/scores/bg-vietyen?as_of=2025-07-01", want: 404},
		{name: "drill", method: "GET", path: "/v1/scores/bg-vietyen/HSCV/events?as_of=2025-06-30&limit=10", want: 200},
		{name: "drill page past the end", method: "GET", path: "/v1/scores/bg-vietyen/HSCV/events?as_of=2025-06-30&offset=50", want: 200},
		{name: "drill unknown indicator", method: "GET", path: "/v1/scores/bg-vietyen/NOPE/events?as_of=2025-06-30", want: 404},
		{name: "drill bad offset", method: "GET", path: "/v1/scores/bg-vietyen/HSCV/events?offset=-1", want: 400},
		{name: "drill limit above the maximum", method: "GET", path: "/v1/scores/bg-vietyen/HSCV/events?as_of=2025-06-30&limit=1001", want: 400},
		{name: "drill by id", method: "GET", path: "/v1/scores/bg-vietyen/HSCV/events?as_of=2025-06-30&id=oa-2", want: 200},
		{name: "drill by key", method: "GET", path: "/v1/scores/bg-vietyen/HSCV/events?as_of=2025-06-30&key=bg-vietyen/VY-OA-2", want: 200},
		{name: "silence", method: "GET", path: "/v1/silence?as_of=2025-06-30&days=30&level=district", want: 200},
		{name: "silence bad days", method: "GET", path: "/v1/silence?days=0", want: 400},
		{name: "schemas", method: "GET", path: "/v1/schemas", want: 200},
		{name: "schema", method: "GET", path: "/v1/schemas/economy.grdp_reported", want: 200},
		{name: "schema unknown", method: "GET", path: "/v1/schemas/workfile.lost", want: 404},
		{name: "post ndjson", method: "POST", path: "/v1/events", agency: "bg-vietyen", ctype: "application/x-ndjson", body: wfBody + "\n" + eventtest.Workfile("oa-2", "bg-vietyen", "2025-03-15T10:00:00+07:00", "VY-OA-2", false) + "\n", want: 202},
		{name: "post duplicate", method: "POST", path: "/v1/events", agency: "bg-vietyen", ctype: "application/json", body: wfBody, want: 200},
		{name: "post invalid event", method: "POST", path: "/v1/events", agency: "bg-vietyen", ctype: "application/json", body: strings.Replace(wfBody, `"online":true`, `"online":"yes"`, 1), want: 400},
		{name: "post empty", method: "POST", path: "/v1/events", agency: "bg-vietyen", ctype: "application/json", body: "", want: 400},
		{name: "post other agency", method: "POST", path: "/v1/events", agency: "bg-hiephoa", ctype: "application/json", body: eventtest.Workfile("oa-3", "bg-vietyen", "2025-03-15T10:00:00+07:00", "VY-OA-3", true), want: 403},
		{name: "post province figure from a district", method: "POST", path: "/v1/events", agency: "bg-vietyen", ctype: "application/json", body: `{"id":"oa-4","type":"dti.published","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-15T10:00:00+07:00","data":{"year":2024,"rank":1,"score":0.9}}`, want: 403},
		{name: "post no token", method: "POST", path: "/v1/events", ctype: "application/json", body: wfBody, want: 401},
		{name: "post form", method: "POST", path: "/v1/events", agency: "bg-vietyen", ctype: "application/x-www-form-urlencoded", body: wfBody, want: 415},
		{name: "dlq of an agency", method: "GET", path: "/v1/dlq?limit=1", agency: "bg-vietyen", want: 200},
		{name: "dlq of every agency", method: "GET", path: "/v1/dlq?reason=malformed", want: 200},
		{name: "dlq limit above the maximum", method: "GET", path: "/v1/dlq?limit=501", agency: "bg-vietyen", want: 400},
		{name: "dlq of another agency", method: "GET", path: "/v1/dlq?agency=bg-hiephoa", agency: "bg-vietyen", want: 403},
	}
	t.Run("routes", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { c.do(t, tc) })
		}
	})

	// Every operation of the description was exercised.
	for p, ops := range c.spec {
		for m := range ops {
			if !c.seen[m+" "+p] {
				t.Errorf("%s %s is in the description but no case exercised it", m, p)
			}
		}
	}
}
