package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"
)

// MaxIDLen is the longest accepted event id (it is also the Nats-Msg-Id).
const MaxIDLen = 64

// Zone is the province's time zone, Asia/Ho_Chi_Minh. Vietnam has kept UTC+7
// without daylight saving since 1975, so a fixed zone is exact for every date
// cds handles and needs no tzdata on the host.
var Zone = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// Hand-written matchers: regexp cost a third of Decode (bench_test.go).
type pattern func(string) bool

func (p pattern) MatchString(s string) bool { return p(s) }

var (
	// idPattern is ^[A-Za-z0-9._:-]{1,64}$.
	idPattern pattern = func(s string) bool {
		if len(s) == 0 || len(s) > MaxIDLen {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
				return false
			}
		}
		return true
	}
)

// MaxAgencyLen is the longest agency (organisation unit) code.
const MaxAgencyLen = 48

// ValidAgency reports whether s is a well-formed agency code, the code of an
// organisation unit: ^[a-z0-9-]{1,48}$. The registry holds its units to the
// same rule.
func ValidAgency(s string) bool {
	if len(s) == 0 || len(s) > MaxAgencyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Event is a decoded, schema-valid event envelope (docs/design.md, "The event envelope").
type Event struct {
	ID         string
	Type       string
	V          int
	Agency     string
	OccurredAt time.Time
	Supersedes string
	// Data is the data object in canonical JSON (appendData): what the fold
	// reads, and what cds.events stores. Nil for a retraction.
	Data json.RawMessage
	// Payload is Data decoded; nil for a retraction.
	Payload *Payload
	// Spec is the declaration of Type.
	Spec *TypeSpec
}

// Retraction reports whether the event withdraws the event it supersedes
// without replacing it ("data": null).
func (e *Event) Retraction() bool { return e.Payload == nil }

// envelope is the wire form; pointers tell absent from empty.
type envelope struct {
	ID         *string         `json:"id"`
	Type       *string         `json:"type"`
	V          *json.Number    `json:"v"`
	Agency     *string         `json:"agency"`
	OccurredAt *string         `json:"occurred_at"`
	Supersedes *string         `json:"supersedes"`
	Data       json.RawMessage `json:"data"`
}

// Decode parses one JSON event and checks it against its type's schema. It
// needs no context: checks that depend on the clock, the registry or the
// subject are in Rules.Check and CheckSubject. Every error is an *Error.
func Decode(b []byte) (*Event, error) {
	if !utf8.Valid(b) {
		return nil, errf(ReasonMalformed, "", "the event is not valid UTF-8")
	}
	if err := checkKeys(b); err != nil {
		return nil, err
	}
	var env envelope
	if err := strictUnmarshal(b, &env); err != nil {
		return nil, jsonError("", err)
	}
	e, err := decodeHeader(&env)
	if err != nil {
		return nil, err
	}
	if err := decodeData(e, env.Data); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeHeader checks the envelope's fields other than data, in the order
// the contract lists them (docs/design.md, "The event envelope").
func decodeHeader(env *envelope) (*Event, error) {
	e := &Event{}
	var err error
	if e.ID, err = requireString("id", env.ID); err != nil {
		return nil, err
	}
	if !idPattern.MatchString(e.ID) {
		return nil, errf(ReasonInvalidField, "id", "expected 1-%d characters of A-Z a-z 0-9 . _ : - (a UUID or ULID), got %q", MaxIDLen, clip(e.ID))
	}
	if e.Type, err = requireString("type", env.Type); err != nil {
		return nil, err
	}
	spec, ok := Lookup(e.Type)
	if !ok {
		return nil, errf(ReasonUnknownType, "type", "unknown event type %q; expected one of %s", clip(e.Type), strings.Join(typeNames(), ", "))
	}
	// The spec's name: one string for every event of the type, not one
	// per event held by the batch's rows until they are written.
	e.Spec, e.Type = spec, spec.Name
	if env.V == nil {
		return nil, errf(ReasonMissingField, "v", "required: the schema version, expected %d", spec.Version)
	}
	if v, err := env.V.Int64(); err != nil || v != int64(spec.Version) {
		return nil, errf(ReasonUnknownVersion, "v", "expected %d for %s, got %s", spec.Version, e.Type, env.V.String())
	}
	e.V = spec.Version
	if e.Agency, err = requireString("agency", env.Agency); err != nil {
		return nil, err
	}
	if !ValidAgency(e.Agency) {
		return nil, errf(ReasonInvalidField, "agency", "expected an organisation-unit code of 1-48 characters a-z 0-9 -, got %q", clip(e.Agency))
	}
	ts, err := requireString("occurred_at", env.OccurredAt)
	if err != nil {
		return nil, err
	}
	if e.OccurredAt, err = time.Parse(time.RFC3339, ts); err != nil {
		return nil, errf(ReasonInvalidField, "occurred_at", "expected an RFC 3339 timestamp with offset such as 2025-03-14T09:30:00+07:00, got %q", clip(ts))
	}
	if env.Supersedes != nil {
		e.Supersedes = *env.Supersedes
		if !idPattern.MatchString(e.Supersedes) {
			return nil, errf(ReasonInvalidField, "supersedes", "expected the id of an earlier event (1-%d characters of A-Z a-z 0-9 . _ : -), got %q", MaxIDLen, clip(e.Supersedes))
		}
		if e.Supersedes == e.ID {
			return nil, errf(ReasonInvalidField, "supersedes", "an event cannot supersede itself")
		}
	}
	return e, nil
}

// decodeData checks data against e's type and keeps it canonical in e; a
// null data is a retraction, which needs supersedes.
func decodeData(e *Event, raw json.RawMessage) error {
	spec := e.Spec
	data := bytes.TrimSpace(raw)
	switch {
	case len(data) == 0:
		return errf(ReasonMissingField, "data", "required: an object with %s (or null for a retraction with supersedes)", strings.Join(spec.fieldNames(), ", "))
	case bytes.Equal(data, []byte("null")):
		if e.Supersedes == "" {
			return errf(ReasonInvalidField, "data", "null is allowed only for a retraction, which needs supersedes")
		}
		return nil
	case data[0] != '{':
		return errf(ReasonMalformed, "data", "expected an object with %s", strings.Join(spec.fieldNames(), ", "))
	}
	p := new(Payload)
	if err := strictUnmarshal(data, p); err != nil {
		return jsonError("data.", err)
	}
	if err := spec.check(p); err != nil {
		return err
	}
	// Stored canonical, as the fold reads it: ClickHouse's visitParamExtract*
	// functions (18.16 has no JSONExtract) need JSON without whitespace
	// outside strings, and must find the values the decoder found.
	e.Payload = p
	e.Data = spec.appendData(make([]byte, 0, len(data)), p)
	return nil
}

// Units is what the rules ask of the registry of organisation units.
type Units interface {
	// Known reports whether code is a unit of the registry.
	Known(code string) bool
	// SpeaksForProvince reports whether code is the province itself or a
	// unit that reports for it (its reports_for names the province).
	SpeaksForProvince(code string) bool
}

// UnitDates is implemented by a registry (Rules.Units) that knows the days
// on which its units are in force.
type UnitDates interface {
	// InForceOn reports whether unit code is in force on the province's
	// calendar day of t; when it is not, why names the unit's dates and
	// its successor, for a human.
	InForceOn(code string, t time.Time) (ok bool, why string)
}

// DefaultMinOccurred is the earliest occurred_at accepted when
// Rules.MinOccurred is zero: 2000-01-01 in province time. Earlier dates are
// typing errors (year 0025), and ClickHouse's DateTime cannot store
// anything before 1970 (it wraps around).
var DefaultMinOccurred = time.Date(2000, 1, 1, 0, 0, 0, 0, Zone)

// Rules are the checks that need context: the clock and the registry.
type Rules struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxFuture is how far past Now occurred_at may be; 0 means 24h.
	MaxFuture time.Duration
	// MinOccurred is the earliest occurred_at accepted; zero means
	// DefaultMinOccurred.
	MinOccurred time.Time
	// Units is the registry: the agency must be one of its units, and may
	// send only the types its role allows (TypeSpec.Emitters). Nil accepts
	// any agency and any type: for tools that check only the schema. When
	// it also implements UnitDates, the agency must be in force on the day
	// of occurred_at: a late report of a day when it existed is accepted,
	// an event of a day after it was merged away (or before it was
	// created) is refused with ReasonNotInForce.
	Units Units
}

// CheckMessage decodes data, a message published on subject, and checks it
// as every door does (the NATS gate, the projector, cds dlq replay): its
// schema (Decode), its subject against its body (CheckSubject), then r.
// Every error is an *Error.
func (r Rules) CheckMessage(subject string, data []byte) (*Event, error) {
	e, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if err := CheckSubject(subject, e); err != nil {
		return nil, err
	}
	if err := r.Check(e); err != nil {
		return nil, err
	}
	return e, nil
}

// Check applies the context checks to a decoded event.
func (r Rules) Check(e *Event) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	maxFuture := r.MaxFuture
	if maxFuture == 0 {
		maxFuture = 24 * time.Hour
	}
	if limit := now().Add(maxFuture); e.OccurredAt.After(limit) {
		return errf(ReasonFuture, "occurred_at", "%s is more than %s in the future (now %s)", e.OccurredAt.Format(time.RFC3339), maxFuture, now().In(Zone).Format(time.RFC3339))
	}
	minOccurred := r.MinOccurred
	if minOccurred.IsZero() {
		minOccurred = DefaultMinOccurred
	}
	if e.OccurredAt.Before(minOccurred) {
		return errf(ReasonTooEarly, "occurred_at", "%s is before %s, the earliest date accepted", e.OccurredAt.Format(time.RFC3339), minOccurred.In(Zone).Format(time.RFC3339))
	}
	if r.Units == nil {
		return nil
	}
	if !r.Units.Known(e.Agency) {
		return errf(ReasonUnknownAgency, "agency", "%q is not an organisation unit of the registry", e.Agency)
	}
	if d, ok := r.Units.(UnitDates); ok {
		if in, why := d.InForceOn(e.Agency, e.OccurredAt); !in {
			return errf(ReasonNotInForce, "occurred_at", "%q was not in force on %s: %s", e.Agency, e.OccurredAt.In(Zone).Format(time.DateOnly), why)
		}
	}
	if e.Spec != nil && e.Spec.Emitters == EmitProvince && !r.Units.SpeaksForProvince(e.Agency) {
		return errf(ReasonNotAllowed, "type", "%s counts for the whole province and comes only from %s (the registry's reports_for); %q does not report for the province", e.Type, e.Spec.Emitters, e.Agency)
	}
	return nil
}

func (t *TypeSpec) check(p *Payload) error {
	for _, pf := range payloadFields {
		if !pf.ref.present(p) {
			continue
		}
		if _, ok := t.field(pf.name); !ok {
			return errf(ReasonUnknownField, "data."+pf.name, "not a field of %s; expected %s", t.Name, strings.Join(t.fieldNames(), ", "))
		}
	}
	for i, f := range t.Fields {
		ref := t.refs[i]
		if !ref.present(p) {
			if f.Required {
				return errf(ReasonMissingField, f.path(), "required: %s", ref.kind)
			}
			continue
		}
		switch ref.kind {
		case kindString:
			if err := f.checkString(*ref.str(p)); err != nil {
				return err
			}
		case kindNumber:
			if err := f.checkNumber(*ref.num(p)); err != nil {
				return err
			}
		case kindSectors:
			if err := checkSectors(p); err != nil {
				return err
			}
		}
	}
	if p.GRDPTotal != nil && p.DigitalEconomy != nil && *p.DigitalEconomy > *p.GRDPTotal {
		return errf(ReasonInvalidField, "data.digital_economy", "expected at most grdp_total (%g), got %g", *p.GRDPTotal, *p.DigitalEconomy)
	}
	return nil
}

// path is the field's JSON path in an error; built only for an error, since
// checking valid events is the hot path of ingest and the projector.
func (f Field) path() string { return "data." + f.Name }

func (f Field) checkString(s string) error {
	maxLen := f.MaxLen
	if maxLen == 0 {
		maxLen = 128
	}
	switch {
	case strings.TrimSpace(s) == "":
		return errf(ReasonMissingField, f.path(), "required: a non-empty string")
	case len(s) > maxLen:
		return errf(ReasonInvalidField, f.path(), "expected at most %d bytes, got %d", maxLen, len(s))
	case hasBadRune(s):
		return errf(ReasonInvalidField, f.path(), "control, zero-width and bidirectional characters are not allowed")
	}
	if len(f.Enum) > 0 {
		for _, v := range f.Enum {
			if s == v {
				return nil
			}
		}
		return errf(ReasonInvalidField, f.path(), "expected one of %s, got %q", strings.Join(f.Enum, ", "), clip(s))
	}
	return nil
}

func (f Field) checkNumber(v float64) error {
	if f.Integer && v != math.Trunc(v) {
		return errf(ReasonInvalidField, f.path(), "expected a whole number, got %g", v)
	}
	if (f.Min != 0 || f.Max != 0) && (v < f.Min || v > f.Max) {
		return errf(ReasonInvalidField, f.path(), "expected a number from %g to %g, got %g", f.Min, f.Max, v)
	}
	return nil
}

func checkSectors(p *Payload) error {
	if len(*p.Sectors) == 0 {
		return errf(ReasonMissingField, "data.sectors", "required: at least one {sector, total, digital}")
	}
	seen := make(map[string]bool, len(*p.Sectors))
	for i, s := range *p.Sectors {
		path := "data.sectors[" + strconv.Itoa(i) + "]"
		switch {
		case s.Sector == nil || strings.TrimSpace(*s.Sector) == "":
			return errf(ReasonMissingField, path+".sector", "required: the sector name")
		case seen[*s.Sector]:
			return errf(ReasonInvalidField, path+".sector", "sector %q appears twice", clip(*s.Sector))
		case s.Total == nil:
			return errf(ReasonMissingField, path+".total", "required: a number (bn VND)")
		case s.Digital == nil:
			return errf(ReasonMissingField, path+".digital", "required: a number (bn VND)")
		case *s.Total <= 0 || *s.Total > 1e12:
			return errf(ReasonInvalidField, path+".total", "expected a number above 0, got %g", *s.Total)
		case *s.Digital < 0 || *s.Digital > *s.Total:
			return errf(ReasonInvalidField, path+".digital", "expected a number from 0 to total (%g), got %g", *s.Total, *s.Digital)
		case len(*s.Sector) > 128:
			return errf(ReasonInvalidField, path+".sector", "expected at most 128 bytes")
		case hasBadRune(*s.Sector):
			return errf(ReasonInvalidField, path+".sector", "control, zero-width and bidirectional characters are not allowed")
		}
		seen[*s.Sector] = true
	}
	return nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields and
// trailing data. segmentio/encoding's Parse is a drop-in for encoding/json
// (same error types) and decodes an envelope about 4.6 times faster, which
// matters because decoding bounds the projector (see bench_test.go).
func strictUnmarshal(b []byte, v any) error {
	rest, err := segjson.Parse(b, v, segjson.DontCopyRawMessage|segjson.UseNumber|segjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns an encoding/json error into an *Error naming the field.
func jsonError(prefix string, err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return errf(ReasonMalformed, strings.TrimSuffix(prefix, "."), "expected a JSON object, got %s", describeValue(typeErr.Value))
		}
		want := "a different type"
		if ref, ok := lookupField(field); ok {
			want = ref.kind.String()
		} else if top := topLevelKind(field); top != "" {
			want = top
		}
		return errf(ReasonMalformed, prefix+field, "expected %s, got %s", want, describeValue(typeErr.Value))
	case errors.As(err, &syntaxErr):
		return errf(ReasonMalformed, "", "invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return errf(ReasonUnknownField, prefix+name, "not a field of the %s", map[bool]string{true: "envelope (id, type, v, agency, occurred_at, supersedes, data)", false: "data of any event type"}[prefix == ""])
	case errors.Is(err, io.EOF):
		return errf(ReasonMalformed, "", "empty input: expected a JSON object")
	default:
		return errf(ReasonMalformed, strings.TrimSuffix(prefix, "."), "invalid JSON: %v", err)
	}
}

func topLevelKind(field string) string {
	switch field {
	case "id", "type", "agency", "occurred_at", "supersedes":
		return "a string"
	case "v":
		return "a number"
	}
	return ""
}

func requireString(field string, v *string) (string, error) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return "", errf(ReasonMissingField, field, "required: a non-empty string")
	}
	return *v, nil
}

func typeNames() []string {
	out := make([]string, 0, len(typeTable))
	for _, t := range Types() {
		out = append(out, t.Name)
	}
	return out
}

// clip shortens a value echoed back in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// String identifies the event in logs.
func (e *Event) String() string {
	return fmt.Sprintf("%s %s/%s", e.ID, e.Agency, e.Type)
}

// Restore rebuilds an Event from the columns stored by the projector
// (cds.events). data is the data object as JSON text, empty for a retraction.
// It re-checks the data schema, so a row written by an older build that this
// build would refuse is reported rather than folded silently.
func Restore(id, typ, agency string, occurredAt time.Time, supersedes string, data []byte) (*Event, error) {
	spec, ok := Lookup(typ)
	if !ok {
		return nil, errf(ReasonUnknownType, "type", "unknown event type %q", clip(typ))
	}
	e := &Event{ID: id, Type: typ, V: spec.Version, Agency: agency, OccurredAt: occurredAt, Supersedes: supersedes, Spec: spec}
	if len(data) == 0 {
		return e, nil
	}
	p := new(Payload)
	if err := strictUnmarshal(data, p); err != nil {
		return nil, jsonError("data.", err)
	}
	if err := spec.check(p); err != nil {
		return nil, err
	}
	e.Data, e.Payload = data, p
	return e, nil
}
