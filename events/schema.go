package events

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SchemaDialect is the JSON Schema dialect of DataSchema: draft 2020-12, the
// dialect of OpenAPI 3.1.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// nonBlank matches a string with no control characters and a character that
// is not white space, as Decode requires of every string field. The white
// space is unicode.IsSpace's, written as literal characters so that the
// pattern means the same in ECMA-262 and RE2.
const nonBlank = "^[^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\\x00-\\x1f\\x7f]*$"

// DataSchema returns the JSON Schema of the type's data object, generated
// from its Fields. Decode accepts no data the schema refuses. Two rules are
// stated in descriptions only, since JSON Schema cannot compare fields or
// count bytes: string limits are in bytes of UTF-8 (maxLength counts
// characters, so it is never stricter), and the cross-field checks of
// economy.grdp_reported (digital_economy ≤ grdp_total, digital ≤ total,
// sectors named once).
func (t *TypeSpec) DataSchema() map[string]any {
	props := make(map[string]any, len(t.Fields))
	required := []string{}
	for _, f := range t.Fields {
		props[f.Name] = f.schema()
		if f.Required {
			required = append(required, f.Name)
		}
	}
	desc := fmt.Sprintf("Data of event type %s, version %d. Natural key: %s (%s).", t.Name, t.Version, t.Key, scopeText(t.Scope))
	if feeds := t.FeedsOf(); len(feeds) > 0 {
		desc += " Feeds " + strings.Join(feeds, ", ") + "."
	}
	if t.Removes {
		desc += fmt.Sprintf(" Ends the %s named by %s.", t.Entity, t.Key)
	}
	if t.Emitters == EmitProvince {
		desc += " Sent only by " + t.Emitters.String() + "."
	}
	s := map[string]any{
		"$schema":              SchemaDialect,
		"title":                t.Name,
		"description":          desc,
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	}
	if ex, ok := examples[t.Name]; ok {
		s["examples"] = []json.RawMessage{json.RawMessage(ex)}
	}
	return s
}

// DataSchemaJSON returns DataSchema as indented JSON, as served at
// GET /v1/schemas/{type} and kept in docs/schemas/<type>.json.
func (t *TypeSpec) DataSchemaJSON() []byte {
	b, err := json.MarshalIndent(t.DataSchema(), "", "  ")
	if err != nil {
		panic(fmt.Sprintf("events: schema of %s: %v", t.Name, err)) // only maps, strings and numbers
	}
	return append([]byte(escapeSpaces.Replace(string(b))), '\n')
}

// escapeSpaces writes the white space of nonBlank as JSON escapes, so that
// the served schema shows them (the JSON value is the same).
var escapeSpaces = strings.NewReplacer(
	"\u0085", `\u0085`, "\u00a0", `\u00a0`, "\u1680", `\u1680`, "\u2000", `\u2000`, "\u200a", `\u200a`,
	"\u202f", `\u202f`, "\u205f", `\u205f`, "\u3000", `\u3000`)

// Example returns a valid data object of the type, for documentation and
// tests.
func (t *TypeSpec) Example() json.RawMessage {
	return json.RawMessage(examples[t.Name])
}

func scopeText(s Scope) string {
	if s == ScopeProvince {
		return "unique in the province"
	}
	return "unique within the emitting agency"
}

func (f Field) schema() map[string]any {
	ref, _ := lookupField(f.Name)
	switch ref.kind {
	case kindBool:
		return map[string]any{"type": "boolean"}
	case kindNumber:
		s := map[string]any{"type": "number"}
		if f.Integer {
			s["type"] = "integer"
		}
		if f.Min != 0 || f.Max != 0 {
			s["minimum"], s["maximum"] = f.Min, f.Max
		}
		return s
	case kindSectors:
		return map[string]any{
			"type":        "array",
			"minItems":    1,
			"description": "One entry per sector, each sector named once; digital ≤ total (bn VND).",
			"items": map[string]any{
				"type":                 "object",
				"required":             []string{"sector", "total", "digital"},
				"additionalProperties": false,
				"properties": map[string]any{
					"sector":  stringSchema(128, nil),
					"total":   map[string]any{"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
					"digital": map[string]any{"type": "number", "minimum": 0, "maximum": 1e12},
				},
			},
		}
	}
	maxLen := f.MaxLen
	if maxLen == 0 {
		maxLen = 128
	}
	return stringSchema(maxLen, f.Enum)
}

func stringSchema(maxBytes int, enum []string) map[string]any {
	s := map[string]any{
		"type":        "string",
		"minLength":   1,
		"maxLength":   maxBytes,
		"pattern":     nonBlank,
		"description": fmt.Sprintf("Not blank, no control characters, at most %d bytes of UTF-8.", maxBytes),
	}
	if len(enum) > 0 {
		s["enum"] = enum
	}
	return s
}

// examples holds one valid data object per event type. The keys of the
// removing types name other entities than those of the types they end, so
// that posting every example leaves each indicator something to count.
var examples = map[string]string{
	"service.published":             `{"service_code":"1.004227","level":4,"mobile":true}`,
	"service.withdrawn":             `{"service_code":"1.001612"}`,
	"workfile.processed":            `{"workfile_id":"VY-2025-000123","online":true}`,
	"report.submitted":              `{"report_id":"BC-2025-Q1-017","regime":"quarterly","via_system":true}`,
	"inspection.completed":          `{"inspection_id":"TT-2025-0042","digital":false}`,
	"auth.recorded":                 `{"session_id":"S-20250314-8841","user_kind":"citizen","authenticated":true}`,
	"opendata.published":            `{"dataset_id":"bg-du-lich-2025","title":"Cơ sở lưu trú du lịch năm 2025"}`,
	"enterprise.registered":         `{"enterprise_id":"2400912345","digital":true}`,
	"enterprise.closed":             `{"enterprise_id":"2400100001"}`,
	"economy.grdp_reported":         `{"year":2024,"grdp_total":232000,"digital_economy":41000,"sectors":[{"sector":"industry","total":120000,"digital":26000},{"sector":"agriculture","total":30000,"digital":3100}]}`,
	"economy.productivity_reported": `{"year":2024,"labour_productivity":186.5}`,
	"dti.published":                 `{"year":2024,"rank":9,"score":0.5512}`,
}
