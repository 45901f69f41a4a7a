// Package fieldertest checks the errors of the parsers that report their
// problems with package fielderr (the catalogue, the registry).
package fieldertest

import (
	"errors"
	"strings"
	"testing"

	"github.com/bacgiang/cds/internal/fielderr"
)

// CheckParseError fails t unless err, the error of a parse, starts with
// prefix and contains msg, and its first problem names the item code and
// field. code "-" means a decode error, which names no item: err must then
// not hold a *fielderr.Error.
func CheckParseError(t testing.TB, err error, prefix, msg, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", msg)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error %q lacks the package prefix %q", err, prefix)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
	var fe *fielderr.Error
	if code == "-" {
		if errors.As(err, &fe) {
			t.Errorf("got a field error %v, want a decode error", fe)
		}
		return
	}
	if !errors.As(err, &fe) {
		t.Fatalf("error %q is not a *fielderr.Error", err)
	}
	if fe.Code != code || fe.Field != field {
		t.Errorf("the first problem names %s %q field %q, want %q %q", fe.Item, fe.Code, fe.Field, code, field)
	}
}
