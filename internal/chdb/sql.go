package chdb

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Set binds a list of strings for IN; a plain slice would bind as an Array
// literal. An empty list binds as a list of the empty string, which no
// indicator code, event type or unit code is.
func Set(values []string) clickhouse.GroupSet {
	vs := make([]any, len(values))
	for i, v := range values {
		vs[i] = v
	}
	if len(vs) == 0 {
		vs = []any{""}
	}
	return clickhouse.GroupSet{Value: vs}
}

// quoteEscaper escapes a string literal's backslashes and quotes; built
// once (a Replacer per literal was a drill-down answer's largest garbage
// after its rows: DrillSQL inlines every unit and type).
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// Literal writes v as a ClickHouse SQL literal, quoting by its type: a
// string between single quotes with backslashes and quotes escaped, an
// integer in decimal, a Set as a parenthesised list. It is for SQL shown
// to people (Inline) and for the few literals a statement cannot bind; it
// panics on any other type, which is a programming error.
func Literal(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + quoteEscaper.Replace(x) + "'"
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case clickhouse.GroupSet:
		q := make([]string, len(x.Value))
		for i, v := range x.Value {
			q[i] = Literal(v)
		}
		return "(" + strings.Join(q, ", ") + ")"
	}
	panic(fmt.Sprintf("chdb.Literal: no literal for %T", v))
}

// Inline renders sql with its ? placeholders replaced by args written as
// literals, for analysts to run as it is. sql must have no ? but its
// placeholders.
func Inline(sql string, args []any) string {
	var b strings.Builder
	i := 0
	for _, r := range sql {
		if r != '?' || i >= len(args) {
			b.WriteRune(r)
			continue
		}
		b.WriteString(Literal(args[i]))
		i++
	}
	return b.String()
}
