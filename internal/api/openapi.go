package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/httpx"
)

// openAPIBase is the OpenAPI 3.1 description of the HTTP API without the
// schemas of the event types' data, which openAPI adds from the type table.
//
//go:embed openapi.json
var openAPIBase []byte

// openAPI is the served description: openAPIBase plus, for each event type,
// components.schemas["data.<type>"], and the Event schema's rule that its
// data is the schema of its type (or null, a retraction).
var openAPI = sync.OnceValues(func() ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIBase, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	comps, _ := doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	event, _ := schemas["Event"].(map[string]any)
	props, _ := event["properties"].(map[string]any)
	typ, _ := props["type"].(map[string]any)
	if typ == nil {
		return nil, fmt.Errorf("openapi.json: no components.schemas.Event.properties.type")
	}
	var names []string
	var rules []any
	for _, t := range events.Types() {
		s := t.DataSchema()
		delete(s, "$schema") // the document's jsonSchemaDialect
		name := "data." + t.Name
		schemas[name] = s
		names = append(names, t.Name)
		rules = append(rules, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": t.Name}}, "required": []string{"type"}},
			"then": map[string]any{"properties": map[string]any{"data": map[string]any{"oneOf": []any{map[string]any{"$ref": "#/components/schemas/" + name}, map[string]any{"type": "null"}}}}},
		})
	}
	typ["enum"] = names
	event["allOf"] = rules
	return json.MarshalIndent(doc, "", " ")
})

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := openAPI()
	if err != nil {
		httpx.WriteError(w, s.translate(err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}
