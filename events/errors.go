package events

import (
	"errors"
	"fmt"
)

// Reason classifies why an event was refused. Reasons are stable strings: they
// appear in HTTP answers, in dead-letter subjects (cds.dlq.<reason>) and in metrics.
type Reason string

// Reasons an event can be refused.
const (
	ReasonMalformed      Reason = "malformed"        // not a JSON object, or a field of the wrong JSON type
	ReasonMissingField   Reason = "missing_field"    // a required field is absent or empty
	ReasonInvalidField   Reason = "invalid_field"    // a field is present but its value is not allowed
	ReasonUnknownType    Reason = "unknown_type"     // type is not one of the event types of docs/design.md
	ReasonUnknownVersion Reason = "unknown_version"  // v is not a schema version this build knows
	ReasonUnknownField   Reason = "unknown_field"    // a field the schema does not have (often a typo)
	ReasonFuture         Reason = "future"           // occurred_at too far in the future
	ReasonUnknownAgency  Reason = "unknown_agency"   // agency is not in the registry
	ReasonSubject        Reason = "subject_mismatch" // subject agency/type differ from the body
	ReasonNotAllowed     Reason = "not_allowed"      // the sender may not speak for this agency, or the agency may not send this type
	ReasonTooLarge       Reason = "too_large"        // the event exceeds the size limit
)

// ErrInvalid is matched (errors.Is) by every *Error: the event can never be valid.
var ErrInvalid = errors.New("events: invalid event")

// Error says which field of an event is wrong and what was expected.
type Error struct {
	Reason Reason `json:"reason"`          // machine-readable class
	Field  string `json:"field,omitempty"` // JSON path of the field, e.g. "data.online"; empty for the whole event
	Msg    string `json:"message"`         // what was expected, for a human
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Field, e.Reason, e.Msg)
}

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func errf(reason Reason, field, format string, args ...any) *Error {
	return &Error{Reason: reason, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the Reason of err, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
