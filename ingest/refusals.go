package ingest

import (
	"encoding/json"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/deadletter"
)

// keepRefusal dead-letters an event refused over HTTP, as the NATS gate does
// for one refused over NATS, so that the agency finds both in GET /v1/dlq
// (docs/integrators.md). It is filed under the sending agency and bounded
// as every subject of CDS_DLQ is (its last 10,000 per reason and agency).
// The publish is not waited for: the sender already has its answer, and a
// lost dead letter costs only the listing of one refusal.
func (h *Handler) keepRefusal(agency string, p part, e *events.Event, ee *events.Error) {
	if h.js == nil || ee.Reason == ReasonUnavailable {
		return
	}
	subject := ""
	if e != nil {
		subject = e.Subject()
	}
	letter := deadletter.RefusedAtDoor(p.data, deadletter.Door{
		Source: deadletter.SourceHTTP, Sender: agency, Subject: subject, At: h.now(),
	}, deadletter.Cause{Reason: string(ee.Reason), Field: ee.Field, Err: ee})
	if err := h.js.Conn().PublishMsg(letter); err != nil {
		h.log.Warn("dead-letter a refused event", "agency", agency, "reason", ee.Reason, "err", err)
	}
}

// idOf returns the id of the event in data when data is a JSON object with a
// string id, even one that does not decode as an event, else "".
func idOf(data []byte) string {
	var env struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(data, &env) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(env.ID, &id) != nil {
		return ""
	}
	return id
}
