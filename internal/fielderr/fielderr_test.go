package fielderr

import (
	"errors"
	"strings"
	"testing"
)

func TestListNamesItemAndField(t *testing.T) {
	l := List{Item: "unit"}
	if err := l.Err("registry: invalid registry"); err != nil {
		t.Fatalf("no problem: %v, want nil", err)
	}
	l.Add("", -1, "version", "missing")
	l.Add("bg-x", 3, "parent", "unknown unit %q", "bg-y")
	err := l.Err("registry: invalid registry")
	want := "registry: invalid registry:\nversion: missing\nunit \"bg-x\" (#3): parent: unknown unit \"bg-y\""
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Field != "version" || fe.Index != -1 {
		t.Errorf("errors.As: %+v, want the first problem (version)", fe)
	}
}

func TestListCapsProblems(t *testing.T) {
	l := List{Item: "indicator"}
	for i := 0; i < Max+7; i++ {
		l.Add("X", i, "code", "bad")
	}
	msg := l.Err("catalog: invalid catalogue").Error()
	if n := strings.Count(msg, "indicator \"X\""); n != Max {
		t.Errorf("%d problems listed, want %d", n, Max)
	}
	if !strings.HasSuffix(msg, "and 7 more problems") {
		t.Errorf("error does not end with the count of the others: %q", msg[len(msg)-60:])
	}
}

func TestDecodeIsStrict(t *testing.T) {
	var v struct {
		Version string `json:"version"`
	}
	if err := Decode(strings.NewReader(`{"version":"1"}`), &v, "registry", "registry"); err != nil || v.Version != "1" {
		t.Fatalf("valid object: %v, %+v", err, v)
	}
	for in, want := range map[string]string{
		`{"version":"1","extra":2}`: `registry: decode: json: unknown field "extra"`,
		`{"version":"1"} {}`:        "registry: decode: unexpected data after the registry object",
		`[1]`:                       "registry: decode: json: cannot unmarshal array",
	} {
		if err := Decode(strings.NewReader(in), &v, "registry", "registry"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want %q…", in, err, want)
		}
	}
}
