package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/jsonschema/v6"

	"github.com/bacgiang/cds/events"
)

// compileSchema compiles the schema GET /v1/schemas/{type} serves.
func compileSchema(tb testing.TB, h http.Handler, typ string) *jsonschema.Schema {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/schemas/"+typ, nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/schema+json") {
		tb.Fatalf("GET /v1/schemas/%s: %d %s", typ, rec.Code, rec.Header().Get("Content-Type"))
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(typ+".json", doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile(typ + ".json")
	if err != nil {
		tb.Fatalf("compile the schema of %s: %v", typ, err)
	}
	return s
}

// variant is the example data of a type with one change.
type variant struct {
	name string
	data map[string]any
}

// variants derives, from the type table, data that differs from the example
// in one field: absent, of another JSON type, out of bounds, on the bounds,
// blank, with a control character, too long, outside its enum; and one with
// a field the type does not have.
func variants(tb testing.TB, spec events.TypeSpec) []variant {
	tb.Helper()
	var base map[string]any
	if err := json.Unmarshal(spec.Example(), &base); err != nil {
		tb.Fatal(err)
	}
	with := func(name, field string, v any, drop bool) variant {
		d := make(map[string]any, len(base))
		for k, x := range base {
			d[k] = x
		}
		if drop {
			delete(d, field)
		} else {
			d[field] = v
		}
		return variant{name: field + ": " + name, data: d}
	}
	out := []variant{{name: "example", data: base}, with("unknown field", "extra", true, false)}
	for _, f := range spec.Fields {
		out = append(out, with("absent", f.Name, nil, true), with("null", f.Name, nil, false))
		switch v := base[f.Name].(type) {
		case bool:
			out = append(out, with("a string", f.Name, "yes", false), with("a number", f.Name, 1, false))
		case float64:
			out = append(out, with("a string", f.Name, fmt.Sprint(v), false), with("a boolean", f.Name, true, false))
			if f.Min != 0 || f.Max != 0 {
				out = append(out, with("minimum", f.Name, f.Min, false), with("maximum", f.Name, f.Max, false),
					with("below", f.Name, f.Min-1, false), with("above", f.Name, f.Max+1, false))
			}
			out = append(out, with("a fraction", f.Name, v+0.5, false))
		case string:
			maxLen := f.MaxLen
			if maxLen == 0 {
				maxLen = 128
			}
			out = append(out, with("a number", f.Name, 7, false), with("empty", f.Name, "", false),
				with("blank", f.Name, " \t", false), with("ideographic space", f.Name, "\u3000", false),
				with("control character", f.Name, "a\x01b", false), with("longest", f.Name, strings.Repeat("x", maxLen), false),
				with("too long", f.Name, strings.Repeat("x", maxLen+1), false), with("not blank", f.Name, " x ", false))
			if len(f.Enum) > 0 {
				out = append(out, with("outside the enum", f.Name, "robot", false))
			}
		case []any:
			out = append(out, with("empty", f.Name, []any{}, false), with("an object", f.Name, map[string]any{}, false),
				with("an element without total", f.Name, []any{map[string]any{"sector": "health", "digital": 1}}, false),
				with("an element with more", f.Name, []any{map[string]any{"sector": "health", "total": 2, "digital": 1, "share": 0.5}}, false),
				with("a blank sector", f.Name, []any{map[string]any{"sector": " ", "total": 2, "digital": 1}}, false),
				with("a zero total", f.Name, []any{map[string]any{"sector": "health", "total": 0, "digital": 0}}, false))
		}
	}
	return out
}

// TestSchemasAgreeWithDecode: for every event type, its example and every
// variant of it are accepted by the served JSON Schema exactly when Decode
// accepts them. Only the cross-field rules, which JSON Schema cannot state
// (and the schema's descriptions do), are left to Decode.
func TestSchemasAgreeWithDecode(t *testing.T) {
	h := New(Config{}, Deps{}).Handler()
	for _, spec := range events.Types() {
		t.Run(spec.Name, func(t *testing.T) {
			schema := compileSchema(t, h, spec.Name)
			var refused int
			for _, v := range variants(t, spec) {
				data, err := json.Marshal(v.data)
				if err != nil {
					t.Fatal(err)
				}
				env := fmt.Sprintf(`{"id":"s-1","type":%q,"v":%d,"agency":"bg-ctk","occurred_at":"2025-03-14T09:30:00+07:00","data":%s}`, spec.Name, spec.Version, data)
				_, decErr := events.Decode([]byte(env))
				inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				schemaErr := schema.Validate(inst)
				if crossField(v.data) {
					if decErr == nil {
						t.Errorf("%s: Decode accepts digital_economy above grdp_total\n%s", v.name, data)
					}
					continue
				}
				if (decErr == nil) != (schemaErr == nil) {
					t.Errorf("%s: Decode error %v, schema error %v; want both or neither\n%s", v.name, decErr, schemaErr, data)
				}
				if decErr != nil {
					refused++
				}
			}
			if refused < len(spec.Fields) {
				t.Errorf("only %d variants refused: the variants test little", refused)
			}
		})
	}
}

// crossField reports whether data breaks digital_economy ≤ grdp_total,
// which the schema states in its description only.
func crossField(data map[string]any) bool {
	de, ok1 := data["digital_economy"].(float64)
	gt, ok2 := data["grdp_total"].(float64)
	return ok1 && ok2 && de > gt
}

// TestEventTypesList: GET /v1/schemas lists every type with the path of its
// schema, which answers; an unknown type is 404 and names the known ones.
func TestEventTypesList(t *testing.T) {
	h := New(Config{}, Deps{}).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/schemas", nil))
	var list struct{ Types []EventType }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/schemas: %d %s (%v)", rec.Code, rec.Body, err)
	}
	if len(list.Types) != len(events.Types()) {
		t.Errorf("%d types listed, want %d", len(list.Types), len(events.Types()))
	}
	for _, et := range list.Types {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", et.Schema, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", et.Schema, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/schemas/workfile.lost", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "workfile.processed") {
		t.Errorf("unknown type: %d %s, want 404 naming the known types", rec.Code, rec.Body)
	}
}
