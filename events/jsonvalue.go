package events

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// describeValue names the JSON value at the start of raw, the rest of the
// input that the decoder reports with a type error (UnmarshalTypeError.Value,
// possibly cut short): `string "yes"`, `number 5`, `boolean true`, `null`,
// `an array`, `an object`. Values are clipped (clip). segmentio/encoding
// reports the rest as a Go-quoted string, which is unquoted first.
func describeValue(raw string) string {
	if u, err := strconv.Unquote(raw); err == nil {
		raw = u
	}
	raw = strings.TrimLeft(raw, " \t\r\n")
	if raw == "" {
		return "nothing"
	}
	// encoding/json names the kind itself: "string", "number 1.5", "bool".
	if kind, _, _ := strings.Cut(raw, " "); kind == "string" || kind == "number" || kind == "bool" || kind == "array" || kind == "object" {
		return raw
	}
	switch raw[0] {
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	var v json.RawMessage
	if err := json.NewDecoder(strings.NewReader(raw)).Decode(&v); err != nil {
		// Cut short: name the kind only.
		switch c := raw[0]; {
		case c == '"':
			return "a string"
		case c == 't' || c == 'f':
			return "a boolean"
		case c == 'n':
			return "null"
		default:
			return "a number"
		}
	}
	v = bytes.TrimSpace(v)
	switch c := v[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			b, _ := json.Marshal(clip(s)) // a string always marshals
			return "string " + string(b)
		}
		return "a string"
	case c == 't' || c == 'f':
		return "boolean " + string(v)
	case c == 'n':
		return "null"
	default:
		return "number " + clip(string(v))
	}
}
