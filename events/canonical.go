package events

import (
	"strconv"
)

// appendData appends the canonical JSON of p to dst: the fields of the type
// in its declared order, no whitespace, numbers in plain decimal (2025, not
// 2.025e3), strings with only the escapes JSON requires. It is what
// cds.events stores as data, so ClickHouse's visitParamExtract* read exactly
// what the fold read (docs/security.md, "One reading").
func (t *TypeSpec) appendData(dst []byte, p *Payload) []byte {
	dst = append(dst, '{')
	first := true
	for i, f := range t.Fields {
		ref := t.refs[i]
		if !ref.present(p) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, f.Name...)
		dst = append(dst, '"', ':')
		switch ref.kind {
		case kindString:
			dst = appendString(dst, *ref.str(p))
		case kindBool:
			dst = strconv.AppendBool(dst, *ref.boolean(p))
		case kindNumber:
			dst = appendNumber(dst, *ref.num(p))
		case kindSectors:
			dst = append(dst, '[')
			for i, s := range *p.Sectors {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `{"sector":`...)
				dst = appendString(dst, *s.Sector)
				dst = append(dst, `,"total":`...)
				dst = appendNumber(dst, *s.Total)
				dst = append(dst, `,"digital":`...)
				dst = appendNumber(dst, *s.Digital)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

func appendNumber(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// appendString appends s as a JSON string: '"' and '\' escaped, control
// characters as \u00XX (the checks refuse them in every field; this keeps
// the output valid JSON whatever it is given), the rest as UTF-8.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
