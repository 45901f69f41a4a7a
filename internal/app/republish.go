package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
)

// Republish publishes every event of cds.events, in the order the old log
// held them (seq), into the events stream, each with Nats-Msg-Id = its id:
// the way back when the log was lost but ClickHouse still holds the events
// (docs/projector.md, "The log and ClickHouse diverged"). The events are
// rebuilt from their columns (occurred_at to the second, as stored). An id
// the new log already holds is counted once by the projector whatever the
// duplicate window. progress, if not nil, is called after each window of
// publishes with the number published so far. It returns that number.
func Republish(ctx context.Context, db *chdb.DB, js jetstream.JetStream, progress func(n int)) (int, error) {
	const window = 4096
	var pending []jetstream.PubAckFuture
	wait := func() error {
		for _, f := range pending {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("%s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Minute):
				return fmt.Errorf("no PubAck for %s after a minute", f.Msg().Header.Get(jetstream.MsgIDHeader))
			}
		}
		pending = pending[:0]
		return nil
	}
	n := 0
	err := db.ScanEvents(ctx, func(e chdb.StoredEvent) error {
		m := nats.NewMsg(events.Subject(e.Agency, e.Type))
		var err error
		if m.Data, err = envelope(e.ID, e.Type, e.V, e.Agency, e.OccurredAt, e.Supersedes, e.Data); err != nil {
			return err
		}
		m.Header.Set(jetstream.MsgIDHeader, e.ID)
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("%s: %w", e.ID, err)
		}
		pending = append(pending, f)
		n++
		if len(pending) == window {
			if err := wait(); err != nil {
				return err
			}
			if progress != nil {
				progress(n)
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("republish: %w", err)
	}
	if err := wait(); err != nil {
		return n, fmt.Errorf("republish: %w", err)
	}
	if progress != nil {
		progress(n)
	}
	return n, nil
}

// envelope writes an event's JSON as docs/design.md ("The event envelope") has it.
func envelope(id, typ string, v uint8, agency string, at time.Time, supersedes, data string) ([]byte, error) {
	if strings.TrimSpace(data) == "" {
		data = "null"
	}
	e := struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		V          uint8           `json:"v"`
		Agency     string          `json:"agency"`
		OccurredAt string          `json:"occurred_at"`
		Supersedes string          `json:"supersedes,omitempty"`
		Data       json.RawMessage `json:"data"`
	}{id, typ, v, agency, at.In(events.Zone).Format(time.RFC3339), supersedes, json.RawMessage(data)}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	return b, nil
}
