// Package fielderr reports the problems found in a data file whose items
// are named by a code (the indicator catalogue, the unit registry): each
// problem names the item, by code and position, and the field; a parser
// collects all of them in a List and returns them joined, so that one run
// shows the author every problem of the file. Decode and ReadFile read such
// a file strictly.
package fielderr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Max caps how many problems one List error lists.
const Max = 25

// An Error is one problem: which item (by code, and by position) and which
// field.
type Error struct {
	Item  string // what the file's items are: "indicator", "unit"
	Code  string // the item's code as written, possibly empty or malformed
	Index int    // position of the item in the file, from 0; -1 for the file itself
	Field string // JSON field, e.g. "milestones[1].targets"
	Msg   string
}

func (e *Error) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("%s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("%s %q (#%d): %s: %s", e.Item, e.Code, e.Index, e.Field, e.Msg)
}

// A List collects the problems of one file of Item (e.g. "unit").
type List struct {
	Item string
	errs []error
}

// Add adds a problem of the item code at index (-1: the file itself) in
// field.
func (l *List) Add(code string, index int, field, format string, args ...any) {
	l.errs = append(l.errs, &Error{Item: l.Item, Code: code, Index: index, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Len is the number of problems found.
func (l *List) Len() int { return len(l.errs) }

// Err returns nil when no problem was found, else the first Max problems
// joined under what (e.g. "registry: invalid registry"); errors.As finds
// the first *Error.
func (l *List) Err(what string) error {
	if len(l.errs) == 0 {
		return nil
	}
	list := l.errs
	if len(list) > Max {
		list = append(list[:Max:Max], fmt.Errorf("and %d more problems", len(l.errs)-Max))
	}
	return fmt.Errorf("%s:\n%w", what, errors.Join(list...))
}

// ReadFile reads the data file at path and parses it with parse. Its
// errors name the package (pkg: "catalog") when the file cannot be read,
// the file when it does not parse.
func ReadFile[T any](pkg, path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	b, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", pkg, err)
	}
	v, err := parse(bytes.NewReader(b))
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// Decode decodes r, which must hold one JSON object and nothing after it,
// into v, refusing fields v does not have. Its errors start with
// "<pkg>: decode:"; what names the object ("catalogue").
func Decode(r io.Reader, v any, pkg, what string) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: decode: %w", pkg, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: decode: unexpected data after the %s object", pkg, what)
	}
	return nil
}
