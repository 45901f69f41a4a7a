package simulate

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/bacgiang/cds/events"
)

// Event is one generated event: the envelope (docs/design.md, "The event
// envelope") and the agency whose NATS user publishes it.
type Event struct {
	ID   string
	Type string
	// Agency is the unit the event counts for: the envelope's agency and the
	// subject's.
	Agency string
	// Publisher is the agency whose system sends the event: Agency itself,
	// or an aggregating unit that reports for it (bg-ctk for the province).
	Publisher  string
	OccurredAt time.Time
	Supersedes string
	// Data is the data object; nil for a retraction.
	Data map[string]any
}

// Subject returns the NATS subject of the event, cds.events.<agency>.<type>.
func (e Event) Subject() string { return events.Subject(e.Agency, e.Type) }

// Retraction reports whether the event withdraws the event it supersedes.
func (e Event) Retraction() bool { return e.Data == nil }

type wireEvent struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	V          int            `json:"v"`
	Agency     string         `json:"agency"`
	OccurredAt string         `json:"occurred_at"`
	Supersedes string         `json:"supersedes,omitempty"`
	Data       map[string]any `json:"data"`
}

// MarshalJSON encodes the event as its JSON envelope, with occurred_at in
// province time (+07:00).
func (e Event) MarshalJSON() ([]byte, error) {
	v := 1
	if spec, ok := events.Lookup(e.Type); ok {
		v = spec.Version
	}
	return json.Marshal(wireEvent{
		ID:         e.ID,
		Type:       e.Type,
		V:          v,
		Agency:     e.Agency,
		OccurredAt: e.OccurredAt.In(events.Zone).Format(time.RFC3339),
		Supersedes: e.Supersedes,
		Data:       e.Data,
	})
}

// newID returns a UUIDv7-like id: the 48-bit Unix time of at in milliseconds,
// the version and variant bits, and 74 bits from rng. Taking the bits from the
// agency's seeded stream rather than crypto/rand keeps a seeded run
// reproducible, ids included.
func newID(rng *rand.Rand, at time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(at.UnixMilli())<<16)
	binary.BigEndian.PutUint64(b[8:16], rng.Uint64())
	r := rng.Uint32()
	b[6] = 0x70 | byte(r&0x0f)
	b[7] = byte(r >> 8)
	b[8] = 0x80 | b[8]&0x3f

	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
