package events

import (
	"bytes"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// One reading (docs/security.md, "One reading"): the Go decoder takes the last of duplicate
// keys, matches keys case-insensitively and unescapes \u in key names, while
// ClickHouse's visitParamExtract* takes the first literal match. checkKeys
// refuses every object key on which the two could disagree, before decoding.

// knownKeys are the field names of every object of an event (envelope,
// data, sectors elements); a name's index is its bit in the duplicate mask of
// one object. keySlots finds a name's index without hashing the whole key.
var knownKeys, keySlots = func() ([]string, [64][]uint8) {
	names := []string{"id", "type", "v", "agency", "occurred_at", "supersedes", "data", "sector", "total"}
	for _, f := range payloadFields {
		if !slices.Contains(names, f.name) {
			names = append(names, f.name)
		}
	}
	if len(names) > 64 {
		panic("events: more than 64 field names: widen the duplicate mask of checkKeys")
	}
	var slots [64][]uint8
	for i, n := range names {
		h := keySlot([]byte(n))
		slots[h] = append(slots[h], uint8(i))
	}
	return names, slots
}()

func keySlot(key []byte) int {
	return (len(key)*7 + int(key[0])*3 + int(key[len(key)-1])) & 63
}

// knownKey returns the index of key in knownKeys.
func knownKey(key []byte) (uint, bool) {
	if len(key) == 0 {
		return 0, false
	}
	for _, i := range keySlots[keySlot(key)] {
		if string(key) == knownKeys[i] {
			return uint(i), true
		}
	}
	return 0, false
}

// maxKeyDepth bounds the objects checkKeys tracks; an event has three levels
// (envelope, data, a sector), anything deeper is refused by the decoder.
const maxKeyDepth = 8

// checkKeys scans the JSON text b and refuses, in any object, a key written
// with an escape, a key that appears twice, and a key that is not a field
// name but equals one when case is ignored. It leaves syntax errors and
// unknown keys to the decoder: on text it cannot follow it returns nil.
func checkKeys(b []byte) *Error {
	var stack [maxKeyDepth]keyFrame
	depth := -1
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			depth++
			if depth == maxKeyDepth {
				return nil
			}
			stack[depth] = keyFrame{object: c == '{'}
			expectKey = c == '{'
		case '}', ']':
			if depth < 0 {
				return nil
			}
			depth--
			expectKey = false
		case ',':
			if depth < 0 {
				return nil
			}
			if stack[depth].object {
				expectKey = true
			} else {
				stack[depth].index++
			}
		case '"':
			end, escaped := stringEnd(b, i+1)
			if end < 0 {
				return nil
			}
			if !expectKey || depth < 0 {
				i = end
				continue
			}
			expectKey = false
			f := &stack[depth]
			key := b[i+1 : end]
			f.key = key
			if escaped {
				return errf(ReasonMalformed, keyPath(stack[:depth+1]), "escaped characters (\\) are not allowed in field names: write the name as is")
			}
			if n, ok := knownKey(key); ok {
				if f.seen&(1<<n) != 0 {
					return errf(ReasonMalformed, keyPath(stack[:depth+1]), "the field appears twice in one object")
				}
				f.seen |= 1 << n
			} else if name, ok := foldedKey(key); ok {
				return errf(ReasonUnknownField, keyPath(stack[:depth+1]), "field names are case-sensitive: expected %q", name)
			}
			i = end
		}
	}
	return nil
}

// keyFrame is one open object or array of checkKeys.
type keyFrame struct {
	object bool
	seen   uint64 // objects: the known keys read, by knownKeys index
	key    []byte // objects: the key last read
	index  int    // arrays: the element being read
}

// keyPath is the JSON path of the key last read in the innermost object of
// stack, in the form of the decoder's errors: "id", "data.online",
// "data.sectors[1].sector".
func keyPath(stack []keyFrame) string {
	var p []byte
	for d, f := range stack {
		switch {
		case !f.object:
			p = append(p, '[')
			p = strconv.AppendInt(p, int64(f.index), 10)
			p = append(p, ']')
		case d > 0:
			p = append(p, '.')
			fallthrough
		default:
			p = append(p, f.key...)
		}
	}
	return string(p)
}

// stringEnd returns the index of the quote closing the JSON string that
// starts at b[i], and whether it holds an escape; -1 when it is not closed.
func stringEnd(b []byte, i int) (int, bool) {
	q := bytes.IndexByte(b[i:], '"')
	if q < 0 {
		return -1, false
	}
	if bytes.IndexByte(b[i:i+q], '\\') < 0 {
		return i + q, false
	}
	escaped := false
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i, escaped
		case '\\':
			escaped = true
			i++
		}
	}
	return -1, escaped
}

// foldedKey returns the field name that key equals when case is ignored (the
// way encoding/json matches names, with Unicode folding: "ſ" is "s"). The
// names are lower-case ASCII, so a key without upper case or non-ASCII bytes
// matches none of them.
func foldedKey(key []byte) (string, bool) {
	plain := true
	for _, c := range key {
		if 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return "", false
	}
	for _, name := range knownKeys {
		if bytes.EqualFold(key, []byte(name)) {
			return name, true
		}
	}
	return "", false
}

// badRune reports characters refused in every string that becomes a key, a
// dimension or a name: controls (C0, DEL, C1), format characters (zero-width
// spaces and joiners, bidi embeddings, overrides and isolates such as U+202E,
// the BOM, soft hyphen) and the line and paragraph separators. They make two
// values that print the same differ, or reorder what a reader sees.
func badRune(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// hasBadRune reports whether s holds a character badRune refuses; ASCII text
// costs one pass over its bytes.
func hasBadRune(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if badRune(r) {
			return true
		}
		i += n
	}
	return false
}
