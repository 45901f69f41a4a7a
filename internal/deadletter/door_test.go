package deadletter

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRefusedAtDoor(t *testing.T) {
	at := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	why := Cause{Reason: "malformed", Field: "data.online", Err: errors.New("data.online: malformed: expected a boolean")}
	tests := []struct {
		name        string
		data        string
		door        Door
		wantSubject string
		wantData    string
		wantTrunc   string
		wantEvent   string
	}{
		{"nats", `{"id":"e-1"}`, Door{Source: SourceNATS, Sender: "bg-vietyen", Subject: "cds.events.bg-vietyen.workfile.processed", Header: nats.Header{"Nats-Msg-Id": {"e-1"}}, At: at},
			"cds.dlq.malformed.bg-vietyen", `{"id":"e-1"}`, "", "cds.events.bg-vietyen.workfile.processed"},
		{"http, body not decoded", `{"id":`, Door{Source: SourceHTTP, Sender: "bg-hiephoa", At: at},
			"cds.dlq.malformed.bg-hiephoa", `{"id":`, "", "cds.events.bg-hiephoa"},
		{"too large", strings.Repeat("x", MaxKeptBytes+5), Door{Source: SourceHTTP, Sender: "bg-hiephoa", At: at},
			"cds.dlq.malformed.bg-hiephoa", strings.Repeat("x", MaxKeptBytes), "65541", "cds.events.bg-hiephoa"},
		{"sender not a token", `{}`, Door{Source: SourceHTTP, Sender: "a.b", At: at},
			"cds.dlq.malformed._", `{}`, "", "cds.events._"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RefusedAtDoor([]byte(tt.data), tt.door, why)
			if m.Subject != tt.wantSubject || string(m.Data) != tt.wantData || m.Header.Get(HeaderTruncated) != tt.wantTrunc {
				t.Fatalf("subject %s, %d bytes, truncated %q; want %s, %d bytes, %q", m.Subject, len(m.Data), m.Header.Get(HeaderTruncated), tt.wantSubject, len(tt.wantData), tt.wantTrunc)
			}
			if m.Header.Get(jetstream.MsgIDHeader) != "" || m.Header.Get(HeaderStreamSeq) != "" {
				t.Errorf("headers %v: a door refusal has no Nats-Msg-Id and no log position", m.Header)
			}
			l, err := Parse(&jetstream.RawStreamMsg{Subject: m.Subject, Sequence: 7, Header: m.Header, Data: m.Data, Time: at})
			if err != nil {
				t.Fatal(err)
			}
			if l.Reason != "malformed" || l.Field != "data.online" || l.Subject != tt.wantEvent || l.Source() != tt.door.Source ||
				l.Agency() != tt.door.Sender || !l.Received.Equal(at) || l.StreamSeq != 0 {
				t.Errorf("parsed %+v (source %s, agency %s)", l, l.Source(), l.Agency())
			}
		})
	}
}
