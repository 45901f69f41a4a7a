package events

import (
	"strings"
	"testing"
)

// TestTypeErrorMessage: a value of the wrong JSON type is quoted alone, not
// with the rest of the input (issue 16: `got "\"yes\"}"`).
func TestTypeErrorMessage(t *testing.T) {
	const ok = `{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"VY-1","online":true}}`
	tests := []struct {
		name, from, to, want string
	}{
		{"string for boolean", `"online":true`, `"online":"yes"`, `data.online: malformed: expected a boolean, got string "yes"`},
		{"number for boolean", `"online":true`, `"online":1.5`, `data.online: malformed: expected a boolean, got number 1.5`},
		{"array for boolean", `"online":true`, `"online":[true]`, `data.online: malformed: expected a boolean, got an array`},
		{"null for string", `"workfile_id":"VY-1"`, `"workfile_id":{"a":1}`, `data.workfile_id: malformed: expected a string, got an object`},
		{"string for v", `"v":1`, `"v":"1"`, `v: malformed: expected a number, got string "1"`},
		{"number for id", `"id":"e1"`, `"id":7`, `id: malformed: expected a string, got number 7`},
		{"quote in string", `"online":true`, `"online":"a\"b"`, `data.online: malformed: expected a boolean, got string "a\"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(strings.Replace(ok, tt.from, tt.to, 1)))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
}

func TestDescribeValueCutShort(t *testing.T) {
	for in, want := range map[string]string{`"abc`: "a string", `tru`: "a boolean", `12`: "number 12", `nul`: "null", ``: "nothing"} {
		if got := describeValue(in); got != want {
			t.Errorf("describeValue(%q) = %q, want %q", in, got, want)
		}
	}
}
