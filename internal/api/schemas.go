package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/httpx"
)

// EventType describes one event type in GET /v1/schemas.
type EventType struct {
	Type     string   `json:"type"`
	Version  int      `json:"version"`
	Feeds    []string `json:"feeds"`
	Removes  bool     `json:"removes"`
	Emitters string   `json:"emitters"`
	Schema   string   `json:"schema"` // path of the JSON Schema of its data
}

func (s *Server) eventTypes(w http.ResponseWriter, r *http.Request) {
	types := events.Types()
	out := make([]EventType, 0, len(types))
	for _, t := range types {
		out = append(out, EventType{Type: t.Name, Version: t.Version, Feeds: t.FeedsOf(), Removes: t.Removes, Emitters: t.Emitters.String(), Schema: "/v1/schemas/" + t.Name})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"types": out})
}

func (s *Server) dataSchema(w http.ResponseWriter, r *http.Request) {
	spec, ok := events.Lookup(r.PathValue("type"))
	if !ok {
		var names []string
		for _, t := range events.Types() {
			names = append(names, t.Name)
		}
		httpx.WriteError(w, &httpx.Error{Code: httpx.CodeNotFound, Message: fmt.Sprintf("unknown event type %q; expected one of %s", r.PathValue("type"), strings.Join(names, ", "))})
		return
	}
	w.Header().Set("Content-Type", "application/schema+json; charset=utf-8")
	_, _ = w.Write(spec.DataSchemaJSON())
}
