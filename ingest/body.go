package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// mediaTypes are the accepted values of Content-Type (besides none at all).
var mediaTypes = []string{"application/json", "application/x-ndjson", "application/ndjson"}

// checkContentType returns a message for the client when the request's
// Content-Type or Content-Encoding is not one cds reads, or "".
func checkContentType(contentType, contentEncoding string) string {
	if enc := strings.TrimSpace(contentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed", enc)
	}
	if strings.TrimSpace(contentType) == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Sprintf("Content-Type %q cannot be parsed; send Content-Type: application/x-ndjson (or application/json), or none", clip(contentType))
	}
	ok := false
	for _, t := range mediaTypes {
		ok = ok || mt == t
	}
	if !ok {
		hint := ""
		if mt == "application/x-www-form-urlencoded" {
			hint = " (curl sends it with -d or --data-binary unless told otherwise: add -H 'Content-Type: application/x-ndjson')"
		}
		return fmt.Sprintf("Content-Type %q is not accepted; send %s, or none%s", clip(mt), strings.Join(mediaTypes, ", "), hint)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Sprintf("charset %q is not accepted: events are UTF-8", clip(cs))
	}
	return ""
}

// part is one event of a request body.
type part struct {
	data []byte // the event, without surrounding white space
	line int    // line of the body where it starts, from 1
	col  int    // byte column of the body line where it starts, from 1
}

// bom is the UTF-8 byte order mark that some Windows tools write first.
var bom = []byte{0xEF, 0xBB, 0xBF}

// errArray is returned by splitBody for a body that is a JSON array.
var errArray = errors.New("the body is a JSON array: send one event, or NDJSON with one event per line (no [ ] and no commas between events)")

// splitBody splits a request body into events. A body that is one JSON value
// (even spread over several lines, pretty-printed) is one event; so is a body
// whose first line is a lone "{", which can only be the start of a
// pretty-printed object (so that its syntax error is reported once, with its
// position, instead of once per line). Otherwise every non-blank line is an
// event (NDJSON; CR LF line ends are fine).
func splitBody(body []byte) ([]part, error) {
	body = bytes.TrimPrefix(body, bom)
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(bytes.TrimSpace(trimmed)) == 0 {
		return nil, nil
	}
	start := len(body) - len(trimmed)
	line, col := position(body, start)
	firstLine, _, _ := bytes.Cut(trimmed, []byte("\n"))
	if json.Valid(trimmed) || bytes.Equal(bytes.TrimSpace(firstLine), []byte("{")) {
		if trimmed[0] == '[' && json.Valid(trimmed) {
			return nil, errArray
		}
		return []part{{data: bytes.TrimSpace(trimmed), line: line, col: col}}, nil
	}
	var parts []part
	line = 1
	for rest := body; len(rest) > 0; line++ {
		l, next, _ := bytes.Cut(rest, []byte("\n"))
		rest = next
		lead := len(l) - len(bytes.TrimLeft(l, " \t\r"))
		if ev := bytes.TrimSpace(l); len(ev) > 0 {
			parts = append(parts, part{data: ev, line: line, col: lead + 1})
		}
	}
	return parts, nil
}

// position returns the line and column (from 1, in bytes) of offset in b.
func position(b []byte, offset int) (line, col int) {
	offset = min(offset, len(b))
	line = 1 + bytes.Count(b[:offset], []byte("\n"))
	return line, offset - bytes.LastIndexByte(b[:offset], '\n')
}

// syntaxError returns a message with the line and column of the first JSON
// syntax error in p, relative to the request body, or "" when p is
// well-formed JSON.
func syntaxError(p part) string {
	var raw json.RawMessage
	err := json.Unmarshal(p.data, &raw)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return ""
	}
	off := int(se.Offset)
	if off > 0 && off <= len(p.data) && se.Error() != "unexpected end of JSON input" {
		off-- // Offset is just past the offending byte
	}
	line, col := position(p.data, off)
	if line == 1 {
		col += p.col - 1
	}
	line += p.line - 1
	msg := se.Error()
	if msg == "unexpected end of JSON input" {
		msg = "the JSON ends before the event is complete (a missing } or \", or a line break inside the event: NDJSON needs each event on one line)"
	}
	return fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, msg)
}

// clip shortens a value echoed back in a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
